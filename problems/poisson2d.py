"""The 2D Poisson PINN reference problem: residuals, starting network and error metric.

Equation: -Laplace u = f with f(x, y) = 2 pi^2 sin(pi x) sin(pi y) on the unit square
[0, 1]^2, and u = 0 on its boundary. The exact solution is u(x, y) = sin(pi x) sin(pi y).

Network: a tanh MLP 2-32-32-1 (1,185 parameters) with Glorot-normal weights and zero
biases, drawn from ``jax.random.PRNGKey(seed)``.

Collocation: 900 interior points on a 30 x 30 grid (``np.linspace(0, 1, 32)[1:-1]`` in
each direction) for the condition "pde", and 30 points on each of the 4 edges
(``np.linspace(0, 1, 30)`` along the edge) for the condition "boundary". Each corner
belongs to two edges, so it appears twice among the 120 boundary points. That makes
1,020 residuals in all, each block scaled by 1 / sqrt(its point count).

Metric: relative L2 error ||u_net - u||_2 / ||u||_2 on a 100 x 100 uniform grid of
[0, 1]^2 that includes the boundary.

This module only states the problem. The solver lives in ``svensolve``.
"""

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import svensolve as sv
from problems.metrics import ExactSolutionError
from problems.networks import init_mlp, mlp

NAME = "poisson2d"
DESCRIPTION = "PINN for -Laplace u = 2 pi^2 sin(pi x) sin(pi y) on [0,1]^2, u = 0 on the boundary"

TEST_GRID_SIZE = 100


def laplacian(fn: Callable[[jax.Array], jax.Array], x: jax.Array) -> jax.Array:
    """Compute the Laplacian of a scalar function at one point by forward-over-reverse.

    Parameters
    ----------
    fn : callable
        Scalar function of one point of shape ``(d,)``.
    x : jax.Array
        The point, shape ``(d,)``.

    Returns
    -------
    jax.Array
        The scalar sum of the d second derivatives d^2 fn / dx_i^2 at ``x``.

    Notes
    -----
    Each term is coordinate i of a Hessian-vector product, a ``jax.jvp`` of
    ``jax.grad(fn)`` along the unit vector e_i. The values cost the same as the trace of
    ``jax.hessian``. The solver's Jacobian also needs their gradient with respect to the
    network parameters, and that ran 2 to 3.5 times faster with this Python loop than
    with the Hessian trace or a ``vmap`` over e_i. This was measured for a tanh 32-32 MLP
    with d = 2 and d = 5, vmapped over 1,000 points and jitted, on a 2-core CPU with jax
    0.10.2. The loop unrolls at trace time, so compile time grows with d.
    """
    grad_fn = jax.grad(fn)
    dim = x.shape[0]
    total = jnp.zeros((), dtype=x.dtype)
    for i in range(dim):
        unit = jnp.zeros_like(x).at[i].set(1)
        _, hessian_column = jax.jvp(grad_fn, (x,), (unit,))
        total = total + hessian_column[i]
    return total


def exact_solution(x: jax.Array) -> jax.Array:
    """Return the exact solution sin(pi x) sin(pi y) at one point of shape (2,)."""
    return jnp.sin(jnp.pi * x[0]) * jnp.sin(jnp.pi * x[1])


def source(x: jax.Array) -> jax.Array:
    """Return the right-hand side f = 2 pi^2 sin(pi x) sin(pi y) at one point of shape (2,)."""
    return 2 * jnp.pi**2 * exact_solution(x)


def pde_residual(u: Callable[[jax.Array], jax.Array], x: jax.Array) -> jax.Array:
    """Return -Laplace u(x) - f(x) for a scalar function u of one point."""
    return -laplacian(u, x) - source(x)


def interior_points(grid: int = 30) -> np.ndarray:
    """Return the grid x grid interior collocation points, shape (grid**2, 2).

    The points are the inner nodes of a uniform (grid + 2)-point grid of [0, 1] in each
    direction, so none lies on the boundary.
    """
    ticks = np.linspace(0.0, 1.0, grid + 2)[1:-1]
    xs, ys = np.meshgrid(ticks, ticks, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def boundary_points(edge_points: int = 30) -> np.ndarray:
    """Return edge_points points on each edge of [0, 1]^2, shape (4 * edge_points, 2).

    The edges come in the order y = 0, y = 1, x = 0, x = 1. Corners are kept on both of
    their edges.
    """
    ticks = np.linspace(0.0, 1.0, edge_points)
    zeros = np.zeros_like(ticks)
    ones = np.ones_like(ticks)
    edges = [
        np.stack([ticks, zeros], axis=1),
        np.stack([ticks, ones], axis=1),
        np.stack([zeros, ticks], axis=1),
        np.stack([ones, ticks], axis=1),
    ]
    return np.concatenate(edges, axis=0)


def _pde_condition(params, x):
    return pde_residual(lambda point: mlp(params, point), x)


def _boundary_condition(params, x):
    # The boundary value is 0, so the residual is the network value itself.
    return mlp(params, x)


@dataclasses.dataclass(frozen=True)
class Poisson2D(ExactSolutionError):
    """The 2D Poisson PINN problem with its starting network.

    Attributes
    ----------
    problem : svensolve.Problem
        Conditions "pde" (interior points) and "boundary", in that order.
    params : list of dict
        The starting network, as returned by `problems.networks.init_mlp`.
    interior_points : np.ndarray
        Collocation points of the "pde" condition, shape (grid**2, 2).
    boundary_points : np.ndarray
        Collocation points of the "boundary" condition, shape (4 * edge_points, 2).
    """

    problem: sv.Problem
    params: list
    interior_points: np.ndarray
    boundary_points: np.ndarray

    def solution(self, params, points) -> jax.Array:
        """Evaluate the network at every row of an (m, 2) array of points."""
        return jax.vmap(mlp, in_axes=(None, 0))(params, jnp.asarray(points))

    def exact(self, points) -> jax.Array:
        """Evaluate the exact solution at every row of an (m, 2) array of points."""
        return jax.vmap(exact_solution)(jnp.asarray(points))

    def test_grid(self) -> np.ndarray:
        """Return the 100 x 100 uniform grid of [0, 1]^2, boundary included, shape (10000, 2).

        `relative_l2_error` measures the error on these points.
        """
        ticks = np.linspace(0.0, 1.0, TEST_GRID_SIZE)
        xs, ys = np.meshgrid(ticks, ticks, indexing="ij")
        return np.stack([xs.ravel(), ys.ravel()], axis=1)


def build(
    width: int = 32,
    depth: int = 2,
    grid: int = 30,
    edge_points: int = 30,
    seed: int = 0,
) -> Poisson2D:
    """Build the 2D Poisson PINN problem and its starting network.

    Parameters
    ----------
    width : int, optional
        Number of units in each hidden layer.
    depth : int, optional
        Number of hidden layers.
    grid : int, optional
        Interior collocation points per direction, so ``grid**2`` PDE residuals.
    edge_points : int, optional
        Collocation points per edge, so ``4 * edge_points`` boundary residuals.
    seed : int, optional
        Seed of ``jax.random.PRNGKey`` for the network weights.

    Returns
    -------
    Poisson2D
        The problem, the starting network and the collocation points.
    """
    if width < 1 or depth < 1:
        raise ValueError(f"width and depth must be at least 1, got width={width}, depth={depth}")
    if grid < 1:
        raise ValueError(f"grid must be at least 1 interior point per direction, got {grid}")
    if edge_points < 2:
        raise ValueError(f"edge_points must be at least 2 to reach both corners, got {edge_points}")

    sizes = [2] + [width] * depth + [1]
    params = init_mlp(jax.random.PRNGKey(seed), sizes)

    interior = interior_points(grid)
    boundary = boundary_points(edge_points)
    problem = sv.Problem(
        [
            sv.Condition("pde", _pde_condition, points=interior),
            sv.Condition("boundary", _boundary_condition, points=boundary),
        ]
    )
    return Poisson2D(
        problem=problem,
        params=params,
        interior_points=interior,
        boundary_points=boundary,
    )
