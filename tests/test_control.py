"""The trust region's radius: the damping it implies and how it moves."""

import numpy as np
import pytest
import scipy.optimize

from svensolve import control as ctl
from svensolve.linalg import Factors


def _step_length(s, c, damping):
    return np.linalg.norm(s * c / (s**2 + damping))


@pytest.mark.parametrize("seed", range(5))
def test_radius_damping_matches_brentq(seed):
    rng = np.random.default_rng(seed)
    s = np.sort(10.0 ** rng.uniform(-6, 6, 7))[::-1]
    c = rng.standard_normal(7)
    radius = 1e-3 * _step_length(s, c, 0.0)

    damping, length = ctl.damping_for_radius(s, c, 7, 0.0, 0.0, radius)

    # The root in log(damping), since the damping spans many decades.
    log_root = scipy.optimize.brentq(
        lambda t: _step_length(s, c, np.exp(t)) - radius, -700.0, 100.0, xtol=1e-12
    )
    np.testing.assert_allclose(damping, np.exp(log_root), rtol=1e-6)
    np.testing.assert_allclose(length, radius, rtol=1e-6)


def test_radius_damping_kept_when_step_fits():
    s, c = np.array([3.0, 1.0]), np.array([1.0, 2.0])
    radius = 10.0 * _step_length(s, c, 0.5)

    damping, length = ctl.damping_for_radius(s, c, 2, 0.0, 0.5, radius)

    assert damping == 0.5
    np.testing.assert_allclose(length, _step_length(s, c, 0.5), rtol=1e-15)


def test_radius_damping_ignores_cut_values():
    s, c = np.array([2.0, 1e-9]), np.array([1.0, 1.0])

    # The cutoff 1e-6 drops the second value, so the step is c0 / s0 = 0.5 long.
    damping, length = ctl.damping_for_radius(s, c, 2, 1e-6, 0.0, 1.0)

    assert damping == 0.0
    np.testing.assert_allclose(length, 0.5, rtol=1e-15)


def _trust_region_round(cost_of_trial, radius):
    """Propose a trust-region step on a diagonal J, evaluate it, update; return both states."""
    s = np.array([4.0, 1.0, 0.25])
    factors = Factors(np.eye(3), s, np.eye(3))
    residual = np.array([1.0, -2.0, 3.0])
    state = ctl.init_control("trust-region", factors, 1.0, radius=radius)
    trials = ctl.propose("trust-region", factors, residual, state, None, 0.0)
    costs = np.array([cost_of_trial(trials.steps[0])])
    index, next_state, _ = ctl.update(
        "trust-region", state, 0.5 * residual @ residual, costs, trials.predicted, trials
    )
    return trials, index, next_state


def test_first_step_fits_in_radius():
    trials, _, _ = _trust_region_round(lambda step: 0.0, radius=0.5)

    np.testing.assert_allclose(np.linalg.norm(trials.steps[0]), 0.5, rtol=1e-6)
    np.testing.assert_allclose(trials.lengths[0], 0.5, rtol=1e-6)


def test_rejection_shrinks_radius():
    trials, index, next_state = _trust_region_round(lambda step: np.inf, radius=100.0)

    assert index == -1
    # The Gauss-Newton step fits in 100, so the rejected step is undamped.
    gauss_newton = np.linalg.norm([1.0 / 4.0, 2.0, 12.0])
    np.testing.assert_allclose(trials.lengths[0], gauss_newton, rtol=1e-12)
    np.testing.assert_allclose(next_state.step_length, ctl.RADIUS_SHRINK * gauss_newton)


def test_good_step_grows_radius():
    # The residual is linear here, so the model is exact: gain ratio 1.
    def exact_cost(step):
        residual = np.array([1.0, -2.0, 3.0]) + np.array([4.0, 1.0, 0.25]) * step
        return 0.5 * residual @ residual

    trials, index, next_state = _trust_region_round(exact_cost, radius=0.5)

    assert index == 0
    np.testing.assert_allclose(next_state.step_length, ctl.RADIUS_GROWTH * trials.lengths[0])


def test_ladder_directions_match_lstsq():
    rng = np.random.default_rng(3)
    # Singular values from 1 down to 1e-6, so each cutoff keeps a different rank.
    left, _ = np.linalg.qr(rng.standard_normal((12, 12)))
    right, _ = np.linalg.qr(rng.standard_normal((15, 12)))
    s = np.logspace(0, -6, 12)
    jacobian = left @ np.diag(s) @ right.T
    residual = rng.standard_normal(12)
    cutoffs = (1e-2, 1e-4, 1e-7)

    directions = ctl.ladder_directions(Factors(left, s, right), residual, None, cutoffs)

    for row, cutoff in enumerate(cutoffs):
        reference = -np.linalg.lstsq(jacobian, residual, rcond=cutoff)[0]
        np.testing.assert_allclose(directions.step[row], reference, rtol=1e-8, atol=1e-12)
        model = residual + jacobian @ directions.step[row]
        reduction = 0.5 * (residual @ residual - model @ model)
        np.testing.assert_allclose(directions.predicted_reduction[row], reduction, rtol=1e-8)
        assert directions.rank[row] == np.count_nonzero(s > cutoff)
