"""Cases from public bug reports against least-squares solvers, with their correct results."""

import jax.numpy as jnp
import numpy as np
import pytest

import svensolve as sv
from problems import nist


def test_tiny_parameter_is_found_to_full_relative_precision():
    result = sv.least_squares(lambda x: x - 1e-12, np.array([1.1e-12]))

    assert result.success
    assert abs(result.x[0] - 1e-12) <= 1e-12 * 4 * np.finfo(float).eps


def test_singular_jacobian_at_start_and_solution_does_not_stall():
    def fun(u):
        return jnp.array([(u[0] - 1.0) ** 2, u[0] + u[1]])

    result = sv.least_squares(fun, np.array([1.0, 1.0]))

    assert abs(result.x[0] - 1.0) <= 1e-4
    assert abs(result.x[0] + result.x[1]) <= 1e-8


def test_underflowed_exponential_is_not_reported_as_converged():
    x = np.arange(11.0)
    y = np.exp(-x)

    result = sv.least_squares(lambda b: b[0] * jnp.exp(b[1] * x) - y, np.array([1.0, -182.0]))

    reached = np.allclose(result.x, [1.0, -1.0], rtol=1e-6)
    assert reached or not result.success


def test_exponential_growth_fit_matches_published_values():
    t = np.array([0.0, 10, 20, 30, 40, 50, 60])
    y = np.array([2938.0, 7354, 11900, 17000, 47200, 79100, 119600])

    result = sv.least_squares(lambda b: b[0] * jnp.exp(b[1] * t) - y, np.array([1.0, 0.0]))

    assert result.success
    np.testing.assert_allclose(result.x, [5081.107, 0.0531173], rtol=1e-6)
    np.testing.assert_allclose(2.0 * result.cost, 1.5753e8, rtol=1e-4)


def test_identity_residual_from_small_start_reaches_zero():
    result = sv.least_squares(lambda x: x, np.array([1e-3]))

    assert result.success
    assert result.x[0] == 0.0


@pytest.mark.parametrize("start", [0, 1])
def test_lanczos1_reaches_nine_certified_digits(start):
    problem = nist.load("Lanczos1")

    result = sv.least_squares(lambda b: problem.residual(b, jnp), problem.starts[start])

    digits = nist.log_relative_error(result.x, problem.certified_params)
    assert digits.min() >= 9


def test_boxbod_start_one_plateau_is_not_success():
    problem = nist.load("BoxBOD")

    result = sv.least_squares(lambda b: problem.residual(b, jnp), problem.starts[0])

    digits = nist.log_relative_error(result.x, problem.certified_params).min()
    assert digits >= 6 or not result.success
