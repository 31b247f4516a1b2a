"""The Kovasznay flow PINN problem: steady Navier-Stokes residuals, starting network and metrics.

Equations: the steady incompressible Navier-Stokes equations with viscosity nu = 1 / Re
and Re = 40, on the rectangle [-0.5, 1] x [-0.5, 1.5],

    u u_x + v u_y + p_x - nu (u_xx + u_yy) = 0,
    u v_x + v v_y + p_y - nu (v_xx + v_yy) = 0,
    u_x + v_y = 0,

with the velocity (u, v) of the exact solution prescribed on the boundary. The exact
solution (Kovasznay 1948) is

    u = 1 - exp(lambda x) cos(2 pi y),
    v = lambda / (2 pi) exp(lambda x) sin(2 pi y),
    p = (1 - exp(2 lambda x)) / 2,

with lambda = Re / 2 - sqrt(Re^2 / 4 + 4 pi^2), about -0.9637. The velocity data fix p
only up to a constant, so the condition "pressure" sets p to its exact value at the
corner (-0.5, -0.5).

Network: one tanh MLP 2-32-32-3 (1,251 parameters) with outputs (u, v, p), Glorot-normal
weights and zero biases, drawn from ``jax.random.PRNGKey(seed)``.

Collocation: 300 interior points on a 15 x 20 grid carry "momentum" (2 residuals per
point) and "continuity" (1 per point). They are the inner nodes of uniform 17- and
22-point grids of [-0.5, 1] and [-0.5, 1.5], spaced about 0.095 in both directions. The boundary
nodes of the same 17 x 22 grids, 17 points on each of y = -0.5 and y = 1.5 and 22 on
each of x = -0.5 and x = 1 (corners counted on both of their edges), carry "boundary"
(2 residuals per point). With the one "pressure" residual that makes 1,057 residuals,
fewer than the 1,251 parameters. Each block is scaled by 1 / sqrt(its point count).

Metrics: relative L2 errors of u, v and p separately (`component_errors`), and of the
stacked velocity (u, v) (`relative_l2_error`), on a 100 x 100 uniform grid of the
rectangle that includes the boundary.

Published numbers: none is given here. Jin, Cai, Li and Karniadakis, "NSFnets
(Navier-Stokes flow nets)" (J. Comput. Phys. 426, 2021) use this flow as a benchmark,
but only their abstract was opened, and it reports no number for it.

Solver behaviour, measured on a shared 2-core CPU with jax 0.10.2: the plain line search
(``control="line-search"``) stalls at cost 1.29 and velocity error 0.86, because the
undamped step is about 1e5 times the parameters' norm. The default ``control="auto"``
then falls back to the trust region and reached a velocity error of 1.6e-4 in 60 s.
"""

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import svensolve as sv
from problems.metrics import relative_l2
from problems.networks import init_mlp, mlp

NAME = "kovasznay"
DESCRIPTION = "PINN for steady Navier-Stokes at Re = 40: Kovasznay flow on [-0.5,1] x [-0.5,1.5]"

REYNOLDS = 40.0
VISCOSITY = 1.0 / REYNOLDS
DECAY_RATE = REYNOLDS / 2 - np.sqrt(REYNOLDS**2 / 4 + 4 * np.pi**2)

X_RANGE = (-0.5, 1.0)
Y_RANGE = (-0.5, 1.5)
PRESSURE_POINT = (-0.5, -0.5)
TEST_GRID_SIZE = 100


def exact_solution(point: jax.Array) -> jax.Array:
    """Return the exact (u, v, p) at one point (x, y), shape (3,)."""
    x, y = point[0], point[1]
    decay = jnp.exp(DECAY_RATE * x)
    u = 1 - decay * jnp.cos(2 * jnp.pi * y)
    v = DECAY_RATE / (2 * jnp.pi) * decay * jnp.sin(2 * jnp.pi * y)
    p = (1 - decay**2) / 2
    return jnp.stack([u, v, p])


def derivatives(fields: Callable[[jax.Array], jax.Array], point: jax.Array):
    """Compute the values, first derivatives and Laplacians of (u, v, p) at one point.

    Parameters
    ----------
    fields : callable
        Function of one point (x, y) returning the vector (u, v, p).
    point : jax.Array
        The point, shape ``(2,)``.

    Returns
    -------
    values : jax.Array
        (u, v, p), shape ``(3,)``.
    jacobian : jax.Array
        ``jacobian[i, j]`` is the derivative of output i along coordinate j, shape ``(3, 2)``.
    laplacians : jax.Array
        The Laplacian of each output, shape ``(3,)``.
    """
    # Forward-over-reverse along e_x and e_y, as `problems.poisson2d.laplacian` does for
    # one output. The primal output of each jvp is the (3, 2) Jacobian itself.
    jacobian_fn = jax.jacrev(fields)
    laplacians = jnp.zeros((3,), dtype=point.dtype)
    for axis in range(2):
        unit = jnp.zeros_like(point).at[axis].set(1)
        jacobian, second = jax.jvp(jacobian_fn, (point,), (unit,))
        laplacians = laplacians + second[:, axis]
    return fields(point), jacobian, laplacians


def momentum_residual(fields: Callable[[jax.Array], jax.Array], point: jax.Array) -> jax.Array:
    """Return the x and y momentum residuals (u . grad) u + grad p - nu Laplace u, shape (2,)."""
    values, jacobian, laplacians = derivatives(fields, point)
    velocity = values[:2]
    convection = jacobian[:2] @ velocity
    pressure_gradient = jacobian[2]
    return convection + pressure_gradient - VISCOSITY * laplacians[:2]


def continuity_residual(fields: Callable[[jax.Array], jax.Array], point: jax.Array) -> jax.Array:
    """Return the divergence u_x + v_y at one point."""
    jacobian = jax.jacfwd(fields)(point)
    return jacobian[0, 0] + jacobian[1, 1]


def interior_points(x_count: int = 15, y_count: int = 20) -> np.ndarray:
    """Return the x_count x y_count interior grid points of the rectangle, shape (m, 2).

    The points are the inner nodes of uniform (x_count + 2)- and (y_count + 2)-point grids
    of the x and y ranges, so none lies on the boundary.
    """
    x_ticks = np.linspace(*X_RANGE, x_count + 2)[1:-1]
    y_ticks = np.linspace(*Y_RANGE, y_count + 2)[1:-1]
    xs, ys = np.meshgrid(x_ticks, y_ticks, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def boundary_points(x_count: int = 17, y_count: int = 22) -> np.ndarray:
    """Return points on the 4 edges of the rectangle, shape (2 * x_count + 2 * y_count, 2).

    The edges come in the order y = -0.5, y = 1.5 (x_count points each), x = -0.5, x = 1
    (y_count points each), ends included, so each corner appears twice.
    """
    x_ticks = np.linspace(*X_RANGE, x_count)
    y_ticks = np.linspace(*Y_RANGE, y_count)
    edges = [
        np.stack([x_ticks, np.full_like(x_ticks, Y_RANGE[0])], axis=1),
        np.stack([x_ticks, np.full_like(x_ticks, Y_RANGE[1])], axis=1),
        np.stack([np.full_like(y_ticks, X_RANGE[0]), y_ticks], axis=1),
        np.stack([np.full_like(y_ticks, X_RANGE[1]), y_ticks], axis=1),
    ]
    return np.concatenate(edges, axis=0)


def uniform_grid(size: int = TEST_GRID_SIZE) -> np.ndarray:
    """Return the size x size uniform grid of the rectangle, boundary included."""
    xs, ys = np.meshgrid(np.linspace(*X_RANGE, size), np.linspace(*Y_RANGE, size), indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def _momentum_condition(params, point):
    return momentum_residual(lambda q: mlp(params, q), point)


def _continuity_condition(params, point):
    return continuity_residual(lambda q: mlp(params, q), point)


def _boundary_condition(params, point):
    return mlp(params, point)[:2] - exact_solution(point)[:2]


def _pressure_condition(params, point):
    return mlp(params, point)[2] - exact_solution(point)[2]


@dataclasses.dataclass(frozen=True)
class Kovasznay:
    """The Kovasznay flow PINN problem with its starting network.

    Attributes
    ----------
    problem : svensolve.Problem
        Conditions "momentum", "continuity", "boundary" and "pressure", in that order.
    params : list of dict
        The starting network with outputs (u, v, p), from `problems.networks.init_mlp`.
    interior_points : np.ndarray
        Collocation points of "momentum" and "continuity", shape (x_count * y_count, 2).
    boundary_points : np.ndarray
        Collocation points of the velocity condition "boundary".
    pressure_point : np.ndarray
        The single point of the "pressure" condition, shape (1, 2).
    """

    problem: sv.Problem
    params: list
    interior_points: np.ndarray
    boundary_points: np.ndarray
    pressure_point: np.ndarray

    def solution(self, params, points) -> jax.Array:
        """Evaluate the network's (u, v, p) at every row of an (m, 2) array, shape (m, 3)."""
        return jax.vmap(mlp, in_axes=(None, 0))(params, jnp.asarray(points))

    def exact(self, points) -> jax.Array:
        """Evaluate the exact (u, v, p) at every row of an (m, 2) array, shape (m, 3)."""
        return jax.vmap(exact_solution)(jnp.asarray(points))

    def test_grid(self) -> np.ndarray:
        """Return the 100 x 100 uniform grid of the rectangle, boundary included, shape (10000, 2).

        `component_errors` and `relative_l2_error` measure the error on these points.
        """
        return uniform_grid(TEST_GRID_SIZE)

    def component_errors(self, params) -> dict:
        """Return the relative L2 errors of u, v and p over the test grid, keyed by name."""
        points = self.test_grid()
        predicted = np.asarray(self.solution(params, points))
        expected = np.asarray(self.exact(points))
        names = ("u", "v", "p")
        return {name: relative_l2(predicted[:, i], expected[:, i]) for i, name in enumerate(names)}

    def relative_l2_error(self, params) -> float:
        """Return ||(u, v)_net - (u, v)||_2 / ||(u, v)||_2 over the test grid."""
        points = self.test_grid()
        return relative_l2(self.solution(params, points)[:, :2], self.exact(points)[:, :2])


def build(
    width: int = 32,
    depth: int = 2,
    x_count: int = 15,
    y_count: int = 20,
    seed: int = 0,
) -> Kovasznay:
    """Build the Kovasznay flow PINN problem and its starting network.

    Parameters
    ----------
    width : int, optional
        Number of units in each hidden layer.
    depth : int, optional
        Number of hidden layers.
    x_count, y_count : int, optional
        Interior collocation points along x and along y. The boundary edges get
        ``x_count + 2`` and ``y_count + 2`` points, the boundary nodes of the same grid.
    seed : int, optional
        Seed of ``jax.random.PRNGKey`` for the network weights.

    Returns
    -------
    Kovasznay
        The problem, the starting network and the collocation points.
    """
    if width < 1 or depth < 1:
        raise ValueError(f"width and depth must be at least 1, got width={width}, depth={depth}")
    if x_count < 1 or y_count < 1:
        raise ValueError(
            f"x_count and y_count must be at least 1, got x_count={x_count}, y_count={y_count}"
        )

    sizes = [2] + [width] * depth + [3]
    params = init_mlp(jax.random.PRNGKey(seed), sizes)

    interior = interior_points(x_count, y_count)
    boundary = boundary_points(x_count + 2, y_count + 2)
    pressure_point = np.asarray([PRESSURE_POINT])
    problem = sv.Problem(
        [
            sv.Condition("momentum", _momentum_condition, points=interior),
            sv.Condition("continuity", _continuity_condition, points=interior),
            sv.Condition("boundary", _boundary_condition, points=boundary),
            sv.Condition("pressure", _pressure_condition, points=pressure_point),
        ]
    )
    return Kovasznay(
        problem=problem,
        params=params,
        interior_points=interior,
        boundary_points=boundary,
        pressure_point=pressure_point,
    )
