"""A pure, jittable Sven iteration and a `lax.while_loop` driver over it.

`solve_jit` runs the whole solve inside one compiled loop, so it can be
vmapped over a batch of problems (thousands of curve fits in one call) and
jitted into a larger program. It shares the step and the step control with
the Python driver in `svensolve.solve`, but has no progress bar, callback or
time limit, and it computes a full SVD with XLA every accepted step.

The solve is not reverse-mode differentiable: `lax.while_loop` has no
transpose rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from svensolve import control as ctl
from svensolve.linalg import Factors
from svensolve.result import Status
from svensolve.step import largest_column_projection, sven_direction

RUNNING = 100


class LoopState(NamedTuple):
    """Everything one iteration reads and writes; a pytree of arrays."""

    x: jax.Array
    residual: jax.Array
    cost: jax.Array
    jacobian: jax.Array
    factors: Factors
    control: ctl.ControlState
    nit: jax.Array
    nfev: jax.Array
    njev: jax.Array
    status: jax.Array


class LoopSettings(NamedTuple):
    """Static settings of the jitted loop (hashable, so they key the compile cache)."""

    control: str = "trust-region"
    rank: int | None = None
    rtol: float = 0.0
    lr: float = 1.0
    ftol: float = 1e-8
    xtol: float = 1e-8
    gtol: float = 1e-8
    max_iter: int = 1000
    max_nfev: int = 100_000


def _factor(jacobian) -> Factors:
    u, s, vt = jnp.linalg.svd(jacobian, full_matrices=False)
    return Factors(u, s, vt.T)


def init_state(residual_fn: Callable, jacobian_fn: Callable, x0, settings: LoopSettings):
    """State at ``x0``: residual, Jacobian, its factors and the control's start."""
    residual = residual_fn(x0)
    jacobian = jacobian_fn(x0)
    factors = _factor(jacobian)
    control = ctl.init_control(settings.control, factors, settings.lr)
    control = ctl.ControlState(*(jnp.asarray(v, x0.dtype) for v in control[:3]), ())
    cost = 0.5 * residual @ residual
    state = LoopState(
        x0, residual, cost, jacobian, factors, control,
        jnp.asarray(0), jnp.asarray(1), jnp.asarray(1), jnp.asarray(RUNNING),
    )
    status = _point_status(state, settings)
    status = jnp.where(settings.max_iter <= 0, Status.MAX_ITER, status)
    # A NaN or infinite start would only be carried through every iteration.
    finite = jnp.isfinite(cost) & jnp.all(jnp.isfinite(jacobian))
    return state._replace(status=jnp.where(finite, status, Status.ERROR))


def _point_status(state: LoopState, settings: LoopSettings):
    """Zero cost, zero Jacobian or gtol at the current point, else RUNNING."""
    projection = largest_column_projection(state.jacobian, state.residual)
    gtol_holds = projection <= settings.gtol * jnp.sqrt(2.0 * state.cost)
    status = jnp.where(gtol_holds, Status.GTOL, RUNNING)
    status = jnp.where(state.factors.s[0] == 0, Status.ZERO_JACOBIAN, status)
    return jnp.where(state.cost == 0, Status.GTOL, status)


def step(state: LoopState, residual_fn: Callable, jacobian_fn: Callable, settings: LoopSettings):
    """Run one iteration: propose, evaluate, accept or reject, test for termination."""
    proposal = ctl.propose(
        settings.control, state.factors, state.residual, state.control,
        settings.rank, settings.rtol,
    )
    steps, predicted = proposal.steps, proposal.predicted
    trials = state.x[None, :] + steps
    trial_residuals = jax.vmap(residual_fn)(trials)
    trial_costs = 0.5 * jnp.sum(trial_residuals**2, axis=1)
    index, control, gain_ratio = ctl.update(
        settings.control, state.control, state.cost, trial_costs, predicted, proposal
    )
    accepted = index >= 0
    chosen = jnp.maximum(index, 0)
    nfev = state.nfev + trials.shape[0]

    def move(_):
        x = trials[chosen]
        jacobian = jacobian_fn(x)
        return x, trial_residuals[chosen], trial_costs[chosen], jacobian, _factor(jacobian)

    def stay(_):
        return state.x, state.residual, state.cost, state.jacobian, state.factors

    x, residual, cost, jacobian, factors = lax.cond(accepted, move, stay, None)
    new = LoopState(
        x, residual, cost, jacobian, factors, control,
        state.nit + 1, nfev, state.njev + accepted, state.status,
    )
    return new._replace(status=_status_after(state, new, accepted, gain_ratio, settings))


def _status_after(old: LoopState, new: LoopState, accepted, gain_ratio, settings: LoopSettings):
    reduction = old.cost - new.cost
    ftol_holds = accepted & (reduction < settings.ftol * old.cost) & (gain_ratio > 0.25)
    # The test is per parameter, as in the Python driver. With norms, a
    # parameter near 1e8 hid steps of size 1 in the others.
    step = jnp.abs(new.x - old.x)
    xtol_holds = accepted & jnp.all(step <= settings.xtol * (settings.xtol + jnp.abs(new.x)))
    gauss_newton = sven_direction(old.factors, old.residual, 1.0, settings.rank, settings.rtol)
    stationary = ~accepted & (gauss_newton.predicted_reduction <= settings.ftol * old.cost)

    status = _point_status(new, settings)
    status = jnp.where(new.nit >= settings.max_iter, Status.MAX_ITER, status)
    status = jnp.where(new.nfev >= settings.max_nfev, Status.MAX_NFEV, status)
    status = jnp.where(xtol_holds, Status.XTOL, status)
    status = jnp.where(ftol_holds | stationary, Status.FTOL, status)
    return jnp.where(ftol_holds & xtol_holds, Status.FTOL_XTOL, status)


def solve_jit(residual_fn: Callable, x0, settings: LoopSettings | None = None):
    """Solve ``min 0.5 ||residual_fn(x)||^2`` from a 1-D ``x0`` in one compiled loop.

    Returns the final `LoopState`; ``state.status`` is a `Status` value.
    Wrap in `jax.vmap` over ``x0`` (or over data closed in ``residual_fn``
    through a batched argument) to solve many problems at once.
    """
    settings = LoopSettings() if settings is None else settings
    x0 = jnp.asarray(x0)
    if x0.ndim != 1:
        raise ValueError(f"solve_jit: x0 must be 1-D, got shape {x0.shape}")
    if not jnp.issubdtype(x0.dtype, jnp.floating):
        x0 = x0.astype(jnp.float64)  # an integer start would fix the dtype of every step

    def residual_in_dtype(x):
        # In the start's dtype: float64 data in a float32 solve would give the
        # loop's two branches different dtypes, which lax.cond rejects.
        return jnp.asarray(residual_fn(x)).astype(x.dtype)

    jacobian_fn = jax.jacfwd(residual_in_dtype)
    state = init_state(residual_in_dtype, jacobian_fn, x0, settings)
    return lax.while_loop(
        lambda s: s.status == RUNNING,
        lambda s: step(s, residual_in_dtype, jacobian_fn, settings),
        state,
    )
