"""The 1D convection PINN problem with beta = 40: residuals, starting network and error metric.

Equation: u_t + beta u_x = 0 with beta = 40 for (x, t) in [0, 2 pi] x [0, 1], initial
value u(x, 0) = sin(x) and the periodic boundary condition u(0, t) = u(2 pi, t). The exact
solution is u(x, t) = sin(x - beta t). Points are stored as rows (x, t).

Network: a tanh MLP 2-32-32-1 (1,185 parameters) with Glorot-normal weights and zero
biases, drawn from ``jax.random.PRNGKey(seed)``. Its inputs are (x, t) mapped affinely
from [0, 2 pi] x [0, 1] onto [-1, 1]^2 (`network`).

Collocation: 1,024 interior points on a 16 x 64 grid (the inner nodes of uniform 18- and
66-point grids of [0, 2 pi] and [0, 1]) for "pde". The solution oscillates 40 / (2 pi),
about 6.4, times along t and once along x, so t gets the finer grid. The condition
"initial" has 64 points on t = 0 (``np.linspace(0, 2 pi, 64)`` in x) and "periodic" has 64
values of t (``np.linspace(0, 1, 64)``), each giving the residual u(0, t) - u(2 pi, t).
That makes 1,152 residuals, fewer than the 1,185 parameters, each block scaled by
1 / sqrt(its point count).

Metric: relative L2 error ||u_net - u||_2 / ||u||_2 on a 200 x 200 uniform grid of
[0, 2 pi] x [0, 1] that includes the boundary.

Published numbers: Rathore, Lei, Frangella, Lu and Udell, "Challenges in Training PINNs: A
Loss Landscape Perspective" (ICML 2024, arXiv 2402.01868) solve this equation with
beta = 40 and report a best relative L2 error of 1.94e-3 (Adam, then L-BFGS, then their
NysNewton-CG); that figure was not checked against the paper's tables. The equation and
its coefficient follow the configuration and loss code of the authors' companion
repository (pratikrathore8/opt_for_pinns). That code trains a much larger network (4
hidden layers of 200 units, about 121,000 parameters) on 10,000 residual points drawn
from a 257 x 101 grid, for 14,500 epochs on a GPU.
"""

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import svensolve as sv
from problems.metrics import ExactSolutionError
from problems.networks import init_mlp, mlp

NAME = "convection"
DESCRIPTION = "PINN for u_t + 40 u_x = 0 on [0,2pi] x [0,1], u(x,0) = sin x, periodic in x"
# Names of the point coordinates, in order, for figures.
AXES = ("x", "t")

BETA = 40.0
X_RANGE = (0.0, 2 * np.pi)
T_RANGE = (0.0, 1.0)
TEST_GRID_SHAPE = (200, 200)


def convection_residual(
    u: Callable[[jax.Array], jax.Array], point: jax.Array, beta=BETA
) -> jax.Array:
    """Return u_t + beta u_x at one point (x, t) for a scalar function u of (x, t)."""
    gradient = jax.grad(u)(point)
    return gradient[1] + beta * gradient[0]


def exact_solution(point: jax.Array, beta=BETA) -> jax.Array:
    """Return sin(x - beta t) at one point (x, t) of shape (2,)."""
    return jnp.sin(point[0] - beta * point[1])


def initial_value(point: jax.Array) -> jax.Array:
    """Return the initial value sin(x) at one point (x, 0) of shape (2,)."""
    return jnp.sin(point[0])


def interior_points(x_range, t_range, x_count: int, t_count: int) -> np.ndarray:
    """Return the x_count x t_count interior grid points (x, t) of a rectangle, shape (m, 2).

    The points are the inner nodes of uniform (x_count + 2)- and (t_count + 2)-point grids
    of ``x_range`` and ``t_range``, so none lies on the rectangle's edges.
    """
    x_ticks = np.linspace(*x_range, x_count + 2)[1:-1]
    t_ticks = np.linspace(*t_range, t_count + 2)[1:-1]
    xs, ts = np.meshgrid(x_ticks, t_ticks, indexing="ij")
    return np.stack([xs.ravel(), ts.ravel()], axis=1)


def initial_points(x_range, count: int, t_start: float = 0.0) -> np.ndarray:
    """Return count uniformly spaced points (x, t_start), ends of ``x_range`` included."""
    ticks = np.linspace(*x_range, count)
    return np.stack([ticks, np.full_like(ticks, t_start)], axis=1)


def edge_times(t_range, count: int) -> np.ndarray:
    """Return count uniformly spaced times of ``t_range``, ends included, shape (count, 1).

    A periodic condition compares the network at both ends of the x range at these times.
    """
    return np.linspace(*t_range, count)[:, None]


def boundary_points(x_range, t_range, count: int) -> np.ndarray:
    """Return count points on each end of the x range, left end first, shape (2 * count, 2)."""
    ticks = np.linspace(*t_range, count)
    left = np.stack([np.full_like(ticks, x_range[0]), ticks], axis=1)
    right = np.stack([np.full_like(ticks, x_range[1]), ticks], axis=1)
    return np.concatenate([left, right], axis=0)


def uniform_grid(x_range, t_range, shape) -> np.ndarray:
    """Return the shape[0] x shape[1] uniform grid of a rectangle, edges included."""
    xs, ts = np.meshgrid(
        np.linspace(*x_range, shape[0]), np.linspace(*t_range, shape[1]), indexing="ij"
    )
    return np.stack([xs.ravel(), ts.ravel()], axis=1)


def network(params, point: jax.Array, x_range=X_RANGE, t_range=T_RANGE) -> jax.Array:
    """Evaluate the MLP at one point (x, t) after mapping the x and t ranges onto [-1, 1].

    Glorot weights expect inputs of order 1. Without the map, x up to 2 pi drives the
    first tanh layer towards saturation at the start.
    """
    lower = jnp.asarray([x_range[0], t_range[0]])
    upper = jnp.asarray([x_range[1], t_range[1]])
    return mlp(params, 2 * (point - lower) / (upper - lower) - 1)


def periodic_difference(params, time: jax.Array, x_range=X_RANGE, t_range=T_RANGE) -> jax.Array:
    """Return u(x_min, t) - u(x_max, t) of `network` at one time of shape (1,)."""
    left = jnp.concatenate([jnp.full((1,), x_range[0]), time])
    right = jnp.concatenate([jnp.full((1,), x_range[1]), time])
    return network(params, left, x_range, t_range) - network(params, right, x_range, t_range)


def _pde_condition(params, point, beta):
    return convection_residual(lambda p: network(params, p), point, beta)


def _initial_condition(params, point):
    return network(params, point) - initial_value(point)


def _periodic_condition(params, time):
    return periodic_difference(params, time)


@dataclasses.dataclass(frozen=True)
class Convection(ExactSolutionError):
    """The convection PINN problem with its starting network.

    Attributes
    ----------
    problem : svensolve.Problem
        Conditions "pde", "initial" and "periodic", in that order.
    params : list of dict
        The starting network, as returned by `problems.networks.init_mlp`.
    interior_points : np.ndarray
        Collocation points (x, t) of "pde", shape (x_count * t_count, 2).
    initial_points : np.ndarray
        Collocation points (x, 0) of "initial", shape (initial_count, 2).
    periodic_times : np.ndarray
        Times of "periodic", shape (periodic_count, 1).
    beta : float
        The convection speed.
    """

    problem: sv.Problem
    params: list
    interior_points: np.ndarray
    initial_points: np.ndarray
    periodic_times: np.ndarray
    beta: float = BETA

    def solution(self, params, points) -> jax.Array:
        """Evaluate `network` at every row (x, t) of an (m, 2) array of points."""
        return jax.vmap(network, in_axes=(None, 0))(params, jnp.asarray(points))

    def exact(self, points) -> jax.Array:
        """Evaluate the exact solution at every row (x, t) of an (m, 2) array of points."""
        return jax.vmap(exact_solution, in_axes=(0, None))(jnp.asarray(points), self.beta)

    def test_grid(self) -> np.ndarray:
        """Return the 200 x 200 uniform grid of [0, 2 pi] x [0, 1], edges included.

        `relative_l2_error` measures the error on these points.
        """
        return uniform_grid(X_RANGE, T_RANGE, TEST_GRID_SHAPE)


def check_sizes(width: int, depth: int, **counts: int) -> None:
    """Raise ValueError unless the network sizes and every point count are large enough.

    The interior grid counts must be at least 1. Counts whose name starts with
    ``initial``, ``periodic`` or ``boundary`` must be at least 2, so that the points
    reach both ends of their range.
    """
    if width < 1 or depth < 1:
        raise ValueError(f"width and depth must be at least 1, got width={width}, depth={depth}")
    for name, count in counts.items():
        minimum = 2 if name.startswith(("initial", "periodic", "boundary")) else 1
        if count < minimum:
            raise ValueError(f"{name} must be at least {minimum}, got {count}")


def build(
    width: int = 32,
    depth: int = 2,
    x_count: int = 16,
    t_count: int = 64,
    initial_count: int = 64,
    periodic_count: int = 64,
    seed: int = 0,
    beta: float = BETA,
) -> Convection:
    """Build the convection PINN problem and its starting network.

    Parameters
    ----------
    width : int, optional
        Number of units in each hidden layer.
    depth : int, optional
        Number of hidden layers.
    x_count, t_count : int, optional
        Interior collocation points along x and along t, so ``x_count * t_count`` PDE
        residuals.
    initial_count : int, optional
        Collocation points on t = 0.
    periodic_count : int, optional
        Times at which u(0, t) - u(2 pi, t) is a residual.
    seed : int, optional
        Seed of ``jax.random.PRNGKey`` for the network weights.
    beta : float, optional
        The convection speed, 40 in the published setup. A small beta gives an easy
        problem for quick checks.

    Returns
    -------
    Convection
        The problem, the starting network and the collocation points.
    """
    check_sizes(
        width, depth, x_count=x_count, t_count=t_count,
        initial_count=initial_count, periodic_count=periodic_count,
    )
    params = init_mlp(jax.random.PRNGKey(seed), [2] + [width] * depth + [1])

    interior = interior_points(X_RANGE, T_RANGE, x_count, t_count)
    initial = initial_points(X_RANGE, initial_count)
    times = edge_times(T_RANGE, periodic_count)
    problem = sv.Problem(
        [
            sv.Condition("pde", functools.partial(_pde_condition, beta=beta), points=interior),
            sv.Condition("initial", _initial_condition, points=initial),
            sv.Condition("periodic", _periodic_condition, points=times),
        ]
    )
    return Convection(
        problem=problem,
        params=params,
        interior_points=interior,
        initial_points=initial,
        periodic_times=times,
        beta=float(beta),
    )
