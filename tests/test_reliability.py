"""Non-finite trial points, time limits and statuses: runs survive and report why they stop."""

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

    assert np.all(np.isfinite(result.x))
    assert np.isfinite(result.cost)
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

    assert result.status == sv.Status.TIME_LIMIT
    assert not result.success
    assert time.perf_counter() - started < 5.0
    start_cost = 0.5 * 40 * 0.5**2  # tanh(0) - 0.5 on 40 rows
    assert result.cost <= np.min(result.history["cost"], initial=start_cost)


def test_time_limit_skips_factoring_last_point(monkeypatch):
    from svensolve.solve import _Run

    factored = []
    factor_at = _Run._factor_at

    def counting_factor_at(self, point, jacobian):
        factored.append(self.nit)
        return factor_at(self, point, jacobian)

    # The clock reads 0 s until the second step is taken, then 100 s.
    monkeypatch.setattr(_Run, "_factor_at", counting_factor_at)
    monkeypatch.setattr(_Run, "elapsed", lambda self: 100.0 if self.nit >= 2 else 0.0)
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((40, 30))

    def fun(x):
        return jnp.tanh(matrix @ x) - 0.5

    result = sv.least_squares(fun, np.zeros(30), time_limit=50.0, ftol=None, xtol=None,
                              gtol=None)

    assert result.status == sv.Status.TIME_LIMIT
    assert result.nit == 2
    # At the start and after the first step; not after the second.
    assert factored == [0, 1]
    assert result.cost == np.min(result.history["cost"])
    expected = 0.5 * np.sum((np.tanh(matrix @ result.x) - 0.5) ** 2)
    assert result.cost == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("status", list(sv.Status))
def test_every_status_has_a_message_and_scipy_sign(status):
    from svensolve.result import MESSAGES

    assert MESSAGES[status]
    assert (status > 0) == (status in (1, 2, 3, 4, 5))


def test_interrupt_during_first_factorisation_returns_start(monkeypatch):
    import svensolve.solve

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(svensolve.solve, "truncated_svd", interrupted)
    result = sv.least_squares(lambda x: x - 1.0, np.zeros(2))

    assert result.status == sv.Status.INTERRUPTED
    np.testing.assert_array_equal(result.x, [0.0, 0.0])
    assert result.cost == 1.0


def test_interrupt_during_later_factorisation_keeps_step(monkeypatch):
    import svensolve.solve

    real_svd = svensolve.solve.truncated_svd
    calls = []

    def interrupted_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_svd(*args, **kwargs)

    monkeypatch.setattr(svensolve.solve, "truncated_svd", interrupted_third)
    result = sv.least_squares(lambda x: jnp.array([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]]),
                              np.array([-1.2, 1.0]))

    assert result.status == sv.Status.INTERRUPTED
    assert result.nit >= 2
    assert len(result.history["cost"]) == result.nit
    # The step accepted just before the interrupt is the best point and in the history.
    assert result.cost == result.history["cost"][-1]
    assert result.cost < 0.5 * (4.4**2 + 2.2**2)


def test_float32_line_search_stays_float32():
    rng = np.random.default_rng(1)
    matrix = rng.standard_normal((5, 12)).astype(np.float32)
    target = rng.standard_normal(5).astype(np.float32)

    result = sv.minimize(lambda x: matrix @ x - target, jnp.zeros(12, jnp.float32),
                         control="line-search")

    assert result.x.dtype == np.float32
    expected = np.linalg.lstsq(matrix.astype(float), target.astype(float), rcond=None)[0]
    np.testing.assert_allclose(result.x, expected, atol=1e-4)


def test_jax_fun_returning_a_list_is_accepted():
    result = sv.least_squares(lambda b: [b[0] - 1.0, b[1] - 2.0], np.zeros(2))

    np.testing.assert_allclose(result.x, [1.0, 2.0], rtol=1e-12)


def test_unwritable_checkpoint_fails_before_the_solve(tmp_path):
    with pytest.raises(ValueError, match="directory .* does not exist"):
        sv.least_squares(lambda x: x, np.ones(2), checkpoint=str(tmp_path / "no" / "run.npz"))
    with pytest.raises(ValueError, match="must be a file path"):
        sv.least_squares(lambda x: x, np.ones(2), checkpoint=str(tmp_path))
