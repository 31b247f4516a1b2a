"""Non-finite trial points, time limits and statuses: the run survives and says why it stopped."""

import time

import jax.numpy as jnp
import numpy as np
import pytest

import svensolve as sv


def test_nonfinite_trial_points_are_rejected_not_returned():
    # log(x) is NaN for x < 0, and the first full Gauss-Newton step from 0.5 lands there.
    def fun(x):
        return jnp.log(x) - jnp.log(3.0)

    for control in ("trust-region", "line-search"):
        result = sv.least_squares(fun, np.array([0.05]), control=control)
        assert np.all(np.isfinite(result.x))
        np.testing.assert_allclose(result.x, [3.0], rtol=1e-10)
        assert result.success


def test_fixed_step_into_nan_region_stops_with_finite_best_point():
    result = sv.least_squares(
        lambda x: jnp.sqrt(x) - 1.0, np.array([4.0]), control="fixed", lr=10.0
    )

    assert np.all(np.isfinite(result.x)) and np.isfinite(result.cost)
    assert result.cost <= 0.5 * (2.0 - 1.0) ** 2


def test_time_limit_stops_and_returns_best_point():
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((40, 30))

    def fun(x):
        return jnp.tanh(matrix @ x) - 0.5

    def slow(iterate):
        time.sleep(0.05)

    started = time.perf_counter()
    result = sv.least_squares(fun, np.zeros(30), time_limit=0.2, callback=slow,
                              ftol=None, xtol=None, gtol=None)

    assert result.status == sv.Status.TIME_LIMIT and not result.success
    assert time.perf_counter() - started < 5.0
    start_cost = 0.5 * 40 * 0.5**2  # tanh(0) - 0.5 on 40 rows
    assert result.cost <= np.min(result.history["cost"], initial=start_cost)


@pytest.mark.parametrize("status", list(sv.Status))
def test_every_status_has_a_message_and_scipy_sign(status):
    from svensolve.result import MESSAGES

    assert MESSAGES[status]
    assert (status > 0) == (status in (1, 2, 3, 4))
