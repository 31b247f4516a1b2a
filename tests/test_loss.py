"""Robust losses against scipy.optimize.least_squares with the same loss, on data with outliers."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import svensolve as sv
from svensolve.loss import RobustLoss

TRUE_PARAMS = np.array([2.0, 0.8, 0.5])


def outlier_data(seed=0):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 5, 100)
    y = TRUE_PARAMS[0] * np.exp(-TRUE_PARAMS[1] * t) + TRUE_PARAMS[2]
    y = y + 0.02 * rng.standard_normal(t.size)
    outliers = rng.choice(t.size, size=10, replace=False)
    y[outliers] += rng.uniform(2, 5, size=10) * rng.choice([-1, 1], size=10)
    return t, y


@pytest.mark.parametrize("loss", ["soft_l1", "huber", "cauchy", "arctan"])
def test_robust_loss_matches_scipy_and_recovers_parameters(loss):
    t, y = outlier_data()

    def model(b):
        return b[0] * jnp.exp(-b[1] * t) + b[2] - y

    ours = sv.least_squares(model, np.ones(3), loss=loss, f_scale=0.1)
    reference = scipy.optimize.least_squares(
        lambda b: np.asarray(model(b)), np.ones(3), loss=loss, f_scale=0.1,
        xtol=1e-14, ftol=1e-14, gtol=1e-14,
    )

    assert ours.success, ours.message
    np.testing.assert_allclose(ours.cost, reference.cost, rtol=1e-8)
    np.testing.assert_allclose(ours.x, reference.x, rtol=1e-6)
    our_error = np.abs(ours.x - TRUE_PARAMS).max()
    assert our_error <= np.abs(reference.x - TRUE_PARAMS).max() + 1e-8
    assert our_error < 0.05


@pytest.mark.parametrize("loss", ["soft_l1", "huber", "cauchy", "arctan"])
def test_robust_jac_and_pcov_match_scipy(loss):
    t, y = outlier_data()

    def model(t, a, k, c):
        return a * jnp.exp(-k * t) + c

    def model_numpy(t, a, k, c):
        return a * np.exp(-k * t) + c

    popt, pcov = sv.curve_fit(model, t, y, p0=np.ones(3), loss=loss, f_scale=0.1)
    expected, expected_cov = scipy.optimize.curve_fit(
        model_numpy, t, y, p0=np.ones(3), loss=loss, f_scale=0.1, method="trf",
        xtol=1e-14, ftol=1e-14, gtol=1e-14,
    )
    np.testing.assert_allclose(popt, expected, rtol=1e-6)
    np.testing.assert_allclose(pcov, expected_cov, rtol=1e-5)

    # scipy's jac with a robust loss is J with its rows scaled by the loss.
    ours = sv.least_squares(lambda b: model(t, *b) - y, popt, loss=loss, f_scale=0.1)
    reference = scipy.optimize.least_squares(
        lambda b: model_numpy(t, *b) - y, popt, loss=loss, f_scale=0.1, max_nfev=1,
    )
    np.testing.assert_allclose(ours.jac, reference.jac, rtol=1e-5, atol=1e-7)


def test_robust_fit_beats_plain_least_squares_on_outliers():
    t, y = outlier_data(1)

    def model(b):
        return b[0] * jnp.exp(-b[1] * t) + b[2] - y

    plain = sv.least_squares(model, np.ones(3))
    robust = sv.least_squares(model, np.ones(3), loss="soft_l1", f_scale=0.1)

    assert np.abs(robust.x - TRUE_PARAMS).max() < 0.2 * np.abs(plain.x - TRUE_PARAMS).max()


def test_loss_functions_match_scipy_definitions():
    z = np.linspace(0, 4, 41)
    for name in ["soft_l1", "huber", "cauchy", "arctan"]:
        residual = np.sqrt(z) * 0.5  # f_scale 0.5 gives back z
        ours = RobustLoss(name, 0.5).cost(residual)
        theirs = scipy.optimize.least_squares(
            lambda x, r=residual: r + 0 * x[0], [0.0], loss=name, f_scale=0.5, max_nfev=1
        ).cost
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_linear_loss_is_plain_least_squares():
    rng = np.random.default_rng(2)
    matrix, rhs = rng.standard_normal((20, 4)), rng.standard_normal(20)

    result = sv.least_squares(lambda x: matrix @ x - rhs, np.zeros(4), loss="linear")

    np.testing.assert_allclose(result.x, np.linalg.lstsq(matrix, rhs, rcond=None)[0], rtol=1e-10)


def test_callable_loss_and_bad_loss_arguments():
    def cauchy(z):
        return np.stack([np.log1p(z), 1 / (1 + z), -1 / (1 + z) ** 2])

    t, y = outlier_data()

    def model(b):
        return b[0] * jnp.exp(-b[1] * t) + b[2] - y

    named = sv.least_squares(model, np.ones(3), loss="cauchy", f_scale=0.1)
    custom = sv.least_squares(model, np.ones(3), loss=cauchy, f_scale=0.1)
    np.testing.assert_allclose(custom.x, named.x, rtol=1e-10)

    with pytest.raises(ValueError, match="loss must be one of"):
        sv.least_squares(model, np.ones(3), loss="l1")
    with pytest.raises(ValueError, match="f_scale must be finite and > 0"):
        sv.least_squares(model, np.ones(3), loss="huber", f_scale=0.0)


def test_loss_per_condition_matches_direct_minimisation():
    t, y = outlier_data(3)
    points = (jnp.asarray(t), jnp.asarray(y))

    def data(b, point):
        time, value = point
        return b[0] * jnp.exp(-b[1] * time) + b[2] - value

    def prior(b):
        return 0.3 * (b - jnp.array([2.0, 1.0, 0.5]))

    problem = sv.Problem([
        sv.Condition("data", data, points=points, loss="cauchy", f_scale=0.01),
        sv.Condition("prior", prior),
    ])
    result = sv.minimize(problem, jnp.ones(3))

    scale = 1.0 / np.sqrt(t.size)

    def objective(b):
        z = ((scale * (b[0] * np.exp(-b[1] * t) + b[2] - y)) / 0.01) ** 2
        prior_residual = 0.3 * (b - np.array([2.0, 1.0, 0.5]))
        return 0.5 * 0.01**2 * np.sum(np.log1p(z)) + 0.5 * prior_residual @ prior_residual

    reference = scipy.optimize.minimize(objective, np.asarray(result.x), method="Nelder-Mead",
                                        options={"xatol": 1e-12, "fatol": 1e-16, "maxiter": 20000})
    assert result.success, result.message
    np.testing.assert_allclose(result.cost, objective(result.x), rtol=1e-12)
    assert result.cost <= reference.fun * (1 + 1e-10)
    np.testing.assert_allclose(result.x, reference.x, rtol=1e-5)


def test_condition_loss_is_validated():
    with pytest.raises(ValueError, match="loss must be one of"):
        sv.Condition("data", lambda p, x: p[0], points=jnp.ones(3), loss="l1")
