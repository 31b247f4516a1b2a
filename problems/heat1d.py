"""The 1D heat equation PINN problem: residuals, starting network and error metric.

Equation: u_t = k u_xx with diffusivity k = 1/4 for (x, t) in [0, 1] x [0, 1], initial
value u(x, 0) = sin(pi x) and boundary values u(0, t) = u(1, t) = 0. The exact solution
is u(x, t) = exp(-pi^2 t / 4) sin(pi x). Points are stored as rows (x, t).

Network: a tanh MLP 2-32-32-1 (1,185 parameters) with Glorot-normal weights and zero
biases, drawn from ``jax.random.PRNGKey(seed)``.

Collocation: 900 interior points on a 30 x 30 grid (``np.linspace(0, 1, 32)[1:-1]`` in x
and in t) for the condition "pde", 30 points on t = 0 (``np.linspace(0, 1, 30)`` in x)
for "initial", and 30 points on each of x = 0 and x = 1 (``np.linspace(0, 1, 30)`` in t)
for "boundary". The corners (0, 0) and (1, 0) belong to both the initial and the
boundary set, where both values are 0. That makes 990 residuals, fewer than the 1,185
parameters, each block scaled by 1 / sqrt(its point count).

Metric: relative L2 error ||u_net - u||_2 / ||u||_2 on a 100 x 100 uniform grid of
[0, 1]^2 that includes the boundary.

Published numbers: none is given here. The code released with Mueller and Zeinhofer,
"Achieving High Accuracy with PINNs via Energy Natural Gradients" (ICML 2023), file
``engd_heat.py`` of github.com/MariusZeinhofer/Natural-Gradient-PINNs-ICML23, trains
the same equation with a tanh 2-64-1 network on 30-point grids. It stores no result,
and the error the paper reports for it was not checked here.
"""

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import svensolve as sv
from problems.metrics import ExactSolutionError
from problems.networks import init_mlp, mlp

NAME = "heat1d"
DESCRIPTION = "PINN for u_t = u_xx / 4 on [0,1] x [0,1], u(x,0) = sin(pi x), u = 0 at x = 0, 1"
# Names of the point coordinates, in order, for figures.
AXES = ("x", "t")

DIFFUSIVITY = 0.25
TEST_GRID_SIZE = 100


def heat_residual(
    u: Callable[[jax.Array], jax.Array], point: jax.Array, diffusivity=DIFFUSIVITY
) -> jax.Array:
    """Compute u_t - k u_xx at one point (x, t) for a scalar function u of (x, t).

    Parameters
    ----------
    u : callable
        Scalar function of one point of shape ``(2,)``, ordered (x, t).
    point : jax.Array
        The point (x, t), shape ``(2,)``.
    diffusivity : float or jax.Array, optional
        The coefficient k. A traced scalar works too, which the inverse problem in
        `problems.heat_inverse` uses to fit k.

    Returns
    -------
    jax.Array
        The scalar residual u_t - k u_xx.
    """
    # One forward-over-reverse pass along e_x gives the gradient (u_x, u_t) as its primal
    # output and the Hessian column (u_xx, u_tx) as its tangent, so u_t costs nothing extra.
    unit_x = jnp.zeros_like(point).at[0].set(1)
    gradient, hessian_column = jax.jvp(jax.grad(u), (point,), (unit_x,))
    return gradient[1] - diffusivity * hessian_column[0]


def exact_solution(point: jax.Array, diffusivity=DIFFUSIVITY) -> jax.Array:
    """Return exp(-pi^2 k t) sin(pi x) at one point (x, t) of shape (2,)."""
    x, t = point[0], point[1]
    return jnp.exp(-(jnp.pi**2) * diffusivity * t) * jnp.sin(jnp.pi * x)


def initial_value(point: jax.Array) -> jax.Array:
    """Return the initial value sin(pi x) at one point (x, 0) of shape (2,)."""
    return jnp.sin(jnp.pi * point[0])


def interior_points(grid: int = 30) -> np.ndarray:
    """Return the grid x grid interior collocation points (x, t), shape (grid**2, 2).

    The points are the inner nodes of a uniform (grid + 2)-point grid of [0, 1] in each
    direction, so none lies on t = 0, x = 0 or x = 1.
    """
    ticks = np.linspace(0.0, 1.0, grid + 2)[1:-1]
    xs, ts = np.meshgrid(ticks, ticks, indexing="ij")
    return np.stack([xs.ravel(), ts.ravel()], axis=1)


def initial_points(count: int = 30) -> np.ndarray:
    """Return count uniformly spaced points (x, 0) with x in [0, 1], shape (count, 2)."""
    ticks = np.linspace(0.0, 1.0, count)
    return np.stack([ticks, np.zeros_like(ticks)], axis=1)


def boundary_points(count: int = 30) -> np.ndarray:
    """Return count points on x = 0, then count on x = 1, t in [0, 1], shape (2 * count, 2)."""
    ticks = np.linspace(0.0, 1.0, count)
    left = np.stack([np.zeros_like(ticks), ticks], axis=1)
    right = np.stack([np.ones_like(ticks), ticks], axis=1)
    return np.concatenate([left, right], axis=0)


def uniform_grid(size: int = TEST_GRID_SIZE) -> np.ndarray:
    """Return the size x size uniform grid of [0, 1]^2, boundary included, shape (size**2, 2)."""
    ticks = np.linspace(0.0, 1.0, size)
    xs, ts = np.meshgrid(ticks, ticks, indexing="ij")
    return np.stack([xs.ravel(), ts.ravel()], axis=1)


def _pde_condition(params, point):
    return heat_residual(lambda p: mlp(params, p), point)


def _initial_condition(params, point):
    return mlp(params, point) - initial_value(point)


def _boundary_condition(params, point):
    # The boundary value is 0, so the residual is the network value itself.
    return mlp(params, point)


@dataclasses.dataclass(frozen=True)
class Heat1D(ExactSolutionError):
    """The 1D heat equation PINN problem with its starting network.

    Attributes
    ----------
    problem : svensolve.Problem
        Conditions "pde", "initial" and "boundary", in that order.
    params : list of dict
        The starting network, as returned by `problems.networks.init_mlp`.
    interior_points : np.ndarray
        Collocation points (x, t) of the "pde" condition, shape (grid**2, 2).
    initial_points : np.ndarray
        Collocation points (x, 0) of the "initial" condition, shape (initial_count, 2).
    boundary_points : np.ndarray
        Collocation points of the "boundary" condition, first x = 0 then x = 1,
        shape (2 * boundary_count, 2).
    """

    problem: sv.Problem
    params: list
    interior_points: np.ndarray
    initial_points: np.ndarray
    boundary_points: np.ndarray

    def solution(self, params, points) -> jax.Array:
        """Evaluate the network at every row (x, t) of an (m, 2) array of points."""
        return jax.vmap(mlp, in_axes=(None, 0))(params, jnp.asarray(points))

    def exact(self, points) -> jax.Array:
        """Evaluate the exact solution at every row (x, t) of an (m, 2) array of points."""
        return jax.vmap(exact_solution)(jnp.asarray(points))

    def test_grid(self) -> np.ndarray:
        """Return the 100 x 100 uniform grid of [0, 1]^2, boundary included, shape (10000, 2).

        `relative_l2_error` measures the error on these points.
        """
        return uniform_grid(TEST_GRID_SIZE)


def build(
    width: int = 32,
    depth: int = 2,
    grid: int = 30,
    initial_count: int = 30,
    boundary_count: int = 30,
    seed: int = 0,
) -> Heat1D:
    """Build the 1D heat equation PINN problem and its starting network.

    Parameters
    ----------
    width : int, optional
        Number of units in each hidden layer.
    depth : int, optional
        Number of hidden layers.
    grid : int, optional
        Interior collocation points per direction, so ``grid**2`` PDE residuals.
    initial_count : int, optional
        Collocation points on t = 0.
    boundary_count : int, optional
        Collocation points on each of x = 0 and x = 1.
    seed : int, optional
        Seed of ``jax.random.PRNGKey`` for the network weights.

    Returns
    -------
    Heat1D
        The problem, the starting network and the collocation points.
    """
    if width < 1 or depth < 1:
        raise ValueError(f"width and depth must be at least 1, got width={width}, depth={depth}")
    if grid < 1:
        raise ValueError(f"grid must be at least 1 interior point per direction, got {grid}")
    if initial_count < 2 or boundary_count < 2:
        raise ValueError(
            "initial_count and boundary_count must be at least 2 to reach both ends, got "
            f"initial_count={initial_count}, boundary_count={boundary_count}"
        )

    sizes = [2] + [width] * depth + [1]
    params = init_mlp(jax.random.PRNGKey(seed), sizes)

    interior = interior_points(grid)
    initial = initial_points(initial_count)
    boundary = boundary_points(boundary_count)
    problem = sv.Problem(
        [
            sv.Condition("pde", _pde_condition, points=interior),
            sv.Condition("initial", _initial_condition, points=initial),
            sv.Condition("boundary", _boundary_condition, points=boundary),
        ]
    )
    return Heat1D(
        problem=problem,
        params=params,
        interior_points=interior,
        initial_points=initial,
        boundary_points=boundary,
    )
