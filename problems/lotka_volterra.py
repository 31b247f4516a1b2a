"""The Lotka-Volterra inverse problem: fit four rate coefficients to a sampled trajectory.

Equations: the predator-prey system

    x' = alpha x - beta x y,    y' = delta x y - gamma y,

with prey x and predators y, from x(0) = 10, y(0) = 5 on t in [0, 15]. The true
coefficients are (alpha, beta, delta, gamma) = (1.0, 0.1, 0.075, 1.5), chosen here: the
equilibrium (gamma / delta, alpha / beta) = (20, 10) lies inside the orbit through (10, 5),
whose period is about 2 pi / sqrt(alpha gamma) = 5.1, so the data cover about three cycles.

Data: x and y at the 40 times t_k = 0.375 k, k = 1, ..., 40, from
``scipy.integrate.solve_ivp`` (DOP853, rtol = atol = 1e-12) at the true coefficients,
without noise. That makes 80 residuals (model minus data, x then y at each time), unscaled.

Model: a fixed-step classical Runge-Kutta (RK4) integration in JAX, 40 steps per
observation interval (step 0.009375), written with ``jax.lax.scan`` so that the solver
differentiates through it. Measured against solve_ivp at the true coefficients, its largest
relative error on the data is 2.1e-9, far below the 1e-4 target (20 steps: 3.3e-8).

Parameters: the logarithms of the four coefficients, a dict with keys "log_alpha",
"log_beta", "log_delta" and "log_gamma", so that every coefficient stays positive and the
parameters have comparable scales. The start is the true coefficients times
(1.2, 0.8, 1.25, 0.85).

Metrics: the relative error of each identified coefficient (`coefficient_errors`), the
target being 1e-4 or better, and the relative L2 error of the trajectory (x, y) on the
401 times ``np.linspace(0, 15, 401)`` against solve_ivp (`relative_l2_error`).

Published numbers: none is given here.
"""

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy.integrate import solve_ivp

import svensolve as sv
from problems.metrics import relative_l2

NAME = "lotka_volterra"
DESCRIPTION = "Inverse ODE: fit alpha, beta, delta, gamma of Lotka-Volterra to 40 samples"
# Names of the point coordinate and of the solution components, for figures.
AXES = ("t",)
COMPONENTS = ("prey x", "predators y")

COEFFICIENT_NAMES = ("alpha", "beta", "delta", "gamma")
TRUE_COEFFICIENTS = (1.0, 0.1, 0.075, 1.5)
START_FACTORS = (1.2, 0.8, 1.25, 0.85)
INITIAL_STATE = (10.0, 5.0)
T_END = 15.0
OBSERVATION_COUNT = 40
SUBSTEPS = 40
TEST_INTERVALS = 400


def vector_field(state, coefficients):
    """Return (x', y') of the Lotka-Volterra system; works on numpy and JAX arrays alike."""
    alpha, beta, delta, gamma = coefficients
    x, y = state[0], state[1]
    return [alpha * x - beta * x * y, delta * x * y - gamma * y]


def rk4_trajectory(coefficients: jax.Array, times_count: int, interval: float, substeps: int):
    """Integrate from the initial state by RK4 and return the states at the interval ends.

    Parameters
    ----------
    coefficients : jax.Array
        (alpha, beta, delta, gamma), shape (4,).
    times_count : int
        Number of output times t_k = k * interval, k = 1, ..., times_count.
    interval : float
        Spacing of the output times.
    substeps : int
        RK4 steps per interval, each of length interval / substeps.

    Returns
    -------
    jax.Array
        The states (x, y) at t_1, ..., t_times_count, shape (times_count, 2).
    """
    step = interval / substeps

    def derivative(state):
        return jnp.stack(vector_field(state, coefficients))

    def rk4_step(state, _):
        k1 = derivative(state)
        k2 = derivative(state + step / 2 * k1)
        k3 = derivative(state + step / 2 * k2)
        k4 = derivative(state + step * k3)
        return state + step / 6 * (k1 + 2 * k2 + 2 * k3 + k4), None

    def advance_interval(state, _):
        end, _ = jax.lax.scan(rk4_step, state, None, length=substeps)
        return end, end

    start = jnp.asarray(INITIAL_STATE, dtype=coefficients.dtype)
    _, states = jax.lax.scan(advance_interval, start, None, length=times_count)
    return states


def reference_trajectory(times, coefficients=TRUE_COEFFICIENTS) -> np.ndarray:
    """Integrate with solve_ivp (DOP853, rtol = atol = 1e-12) and return (x, y) at times.

    ``times`` must be increasing and within [0, 15]; the result has shape (len(times), 2).
    """
    solution = solve_ivp(
        lambda _, state: vector_field(state, coefficients),
        (0.0, T_END),
        INITIAL_STATE,
        method="DOP853",
        t_eval=np.asarray(times, dtype=np.float64),
        rtol=1e-12,
        atol=1e-12,
    )
    if not solution.success:
        raise RuntimeError(f"solve_ivp failed on the Lotka-Volterra reference: {solution.message}")
    return solution.y.T


def coefficients_from_params(params) -> jax.Array:
    """Return (alpha, beta, delta, gamma) from the log-parameter dict, shape (4,)."""
    return jnp.exp(jnp.stack([params[f"log_{name}"] for name in COEFFICIENT_NAMES]))


def params_from_coefficients(coefficients) -> dict:
    """Return the log-parameter dict of (alpha, beta, delta, gamma)."""
    return {
        f"log_{name}": jnp.log(jnp.asarray(value, dtype=jnp.float64))
        for name, value in zip(COEFFICIENT_NAMES, coefficients, strict=True)
    }


@functools.lru_cache(maxsize=1)
def _reference_on_test_times() -> np.ndarray:
    return reference_trajectory(np.linspace(0.0, T_END, TEST_INTERVALS + 1)[1:])


@dataclasses.dataclass(frozen=True)
class LotkaVolterra:
    """The Lotka-Volterra inverse problem with its start.

    Attributes
    ----------
    problem : svensolve.Problem
        One condition "data" of 2 * observation_count residuals.
    params : dict
        ``{"log_alpha", "log_beta", "log_delta", "log_gamma"}``, float64 scalars.
    observation_times : np.ndarray
        The times t_k, shape (observation_count,).
    observed_states : np.ndarray
        solve_ivp's (x, y) at those times, shape (observation_count, 2).
    step : float
        The RK4 step of the fit, which `solution` also uses (rounded down to divide the
        test grid's spacing).
    """

    problem: sv.Problem
    params: dict
    observation_times: np.ndarray
    observed_states: np.ndarray
    step: float

    def test_grid(self) -> np.ndarray:
        """Return the 400 times 0.0375 k, k = 1, ..., 400, as a column of shape (400, 1)."""
        return np.linspace(0.0, T_END, TEST_INTERVALS + 1)[1:, None]

    def solution(self, params, points) -> jax.Array:
        """Return the model's (x, y) at the times of `test_grid`, shape (400, 2).

        ``points`` must be `test_grid`: the model integrates on that grid, with the same
        RK4 step as the fit.
        """
        if np.asarray(points).shape != (TEST_INTERVALS, 1):
            raise ValueError(f"points must be test_grid(), shape ({TEST_INTERVALS}, 1)")
        interval = T_END / TEST_INTERVALS
        substeps = math.ceil(interval / self.step - 1e-9)
        return rk4_trajectory(coefficients_from_params(params), TEST_INTERVALS, interval, substeps)

    def exact(self, points) -> np.ndarray:
        """Return solve_ivp's (x, y) at the true coefficients at the rows of ``points``."""
        return reference_trajectory(np.asarray(points)[:, 0])

    def coefficient_errors(self, params) -> dict:
        """Return the relative error |c - c_true| / c_true of each coefficient, by name."""
        found = np.asarray(coefficients_from_params(params))
        return {
            name: float(abs(value - true) / true)
            for name, value, true in zip(COEFFICIENT_NAMES, found, TRUE_COEFFICIENTS, strict=True)
        }

    def relative_l2_error(self, params) -> float:
        """Return the relative L2 error of the trajectory (x, y) over the test times."""
        predicted = self.solution(params, self.test_grid())
        return relative_l2(predicted, _reference_on_test_times())


def build(
    observation_count: int = OBSERVATION_COUNT,
    substeps: int = SUBSTEPS,
    start_factors=START_FACTORS,
    seed: int = 0,
) -> LotkaVolterra:
    """Build the Lotka-Volterra inverse problem and its start.

    Parameters
    ----------
    observation_count : int, optional
        Number of observation times, uniformly spaced in (0, 15] with 15 included.
    substeps : int, optional
        RK4 steps per observation interval.
    start_factors : sequence of 4 floats, optional
        The start is the true (alpha, beta, delta, gamma) times these factors.
    seed : int, optional
        Unused: the data are noise-free and the start is fixed. Accepted so that
        ``svensolve run`` can pass ``--seed`` to every problem.

    Returns
    -------
    LotkaVolterra
        The problem, the start and the data.
    """
    del seed
    if observation_count < 2:
        raise ValueError(f"observation_count must be at least 2, got {observation_count}")
    if substeps < 1:
        raise ValueError(f"substeps must be at least 1, got {substeps}")
    start_factors = tuple(float(factor) for factor in start_factors)
    if len(start_factors) != 4 or min(start_factors) <= 0:
        raise ValueError(f"start_factors must be 4 positive numbers, got {start_factors}")

    interval = T_END / observation_count
    times = interval * np.arange(1, observation_count + 1)
    observed = reference_trajectory(times)

    def data_residual(params):
        coefficients = coefficients_from_params(params)
        states = rk4_trajectory(coefficients, observation_count, interval, substeps)
        return states - observed

    start = [true * factor for true, factor in zip(TRUE_COEFFICIENTS, start_factors, strict=True)]
    return LotkaVolterra(
        problem=sv.Problem([sv.Condition("data", data_residual)]),
        params=params_from_coefficients(start),
        observation_times=times,
        observed_states=observed,
        step=interval / substeps,
    )
