"""The 1D reaction (logistic growth) PINN problem with rho = 5: residuals, network and metric.

Equation: u_t - rho u (1 - u) = 0 with rho = 5 for (x, t) in [0, 2 pi] x [0, 1], initial
value u(x, 0) = h(x) = exp(-(x - pi)^2 / (2 (pi / 4)^2)) and the periodic boundary
condition u(0, t) = u(2 pi, t). Each x evolves on its own by the logistic equation, so
the exact solution is u(x, t) = h(x) e^(rho t) / (h(x) e^(rho t) + 1 - h(x)). Points are
stored as rows (x, t).

Network: a tanh MLP 2-32-32-1 (1,185 parameters) with Glorot-normal weights and zero
biases, drawn from ``jax.random.PRNGKey(seed)``. Its inputs are (x, t) mapped affinely
onto [-1, 1]^2 (`network`).

Collocation: 1,024 interior points on a 32 x 32 grid (the inner nodes of uniform 34-point
grids of [0, 2 pi] and [0, 1]) for "pde", 64 points on t = 0
(``np.linspace(0, 2 pi, 64)`` in x) for "initial", and 64 values of t
(``np.linspace(0, 1, 64)``) for "periodic", each giving the residual u(0, t) - u(2 pi, t).
That makes 1,152 residuals, fewer than the 1,185 parameters, each block scaled by
1 / sqrt(its point count).

Metric: relative L2 error ||u_net - u||_2 / ||u||_2 on a 200 x 200 uniform grid of
[0, 2 pi] x [0, 1] that includes the boundary.

Published numbers: Rathore, Lei, Frangella, Lu and Udell, "Challenges in Training PINNs: A
Loss Landscape Perspective" (ICML 2024, arXiv 2402.01868) solve this equation with
rho = 5 and report a best relative L2 error of 9.92e-3 (Adam, then L-BFGS, then their
NysNewton-CG); that figure was not checked against the paper's tables. The equation and
its coefficient follow the configuration and loss code of the authors' companion
repository (pratikrathore8/opt_for_pinns). That code trains a much larger network (4
hidden layers of 200 units, about 121,000 parameters) on 10,000 residual points drawn
from a 257 x 101 grid, for 5,000 epochs on a GPU.
"""

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import svensolve as sv
from problems import convection
from problems.metrics import ExactSolutionError
from problems.networks import init_mlp

NAME = "reaction"
DESCRIPTION = "PINN for u_t = 5 u (1 - u) on [0,2pi] x [0,1], Gaussian u(x,0), periodic in x"
# Names of the point coordinates, in order, for figures.
AXES = ("x", "t")

RHO = 5.0
X_RANGE = convection.X_RANGE
T_RANGE = convection.T_RANGE
TEST_GRID_SHAPE = (200, 200)


def reaction_residual(
    u: Callable[[jax.Array], jax.Array], point: jax.Array, rho=RHO
) -> jax.Array:
    """Return u_t - rho u (1 - u) at one point (x, t) for a scalar function u of (x, t)."""
    value, gradient = jax.value_and_grad(u)(point)
    return gradient[1] - rho * value * (1 - value)


def initial_value(point: jax.Array) -> jax.Array:
    """Return h(x) = exp(-(x - pi)^2 / (2 (pi / 4)^2)) at one point (x, t)."""
    return jnp.exp(-((point[0] - jnp.pi) ** 2) / (2 * (jnp.pi / 4) ** 2))


def exact_solution(point: jax.Array, rho=RHO) -> jax.Array:
    """Return h e^(rho t) / (h e^(rho t) + 1 - h) at one point (x, t) of shape (2,)."""
    initial = initial_value(point)
    growth = initial * jnp.exp(rho * point[1])
    return growth / (growth + 1 - initial)


def network(params, point: jax.Array) -> jax.Array:
    """Evaluate the MLP at one point (x, t), with both ranges mapped onto [-1, 1]."""
    return convection.network(params, point, X_RANGE, T_RANGE)


def _pde_condition(params, point, rho):
    return reaction_residual(lambda p: network(params, p), point, rho)


def _initial_condition(params, point):
    return network(params, point) - initial_value(point)


def _periodic_condition(params, time):
    return convection.periodic_difference(params, time, X_RANGE)


@dataclasses.dataclass(frozen=True)
class Reaction(ExactSolutionError):
    """The reaction PINN problem with its starting network.

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
    rho : float
        The growth rate.
    """

    problem: sv.Problem
    params: list
    interior_points: np.ndarray
    initial_points: np.ndarray
    periodic_times: np.ndarray
    rho: float = RHO

    def solution(self, params, points) -> jax.Array:
        """Evaluate `network` at every row (x, t) of an (m, 2) array of points."""
        return jax.vmap(network, in_axes=(None, 0))(params, jnp.asarray(points))

    def exact(self, points) -> jax.Array:
        """Evaluate the exact solution at every row (x, t) of an (m, 2) array of points."""
        return jax.vmap(exact_solution, in_axes=(0, None))(jnp.asarray(points), self.rho)

    def test_grid(self) -> np.ndarray:
        """Return the 200 x 200 uniform grid of [0, 2 pi] x [0, 1], edges included.

        `relative_l2_error` measures the error on these points.
        """
        return convection.uniform_grid(X_RANGE, T_RANGE, TEST_GRID_SHAPE)


def build(
    width: int = 32,
    depth: int = 2,
    x_count: int = 32,
    t_count: int = 32,
    initial_count: int = 64,
    periodic_count: int = 64,
    seed: int = 0,
    rho: float = RHO,
) -> Reaction:
    """Build the reaction PINN problem and its starting network.

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
    rho : float, optional
        The growth rate, 5 in the published setup.

    Returns
    -------
    Reaction
        The problem, the starting network and the collocation points.
    """
    convection.check_sizes(
        width, depth, x_count=x_count, t_count=t_count,
        initial_count=initial_count, periodic_count=periodic_count,
    )
    params = init_mlp(jax.random.PRNGKey(seed), [2] + [width] * depth + [1])

    interior = convection.interior_points(X_RANGE, T_RANGE, x_count, t_count)
    initial = convection.initial_points(X_RANGE, initial_count)
    times = convection.edge_times(T_RANGE, periodic_count)
    problem = sv.Problem(
        [
            sv.Condition("pde", functools.partial(_pde_condition, rho=rho), points=interior),
            sv.Condition("initial", _initial_condition, points=initial),
            sv.Condition("periodic", _periodic_condition, points=times),
        ]
    )
    return Reaction(
        problem=problem,
        params=params,
        interior_points=interior,
        initial_points=initial,
        periodic_times=times,
        rho=float(rho),
    )
