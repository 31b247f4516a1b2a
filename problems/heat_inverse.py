"""The inverse 1D heat problem: fit a constant diffusivity k and u from interior observations.

Equation: u_t = k u_xx for (x, t) in [0, 1] x [0, 1], initial value u(x, 0) = sin(pi x)
and boundary values u(0, t) = u(1, t) = 0, with k unknown. The observations come from the
exact solution u(x, t) = exp(-pi^2 k t) sin(pi x) with the true k = 0.25, without noise.
Points are stored as rows (x, t).

Parameters: a pytree ``{"net": mlp params, "k": array of shape ()}`` that starts at
k = 1.0. k is a parameter itself, not log k. The PDE residual u_t - k u_xx is linear in
k, so the Gauss-Newton model is exact along k, and the reported metric is the relative
error of k. A PINN residual stays finite for k <= 0, so positivity need not be built in,
and the true k = 0.25 is far from 0.

Network: a tanh MLP 2-32-32-1 (1,185 parameters, 1,186 with k) with Glorot-normal weights
and zero biases, drawn from ``jax.random.PRNGKey(seed)``.

Collocation: the grids of `problems.heat1d` (900 interior points for "pde", 30 on t = 0
for "initial", 30 on each of x = 0 and x = 1 for "boundary"), and 50 observation points
drawn uniformly from [0, 1]^2 by ``np.random.default_rng(seed)`` for "data" (network
minus observed value). That makes 1,040 residuals, fewer than the 1,186 parameters, each
block scaled by 1 / sqrt(its point count).

Metrics: the relative error |k - 0.25| / 0.25 (`coefficient_errors`), the target being
1e-4, and the relative L2 error of u on the 100 x 100 uniform grid of [0, 1]^2 that
includes the boundary (`relative_l2_error`).

Published numbers: none is given here.

Solver behaviour, measured on a shared 2-core CPU with jax 0.10.2: the plain line search
(``control="line-search"``) stalls near k = 0.98, and a log k parameter stalled the same
way. The default ``control="auto"`` falls back to the trust region and reached a
relative error of k of 6.1e-6 (u: 1.1e-5) in 60 s.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

import svensolve as sv
from problems import heat1d
from problems.metrics import ExactSolutionError
from problems.networks import init_mlp, mlp

NAME = "heat_inverse"
DESCRIPTION = "Inverse PINN: fit k in u_t = k u_xx on [0,1] x [0,1] from 50 observations (k = 0.25)"
# Names of the point coordinates, in order, for figures.
AXES = ("x", "t")

TRUE_DIFFUSIVITY = 0.25
INITIAL_DIFFUSIVITY = 1.0


def exact_solution(point: jax.Array) -> jax.Array:
    """Return exp(-pi^2 k t) sin(pi x) with the true k = 0.25 at one point (x, t)."""
    return heat1d.exact_solution(point, TRUE_DIFFUSIVITY)


def observation_points(rng: np.random.Generator, count: int = 50) -> np.ndarray:
    """Draw count observation points (x, t) uniformly from [0, 1]^2, shape (count, 2)."""
    return rng.uniform(0.0, 1.0, size=(count, 2))


def _pde_condition(params, point):
    return heat1d.heat_residual(lambda p: mlp(params["net"], p), point, params["k"])


def _initial_condition(params, point):
    return mlp(params["net"], point) - heat1d.initial_value(point)


def _boundary_condition(params, point):
    # The boundary value is 0, so the residual is the network value itself.
    return mlp(params["net"], point)


def _data_condition(params, observation):
    point, value = observation
    return mlp(params["net"], point) - value


@dataclasses.dataclass(frozen=True)
class HeatInverse(ExactSolutionError):
    """The inverse heat problem with its starting network and diffusivity.

    Attributes
    ----------
    problem : svensolve.Problem
        Conditions "pde", "initial", "boundary" and "data", in that order.
    params : dict
        ``{"net": list of layer dicts, "k": float64 array of shape ()}``.
    interior_points, initial_points, boundary_points : np.ndarray
        Collocation points of "pde", "initial" and "boundary", as in `problems.heat1d`.
    observation_points : np.ndarray
        Points (x, t) of the "data" condition, shape (observation_count, 2).
    observed_values : np.ndarray
        The exact u at the observation points, shape (observation_count,).
    """

    problem: sv.Problem
    params: dict
    interior_points: np.ndarray
    initial_points: np.ndarray
    boundary_points: np.ndarray
    observation_points: np.ndarray
    observed_values: np.ndarray

    def solution(self, params, points) -> jax.Array:
        """Evaluate the network at every row (x, t) of an (m, 2) array of points."""
        return jax.vmap(mlp, in_axes=(None, 0))(params["net"], jnp.asarray(points))

    def exact(self, points) -> jax.Array:
        """Evaluate the exact solution (k = 0.25) at every row of an (m, 2) array."""
        return jax.vmap(exact_solution)(jnp.asarray(points))

    def test_grid(self) -> np.ndarray:
        """Return the 100 x 100 uniform grid of [0, 1]^2, boundary included, shape (10000, 2).

        `relative_l2_error` measures the error on these points.
        """
        return heat1d.uniform_grid(heat1d.TEST_GRID_SIZE)

    def coefficient_errors(self, params) -> dict:
        """Return ``{"k": |k - 0.25| / 0.25}`` for the fitted diffusivity."""
        k = float(params["k"])
        return {"k": abs(k - TRUE_DIFFUSIVITY) / TRUE_DIFFUSIVITY}


def build(
    width: int = 32,
    depth: int = 2,
    grid: int = 30,
    initial_count: int = 30,
    boundary_count: int = 30,
    observation_count: int = 50,
    seed: int = 0,
) -> HeatInverse:
    """Build the inverse heat problem, its starting network and k = 1.0.

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
    observation_count : int, optional
        Number of noise-free observations of u.
    seed : int, optional
        Seed of ``jax.random.PRNGKey`` for the network weights and of
        ``np.random.default_rng`` for the observation points.

    Returns
    -------
    HeatInverse
        The problem, the starting parameters and the points.
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
    if observation_count < 1:
        raise ValueError(f"observation_count must be at least 1, got {observation_count}")

    sizes = [2] + [width] * depth + [1]
    params = {
        "net": init_mlp(jax.random.PRNGKey(seed), sizes),
        "k": jnp.asarray(INITIAL_DIFFUSIVITY, dtype=jnp.float64),
    }

    interior = heat1d.interior_points(grid)
    initial = heat1d.initial_points(initial_count)
    boundary = heat1d.boundary_points(boundary_count)
    observed_at = observation_points(np.random.default_rng(seed), observation_count)
    observed = np.asarray(jax.vmap(exact_solution)(jnp.asarray(observed_at)))
    problem = sv.Problem(
        [
            sv.Condition("pde", _pde_condition, points=interior),
            sv.Condition("initial", _initial_condition, points=initial),
            sv.Condition("boundary", _boundary_condition, points=boundary),
            sv.Condition("data", _data_condition, points=(observed_at, observed)),
        ]
    )
    return HeatInverse(
        problem=problem,
        params=params,
        interior_points=interior,
        initial_points=initial,
        boundary_points=boundary,
        observation_points=observed_at,
        observed_values=observed,
    )
