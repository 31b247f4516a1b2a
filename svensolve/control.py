"""Step control: how far to go along the Sven direction, and when to accept.

Three rules, each a pair of pure functions over a small `ControlState`:

- ``"fixed"``: the rule of the Sven paper, a constant learning rate and no
  acceptance test (only non-finite trial points are rejected).
- ``"line-search"``: the undamped Sven direction tried at a grid of step
  lengths ``base * 2**-j`` evaluated together; the best one is taken if it
  lowers the cost, otherwise the grid moves down by its own length. Given a
  ladder of cutoffs (largest first), each cutoff's direction gets its own
  grid and base, and the step comes from the smallest cutoff whose best
  trial lowers the cost by at least ``RUNG_SHARE`` of the largest reduction.
- ``"trust-region"``: Levenberg-Marquardt damping ``s / (s^2 + damping)``,
  adapted from the gain ratio (actual over predicted reduction) by Nielsen's
  rule; steps that do not lower the cost are rejected and the damping grows.
  A trust radius bounds the length of the step in scaled variables, so the
  damping used is at least the one whose step fits in the radius. The radius
  starts at the length of the scaled start point, as in scipy's "trf". A
  rejection cuts it to a quarter of the rejected step's length. So the next
  step is shorter even when the damping is still far below s_min^2.
  A rejection costs one residual evaluation because the factors are reused.

`propose` returns the trial steps; `update` sees their costs and returns the
index of the accepted trial (or -1) and the next state.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from svensolve.step import (
    Direction,
    array_namespace,
    filter_factors,
    ladder_directions,
    sven_direction,
)

CONTROLS = ("trust-region", "line-search", "fixed")

# Initial damping relative to s_max^2 (the tau of Levenberg-Marquardt codes)
# where no trust radius is given: after the line search falls back, and in
# `solve_jit`. Without the radius, on the 54 NIST StRD cases 1e-1 reached 6
# digits on 52, 1e-3 and 1e-6 on 51.
INITIAL_DAMPING = 1e-1
# First trust radius, relative to ||D x0|| (D: the column scales). Measured
# on the 54 NIST StRD cases (6 digits or more): 1 and 10 reach 54. With 3,
# MGH17 start 1 ends at the stationary point that scipy's methods find too
# (53). With 0.3 and 100, MGH10 start 1 fails again (52 and 51).
# Without a radius MGH10 start 1 failed at every first damping tried. With
# a first radius of 1, every shrink and growth below solves MGH10 start 1,
# while MGH17 start 1 needs exactly these values.
INITIAL_RADIUS = 1.0
# After a rejection the radius becomes this share of the rejected step's
# length (0.1 and 0.5: 53 cases).
RADIUS_SHRINK = 0.25
# After a step whose gain ratio is above GOOD_GAIN the radius reaches this
# multiple of the step's length (2 and 5: 53 cases).
RADIUS_GROWTH = 3.0
GOOD_GAIN = 0.75
# Newton iterations on 1/||step(damping)|| - 1/radius, which start below the
# root. On 200 random spectra spanning 16 decades, 8 of them left the step at
# most 6e-6 longer than the radius, and a step slightly too long does no harm.
RADIUS_ITERATIONS = 8
# Nielsen's smallest damping factor after a very good step.
MIN_DAMPING_SHRINK = 1.0 / 3.0
# Step lengths tried at once by the line search: 1, 1/2, ..., 1/128.
LINE_SEARCH_GRID = 8
# With a ladder of cutoffs, the smallest cutoff whose best trial reaches this
# share of the largest cost reduction gives the step. On the 2D Poisson PINN
# (two initial networks, 30 s) shares 0.1, 0.3 and 0.5 all reached errors
# near 1e-12. On the 5D Poisson PINN 0.1 stalled at 4.5e-3, while 0.3
# reached 1.0e-5, near the 8.9e-6 of the single cutoff 1e-7.
RUNG_SHARE = 0.3
# Growth of a grid's base when its longest length was the best. With 8, two
# initial networks of the 2D Poisson PINN reached cost 1e-4 in 9.4 s and
# 7.4 s. They took 11.9 s and 10.1 s when every grid grew one notch at a time.
TOP_GROWTH = 8.0


class ControlState(NamedTuple):
    """Damping (absolute, in units of s^2), Nielsen's growth factor, step lengths.

    ``step_length`` is the base of the first (largest) cutoff's grid, and
    ``lower_lengths`` those of the smaller cutoffs of a ladder, if any. For
    the trust region ``step_length`` is the trust radius (inf for none).
    """

    damping: float
    growth: float
    step_length: float
    lower_lengths: tuple = ()


class Trials(NamedTuple):
    """Trial steps as rows, with the model's reduction, rank, length, cutoff and damping of each.

    A length is a step length along the direction, or for the trust region
    the length of the step in scaled variables.
    """

    steps: np.ndarray
    predicted: np.ndarray
    ranks: np.ndarray
    lengths: np.ndarray
    cutoffs: np.ndarray
    dampings: np.ndarray


def cutoff_ladder(rtol: float, floor: float) -> tuple:
    """Cutoffs ``rtol, rtol / 100, ...`` above ``floor``, then ``floor`` itself.

    A single ``(rtol,)`` when ``floor`` is not below ``rtol``.
    """
    ladder = [float(rtol)]
    while ladder[-1] / 100 > floor:
        ladder.append(ladder[-1] / 100)
    if floor < ladder[-1]:
        ladder.append(float(floor))
    return tuple(ladder)


def init_control(control: str, factors, lr: float, rungs: int = 1,
                 radius: float = np.inf) -> ControlState:
    """Return the state before the first step.

    ``rungs`` is the number of cutoffs the line search tries. For the trust
    region, a finite ``radius`` starts the damping at 0: `propose` then raises
    it to the damping whose step fits in the radius, or keeps 0 when the
    Gauss-Newton step fits. Without a radius the damping starts at
    ``INITIAL_DAMPING * s_max^2``.
    """
    if control not in CONTROLS:
        raise ValueError(f"control must be one of {CONTROLS}, got {control!r}")
    if control != "trust-region":
        lower = (lr,) * (rungs - 1) if control == "line-search" else ()
        return ControlState(0.0, 2.0, lr, lower)
    if np.isfinite(radius):
        # Nielsen's rule cannot grow a zero damping, but a rejection shrinks
        # the radius, which then sets a positive one.
        return ControlState(0.0, 2.0, radius)
    s_max = factors.s[0] if factors.s.shape[0] else 1.0
    return ControlState(INITIAL_DAMPING * s_max**2, 2.0, np.inf)


def damping_for_radius(s, coefficients, rank, cutoff, damping, radius):
    """Return the smallest damping, at least ``damping``, whose step fits in ``radius``.

    The length of that step is returned too. In scaled variables it is
    ``phi = ||f(s) c||``, which falls as the damping grows. Newton's method on
    ``1 / phi - 1 / radius`` starts from ``damping``, and does not move it
    where the step already fits.
    """
    xp = array_namespace(s, coefficients)
    radius = xp.maximum(radius, xp.finfo(s.dtype).tiny)
    damping = xp.asarray(damping, dtype=s.dtype)
    for _ in range(RADIUS_ITERATIONS):
        filtered, keep = filter_factors(s, rank, cutoff, damping)
        weighted = filtered * coefficients
        length = xp.sqrt(xp.sum(weighted**2))
        if xp is np and not length > radius:
            # The step fits, so the remaining iterations would not move the
            # damping. Traced (jax) code runs them all, as it cannot branch.
            break
        # d phi / d damping = -sum (f c)^2 / (s^2 + damping) / phi
        denominator = xp.where(keep, s * s + damping, 1.0)  # dropped values may be 0
        slope = xp.sum(xp.where(keep, weighted**2 / denominator, 0.0))
        change = (length / radius - 1.0) * length**2 / xp.maximum(slope, xp.finfo(s.dtype).tiny)
        damping = damping + xp.where(length > radius, change, 0.0)
    filtered, _ = filter_factors(s, rank, cutoff, damping)
    return damping, xp.sqrt(xp.sum((filtered * coefficients) ** 2))


def propose(control: str, factors, residual, state: ControlState, rank, cutoffs) -> Trials:
    """Trial steps as rows of an (m, p) array, with what `Trials` records of each.

    ``cutoffs`` is one rtol, or a ladder of them (largest first) for the
    line search.
    """
    xp = array_namespace(residual, factors.s)
    cutoffs = tuple(cutoffs) if isinstance(cutoffs, (tuple, list)) else (cutoffs,)
    if control == "line-search":
        bases = (state.step_length, *state.lower_lengths)
        directions = ladder_directions(factors, residual, rank, cutoffs)
        rungs = [_line_search_rung(xp, Direction(*parts), base, cutoff)
                 for *parts, base, cutoff in zip(*directions, bases, cutoffs, strict=True)]
        return Trials(*(xp.concatenate(parts) for parts in zip(*rungs, strict=True)))
    ones = xp.ones(1, dtype=residual.dtype)
    if control == "fixed":
        direction = sven_direction(factors, residual, state.step_length, rank, cutoffs[0], 0.0)
        lengths, damping = ones * state.step_length, 0.0
    else:
        rank_limit = factors.s.shape[0] if rank is None else rank
        damping, length = damping_for_radius(
            factors.s, factors.u.T @ residual, rank_limit, cutoffs[0], state.damping,
            state.step_length,
        )
        direction = sven_direction(factors, residual, 1.0, rank, cutoffs[0], damping)
        lengths = ones * length
    return Trials(
        direction.step[None, :], ones * direction.predicted_reduction,
        xp.reshape(direction.rank, (1,)), lengths, ones * cutoffs[0], ones * damping,
    )


def _line_search_rung(xp, direction: Direction, base, cutoff) -> Trials:
    """Return the trials of one cutoff's direction at lengths ``base * 2**-j``."""
    # In the step's dtype, so that a float32 solve stays float32.
    lengths = (base * 0.5 ** xp.arange(LINE_SEARCH_GRID)).astype(direction.step.dtype)
    steps = lengths[:, None] * direction.step[None, :]
    # The quadratic model along the ray: 0.5|c|^2 (1 - (1 - a)^2) with a the length.
    predicted = direction.predicted_reduction * (1.0 - (1.0 - lengths) ** 2)
    ranks = xp.full(LINE_SEARCH_GRID, direction.rank)
    cutoffs = xp.full(LINE_SEARCH_GRID, cutoff)
    return Trials(steps, predicted, ranks, lengths, cutoffs, xp.zeros_like(lengths))


def update(control: str, state: ControlState, cost, trial_costs, predicted, trials: Trials):
    """Return the index of the accepted trial (-1 if none), the next state and the gain ratio.

    ``predicted`` replaces ``trials.predicted`` (projection on bounds changes
    it); the trust region reads the damping and length of its trial.
    """
    xp = array_namespace(trial_costs, predicted)
    finite = xp.isfinite(trial_costs)
    safe_costs = xp.where(finite, trial_costs, xp.inf)
    best = xp.argmin(safe_costs)
    best_cost = safe_costs[best]
    gain_ratio = (cost - best_cost) / xp.maximum(predicted[best], xp.finfo(predicted.dtype).tiny)

    if control == "fixed":
        accepted = finite[best]
        return xp.where(accepted, best, -1), state, gain_ratio

    if control == "line-search":
        return _update_line_search(xp, state, cost, safe_costs, predicted)
    accepted = best_cost < cost

    # Nielsen's rule: shrink the damping smoothly when the model is good,
    # grow it geometrically (with a growing factor) after each rejection.
    # It starts from the damping used, which the radius may have raised.
    used, length = trials.dampings[0], trials.lengths[0]
    clipped = xp.clip(gain_ratio, -1.0, 2.0)  # beyond this range the rule saturates anyway
    shrink = xp.maximum(MIN_DAMPING_SHRINK, 1.0 - (2.0 * clipped - 1.0) ** 3)
    damping = xp.where(accepted, used * shrink, used * state.growth)
    growth = xp.where(accepted, 2.0, 2.0 * state.growth)
    grown = xp.where(gain_ratio > GOOD_GAIN,
                     xp.maximum(state.step_length, RADIUS_GROWTH * length), state.step_length)
    radius = xp.where(accepted, grown, xp.minimum(state.step_length, RADIUS_SHRINK * length))
    next_state = ControlState(damping, growth, radius)
    return xp.where(accepted, best, -1), next_state, gain_ratio


def _update_line_search(xp, state: ControlState, cost, safe_costs, predicted):
    """Pick the rung and length of the step, and move every rung's grid.

    Each rung's next grid starts one notch above its best length, capped at
    1, when that length lowers the cost, so the search can grow back after
    short steps. Otherwise the grid moves down by its own length.
    """
    per_rung = xp.reshape(safe_costs, (-1, LINE_SEARCH_GRID))
    best_per_rung = xp.argmin(per_rung, axis=1)
    reductions = cost - xp.min(per_rung, axis=1)
    # The smallest cutoff (the last rung) whose reduction is large enough.
    good = reductions >= RUNG_SHARE * xp.max(reductions)
    rung = per_rung.shape[0] - 1 - xp.argmax(good[::-1])
    best = rung * LINE_SEARCH_GRID + best_per_rung[rung]
    accepted = safe_costs[best] < cost
    gain_ratio = (cost - safe_costs[best]) / xp.maximum(
        predicted[best], xp.finfo(predicted.dtype).tiny
    )

    bases = xp.stack([xp.asarray(state.step_length), *map(xp.asarray, state.lower_lengths)])
    # A best length at the top of its grid may be short of the best length
    # overall: the next grid then reaches 3 notches higher.
    factor = xp.where(best_per_rung == 0, TOP_GROWTH, 2.0)
    grown = xp.minimum(1.0, factor * bases * 0.5**best_per_rung)
    lowered = bases * 0.5**LINE_SEARCH_GRID
    lengths = xp.where(reductions > 0, grown, lowered)
    next_state = state._replace(step_length=lengths[0], lower_lengths=tuple(lengths[1:]))
    return xp.where(accepted, best, -1), next_state, gain_ratio
