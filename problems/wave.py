"""The 1D wave equation PINN problem: residuals, starting network and error metric.

Equation: u_tt - c^2 u_xx = 0 with wave speed c = 2 for (x, t) in [0, 1] x [0, 1], initial
value u(x, 0) = sin(pi x) + sin(beta pi x) / 2 with beta = 5, initial velocity
u_t(x, 0) = 0, and boundary values u(0, t) = u(1, t) = 0. The exact solution is the sum of
two standing waves, u(x, t) = sin(pi x) cos(2 pi t) + sin(beta pi x) cos(2 beta pi t) / 2.
Points are stored as rows (x, t).

Network: a tanh MLP 2-32-32-1 (1,185 parameters) with Glorot-normal weights and zero
biases, drawn from ``jax.random.PRNGKey(seed)``. Its inputs are (x, t) mapped affinely
onto [-1, 1]^2 (`network`).

Collocation: 1,024 interior points on a 32 x 32 grid (the inner nodes of uniform 34-point
grids of [0, 1]) for "pde", 48 points on t = 0 (``np.linspace(0, 1, 48)`` in x) for each of
"initial" (u) and "initial_velocity" (u_t), and 32 points on each of x = 0 and x = 1
(``np.linspace(0, 1, 32)`` in t) for "boundary". That makes 1,184 residuals, one fewer
than the 1,185 parameters, each block scaled by 1 / sqrt(its point count).

Metric: relative L2 error ||u_net - u||_2 / ||u||_2 on a 100 x 100 uniform grid of
[0, 1]^2 that includes the boundary.

Published numbers: Rathore, Lei, Frangella, Lu and Udell, "Challenges in Training PINNs: A
Loss Landscape Perspective" (ICML 2024, arXiv 2402.01868) report a best relative L2 error
of 1.27e-2 (Adam, then L-BFGS, then their NysNewton-CG); that figure was not checked
against the paper's tables. The equation, c = 2 and
beta = 5 follow the configuration and loss code of the authors' companion repository
(pratikrathore8/opt_for_pinns). That code trains a much larger network (4 hidden layers
of 200 units, about 121,000 parameters) on 10,000 residual points drawn from a 257 x 101
grid, for 5,000 epochs on a GPU.
"""

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import svensolve as sv
from problems import convection
from problems.metrics import ExactSolutionError
from problems.networks import init_mlp

NAME = "wave"
DESCRIPTION = "PINN for u_tt = 4 u_xx on [0,1] x [0,1], two standing waves, u = 0 at x = 0, 1"
# Names of the point coordinates, in order, for figures.
AXES = ("x", "t")

# The second standing wave has wave number beta pi, as in Rathore et al.
BETA = 5.0

WAVE_SPEED = 2.0
X_RANGE = (0.0, 1.0)
T_RANGE = (0.0, 1.0)
TEST_GRID_SHAPE = (100, 100)


def wave_residual(
    u: Callable[[jax.Array], jax.Array], point: jax.Array, wave_speed=WAVE_SPEED
) -> jax.Array:
    """Return u_tt - c^2 u_xx at one point (x, t) for a scalar function u of (x, t)."""
    # Two Hessian-vector products, along e_x and e_t, give the two diagonal entries.
    gradient_fn = jax.grad(u)
    unit_x = jnp.zeros_like(point).at[0].set(1)
    unit_t = jnp.zeros_like(point).at[1].set(1)
    _, column_x = jax.jvp(gradient_fn, (point,), (unit_x,))
    _, column_t = jax.jvp(gradient_fn, (point,), (unit_t,))
    return column_t[1] - wave_speed**2 * column_x[0]


def exact_solution(point: jax.Array) -> jax.Array:
    """Return sin(pi x) cos(2 pi t) + sin(beta pi x) cos(2 beta pi t) / 2 at one point (x, t)."""
    x, t = point[0], point[1]
    slow = jnp.sin(jnp.pi * x) * jnp.cos(2 * jnp.pi * t)
    fast = jnp.sin(BETA * jnp.pi * x) * jnp.cos(2 * BETA * jnp.pi * t) / 2
    return slow + fast


def initial_value(point: jax.Array) -> jax.Array:
    """Return sin(pi x) + sin(beta pi x) / 2 at one point (x, 0) of shape (2,)."""
    return jnp.sin(jnp.pi * point[0]) + jnp.sin(BETA * jnp.pi * point[0]) / 2


def network(params, point: jax.Array) -> jax.Array:
    """Evaluate the MLP at one point (x, t), with both ranges mapped onto [-1, 1]."""
    return convection.network(params, point, X_RANGE, T_RANGE)


def _pde_condition(params, point):
    return wave_residual(lambda p: network(params, p), point)


def _initial_condition(params, point):
    return network(params, point) - initial_value(point)


def _initial_velocity_condition(params, point):
    # The initial velocity is 0, so the residual is u_t of the network itself.
    return jax.grad(network, argnums=1)(params, point)[1]


def _boundary_condition(params, point):
    # The boundary value is 0, so the residual is the network value itself.
    return network(params, point)


@dataclasses.dataclass(frozen=True)
class Wave(ExactSolutionError):
    """The wave equation PINN problem with its starting network.

    Attributes
    ----------
    problem : svensolve.Problem
        Conditions "pde", "initial", "initial_velocity" and "boundary", in that order.
    params : list of dict
        The starting network, as returned by `problems.networks.init_mlp`.
    interior_points : np.ndarray
        Collocation points (x, t) of "pde", shape (x_count * t_count, 2).
    initial_points : np.ndarray
        Collocation points (x, 0) of "initial" and "initial_velocity",
        shape (initial_count, 2).
    boundary_points : np.ndarray
        Collocation points of "boundary", first x = 0 then x = 1,
        shape (2 * boundary_count, 2).
    """

    problem: sv.Problem
    params: list
    interior_points: np.ndarray
    initial_points: np.ndarray
    boundary_points: np.ndarray

    def solution(self, params, points) -> jax.Array:
        """Evaluate `network` at every row (x, t) of an (m, 2) array of points."""
        return jax.vmap(network, in_axes=(None, 0))(params, jnp.asarray(points))

    def exact(self, points) -> jax.Array:
        """Evaluate the exact solution at every row (x, t) of an (m, 2) array of points."""
        return jax.vmap(exact_solution)(jnp.asarray(points))

    def test_grid(self) -> np.ndarray:
        """Return the 100 x 100 uniform grid of [0, 1]^2, boundary included, shape (10000, 2).

        `relative_l2_error` measures the error on these points.
        """
        return convection.uniform_grid(X_RANGE, T_RANGE, TEST_GRID_SHAPE)


def build(
    width: int = 32,
    depth: int = 2,
    x_count: int = 32,
    t_count: int = 32,
    initial_count: int = 48,
    boundary_count: int = 32,
    seed: int = 0,
) -> Wave:
    """Build the wave equation PINN problem and its starting network.

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
        Collocation points on t = 0, each used for u and for u_t.
    boundary_count : int, optional
        Collocation points on each of x = 0 and x = 1.
    seed : int, optional
        Seed of ``jax.random.PRNGKey`` for the network weights.

    Returns
    -------
    Wave
        The problem, the starting network and the collocation points.
    """
    convection.check_sizes(
        width, depth, x_count=x_count, t_count=t_count,
        initial_count=initial_count, boundary_count=boundary_count,
    )
    params = init_mlp(jax.random.PRNGKey(seed), [2] + [width] * depth + [1])

    interior = convection.interior_points(X_RANGE, T_RANGE, x_count, t_count)
    initial = convection.initial_points(X_RANGE, initial_count)
    boundary = convection.boundary_points(X_RANGE, T_RANGE, boundary_count)
    problem = sv.Problem(
        [
            sv.Condition("pde", _pde_condition, points=interior),
            sv.Condition("initial", _initial_condition, points=initial),
            sv.Condition("initial_velocity", _initial_velocity_condition, points=initial),
            sv.Condition("boundary", _boundary_condition, points=boundary),
        ]
    )
    return Wave(
        problem=problem,
        params=params,
        interior_points=interior,
        initial_points=initial,
        boundary_points=boundary,
    )
