"""A PINN from scratch: -u'' = pi^2 sin(pi x) on (0, 1), u(0) = u(1) = 0.

Run: python examples/pinn_poisson1d.py
The exact solution is sin(pi x); the script prints the largest error.
"""

import jax
import jax.numpy as jnp
import numpy as np

import svensolve as sv
from problems.networks import init_mlp, mlp


def pde(params, x):
    u_xx = jax.grad(jax.grad(lambda t: mlp(params, jnp.array([t]))))(x[0])
    return -u_xx - jnp.pi**2 * jnp.sin(jnp.pi * x[0])


def boundary(params, x):
    return mlp(params, x)


problem = sv.Problem([
    sv.Condition("pde", pde, points=np.linspace(0, 1, 50)[1:-1, None]),
    sv.Condition("boundary", boundary, points=np.array([[0.0], [1.0]])),
])
params = init_mlp(jax.random.PRNGKey(0), [1, 16, 16, 1])
result = sv.minimize(problem, params, time_limit=30)

x = np.linspace(0, 1, 1001)[:, None]
u = jax.vmap(mlp, in_axes=(None, 0))(result.params, jnp.asarray(x))
error = np.max(np.abs(np.asarray(u) - np.sin(np.pi * x[:, 0])))
print(result.message)
print(f"iterations {result.nit}, cost {result.cost:.3e}, max |u - sin(pi x)| = {error:.2e}")
