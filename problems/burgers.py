"""The viscous Burgers PINN problem: residuals, starting network, Cole-Hopf reference and metric.

Equation: u_t + u u_x = nu u_xx with nu = 0.01 / pi for (x, t) in [-1, 1] x [0, 1], initial
value u(x, 0) = -sin(pi x) and boundary values u(-1, t) = u(1, t) = 0. A shock-like front
of width about nu forms at x = 0 near t = 0.3. Points are stored as rows (x, t).

Reference: the Cole-Hopf transformation solves this problem in closed form,

    u(x, t) = -I_1 / I_0,   I_k = integral of sin(pi (x - eta))^k f(x - eta)
                                  exp(-eta^2 / (4 nu t)) d eta,

with f(y) = exp(-cos(pi y) / (2 pi nu)). The substitution eta = sqrt(4 nu t) z turns both
integrals into Gauss-Hermite sums over z, computed here with
``numpy.polynomial.hermite.hermgauss`` (200 nodes by default). The exponent
-cos(pi y) / (2 pi nu) reaches +-50, so the sums are formed from log-weights with the
largest exponent subtracted: every exponent is then at most 0 when exp is taken. At
t = 0 the reference is the initial value -sin(pi x) exactly. With numpy 2.4, hermgauss
returns NaN weights from 375 nodes on, so at most 300 nodes are accepted. On the test grid
100 nodes already agree with 300 to 1.2e-15.

Network: a tanh MLP 2-32-32-1 (1,185 parameters) with Glorot-normal weights and zero
biases, drawn from ``jax.random.PRNGKey(seed)``. Its inputs are (x, t) mapped affinely
onto [-1, 1]^2 (`network`).

Collocation: 1,024 interior points on a 32 x 32 grid (the inner nodes of uniform 34-point
grids of [-1, 1] and [0, 1]) for "pde", 64 points on t = 0 (``np.linspace(-1, 1, 64)`` in x)
for "initial", and 32 points on each of x = -1 and x = 1 (``np.linspace(0, 1, 32)`` in t)
for "boundary". That makes 1,152 residuals, fewer than the 1,185 parameters, each block
scaled by 1 / sqrt(its point count).

Metric: relative L2 error ||u_net - u_ref||_2 / ||u_ref||_2 on a 201 x 201 uniform grid of
[-1, 1] x [0, 1] that includes the boundary (``np.linspace(-1, 1, 201)`` in x and
``np.linspace(0, 1, 201)`` in t), so x = 0, where the front forms, is on it.

Published numbers: none is given here.
"""

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import svensolve as sv
from problems import convection
from problems.metrics import relative_l2
from problems.networks import init_mlp

NAME = "burgers"
DESCRIPTION = "PINN for u_t + u u_x = (0.01/pi) u_xx on [-1,1] x [0,1], u(x,0) = -sin(pi x)"
# Names of the point coordinates, in order, for figures.
AXES = ("x", "t")

VISCOSITY = 0.01 / np.pi
X_RANGE = (-1.0, 1.0)
T_RANGE = (0.0, 1.0)
TEST_GRID_SHAPE = (201, 201)
QUADRATURE_NODES = 200
MAX_QUADRATURE_NODES = 300


def burgers_residual(
    u: Callable[[jax.Array], jax.Array], point: jax.Array, viscosity=VISCOSITY
) -> jax.Array:
    """Return u_t + u u_x - nu u_xx at one point (x, t) for a scalar function u of (x, t)."""
    # One forward-over-reverse pass along e_x gives the gradient (u_x, u_t) as its primal
    # output and the Hessian column (u_xx, u_tx) as its tangent.
    unit_x = jnp.zeros_like(point).at[0].set(1)
    gradient, hessian_column = jax.jvp(jax.grad(u), (point,), (unit_x,))
    return gradient[1] + u(point) * gradient[0] - viscosity * hessian_column[0]


def initial_value(point: jax.Array) -> jax.Array:
    """Return the initial value -sin(pi x) at one point (x, 0) of shape (2,)."""
    return -jnp.sin(jnp.pi * point[0])


def cole_hopf_solution(x, t, nodes: int = QUADRATURE_NODES, viscosity: float = VISCOSITY):
    """Evaluate the Cole-Hopf solution of the Burgers problem by Gauss-Hermite quadrature.

    Parameters
    ----------
    x, t : array_like
        Coordinates, broadcast against each other; x in [-1, 1] and t >= 0.
    nodes : int, optional
        Number of Gauss-Hermite nodes, from 2 to 300.
    viscosity : float, optional
        The viscosity nu.

    Returns
    -------
    np.ndarray
        u(x, t) in the broadcast shape of x and t, float64. Entries with t = 0 are
        -sin(pi x) exactly.
    """
    if not 2 <= nodes <= MAX_QUADRATURE_NODES:
        raise ValueError(
            f"nodes must be from 2 to {MAX_QUADRATURE_NODES} (numpy's hermgauss loses its "
            f"weights beyond that), got {nodes}"
        )
    x, t = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(t, dtype=np.float64))
    if np.any(t < 0):
        raise ValueError(f"t must be >= 0, got a minimum of {t.min()}")

    abscissas, weights = np.polynomial.hermite.hermgauss(nodes)
    # The outermost weights underflow to 0 for many nodes, and their log of -inf drops them.
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights)

    spread = np.sqrt(4 * viscosity * t)[..., None]
    shifted = x[..., None] - spread * abscissas
    exponents = log_weights - np.cos(np.pi * shifted) / (2 * np.pi * viscosity)
    factors = np.exp(exponents - exponents.max(axis=-1, keepdims=True))
    numerator = np.sum(np.sin(np.pi * shifted) * factors, axis=-1)
    denominator = np.sum(factors, axis=-1)
    values = -numerator / denominator
    return np.where(t == 0, -np.sin(np.pi * x), values)


@functools.lru_cache(maxsize=4)
def reference_on_grid(shape=TEST_GRID_SHAPE, nodes: int = QUADRATURE_NODES) -> np.ndarray:
    """Return the Cole-Hopf reference on the uniform grid of `uniform_grid`, flattened."""
    points = convection.uniform_grid(X_RANGE, T_RANGE, shape)
    values = cole_hopf_solution(points[:, 0], points[:, 1], nodes)
    values.setflags(write=False)
    return values


def network(params, point: jax.Array) -> jax.Array:
    """Evaluate the MLP at one point (x, t), with both ranges mapped onto [-1, 1]."""
    return convection.network(params, point, X_RANGE, T_RANGE)


def _pde_condition(params, point):
    return burgers_residual(lambda p: network(params, p), point)


def _initial_condition(params, point):
    return network(params, point) - initial_value(point)


def _boundary_condition(params, point):
    # The boundary value is 0, so the residual is the network value itself.
    return network(params, point)


@dataclasses.dataclass(frozen=True)
class Burgers:
    """The Burgers PINN problem with its starting network.

    Attributes
    ----------
    problem : svensolve.Problem
        Conditions "pde", "initial" and "boundary", in that order.
    params : list of dict
        The starting network, as returned by `problems.networks.init_mlp`.
    interior_points : np.ndarray
        Collocation points (x, t) of "pde", shape (x_count * t_count, 2).
    initial_points : np.ndarray
        Collocation points (x, 0) of "initial", shape (initial_count, 2).
    boundary_points : np.ndarray
        Collocation points of "boundary", first x = -1 then x = 1,
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

    def exact(self, points) -> np.ndarray:
        """Evaluate the Cole-Hopf reference at every row (x, t) of an (m, 2) array."""
        points = np.asarray(points)
        return cole_hopf_solution(points[:, 0], points[:, 1])

    def test_grid(self) -> np.ndarray:
        """Return the 201 x 201 uniform grid of [-1, 1] x [0, 1], edges included.

        `relative_l2_error` measures the error on these points.
        """
        return convection.uniform_grid(X_RANGE, T_RANGE, TEST_GRID_SHAPE)

    def relative_l2_error(self, params) -> float:
        """Return ||u_net - u_ref||_2 / ||u_ref||_2 over the test grid."""
        predicted = self.solution(params, self.test_grid())
        return relative_l2(predicted, reference_on_grid())


def build(
    width: int = 32,
    depth: int = 2,
    x_count: int = 32,
    t_count: int = 32,
    initial_count: int = 64,
    boundary_count: int = 32,
    seed: int = 0,
) -> Burgers:
    """Build the Burgers PINN problem and its starting network.

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
    boundary_count : int, optional
        Collocation points on each of x = -1 and x = 1.
    seed : int, optional
        Seed of ``jax.random.PRNGKey`` for the network weights.

    Returns
    -------
    Burgers
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
            sv.Condition("boundary", _boundary_condition, points=boundary),
        ]
    )
    return Burgers(
        problem=problem,
        params=params,
        interior_points=interior,
        initial_points=initial,
        boundary_points=boundary,
    )
