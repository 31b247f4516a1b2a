"""A PINN whose network is an Equinox module, for a damped harmonic oscillator.

Run: pip install -e ".[equinox]" && python examples/equinox_network.py
The ODE is u'' + 2 zeta omega u' + omega^2 u = 0 with u(0) = 1 and u'(0) = 0, whose exact
solution is known. eqx.partition splits the module into its float arrays, which svensolve
optimises as a pytree, and the static rest, which eqx.combine puts back inside the
residuals. The script prints the largest error on [0, 2].
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import svensolve as sv  # turns on float64 in JAX, so the network below is built in float64

OMEGA, ZETA, T_END = 2.0 * np.pi, 0.2, 2.0  # rad/s, damping ratio, end time in s
ERROR_LIMIT = 1e-5  # measured 7.0e-8 after the default 1,000 iterations (jax 0.10.2)

network = eqx.nn.MLP(
    "scalar", "scalar", width_size=16, depth=2, activation=jnp.tanh, key=jax.random.PRNGKey(0)
)
params, static = eqx.partition(network, eqx.is_inexact_array)


def derivatives(params, t):
    """Return u, u' and u'' at a scalar time t."""
    model = eqx.combine(params, static)
    velocity = jax.grad(model)
    return model(t), velocity(t), jax.grad(velocity)(t)


def ode(params, t):
    u, du, d2u = derivatives(params, t)
    return d2u + 2.0 * ZETA * OMEGA * du + OMEGA**2 * u


def initial(params):
    u, du, _ = derivatives(params, jnp.array(0.0))
    return jnp.stack([u - 1.0, du])


problem = sv.Problem([
    sv.Condition("ode", ode, points=np.linspace(0.0, T_END, 80)),
    sv.Condition("initial", initial),
])
result = sv.minimize(problem, params)  # runs the default max_iter=1000: about 7 s on 2 cores

t = np.linspace(0.0, T_END, 401)
damped = OMEGA * np.sqrt(1.0 - ZETA**2)  # angular frequency of the damped oscillation
envelope = np.exp(-ZETA * OMEGA * t)
exact = envelope * (np.cos(damped * t) + ZETA * OMEGA / damped * np.sin(damped * t))
fitted = jax.vmap(eqx.combine(result.params, static))(jnp.asarray(t))
error = float(np.max(np.abs(np.asarray(fitted) - exact)))
print(result.message)
print(f"iterations {result.nit}, cost {result.cost:.3e}, max |u - exact| = {error:.2e}")
assert error < ERROR_LIMIT, f"max error {error:.2e} is above {ERROR_LIMIT}"
