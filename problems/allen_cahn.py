"""The Allen-Cahn PINN problem: residuals, starting network, spectral reference and metric.

Equation: u_t = eps u_xx + 5 u - 5 u^3 with eps = 1e-4 for (x, t) in [-1, 1] x [0, 1],
initial value u(x, 0) = x^2 cos(pi x), and periodic boundary conditions u(-1, t) = u(1, t)
and u_x(-1, t) = u_x(1, t). Points are stored as rows (x, t). The solution settles into
plateaus at u = -1 and u = 1 joined by fronts of width about sqrt(2 eps / 5) = 0.0063.

Reference: a Fourier pseudo-spectral solver in x with ETDRK4 in t, the fourth-order
exponential time differencing Runge-Kutta scheme of Cox and Matthews. Its coefficients are
computed as Kassam and Trefethen proposed, by contour-integral means over 32 points on the
upper half of a unit circle around each h L (`etdrk4_coefficients`). The linear part
L = -eps k^2 + 5 is exact in Fourier space, and the cubic term -5 u^3 is formed on the grid.
By default 2,048 modes (grid points x_j = -1 + 2 j / 2048) and time step 1 / 1020, keeping
256 snapshots at t = 0, 1/255, ..., 1. The periodic extension of the initial value has a
kink at x = +-1 (u_x is -2 at x = 1 but 2 at x = -1), so near t = 0 the error falls only as
1 / modes^2. Measured on the metric grid with numpy 2.4: the relative L2 difference between
1,024 and 2,048 modes is 3.7e-6 (max 3.3e-4, at x = -1 and t = 1/255) and between 2,048 and
4,096 modes 9.9e-7 (max 1.1e-4). From t = 0.5 on, the largest difference between 1,024 and
2,048 modes is 2.6e-7. Halving the time step at 2,048 modes changes the values by at most
3.1e-10.

Network: a tanh MLP 2-32-32-1 (1,185 parameters) with Glorot-normal weights and zero
biases, drawn from ``jax.random.PRNGKey(seed)``. Its inputs are (x, t) mapped affinely
onto [-1, 1]^2 (`network`).

Collocation: 1,024 interior points on a 32 x 32 grid (the inner nodes of uniform 34-point
grids of [-1, 1] and [0, 1]) for "pde", 64 points on t = 0 (``np.linspace(-1, 1, 64)`` in x)
for "initial", and 32 times (``np.linspace(0, 1, 32)``) for "periodic", each giving the two
residuals u(-1, t) - u(1, t) and u_x(-1, t) - u_x(1, t). The u_x residual at t = 0 cannot
vanish together with "initial", because of the kink. That makes 1,152 residuals, fewer
than the 1,185 parameters, each block scaled by 1 / sqrt(its point count).

Metric: relative L2 error ||u_net - u_ref||_2 / ||u_ref||_2 on a 256 x 256 grid: the
spectral nodes x_j = -1 + 2 j / 256 (j = 0, ..., 255) times the 256 snapshot times.

Published numbers: none is given here.
"""

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import svensolve as sv
from problems import convection, heat1d
from problems.metrics import relative_l2
from problems.networks import init_mlp

NAME = "allen_cahn"
DESCRIPTION = "PINN for u_t = 1e-4 u_xx + 5u - 5u^3 on [-1,1] x [0,1], u(x,0) = x^2 cos(pi x)"
# Names of the point coordinates, in order, for figures.
AXES = ("x", "t")

DIFFUSION = 1e-4
REACTION = 5.0
X_RANGE = (-1.0, 1.0)
T_RANGE = (0.0, 1.0)
REFERENCE_MODES = 2048
SNAPSHOTS = 256
# Four steps per snapshot interval of 1 / 255.
REFERENCE_TIME_STEP = 1 / 1020
TEST_GRID_X_COUNT = 256
CONTOUR_POINTS = 32


def allen_cahn_residual(u: Callable[[jax.Array], jax.Array], point: jax.Array) -> jax.Array:
    """Return u_t - eps u_xx - 5 u + 5 u^3 at one point (x, t) for a scalar function u."""
    value = u(point)
    return heat1d.heat_residual(u, point, DIFFUSION) - REACTION * (value - value**3)


def initial_value(point: jax.Array) -> jax.Array:
    """Return the initial value x^2 cos(pi x) at one point (x, 0) of shape (2,)."""
    return point[0] ** 2 * jnp.cos(jnp.pi * point[0])


def etdrk4_coefficients(linear: np.ndarray, time_step: float) -> tuple:
    """Compute the ETDRK4 factors for a diagonal linear operator.

    Parameters
    ----------
    linear : np.ndarray
        The diagonal of the linear operator L in Fourier space.
    time_step : float
        The step h.

    Returns
    -------
    tuple of np.ndarray
        (E, E_half, Q, f1, f2, f3) in the notation of Kassam and Trefethen: E = exp(h L),
        E_half = exp(h L / 2), and Q, f1, f2, f3 the phi-function weights.

    Notes
    -----
    Q and f1 to f3 are h times combinations of (e^z - 1) / z and higher phi-functions of
    z = h L. Their direct formulas cancel catastrophically for small |z|, so each is the
    mean of its formula over points on a circle of radius 1 around z, which equals the
    value at the centre by the Cauchy integral formula and needs no small-z branch. L is
    real here, so the points of the lower half circle are the conjugates of the upper
    ones, and the real part of the mean over the upper half is the full mean.
    """
    scaled = time_step * linear
    angles = np.pi * (np.arange(1, CONTOUR_POINTS + 1) - 0.5) / CONTOUR_POINTS
    z = scaled[:, None] + np.exp(1j * angles)[None, :]
    exp_z = np.exp(z)

    def contour_mean(values):
        return time_step * np.real(np.mean(values, axis=1))

    q = contour_mean((np.exp(z / 2) - 1) / z)
    f1 = contour_mean((-4 - z + exp_z * (4 - 3 * z + z**2)) / z**3)
    f2 = contour_mean((2 + z + exp_z * (z - 2)) / z**3)
    f3 = contour_mean((-4 - 3 * z - z**2 + exp_z * (4 - z)) / z**3)
    return np.exp(scaled), np.exp(scaled / 2), q, f1, f2, f3


def spectral_solution(
    modes: int = REFERENCE_MODES,
    time_step: float = REFERENCE_TIME_STEP,
    snapshots: int = SNAPSHOTS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve the Allen-Cahn problem by Fourier pseudo-spectral ETDRK4.

    Parameters
    ----------
    modes : int, optional
        Number of grid points and Fourier modes, even.
    time_step : float, optional
        The ETDRK4 step. The interval between snapshots must be a whole number of steps.
    snapshots : int, optional
        Number of output times, uniformly spaced in [0, 1] with both ends.

    Returns
    -------
    x : np.ndarray
        Grid points -1 + 2 j / modes, shape (modes,).
    t : np.ndarray
        Snapshot times, shape (snapshots,).
    u : np.ndarray
        The solution, ``u[i, j]`` at time ``t[i]`` and point ``x[j]``, shape (snapshots, modes).
    """
    if modes < 4 or modes % 2:
        raise ValueError(f"modes must be an even number of at least 4, got {modes}")
    if snapshots < 2:
        raise ValueError(f"snapshots must be at least 2, got {snapshots}")
    interval = (T_RANGE[1] - T_RANGE[0]) / (snapshots - 1)
    steps_per_snapshot = round(interval / time_step)
    if steps_per_snapshot < 1 or abs(steps_per_snapshot * time_step - interval) > 1e-12:
        raise ValueError(
            f"time_step must divide the snapshot interval {interval}, got {time_step}"
        )

    x = X_RANGE[0] + (X_RANGE[1] - X_RANGE[0]) * np.arange(modes) / modes
    wavenumbers = 2 * np.pi / (X_RANGE[1] - X_RANGE[0]) * np.fft.rfftfreq(modes, d=1.0 / modes)
    linear = -DIFFUSION * wavenumbers**2 + REACTION
    e_full, e_half, q, f1, f2, f3 = etdrk4_coefficients(linear, time_step)

    def nonlinear(coefficients):
        values = np.fft.irfft(coefficients, modes)
        return -REACTION * np.fft.rfft(values**3)

    start = x**2 * np.cos(np.pi * x)
    coefficients = np.fft.rfft(start)
    frames = [start]
    for _ in range(snapshots - 1):
        for _ in range(steps_per_snapshot):
            n_v = nonlinear(coefficients)
            a = e_half * coefficients + q * n_v
            n_a = nonlinear(a)
            b = e_half * coefficients + q * n_a
            n_b = nonlinear(b)
            c = e_half * a + q * (2 * n_b - n_v)
            n_c = nonlinear(c)
            coefficients = e_full * coefficients + f1 * n_v + 2 * f2 * (n_a + n_b) + f3 * n_c
        frames.append(np.fft.irfft(coefficients, modes))
    times = np.linspace(*T_RANGE, snapshots)
    return x, times, np.stack(frames)


@functools.lru_cache(maxsize=1)
def reference_solution() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return `spectral_solution` at the default resolution, computed once (about 1 s)."""
    x, times, values = spectral_solution()
    for array in (x, times, values):
        array.setflags(write=False)
    return x, times, values


def fourier_interpolate(x_nodes: np.ndarray, values: np.ndarray, x) -> np.ndarray:
    """Evaluate the trigonometric interpolant of periodic grid values at points x.

    ``values`` has shape (..., modes) on the nodes ``x_nodes`` of `spectral_solution`;
    the result has shape (..., len(x)).
    """
    modes = x_nodes.size
    coefficients = np.fft.rfft(values, axis=-1) / modes
    # The Nyquist coefficient counts once in a real interpolant, the others twice.
    coefficients[..., 1:] *= 2
    coefficients[..., -1] /= 2
    wavenumbers = 2 * np.pi / (X_RANGE[1] - X_RANGE[0]) * np.arange(coefficients.shape[-1])
    phases = np.exp(1j * np.outer(np.asarray(x) - x_nodes[0], wavenumbers))
    return np.real(coefficients @ phases.T)


def reference_values(points) -> np.ndarray:
    """Evaluate the spectral reference at rows (x, t) whose t is one of the snapshot times.

    Raises ValueError for a t off the snapshot grid 0, 1/255, ..., 1, where the reference
    is not stored.
    """
    points = np.asarray(points, dtype=np.float64)
    x_nodes, times, frames = reference_solution()
    indices = np.rint(points[:, 1] * (times.size - 1)).astype(int)
    off_grid = (indices < 0) | (indices >= times.size)
    off_grid |= np.abs(times[np.clip(indices, 0, times.size - 1)] - points[:, 1]) > 1e-12
    if np.any(off_grid):
        raise ValueError(
            f"reference_values: t must be one of the {times.size} snapshot times in [0, 1], "
            f"got t = {points[np.argmax(off_grid), 1]}"
        )

    values = np.empty(points.shape[0])
    for index in np.unique(indices):
        rows = indices == index
        values[rows] = fourier_interpolate(x_nodes, frames[index], points[rows, 0])
    return values


def metric_grid() -> np.ndarray:
    """Return the 256 x 256 metric grid: nodes -1 + 2 j / 256 times the snapshot times."""
    x_ticks = X_RANGE[0] + (X_RANGE[1] - X_RANGE[0]) * np.arange(TEST_GRID_X_COUNT) / (
        TEST_GRID_X_COUNT
    )
    t_ticks = np.linspace(*T_RANGE, SNAPSHOTS)
    xs, ts = np.meshgrid(x_ticks, t_ticks, indexing="ij")
    return np.stack([xs.ravel(), ts.ravel()], axis=1)


def network(params, point: jax.Array) -> jax.Array:
    """Evaluate the MLP at one point (x, t), with both ranges mapped onto [-1, 1]."""
    return convection.network(params, point, X_RANGE, T_RANGE)


def periodic_differences(params, time: jax.Array) -> jax.Array:
    """Return (u(-1, t) - u(1, t), u_x(-1, t) - u_x(1, t)) of the network at one time."""

    def value_and_slope(x):
        point = jnp.concatenate([jnp.reshape(x, (1,)), time])
        return jax.value_and_grad(lambda p: network(params, p))(point)

    left_value, left_gradient = value_and_slope(X_RANGE[0])
    right_value, right_gradient = value_and_slope(X_RANGE[1])
    return jnp.stack([left_value - right_value, left_gradient[0] - right_gradient[0]])


def _pde_condition(params, point):
    return allen_cahn_residual(lambda p: network(params, p), point)


def _initial_condition(params, point):
    return network(params, point) - initial_value(point)


@dataclasses.dataclass(frozen=True)
class AllenCahn:
    """The Allen-Cahn PINN problem with its starting network.

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
    """

    problem: sv.Problem
    params: list
    interior_points: np.ndarray
    initial_points: np.ndarray
    periodic_times: np.ndarray

    def solution(self, params, points) -> jax.Array:
        """Evaluate `network` at every row (x, t) of an (m, 2) array of points."""
        return jax.vmap(network, in_axes=(None, 0))(params, jnp.asarray(points))

    def exact(self, points) -> np.ndarray:
        """Evaluate the spectral reference at rows (x, t) with t on the snapshot grid."""
        return reference_values(points)

    def test_grid(self) -> np.ndarray:
        """Return the 256 x 256 metric grid of `metric_grid`, shape (65536, 2)."""
        return metric_grid()

    def relative_l2_error(self, params) -> float:
        """Return ||u_net - u_ref||_2 / ||u_ref||_2 over the test grid."""
        points = self.test_grid()
        return relative_l2(self.solution(params, points), _reference_on_test_grid())


@functools.lru_cache(maxsize=1)
def _reference_on_test_grid() -> np.ndarray:
    return reference_values(metric_grid())


def build(
    width: int = 32,
    depth: int = 2,
    x_count: int = 32,
    t_count: int = 32,
    initial_count: int = 64,
    periodic_count: int = 32,
    seed: int = 0,
) -> AllenCahn:
    """Build the Allen-Cahn PINN problem and its starting network.

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
        Times at which the periodic residuals of u and u_x are taken.
    seed : int, optional
        Seed of ``jax.random.PRNGKey`` for the network weights.

    Returns
    -------
    AllenCahn
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
            sv.Condition("pde", _pde_condition, points=interior),
            sv.Condition("initial", _initial_condition, points=initial),
            sv.Condition("periodic", periodic_differences, points=times),
        ]
    )
    return AllenCahn(
        problem=problem,
        params=params,
        interior_points=interior,
        initial_points=initial,
        periodic_times=times,
    )
