"""Failures during a solve and scipy-compatibility details, each checked against scipy or numpy."""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import svensolve as sv
from svensolve.result import Status

T = np.linspace(0.0, 5.0, 50)
Y = 4.0 * np.exp(-1.1 * T) + 0.3


def decay(b, t=T, y=Y):
    return b[0] * jnp.exp(-b[1] * t) + b[2] - y


def test_numpy_nan_region_ends_cleanly():
    def fun(b):
        residual = b[0] * np.exp(-b[1] * T) + b[2] - Y
        return residual if b[1] < 1.05 else residual * np.nan

    x0 = np.array([1.0, 0.5, 0.0])
    result = sv.least_squares(fun, x0)
    reference = scipy.optimize.least_squares(fun, x0)

    assert np.isfinite(result.cost)
    assert result.x[1] < 1.05
    # The best fit sits at the edge of the finite region, as scipy's does.
    assert result.cost <= reference.cost * (1 + 1e-3)


def test_none_tolerances_switch_tests_off():
    result = sv.least_squares(decay, np.array([1.0, 0.5, 0.0]), xtol=None, ftol=None,
                              gtol=None, max_nfev=60)

    # The exact fit leaves no step that lowers the cost, so the solve stops there,
    # but not with a test that was switched off: the residual is rounding noise.
    assert result.status in (Status.MAX_NFEV, Status.NO_PROGRESS, Status.ROUNDING)
    np.testing.assert_allclose(result.x, [4.0, 1.1, 0.3], rtol=1e-10)


def test_callable_jac_receives_args_and_kwargs():
    def fun(b, scale, offset=0.0):
        return scale * (b - offset)

    def jac(b, scale, offset=0.0):
        return scale * np.eye(b.size)

    result = sv.least_squares(fun, np.zeros(3), jac=jac, args=(2.0,), kwargs={"offset": 1.5})
    reference = scipy.optimize.least_squares(fun, np.zeros(3), jac=jac, args=(2.0,),
                                             kwargs={"offset": 1.5})

    np.testing.assert_allclose(result.x, reference.x, rtol=1e-12)


def test_transposed_jac_names_expected_shape():
    def fun(b):
        return b[0] * np.exp(-b[1] * T) + b[2] - Y

    def jac(b):
        columns = [np.exp(-b[1] * T), -b[0] * T * np.exp(-b[1] * T), np.ones_like(T)]
        return np.stack(columns)  # (3, 50): transposed

    with pytest.raises(ValueError, match=r"shape \(3, 50\); expected \(n, p\) = \(50, 3\)"):
        sv.least_squares(fun, np.array([1.0, 0.5, 0.0]), jac=jac)


def test_midsolve_error_carries_best_point():
    calls = {"count": 0}

    def fun(b):
        calls["count"] += 1
        if calls["count"] > 30:
            raise ZeroDivisionError("model failed")
        return b[0] * np.exp(-b[1] * T) + b[2] - Y

    x0 = np.array([1.0, 0.5, 0.0])
    start_cost = 0.5 * np.sum(fun(x0) ** 2)
    calls["count"] = 0
    with pytest.raises(ZeroDivisionError) as caught:
        sv.least_squares(fun, x0, jac="2-point")

    best = caught.value.best_result
    assert best.status == Status.ERROR
    assert best.cost < start_cost
    np.testing.assert_allclose(best.cost, 0.5 * np.sum((best.fun) ** 2), rtol=1e-12)


def test_streamed_error_keeps_best_point_without_jacobian():
    # A host model that fails from its seventh call on: the streamed path then
    # cannot build J at the best point either, so the Result has no Jacobian.
    import jax

    calls = {"count": 0}

    def host(values):
        calls["count"] += 1
        if calls["count"] > 6:
            raise RuntimeError("detector offline")
        return np.asarray(values)

    @jax.custom_jvp
    def guarded(value):
        shape = jax.ShapeDtypeStruct(value.shape, value.dtype)
        return jax.pure_callback(host, shape, value, vmap_method="expand_dims")

    @guarded.defjvp
    def _guarded_jvp(primals, tangents):
        return guarded(primals[0]), tangents[0]

    def fit(params, point):
        t, y = point
        return guarded(params["a"]) * jnp.exp(-params["b"] * t) - y

    t = np.linspace(0.0, 4.0, 30)
    problem = sv.Problem([
        sv.Condition("data", fit, points=(t, 3.0 * np.exp(-0.7 * t))),
        sv.Condition("prior", lambda params: params["b"] - 0.7, weight=0.01),
    ])
    params = {"a": 1.0, "b": 0.1}
    start = 0.5 * np.mean((np.exp(-0.1 * t) - 3.0 * np.exp(-0.7 * t)) ** 2) + 0.5 * 0.01**2 * 0.6**2
    with pytest.raises(Exception, match="detector offline") as caught:
        sv.minimize(problem, params, jacobian="streamed", memory_limit="1MiB", svd="krylov")

    best = caught.value.best_result
    assert best.status == Status.ERROR
    assert best.cost < start
    assert best.jac is None
    assert np.all(np.isnan(best.grad))
    assert "jac is None" in caught.value.__notes__[0]


def test_resume_with_changed_problem_raises(tmp_path):
    def problem(slope):
        condition = sv.Condition(
            "data", lambda p, x: p["a"] * x[0] + p["b"] - slope * x[0],
            points=np.linspace(0.0, 1.0, 10)[:, None],
        )
        return sv.Problem([condition])

    params = {"a": jnp.array(0.0), "b": jnp.array(0.0)}
    path = str(tmp_path / "run.npz")
    sv.minimize(problem(1.0), params, max_iter=1, checkpoint=path)

    with pytest.raises(ValueError, match="problem changed since the checkpoint"):
        sv.minimize(problem(5.0), params, resume=path, max_iter=50)


def test_weight_text_is_rejected():
    with pytest.raises(TypeError, match="weight must be a number, got '2'"):
        sv.Condition("data", lambda p, x: p * x, points=np.ones(3), weight="2")


def test_lr_with_trust_region_warns():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sv.least_squares(decay, np.array([1.0, 0.5, 0.0]), lr=0.5, control="trust-region")

    messages = [str(w.message) for w in caught]
    assert any("lr=0.5 has no effect with the trust-region control" in m for m in messages)
