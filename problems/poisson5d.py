"""The 5D Poisson PINN problem: residuals, random collocation, starting network and metric.

Equation: -Laplace u = f with f(x) = (pi^2 / 4) sum_i sin(pi x_i / 2) on the unit cube
[0, 1]^5, and u = g on its boundary, where g is the exact solution
u(x) = sum_i sin(pi x_i / 2) restricted to the boundary.

Network: a tanh MLP 5-32-32-1 (1,281 parameters) with Glorot-normal weights and zero
biases, drawn from ``jax.random.PRNGKey(seed)``. A shallow 5-64-1 network has only 449
parameters, fewer than the 1,000 residuals below, and the solver treats n < p problems
as PINNs, so the default is two hidden layers.

Collocation: 500 interior points drawn uniformly from [0, 1]^5 for the condition "pde",
and 50 points on each of the 10 faces x_i = 0 and x_i = 1 for "boundary" (uniform in the
other four coordinates). Both sets come from ``np.random.default_rng(seed)``, the interior
first. That makes 1,000 residuals, each block scaled by 1 / sqrt(its point count). Both
conditions have a sampler that draws new sets of the same kind from a ``jax.random`` key,
so ``sv.minimize(..., resample=True)`` redraws them every iteration, as the energy natural
gradient paper does.

Metric: relative L2 error ||u_net - u||_2 / ||u||_2 on 10,000 points drawn uniformly from
[0, 1]^5 by ``np.random.default_rng(TEST_SEED)``. That seed is fixed, so networks built
with different seeds are measured on the same points.

Published numbers: for Mueller and Zeinhofer, "Achieving High Accuracy with PINNs via
Energy Natural Gradients" (ICML 2023, arXiv 2302.13163), the summary at
alphaxiv.org/overview/2302.13163v2 gives relative L2 errors of 1e-6 to 1e-8 across the
paper's examples. The paper's own number for this problem was not checked here. The code
released with the paper,
``engd_poisson_5d.py`` of github.com/MariusZeinhofer/Natural-Gradient-PINNs-ICML23,
solves a variant with u = sum_i sin(pi x_i) and f = pi^2 u, a 5-64-1 network and 4,000
interior points redrawn every iteration, so its numbers are not directly comparable.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

import svensolve as sv
from problems.metrics import ExactSolutionError
from problems.networks import init_mlp, mlp
from problems.poisson2d import laplacian

NAME = "poisson5d"
DESCRIPTION = "PINN for -Laplace u = (pi^2/4) sum sin(pi x_i/2) on [0,1]^5, exact Dirichlet data"

DIMENSION = 5
TEST_POINT_COUNT = 10_000
TEST_SEED = 20230224


def exact_solution(x: jax.Array) -> jax.Array:
    """Return the exact solution sum_i sin(pi x_i / 2) at one point of shape (d,)."""
    return jnp.sum(jnp.sin(jnp.pi * x / 2))


def source(x: jax.Array) -> jax.Array:
    """Return the right-hand side f = (pi^2 / 4) sum_i sin(pi x_i / 2) at one point."""
    return jnp.pi**2 / 4 * exact_solution(x)


def pde_residual(u, x: jax.Array) -> jax.Array:
    """Return -Laplace u(x) - f(x) for a scalar function u of one point of shape (d,)."""
    return -laplacian(u, x) - source(x)


def interior_points(rng: np.random.Generator, count: int = 500) -> np.ndarray:
    """Draw count points uniformly from [0, 1]^5, shape (count, 5)."""
    return rng.uniform(0.0, 1.0, size=(count, DIMENSION))


def boundary_points(rng: np.random.Generator, per_face: int = 50) -> np.ndarray:
    """Draw per_face points on each of the 10 faces of [0, 1]^5, shape (10 * per_face, 5).

    The faces come in the order x_0 = 0, x_0 = 1, x_1 = 0, ..., x_4 = 1. On each face the
    other four coordinates are uniform in [0, 1].
    """
    faces = []
    for axis in range(DIMENSION):
        for side in (0.0, 1.0):
            points = rng.uniform(0.0, 1.0, size=(per_face, DIMENSION))
            points[:, axis] = side
            faces.append(points)
    return np.concatenate(faces, axis=0)


def _interior_sampler(count: int):
    """Sampler of ``count`` uniform interior points, for solves with ``resample=True``."""

    def sample(key):
        return jax.random.uniform(key, (count, DIMENSION))

    return sample


def _boundary_sampler(per_face: int):
    """Sampler of ``per_face`` uniform points on each face, in `boundary_points`' order."""
    axes = np.repeat(np.arange(DIMENSION), 2 * per_face)
    sides = np.tile(np.repeat([0.0, 1.0], per_face), DIMENSION)

    def sample(key):
        points = jax.random.uniform(key, (2 * DIMENSION * per_face, DIMENSION))
        return points.at[np.arange(axes.size), axes].set(sides)

    return sample


def sample_test_points() -> np.ndarray:
    """Draw the 10,000 test points uniformly from [0, 1]^5 with the fixed TEST_SEED."""
    rng = np.random.default_rng(TEST_SEED)
    return rng.uniform(0.0, 1.0, size=(TEST_POINT_COUNT, DIMENSION))


def _pde_condition(params, x):
    return pde_residual(lambda point: mlp(params, point), x)


def _boundary_condition(params, x):
    return mlp(params, x) - exact_solution(x)


@dataclasses.dataclass(frozen=True)
class Poisson5D(ExactSolutionError):
    """The 5D Poisson PINN problem with its starting network.

    Attributes
    ----------
    problem : svensolve.Problem
        Conditions "pde" (interior points) and "boundary", in that order.
    params : list of dict
        The starting network, as returned by `problems.networks.init_mlp`.
    interior_points : np.ndarray
        Collocation points of the "pde" condition, shape (interior_count, 5).
    boundary_points : np.ndarray
        Collocation points of the "boundary" condition, shape (10 * per_face, 5).
    """

    problem: sv.Problem
    params: list
    interior_points: np.ndarray
    boundary_points: np.ndarray

    def solution(self, params, points) -> jax.Array:
        """Evaluate the network at every row of an (m, 5) array of points."""
        return jax.vmap(mlp, in_axes=(None, 0))(params, jnp.asarray(points))

    def exact(self, points) -> jax.Array:
        """Evaluate the exact solution at every row of an (m, 5) array of points."""
        return jax.vmap(exact_solution)(jnp.asarray(points))

    def test_grid(self) -> np.ndarray:
        """Return the 10,000 uniform random test points of [0, 1]^5, shape (10000, 5).

        The points do not form a grid, since a grid of 10,000 points in 5D has fewer
        than 7 nodes per direction. `relative_l2_error` measures the error on them.
        """
        return sample_test_points()


def build(
    width: int = 32,
    depth: int = 2,
    interior_count: int = 500,
    per_face: int = 50,
    seed: int = 0,
) -> Poisson5D:
    """Build the 5D Poisson PINN problem and its starting network.

    Parameters
    ----------
    width : int, optional
        Number of units in each hidden layer.
    depth : int, optional
        Number of hidden layers.
    interior_count : int, optional
        Number of interior collocation points, so of PDE residuals.
    per_face : int, optional
        Collocation points per face, so ``10 * per_face`` boundary residuals.
    seed : int, optional
        Seed of ``jax.random.PRNGKey`` for the network weights and of
        ``np.random.default_rng`` for the collocation points.

    Returns
    -------
    Poisson5D
        The problem, the starting network and the collocation points.
    """
    if width < 1 or depth < 1:
        raise ValueError(f"width and depth must be at least 1, got width={width}, depth={depth}")
    if interior_count < 1 or per_face < 1:
        raise ValueError(
            "interior_count and per_face must be at least 1, got "
            f"interior_count={interior_count}, per_face={per_face}"
        )

    sizes = [DIMENSION] + [width] * depth + [1]
    params = init_mlp(jax.random.PRNGKey(seed), sizes)

    rng = np.random.default_rng(seed)
    interior = interior_points(rng, interior_count)
    boundary = boundary_points(rng, per_face)
    problem = sv.Problem(
        [
            sv.Condition("pde", _pde_condition, points=interior,
                         sampler=_interior_sampler(interior_count)),
            sv.Condition("boundary", _boundary_condition, points=boundary,
                         sampler=_boundary_sampler(per_face)),
        ]
    )
    return Poisson5D(
        problem=problem,
        params=params,
        interior_points=interior,
        boundary_points=boundary,
    )
