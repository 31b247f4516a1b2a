"""A float32 1-D Poisson PINN whose automatic line search hands over to the trust region.

-u'' = (2 pi)^2 sin(2 pi x) on (0, 1), u(0) = 0, u(1) = 1, so u = sin(2 pi x) + x.
From the start below, the line search takes steps shorter than 2^-16 at
iterations 35 to 37, and the trust region then takes over. It stalls at a
cost of 1.7e-4 (measured), and the line search it hands back to goes on.

These paths depend on rounding. The iterations and costs given here were
measured with the compile options that the ``measured_rounding`` fixture of
tests/conftest.py sets, so the tests that rely on them use that fixture.
"""

import jax
import jax.numpy as jnp
import numpy as np

import svensolve as sv


def exact(x):
    return np.sin(2 * np.pi * x) + x


def network(layers, x):
    h = jnp.reshape(x, (1,))
    for layer in layers[:-1]:
        h = jnp.tanh(h @ layer["w"] + layer["b"])
    return (h @ layers[-1]["w"] + layers[-1]["b"])[0]


def start(key, sizes=(1, 12, 12, 1)):
    keys = jax.random.split(key, len(sizes))
    layers = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        # The last layer draws from the last key, the hidden ones from the first.
        k = keys[-1] if index == len(sizes) - 2 else keys[index]
        weights = jax.random.normal(k, (fan_in, fan_out)) * np.sqrt(1.0 / fan_in)
        layers.append({"w": weights.astype(jnp.float32), "b": jnp.zeros(fan_out, jnp.float32)})
    return layers


def problem_and_start():
    """Return the Problem and the float32 start of PRNGKey(1)."""

    def pde(layers, x):
        u_xx = jax.grad(jax.grad(network, argnums=1), argnums=1)(layers, x)
        return -u_xx - (2 * jnp.pi) ** 2 * jnp.sin(2 * jnp.pi * x)

    def boundary(layers, point):
        x, value = point
        return network(layers, x) - value

    f32 = np.float32
    problem = sv.Problem([
        sv.Condition("pde", pde, points=np.linspace(0, 1, 42)[1:-1].astype(f32)),
        sv.Condition("boundary", boundary, points=(np.array([0, 1], f32), np.array([0, 1], f32)),
                     weight=3.0),
    ])
    return problem, start(jax.random.PRNGKey(1))


def sine_problem_and_start(count=48, sizes=(1, 16, 16, 1)):
    """Return a float32 PINN for -u'' = pi^2 sin(pi x), u(0) = u(1) = 0, and its start.

    Each layer draws its weights from the next split of PRNGKey(1). Its
    trust region stalls near a cost of 1.1e-7 at iteration 79, and the
    restarted line search takes its first step at iteration 84 (measured).
    """
    key = jax.random.PRNGKey(1)
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        key, draw = jax.random.split(key)
        weights = jax.random.normal(draw, (fan_in, fan_out)) / np.sqrt(fan_in)
        layers.append({"w": weights.astype(jnp.float32), "b": jnp.zeros(fan_out, jnp.float32)})

    def pde(layers, point):
        u_xx = jax.grad(jax.grad(network, argnums=1), argnums=1)(layers, point[0])
        return -u_xx - jnp.pi**2 * jnp.sin(jnp.pi * point[0])

    interior = np.linspace(0, 1, count + 2)[1:-1, None].astype(np.float32)
    problem = sv.Problem([
        sv.Condition("pde", pde, points=interior),
        sv.Condition("boundary", lambda p, point: network(p, point[0]),
                     points=np.array([[0.0], [1.0]], np.float32)),
    ])
    return problem, layers
