"""Step control: how far to go along the Sven direction, and when to accept.

Three rules, each a pair of pure functions over a small `ControlState`:

- ``"fixed"``: the rule of the Sven paper, a constant learning rate and no
  acceptance test (only non-finite trial points are rejected).
- ``"line-search"``: the undamped Sven direction tried at a grid of step
  lengths ``base * 2**-j`` evaluated together; the best one is taken if it
  lowers the cost, otherwise the grid moves down by its own length.
- ``"trust-region"``: Levenberg-Marquardt damping ``s / (s^2 + damping)``,
  adapted from the gain ratio (actual over predicted reduction) by Nielsen's
  rule; steps that do not lower the cost are rejected and the damping grows.
  A rejection costs one residual evaluation because the factors are reused.

`propose` returns the trial steps; `update` sees their costs and returns the
index of the accepted trial (or -1) and the next state.
"""

from __future__ import annotations

from typing import NamedTuple

from svensolve.step import array_namespace, sven_direction

CONTROLS = ("trust-region", "line-search", "fixed")

# Initial damping relative to s_max^2 (the tau of Levenberg-Marquardt codes).
# On the 54 NIST StRD cases 1e-1 reached 6 digits on 52, 1e-3 and 1e-6 on 51
# (BoxBOD start 1 then walks onto an underflow plateau).
INITIAL_DAMPING = 1e-1
# Nielsen's smallest damping factor after a very good step.
MIN_DAMPING_SHRINK = 1.0 / 3.0
# Step lengths tried at once by the line search: 1, 1/2, ..., 1/128.
LINE_SEARCH_GRID = 8


class ControlState(NamedTuple):
    """Damping (absolute, in units of s^2), Nielsen's growth factor, step length."""

    damping: float
    growth: float
    step_length: float


def init_control(control: str, factors, lr: float) -> ControlState:
    """State before the first step; the damping scale comes from s_max^2."""
    if control not in CONTROLS:
        raise ValueError(f"control must be one of {CONTROLS}, got {control!r}")
    s_max = factors.s[0] if factors.s.shape[0] else 1.0
    damping = INITIAL_DAMPING * s_max**2 if control == "trust-region" else 0.0
    return ControlState(damping, 2.0, lr)


def propose(control: str, factors, residual, state: ControlState, rank, rtol):
    """Trial steps as rows of an (m, p) array, and their predicted reductions (m,)."""
    xp = array_namespace(residual, factors.s)
    if control == "line-search":
        direction = sven_direction(factors, residual, 1.0, rank, rtol, 0.0)
        # In the residual's dtype, so that a float32 solve stays float32.
        lengths = (state.step_length * 0.5 ** xp.arange(LINE_SEARCH_GRID)).astype(residual.dtype)
        steps = lengths[:, None] * direction.step[None, :]
        # The quadratic model along the ray: 0.5|c|^2 (1 - (1 - a)^2) with a the length.
        full = direction.predicted_reduction
        predicted = full * (1.0 - (1.0 - lengths) ** 2)
        return steps, predicted, direction.rank
    lr = state.step_length if control == "fixed" else 1.0
    direction = sven_direction(factors, residual, lr, rank, rtol, state.damping)
    predicted = xp.reshape(direction.predicted_reduction, (1,))
    return direction.step[None, :], predicted, direction.rank


def update(control: str, state: ControlState, cost, trial_costs, predicted):
    """Index of the accepted trial (-1 if none), the next state and the gain ratio."""
    xp = array_namespace(trial_costs, predicted)
    finite = xp.isfinite(trial_costs)
    safe_costs = xp.where(finite, trial_costs, xp.inf)
    best = xp.argmin(safe_costs)
    best_cost = safe_costs[best]
    gain_ratio = (cost - best_cost) / xp.maximum(predicted[best], xp.finfo(predicted.dtype).tiny)

    if control == "fixed":
        accepted = finite[best]
        return xp.where(accepted, best, -1), state, gain_ratio

    accepted = best_cost < cost
    if control == "line-search":
        # Start the next grid one notch above the chosen length, capped at 1, so
        # the search can grow back after short steps.
        grow = xp.minimum(1.0, 2.0 * state.step_length * 0.5**best)
        shrink = state.step_length * 0.5**LINE_SEARCH_GRID
        step_length = xp.where(accepted, grow, shrink)
        return xp.where(accepted, best, -1), state._replace(step_length=step_length), gain_ratio

    # Nielsen's rule: shrink the damping smoothly when the model is good,
    # grow it geometrically (with a growing factor) after each rejection.
    clipped = xp.clip(gain_ratio, -1.0, 2.0)  # beyond this range the rule saturates anyway
    shrink = xp.maximum(MIN_DAMPING_SHRINK, 1.0 - (2.0 * clipped - 1.0) ** 3)
    damping = xp.where(accepted, state.damping * shrink, state.damping * state.growth)
    growth = xp.where(accepted, 2.0, 2.0 * state.growth)
    next_state = ControlState(damping, growth, state.step_length)
    return xp.where(accepted, best, -1), next_state, gain_ratio
