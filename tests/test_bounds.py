"""Box constraints: exact solutions on bounds, scipy's active_mask, feasible iterates."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import svensolve as sv


def rosenbrock(x):
    return jnp.array([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])


def test_rosenbrock_with_active_upper_bound_is_exact():
    seen = []

    result = sv.least_squares(rosenbrock, np.array([-1.2, 1.0]), bounds=([-2, -2], [0.5, 2]),
                              callback=lambda it: seen.append(it.x.copy()))

    assert result.success, result.message
    np.testing.assert_allclose(result.x, [0.5, 0.25], rtol=1e-12)
    assert result.x[0] == 0.5
    np.testing.assert_array_equal(result.active_mask, [1, 0])
    assert all(np.all(x <= [0.5, 2]) and np.all(x >= [-2, -2]) for x in seen)


def test_inactive_bounds_give_the_unconstrained_solution():
    result = sv.least_squares(rosenbrock, np.array([-1.2, 1.0]), bounds=([-5, -5], [5, 5]))

    np.testing.assert_allclose(result.x, [1.0, 1.0], rtol=1e-12)
    np.testing.assert_array_equal(result.active_mask, [0, 0])


@pytest.mark.parametrize("seed", range(5))
def test_bounded_linear_fit_matches_scipy_lsq_linear(seed):
    rng = np.random.default_rng(seed)
    matrix, rhs = rng.standard_normal((30, 6)), rng.standard_normal(30)
    lower, upper = -0.1 * np.ones(6), 0.1 * np.ones(6)
    reference = scipy.optimize.lsq_linear(matrix, rhs, bounds=(lower, upper), tol=1e-14)

    result = sv.least_squares(lambda x: matrix @ x - rhs, np.zeros(6), bounds=(lower, upper))

    assert result.success, result.message
    np.testing.assert_allclose(result.x, reference.x, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(result.cost, reference.cost, rtol=1e-12)
    np.testing.assert_array_equal(result.active_mask, reference.active_mask)


def test_start_on_a_bound_is_accepted():
    result = sv.least_squares(rosenbrock, np.array([0.5, 0.0]),
                              bounds=scipy.optimize.Bounds([-2, -2], [0.5, 2]))

    np.testing.assert_allclose(result.x, [0.5, 0.25], rtol=1e-12)


def test_bad_bounds_are_named():
    with pytest.raises(ValueError, match=r"x0 is infeasible: x0\[0\] = 3.0"):
        sv.least_squares(rosenbrock, np.array([3.0, 1.0]), bounds=(-2, 2))
    with pytest.raises(ValueError, match=r"lb\[1\] = 2.0 and ub\[1\] = 1.0"):
        sv.least_squares(rosenbrock, np.array([0.0, 0.0]), bounds=([-1, 2], [1, 1]))
    with pytest.raises(ValueError, match=r"lb must be a number or an array of shape \(2,\)"):
        sv.least_squares(rosenbrock, np.array([0.0, 0.0]), bounds=(np.zeros(3), 1))
