"""The solver loop: Sven steps from a start until a termination test holds.

`solve` is the Python driver. Each iteration factors the Jacobian once,
requests trial steps from the step control and evaluates them. It then either
moves (and recomputes J) or keeps the factors and tries again with the
control's next state. The driver owns what a long research run needs: a progress bar, a
callback, a time limit, Ctrl-C handling and the best point seen so far, which
is what every exit path returns.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, NamedTuple

import jax
import numpy as np

from svensolve import bounds, checkpoint, user_warnings
from svensolve import control as ctl
from svensolve.evaluate import Evaluator
from svensolve.linalg import Factors, truncated_svd
from svensolve.linalg.implicit import ArrayOperator, operator_factors
from svensolve.linalg.operator import (
    column_norms,
    is_operator,
    largest_column_projection,
    scale_columns,
    times,
    transpose_times,
)
from svensolve.loss import BlockLoss, RobustLoss
from svensolve.options import Options
from svensolve.progress import ProgressReporter
from svensolve.result import MESSAGES, Result, Status, history_arrays
from svensolve.step import sven_direction

logger = logging.getLogger(__name__)

# An automatic line search hands over to the trust region after this many
# accepted steps in a row shorter than 2**-FALLBACK_LOG2_LENGTH.
FALLBACK_SHORT_STEPS = 3
FALLBACK_LOG2_LENGTH = 16
# A residual norm below this many eps times its start value is rounding
# noise (`Solver._at_rounding_level`).
ROUNDING_SHARE = 1e4
# When no step lowers the cost, the solve has also converged to working
# precision if the part of r on the singular directions above RESOLVED_SHARE
# times the rounding floor is at most NOISE_MARGIN times the rounding noise
# of r (`_Run._resolved_part_is_noise`). The noise comes from the
# NOISE_ORDER-th differences of r at points where each parameter moves by
# NOISE_SPACING * eps * |x_i| per point, so the smooth part of r cancels.
# At the getting-started PINN's solution, that part was 5.7e-15 and the
# noise 4.0e-15 to 5.6e-15 for spacings 1e1 to 1e7 and orders 2 to 6, while
# ||r|| was 3.0e-12: 99% of r lay on 3 singular values between 7e-14 and
# 1e-11 times s_max.
RESOLVED_SHARE = 100.0
NOISE_ORDER = 4
NOISE_SPACING = 1e3
NOISE_MARGIN = 10.0
# After the stalled control is started afresh, its first accepted step must
# lower the cost by this share, or the solve stops as stalled. On the 2D
# Poisson PINN at rounding level, restarts without this test ran 75 more
# iterations for a change of the cost from 7.4e-23 to 7.0e-23.
RESTART_MIN_GAIN = 0.01
# Largest rise of the cost, relative to the best cost, that the final
# undamped step may bring and still be kept as a rounding-level change.
POLISH_MAX_RISE = 1e-6


class Iterate(NamedTuple):
    """State passed to a callback after each iteration."""

    nit: int
    x: np.ndarray
    cost: float
    condition_costs: dict
    time: float
    rank: int
    damping: float
    step_length: float
    nfev: int


class _Point(NamedTuple):
    x: np.ndarray
    residual: np.ndarray
    cost: float


def default_rtol(n: int, p: int, dtype) -> float:
    """Relative singular value cutoff used when the caller gives none.

    With at least as many residuals as parameters the step is Gauss-Newton
    and only rounding noise is cut (numpy's ``pinv`` convention). With fewer
    residuals than parameters (PINNs) the cutoff also regularises: the
    minimum-norm step along directions with tiny singular values fits the
    collocation points at the expense of the solution between them.
    """
    eps = float(np.finfo(dtype).eps)
    if n >= p:
        return eps * max(n, p)
    return max(1e-7, 10 * eps * max(n, p))


def solve(evaluator: Evaluator, x0: np.ndarray, options: Options) -> Result:
    """Run Sven steps from ``x0``; return the best point seen and why the run stopped."""
    run = _Run(evaluator, options)
    return run.start(x0)


class _Run:
    """Mutable bookkeeping of one solve; one object per call to `solve`."""

    def __init__(self, evaluator: Evaluator, options: Options):
        self.evaluator = evaluator
        self.options = options
        self.history: list[dict[str, Any]] = []
        self.nfev = 0
        self.njev = 0
        self.nit = 0
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def start(self, x0: np.ndarray) -> Result:
        options = self.options
        saved = checkpoint.load(options.resume) if options.resume is not None else None
        if saved is not None:
            x0 = self._restore_counters(saved, x0)
        residual = self._start_residual(x0, saved)
        jacobian = self.evaluator.jacobian(x0)
        self.njev += 1
        self.evaluator.check_start(residual, jacobian)

        self._configure(x0, *jacobian.shape)
        point = _Point(x0, residual, self.loss.cost(residual))
        if not np.isfinite(point.cost):
            largest = float(np.max(np.abs(residual)))
            raise ValueError(
                f"the cost 0.5 * sum(r**2) at x0 overflows {point.x.dtype} (largest |r| "
                f"= {largest:.3g}); rescale the residuals, for example by a condition weight"
            )
        self.best = self.point = point
        self.start_cost = point.cost
        self.best_jacobian, self.best_jacobian_point = jacobian, point
        if saved is not None:
            self._restore_state(saved)
            self.reporter.resume_at(self.nit)

        status = None
        try:
            status = self._loop(point, jacobian)
        except KeyboardInterrupt:
            status = Status.INTERRUPTED
            self.reporter.close()  # so the message below starts on a line of its own
            logger.warning("interrupted after %s; returning the best point", _iterations(self.nit))
        except _CallbackStop as stop:
            status = Status.CALLBACK
            self.callback_error = stop.error
        except Exception as error:
            # A residual, Jacobian or sampler failing mid-solve propagates, as in
            # scipy, but carries the best point so far, so the run is not lost.
            # The error's note gives the iterations and the best cost. Before
            # Python 3.11 errors take no notes, and a log line gives them instead.
            if not self._attach_best_result(error):
                logger.error("the solve failed after %s: %s", _iterations(self.nit), error)
            raise
        finally:
            self.reporter.close()
            if options.checkpoint is not None:
                self._try_checkpoint()
        return self._result(status)

    def _attach_best_result(self, error: Exception) -> bool:
        """Attach the Result at the best point to ``error``; return True if a note was added."""
        missing = ""
        try:
            best_result = self._result(Status.ERROR)
        except Exception:  # noqa: BLE001 (the result may need the failing evaluation)
            # On the streamed path J at the best point is built again for the
            # gradient, and that build may fail the same way.
            try:
                best_result = self._result(Status.ERROR, with_jacobian=False)
            except Exception:  # noqa: BLE001
                return False
            missing = "; its jac is None and grad NaN, since J failed there too"
        try:
            error.best_result = best_result
        except AttributeError:  # an exception type that takes no new attributes
            return False
        if not hasattr(error, "add_note"):  # Python 3.10
            return False
        error.add_note(
            "svensolve: the best point so far is in this exception's best_result "
            f"(cost {self.best.cost:.6e} after {_iterations(self.nit)}{missing})"
        )
        return True

    def _start_residual(self, x0: np.ndarray, saved: dict | None) -> np.ndarray:
        """r(x0), or the residual saved in a checkpoint when resuming."""
        if saved is None or not saved["residual"].shape[0]:
            self.nfev += 1
            return self.evaluator.residual(x0)
        expected = self.evaluator.blocks[-1].stop
        if saved["residual"].shape[0] != expected:
            raise ValueError(
                f"resume: the checkpoint has {saved['residual'].shape[0]} residuals but "
                f"this problem has {expected}"
            )
        # The saved residual, not a new evaluation: a batched trial evaluation
        # can differ from a single one in the last bit.
        residual = saved["residual"].astype(x0.dtype)
        if not self.options.resample:  # a resampled run saved r at its last draw's points
            self._check_same_problem(residual, self.evaluator.residual(x0))
        return residual

    @staticmethod
    def _check_same_problem(saved: np.ndarray, fresh: np.ndarray) -> None:
        """Raise ValueError when the problem's residual at the checkpoint's x is not the saved one.

        The check is not counted in nfev, so a resumed solve keeps the counts
        of an uninterrupted one.
        """
        scale = max(float(np.linalg.norm(saved)), float(np.finfo(saved.dtype).tiny))
        difference = float(np.linalg.norm(fresh - saved))
        # Far above the last-bit differences of a batched evaluation, even in float32.
        tolerance = max(1e-6, 1e3 * float(np.finfo(saved.dtype).eps))
        if not difference <= tolerance * scale:
            raise ValueError(
                f"resume: the residual at the checkpoint's point differs from the saved one "
                f"(relative difference {difference / scale:.2e}), so the problem changed "
                "since the checkpoint was written; start a new solve without resume"
            )

    def _configure(self, x0: np.ndarray, n: int, p: int) -> None:
        """Settings that depend on the problem's shape and dtype, and empty run state."""
        options = self.options
        self.box = options.box
        self.active = np.zeros(x0.size, dtype=int)
        self.loss = BlockLoss(self.evaluator.blocks, RobustLoss(options.loss, options.f_scale))
        self.rtol = options.rtol if options.rtol is not None else default_rtol(n, p, x0.dtype)
        self.scale_columns = _use_column_scaling(options.x_scale, n, p)
        self.fixed_column_scale = None
        if not isinstance(options.x_scale, str):
            # Fixed characteristic scales: the step is taken in x / x_scale.
            self.fixed_column_scale = 1.0 / np.asarray(options.x_scale, dtype=x0.dtype)
        self.control = _choose_control(options.control, n, p)
        self.cutoffs = self._cutoff_ladder(n, p, x0.dtype)
        if self.control == "trust-region" and options.lr != 1.0:
            user_warnings.warn(
                f"lr={options.lr!r} has no effect with the trust-region control, whose "
                "damping sets the step; use control='fixed' or 'line-search' for a step length"
            )
        self.fallback = options.control == "auto" and self.control == "line-search"
        self.short_steps = 0
        self.controls_used = [self.control]
        self.tolerances = _clamp_tolerances(options, x0.dtype)
        self.reporter = ProgressReporter(options.progress, options.verbose, options.time_limit,
                                         options.max_iter)
        self.control_state, self.column_scale = None, None
        # (controls used, nit, nfev, njev, history rows, restart cost, short
        # steps, rejected draws) at the last place a resume can start from.
        self.committed = None
        self.checkpoint_failed = False  # warned about a failed checkpoint write
        self.last_singular_values = np.array([])
        self.resample = options.resample
        self.rejected_draws = 0  # rejected steps in a row
        # Cost at which the stalled control was started afresh, until the next
        # accepted step; None when no restart is pending.
        self.restart_cost = None
        if self.resample and self.evaluator.sample_points is None:
            raise ValueError("resample=True needs a Problem whose conditions have a sampler")
        if self.resample and options.max_iter is None and options.max_nfev is None and (
            options.time_limit is None
        ):
            raise ValueError(
                "resample=True turns the termination tests off, so it needs a budget: "
                "max_iter, max_nfev or time_limit; all are None"
            )

    def _cutoff_ladder(self, n: int, p: int, dtype) -> tuple:
        """Cutoffs the line search tries at each step, largest first.

        With the default rtol and exact factors of a dense J, the ladder runs
        from the default 1e-7 down to rounding level ``eps * max(n, p)``
        (`svensolve.control.cutoff_ladder`). The 1e-7 direction makes fast
        early progress. But on the 2D Poisson PINN it alone stalled near a
        cost of 1e-12 (relative L2 error 3e-7 from one initial network, 3e-4
        from two others). The ladder reached errors of 1e-12 to 2e-12.
        Operator paths and randomized factors resolve small singular values
        only to about ``sqrt(eps) * s_max``, so they
        keep the single cutoff, as does an rtol given by the caller. A rank of
        min(n, p) or more cuts nothing, so it keeps the ladder.
        """
        options = self.options
        svd, rank = self._dense_factorisation()
        exact = (
            (self.evaluator.choice is None or self.evaluator.choice.method == "dense")
            and svd in ("auto", "exact")
            and (rank is None or rank >= min(n, p))
            and options.rtol is None
        )
        if not exact:
            return (self.rtol,)
        return ctl.cutoff_ladder(self.rtol, float(np.finfo(dtype).eps) * max(n, p))

    def _smallest_cutoff(self) -> float:
        """Return the rtol of the termination tests: the smallest one the steps may use."""
        return self.cutoffs[-1] if self.control == "line-search" else self.rtol

    def _try_checkpoint(self) -> None:
        """Write a checkpoint; a failure warns once per solve and the solve goes on.

        A full disk or a removed directory must not end a long run: the best
        point stays in memory and the next write may succeed.
        """
        try:
            self._save_checkpoint()
        except OSError as error:
            logger.info("could not write checkpoint %r: %s", self.options.checkpoint, error)
            if not self.checkpoint_failed:
                self.checkpoint_failed = True
                user_warnings.warn(
                    f"checkpoint {self.options.checkpoint!r} could not be written: {error}; "
                    "the solve goes on and tries again at the next checkpoint"
                )

    def _loop(self, point: _Point, jacobian: np.ndarray) -> Status:
        options = self.options
        if self.resample:
            # Factors at the Problem's own points would also raise the running
            # column scales, so a resumed run would drift from an uninterrupted one.
            point, work, work_jacobian, factors = self._draw_sample(point)
        else:
            work, work_jacobian, factors = self._factor_at(point, jacobian)
        drawn = True
        state = self.control_state
        if state is None:
            state = self._init_control(work, factors)
        while True:
            if self.resample and not drawn:
                point, work, work_jacobian, factors = self._draw_sample(point)
            drawn = False
            self._commit(point, state)
            self._maybe_checkpoint()
            # With a new sample each step the termination tests measure noise.
            status = None if self.resample else self._converged_at(work, work_jacobian, factors)
            if status is not None:
                return status
            status = self._budget_exhausted()
            if status is not None:
                return status

            proposal = ctl.propose(
                self.control, factors, work.residual, state, options.rank,
                self.cutoffs if self.control == "line-search" else self.rtol,
            )
            steps, predicted = self._fit_budget(proposal.steps), proposal.predicted
            trials = (point.x[None, :] + steps).astype(point.x.dtype, copy=False)
            if self.box is not None:
                trials = bounds.project(self.box, trials)
                projected = _model_reduction(work, work_jacobian, trials - point.x[None, :])
                predicted = np.concatenate([projected, predicted[trials.shape[0]:]])
            trial_residuals = self.evaluator.trial_residuals(trials)
            self.nfev += trials.shape[0]
            trial_costs = np.array([self.loss.cost(r) for r in trial_residuals])
            # Trials cut by max_nfev count as failed, so each rung keeps its grid.
            trial_costs = np.concatenate(
                [trial_costs, np.full(proposal.steps.shape[0] - trials.shape[0], np.inf)]
            )
            # A zero predicted reduction gives an infinite gain ratio, and the
            # damping may grow past float range before the solve gives up:
            # both are handled, so their overflow warnings would only alarm.
            with np.errstate(over="ignore"):
                index, next_state, gain_ratio = ctl.update(
                    self.control, state, point.cost, trial_costs, predicted, proposal
                )
            index = int(index)
            new_jacobian = None
            if index >= 0 and not self.resample:
                new_jacobian = self.evaluator.jacobian(trials[index])
                self.njev += 1
                if not _is_finite(new_jacobian):
                    # A finite-difference J can reach past the region where the
                    # residual is finite: step back as from a non-finite trial.
                    logger.info("non-finite Jacobian at the trial point; the step is rejected")
                    rejected = np.full_like(trial_costs, np.inf)
                    with np.errstate(over="ignore"):
                        index, next_state, gain_ratio = ctl.update(
                            self.control, state, point.cost, rejected, predicted, proposal
                        )
                    index = int(index)
            if self.options.param_fraction < 1.0 and self.control == "trust-region":
                # Each step moves other parameters, so a radius sized by the
                # last step would wrongly cut the next one. The damping alone acts.
                next_state = next_state._replace(step_length=np.inf)
            state = next_state
            self.nit += 1

            if index < 0:
                self._record(point, proposal, 0, state, gain_ratio, accepted=False)
                self.rejected_draws += 1
                fraction = self.options.param_fraction
                if fraction < 1.0 and self.rejected_draws <= np.ceil(3.0 / fraction):
                    # The drawn parameters may be optimal already: draw others
                    # (the iteration count seeds the draw) before giving up.
                    factors = self._factor(work_jacobian)
                    continue
                if self._nfev_spent() or not self._cannot_progress(point, factors, state):
                    # A batch cut short by max_nfev is no sign of a stall: the
                    # budget test at the top of the loop ends the solve.
                    continue
                rescued = self._undamped_rescue(point, work, factors)
                if rescued is None and self.restart_cost is None:
                    # Each rejection shortens the grids or the radius from where
                    # they were, so lengths above those may never have been
                    # tried here: start the control afresh once before giving up.
                    self._restart_control(point)
                    state = self._init_control(work, factors)
                    continue
                if rescued is None:
                    return self._status_without_progress(work, work_jacobian, factors)
                point, jacobian = rescued
                work, work_jacobian, factors = self._factor_at(point, jacobian)
                state = self._init_control(work, factors)
                continue

            self.rejected_draws = 0
            restart_cost, self.restart_cost = self.restart_cost, None
            state = self._maybe_fall_back(state, factors)
            point = _Point(trials[index], trial_residuals[index], float(trial_costs[index]))
            if self.resample:
                # The next iteration draws a sample and evaluates J there.
                self.best = point
                self._record(point, proposal, index, state, gain_ratio, accepted=True)
                continue
            jacobian = new_jacobian
            self._offer_best(point, jacobian)
            # Recorded before the factorisation, the longest part of an
            # iteration, so a Ctrl-C there still leaves the step in the history.
            self._record(point, proposal, index, state, gain_ratio, accepted=True)
            self._commit(point, state)
            small_gain = restart_cost is not None and (
                point.cost > (1 - RESTART_MIN_GAIN) * restart_cost
            )
            # A batch cut short by max_nfev does not show the gain a whole batch would find.
            if small_gain and not self._nfev_spent():
                # Near rounding level a fresh control finds only gains of noise size.
                return self._status_without_progress(*self._factor_at(point, jacobian))
            if self._time_is_up():
                # Factors at the new point would only serve an iteration that
                # the budget no longer allows, and on a large J they take longest.
                return Status.TIME_LIMIT
            work, work_jacobian, factors = self._factor_at(point, jacobian)

    def _commit(self, point: _Point, state) -> None:
        """Mark a place to resume from: the point, its control state, counters and history.

        A Ctrl-C can come mid-iteration, after the counters and the history
        have moved on. The checkpoint then writes this place, and a resumed
        solve repeats the unfinished iteration as an uninterrupted one would.
        """
        self.point, self.control_state = point, state
        self.committed = self._resume_place()

    def _resume_place(self) -> tuple:
        """Return the controls used, nit, nfev, njev, history length and step counts now."""
        return (" -> ".join(self.controls_used), self.nit, self.nfev, self.njev,
                len(self.history), self.restart_cost, self.short_steps, self.rejected_draws)

    def _nfev_spent(self) -> bool:
        return not self._nfev_room(1)

    def _nfev_room(self, count: int) -> bool:
        """Return whether max_nfev allows ``count`` more residual evaluations."""
        limit = self.options.max_nfev
        return limit is None or self.nfev + count <= limit

    def _time_is_up(self) -> bool:
        limit = self.options.time_limit
        return limit is not None and self.elapsed() >= limit

    def _restart_control(self, point: _Point) -> None:
        """Start the step control afresh: an automatic one goes back to the line search.

        The trust region that a stalled line search hands over to steps with
        the largest cutoff alone, and it can stall where the ladder's smaller
        cutoffs still lower the cost. Measured on a float32 1-D Poisson PINN:
        the trust region stopped at a cost of 1.7e-4, and the line search
        then went on to 2.1e-8.
        """
        self.restart_cost = point.cost
        if self.fallback and self.control != "line-search":
            self.control, self.short_steps = "line-search", 0
            self.controls_used.append(self.control)
        logger.info("no step lowers the cost; restarting the %s", self.control)

    def _offer_best(self, point: _Point, jacobian) -> None:
        """Keep ``point`` and its Jacobian as the best point if its cost is lower."""
        if point.cost < self.best.cost:
            self.best = point
            self.best_jacobian, self.best_jacobian_point = jacobian, point

    def _init_control(self, work: _Point, factors):
        """Return the first control state at ``work``, with the trust radius of the scaled point.

        The radius is ``INITIAL_RADIUS * ||D x||`` with D the column scales
        (1 without scaling), or ``INITIAL_RADIUS`` at x = 0, as scipy's "trf"
        starts. With random parameter subsets there is no radius, as in the
        loop.
        """
        radius = np.inf
        if self.options.param_fraction == 1.0:
            scale = 1.0 if self.column_scale is None else self.column_scale
            length = float(np.linalg.norm(scale * work.x))
            radius = ctl.INITIAL_RADIUS * (length if length > 0 else 1.0)
        return ctl.init_control(self.control, factors, self.options.lr, len(self.cutoffs), radius)

    def _factor_at(self, point: _Point, jacobian):
        """Return the working point, its Jacobian and their factors at a new point."""
        work, work_jacobian = self._working_problem(point, jacobian)
        factors = self._factor(work_jacobian)
        self.last_singular_values = factors.s
        return work, work_jacobian, factors

    def _undamped_rescue(self, point: _Point, work: _Point, factors):
        """Try the undamped step after the control gave up; return the new point and J, or None.

        With badly scaled columns and no column scaling, the damping is sized
        by s_max^2 and shuts out the directions of the small singular values.
        The damped steps then stall far from the minimum, while the
        Gauss-Newton step, exact for a linear residual, still lowers the cost.
        Measured on a 'tall' linear system with column scales 1e6 and 1e-6:
        without this rescue the solve stopped at cost 5.76 against lstsq's 4.11.
        """
        if self._nfev_spent():
            return None
        gauss_newton = sven_direction(
            factors, work.residual, 1.0, self.options.rank, self._smallest_cutoff()
        )
        x = bounds.project(self.box, point.x + gauss_newton.step)
        residual = self.evaluator.residual(x)
        self.nfev += 1
        cost = self.loss.cost(residual)
        if not (np.isfinite(cost) and cost < point.cost):
            return None
        logger.info("the control stalled; the undamped step lowered the cost to %g", cost)
        point = _Point(x, residual, cost)
        jacobian = self.evaluator.jacobian(x)
        self.njev += 1
        self._offer_best(point, jacobian)
        return point, jacobian

    def _draw_sample(self, point: _Point):
        """Draw the iteration's collocation points; return the point, its problem and factors.

        The key is ``fold_in(PRNGKey(seed), nit)``, so a resumed solve draws
        the same samples as an uninterrupted one.
        """
        key = jax.random.fold_in(jax.random.PRNGKey(self.options.seed), self.nit)
        self.evaluator.set_points(self.evaluator.sample_points(key))
        residual = self.evaluator.residual(point.x)
        jacobian = self.evaluator.jacobian(point.x)
        self.nfev += 1
        self.njev += 1
        point = _Point(point.x, residual, self.loss.cost(residual))
        return (point, *self._factor_at(point, jacobian))

    def _maybe_fall_back(self, state, factors):
        """Hand a stalled automatic line search over to the trust region.

        On the Poisson PINN the line search takes steps of length 2^-9 or
        more before it converges; on Kovasznay flow and the heat inverse
        problem the undamped step is 1e4 to 1e5 times the parameters' norm
        and the search crawls at lengths near 2^-24 while the damped trust
        region converges. Three accepted steps shorter than 2^-16 in a row
        are taken as that second case.
        """
        if not self.fallback or self.control != "line-search":
            return state
        short = float(state.step_length) < 2.0**-FALLBACK_LOG2_LENGTH
        self.short_steps = self.short_steps + 1 if short else 0
        if self.short_steps < FALLBACK_SHORT_STEPS:
            return state
        logger.info("line search stalled at step length %.1e; switching to the trust region",
                    float(state.step_length))
        self.control = "trust-region"
        self.controls_used.append(self.control)
        return ctl.init_control(self.control, factors, self.options.lr)

    def _working_problem(self, point: _Point, jacobian: np.ndarray):
        """Return the point and J that the step uses.

        Rows are rescaled by a robust loss, and the columns of parameters held
        on a bound are set to zero.
        """
        residual, jacobian = self.loss.scale(point.residual, jacobian)
        if self.box is not None:
            self.active = bounds.active_mask(self.box, point.x, transpose_times(jacobian, residual))
            jacobian = scale_columns(jacobian, (self.active == 0).astype(point.x.dtype))
        if is_operator(jacobian):
            jacobian.expect_residual(residual)  # for the gradient test
        return point._replace(residual=residual), jacobian

    def _maybe_checkpoint(self) -> None:
        every = self.options.checkpoint_every
        if self.options.checkpoint is None or not every or self.nit == 0 or self.nit % every:
            return
        self._try_checkpoint()

    def _save_checkpoint(self) -> None:
        """Write the current point, best point, control state, counters and history."""
        state = self.control_state
        path, nit, nfev, njev, rows, restart_cost, short_steps, rejected_draws = (
            self.committed or self._resume_place()
        )
        arrays = {
            "x": self.point.x,
            "residual": self.point.residual,
            "best_x": self.best.x,
            # The control in use, and the path of controls that led to it.
            "control": np.array(path.split(" -> ")[-1]),
            "control_path": np.array(path),
            "control_state": np.array(
                [np.nan] * 3 if state is None
                else [float(v) for v in (*state[:3], *state.lower_lengths)]
            ),
            "column_scale": np.array([]) if self.column_scale is None else self.column_scale,
            "counters": np.array([nit, nfev, njev]),
            "restart_cost": np.array(np.nan if restart_cost is None else restart_cost),
            # The fallback to the trust region and the redraws of a parameter
            # subset count steps in a row, which a resumed run must continue.
            "step_counts": np.array([short_steps, rejected_draws]),
            # The rounding-level test is relative to the cost at the very start.
            "start_cost": np.array(self.start_cost),
            "elapsed": np.array(self.elapsed()),
        }
        for key, values in history_arrays(self.history[:rows]).items():
            arrays[f"history:{key}"] = values
        checkpoint.save(self.options.checkpoint, arrays)

    def _restore_counters(self, saved: dict, x0: np.ndarray) -> np.ndarray:
        """Counters, history and clock from a checkpoint; returns the point to restart at."""
        x = saved["x"].astype(x0.dtype)
        if x.shape != x0.shape:
            raise ValueError(
                f"resume: the checkpoint has {x.size} parameters but params has {x0.size}"
            )
        self.nit, self.nfev, self.njev = (int(v) for v in saved["counters"])
        self.started = time.perf_counter() - float(saved["elapsed"])
        keys = [key.split(":", 1)[1] for key in saved if key.startswith("history:")]
        count = len(saved["history:cost"]) if "history:cost" in saved else 0
        self.history = [
            {key: saved[f"history:{key}"][i].item() for key in keys} for i in range(count)
        ]
        return x

    def _restore_state(self, saved: dict) -> None:
        """Control state, column scales and best point from a checkpoint."""
        if self.options.control == "auto":
            self.control = str(saved["control"])  # a fallback may have happened before
            path = str(saved["control_path"]) if "control_path" in saved else self.control
            self.controls_used = path.split(" -> ")
        if str(saved["control"]) != self.control:
            raise ValueError(
                f"resume: the checkpoint used control {str(saved['control'])!r}, "
                f"this solve uses {self.control!r}"
            )
        values = saved["control_state"]
        if not np.any(np.isnan(values)):
            values = [float(v) for v in values]
            self.control_state = ctl.ControlState(*values[:3], tuple(values[3:]))
        if saved["column_scale"].size:
            self.column_scale = saved["column_scale"]
        restart_cost = float(saved.get("restart_cost", np.nan))
        self.restart_cost = None if np.isnan(restart_cost) else restart_cost
        if "step_counts" in saved:
            self.short_steps, self.rejected_draws = (int(v) for v in saved["step_counts"])
        self.start_cost = float(saved["start_cost"])
        best_x = saved["best_x"].astype(self.point.x.dtype)
        # Not counted: the interrupted run counted this point when it found
        # it, and counting it again would end a max_nfev budget one early.
        residual = self.evaluator.residual(best_x)
        cost = self.loss.cost(residual)
        if cost < self.best.cost:
            self.best = _Point(best_x, residual, cost)

    def _factor(self, jacobian):
        """Truncated SVD of J, of J D^-1 when columns are scaled (then V becomes D^-1 V).

        With column scaling D = diag(max over iterations of the column norms
        of J), as MINPACK does, or D = 1 / x_scale for given scales, the step
        no longer depends on the units of each parameter, and a parameter
        whose column is tiny is not cut by the relative cutoff. Folding D^-1
        into V keeps the step formula ``-V f(s) U^T r`` and the predicted
        reduction unchanged.
        """
        if not self.scale_columns:
            return self._factor_unscaled(jacobian)
        if self.fixed_column_scale is not None:
            self.column_scale = self.fixed_column_scale
        else:
            norms = column_norms(jacobian)
            if norms is None:
                message = (f"the {jacobian.method} Jacobian has no column norms, so "
                           f"x_scale={self.options.x_scale!r} is ignored and columns are not "
                           "scaled; give x_scale as an array or use jacobian='streamed'")
                if self.options.x_scale == "jac":
                    user_warnings.warn(message)
                logger.info(message)
                self.scale_columns = False
                return self._factor_unscaled(jacobian)
            if self.column_scale is None:
                self.column_scale = np.where(norms > 0, norms, 1.0)
            else:
                self.column_scale = np.maximum(self.column_scale, norms)
        scaled = scale_columns(jacobian, 1.0 / self.column_scale)
        u, s, v = self._factor_unscaled(scaled)
        return Factors(u, s, v / self.column_scale[:, None])

    def _factor_unscaled(self, jacobian):
        """Factors of J, or of its columns in this iteration's random parameter subset."""
        subset = self._parameter_subset(jacobian.shape[1])
        if subset is None:
            return self._factor_method(jacobian)
        if is_operator(jacobian):
            mask = np.zeros(jacobian.shape[1], dtype=jacobian.dtype)
            mask[subset] = 1.0
            return self._factor_method(scale_columns(jacobian, mask))
        u, s, v_subset = self._factor_method(jacobian[:, subset])
        v = np.zeros((jacobian.shape[1], s.size), dtype=v_subset.dtype)
        v[subset] = v_subset
        return Factors(u, s, v)

    def _parameter_subset(self, p: int) -> np.ndarray | None:
        """Indices of the parameters that this iteration's step may move (None: all).

        The Sven paper's random parameter fraction: single entries, or whole
        leaves of the parameter pytree, drawn from ``(seed, nit)`` until the
        fraction is reached.
        """
        fraction = self.options.param_fraction
        if fraction >= 1.0:
            return None
        rng = np.random.default_rng([self.options.seed, self.nit])
        wanted = max(1, int(np.ceil(fraction * p)))
        leaves = self.options.param_leaves
        if leaves is None:
            return np.sort(rng.choice(p, size=wanted, replace=False))
        chosen, total = [], 0
        for index in rng.permutation(len(leaves)):
            start, stop = leaves[index]
            chosen.append(np.arange(start, stop))
            total += stop - start
            if total >= wanted:
                break
        return np.sort(np.concatenate(chosen))

    def _factor_method(self, jacobian):
        """Factors by the method that the Jacobian path and ``svd=`` select."""
        options, choice = self.options, self.evaluator.choice
        if is_operator(jacobian):
            return operator_factors(
                jacobian, choice.rank, choice.svd, options.seed, choice.memory_limit // 4,
                rtol=self.rtol,
            )
        svd, rank = self._dense_factorisation()
        if svd in ("gram", "krylov", "single-pass"):
            rank = min(jacobian.shape) if rank is None else rank
            return operator_factors(ArrayOperator(jacobian), rank, svd, options.seed)
        return truncated_svd(jacobian, rank, svd, options.seed)

    def _dense_factorisation(self) -> tuple:
        """Return the (svd, rank) of a dense J: the path choice's, which may replace svd="auto"."""
        choice = self.evaluator.choice
        if choice is not None and choice.method == "dense":
            return choice.svd, choice.rank
        return self.options.svd, self.options.rank

    def _converged_at(self, point, jacobian, factors) -> Status | None:
        """Termination tests at the current point, before a step is taken.

        ftol and xtol are applied to the undamped Gauss-Newton step on the
        kept subspace: the reduction it predicts and its size per parameter.
        A damped or shortened step that happens to be small shows nothing
        about convergence, so the taken step is not tested. When a test
        holds, that last undamped step is tried once and kept if it lowers
        the cost, which adds digits at the price of one evaluation.
        """
        if point.cost == 0.0:
            return Status.GTOL
        if not np.any(factors.s > 0):
            # With every moving parameter held on a bound, the projected
            # gradient is zero: a first-order (KKT) point, not a flat one.
            return Status.GTOL if np.any(self.active) else Status.ZERO_JACOBIAN
        gtol_holds = self._gtol_holds(point, jacobian)

        gauss_newton = sven_direction(
            factors, point.residual, 1.0, self.options.rank, self._smallest_cutoff()
        )
        ftol, xtol = self.tolerances["ftol"], self.tolerances["xtol"]
        # None switches a test off, as in scipy.
        ftol_holds = ftol is not None and gauss_newton.predicted_reduction <= ftol * point.cost
        xtol_holds = xtol is not None and np.all(
            np.abs(gauss_newton.step) <= xtol * (xtol + np.abs(point.x))
        )
        if self.options.param_fraction < 1.0:
            # A step on a random subset can be small while the full one is not.
            ftol_holds = xtol_holds = False
        if not (gtol_holds or ftol_holds or xtol_holds):
            return None
        self._polish(point, gauss_newton.step, jacobian)
        if gtol_holds:
            return Status.GTOL
        if self._cut_by_choice(jacobian, gauss_newton.rank) and not self._gtol_holds_at_best():
            # Converged only on the kept subspace while r still leans on a cut
            # direction: calling this success would hide a wrong result.
            return Status.ROUNDING if self._at_rounding_level(point) else Status.PLATEAU
        if ftol_holds and xtol_holds:
            return Status.FTOL_XTOL
        return Status.FTOL if ftol_holds else Status.XTOL

    def _gtol_holds(self, point: _Point, jacobian: np.ndarray) -> bool:
        """Return whether scipy's "lm" gtol test holds at ``point``."""
        # sqrt(2 cost) is ||r|| for the linear loss and its robust analogue otherwise.
        projection = largest_column_projection(jacobian, point.residual)
        gtol = self.tolerances["gtol"]
        return gtol is not None and bool(projection <= gtol * np.sqrt(2.0 * point.cost))

    def _gtol_holds_at_best(self) -> bool:
        """The gtol test at the best point, after the polish step may have moved it.

        A rank-deficient fit (parameters that enter only as a product) passes
        xtol before gtol; the polish step then usually completes it, which
        one more Jacobian evaluation confirms.
        """
        if self.best_jacobian_point is not self.best:
            self.best_jacobian = self.evaluator.jacobian(self.best.x)
            self.best_jacobian_point = self.best
            self.njev += 1
        return self._gtol_holds(*self._working_problem(self.best, self.best_jacobian))

    def _budget_exhausted(self) -> Status | None:
        options = self.options
        if self._nfev_spent():
            return Status.MAX_NFEV
        if options.max_iter is not None and self.nit >= options.max_iter:
            return Status.MAX_ITER
        if self._time_is_up():
            return Status.TIME_LIMIT
        return None

    def _fit_budget(self, steps):
        """Drop trial steps that would exceed ``max_nfev``, so it is a hard budget."""
        if self.options.max_nfev is None:
            return steps
        return steps[: self.options.max_nfev - self.nfev]

    def _polish(self, point: _Point, step: np.ndarray, jacobian) -> None:
        """Try the final undamped step once; keep it unless it raises the cost.

        Near a minimum the cost is flat to rounding, so an increase within
        the rounding of the cost still counts as no increase, and the
        Gauss-Newton step, which is exact on a linear problem, is kept. That
        rounding has two parts: the sum of squares (n * eps relative) and the
        residual itself. r = model - data carries errors of about eps times
        the model's size, estimated by ``||J x||``, which move the cost by
        about ``||r|| * eps * ||J x||``. A one-parameter fit with |r| = 0.018
        and |b| = 0.6 lost 4e-11 in x without the second part.
        """
        if self._nfev_spent():
            return
        x = bounds.project(self.box, point.x + step)
        residual = self.evaluator.residual(x)
        self.nfev += 1
        cost = self.loss.cost(residual)
        eps = np.finfo(residual.dtype).eps
        model_size = float(np.linalg.norm(times(jacobian, point.x)))
        rounding = residual.size * eps * self.best.cost
        rounding += 4.0 * eps * np.sqrt(2.0 * self.best.cost) * model_size
        # For a network ||J x|| is no model size, and the bound above let a
        # float32 PINN end 4% above its best cost: cap the rise.
        rounding = min(rounding, POLISH_MAX_RISE * self.best.cost)
        accepted = bool(np.isfinite(cost) and cost <= self.best.cost + rounding)
        self.reporter.polish(cost, accepted)
        if accepted:
            self.best = _Point(x, residual, cost)

    def _cut_by_choice(self, jacobian, rank: int) -> bool:
        """Return whether the step's cutoff dropped directions that rounding did not force."""
        # Columns held on a bound are zero, so they are not directions the cutoff dropped.
        free = jacobian.shape[1] - int(np.count_nonzero(self.active))
        # A ladder ends at rounding level, so its steps cut no direction by
        # choice. The trust region it may fall back to cuts only to regularise.
        # A fixed or trust-region control chosen by the caller steps with rtol alone.
        ladder = len(self.cutoffs) > 1 and (self.control == "line-search" or self.fallback)
        return rank < min(jacobian.shape[0], free) and not ladder

    def _status_without_progress(self, point: _Point, jacobian, factors) -> Status:
        """Converged to working precision, or NO_PROGRESS.

        When no step lowers the cost, the point counts as converged (FTOL) if
        the undamped model predicts a relative reduction below sqrt(eps):
        residuals that are differences of large numbers (model minus data)
        carry rounding errors far above eps * |r|, so such a gain cannot be
        realised. It also counts as converged (XTOL) if the undamped step is
        below sqrt(eps) per parameter: near a minimum the cost changes with
        the square of the distance, so it cannot resolve parameters more
        finely than that. Measured on NIST Thurber start 2: 7.4 digits, a
        predicted relative reduction of 9e-15 that no step achieved.
        """
        gauss_newton = sven_direction(
            factors, point.residual, 1.0, self.options.rank, self._smallest_cutoff()
        )
        eps = np.finfo(point.x.dtype).eps
        resolution = np.sqrt(eps)
        status = Status.NO_PROGRESS
        # A test switched off with None is not reported as the reason to stop.
        bound = resolution * (resolution + np.abs(point.x))
        small_step = np.all(np.abs(gauss_newton.step) <= bound)
        # On a random subset of the parameters the step and its gain measure
        # only that subset, so these tests stay off, as in `_converged_at`.
        subset = self.options.param_fraction < 1.0
        if small_step and self.tolerances["xtol"] is not None and not subset:
            status = Status.XTOL
        small_gain = gauss_newton.predicted_reduction <= resolution * point.cost
        if small_gain and self.tolerances["ftol"] is not None and not subset:
            status = Status.FTOL
        if status == Status.NO_PROGRESS and (
            self._at_rounding_level(point) or self._resolved_part_is_noise(point, factors)
        ):
            status = Status.ROUNDING
        if status == Status.NO_PROGRESS:
            return status
        # The damped steps failed on rounding, but the undamped one may still
        # move x closer: in float32 it recovers the last digits.
        self._polish(point, gauss_newton.step, jacobian)
        cut = self._cut_by_choice(jacobian, gauss_newton.rank)
        if status != Status.ROUNDING and cut and not self._gtol_holds_at_best():
            # As in `_converged_at`: small steps on the kept subspace, while r
            # still leans on a direction the cutoff dropped, are a plateau.
            return Status.PLATEAU
        return status

    def _at_rounding_level(self, point: _Point) -> bool:
        """Return whether ||r|| fell below ``ROUNDING_SHARE * eps`` times its start value.

        A residual that can vanish (a PINN, an interpolating fit) ends as
        rounding noise whose direction is random, so the gtol test fails and
        the cut directions seem to matter. The getting-started PINN stopped at
        89 eps, the 2D Poisson PINN at about 4,000 eps of its start norm.
        """
        eps = float(np.finfo(point.x.dtype).eps)
        return point.cost <= (ROUNDING_SHARE * eps) ** 2 * self.start_cost

    def _resolved_part_is_noise(self, point: _Point, factors) -> bool:
        """Return whether r is rounding noise on every singular direction the SVD resolves.

        The rest of r then lies on singular values within `RESOLVED_SHARE`
        of the rounding floor ``eps * max(n, p) * s_max``, whose directions
        the SVD cannot resolve, so no step can lower it. A warm start from a
        converged PINN ends there, with no larger start residual to compare with.
        """
        values = factors.s
        # With a robust loss the point contains the rescaled residual, which the
        # raw residuals sampled for the noise would not match.
        if not self.loss.is_linear or values.size == 0 or not values[0] > 0:
            return False
        eps = np.finfo(point.x.dtype).eps
        floor = RESOLVED_SHARE * eps * max(point.residual.size, point.x.size) * values[0]
        resolved = factors.u[:, values > floor]
        noise = self._residual_noise(point)
        if noise is None:
            return False
        return float(np.linalg.norm(resolved.T @ point.residual)) <= NOISE_MARGIN * noise

    def _residual_noise(self, point: _Point) -> float | None:
        """Estimate the norm of the rounding noise in r near x; None without nfev budget.

        Costs NOISE_ORDER residual evaluations. The estimate assumes that
        the rounding errors at neighbouring points are independent. Then the
        k-th differences of r along a line of spacing h are noise of variance
        binomial(2k, k) sigma^2 per entry. The smooth part of r adds only h^k
        times a k-th derivative.
        """
        if not self._nfev_room(NOISE_ORDER):
            return None
        x = point.x
        eps = np.finfo(x.dtype).eps
        signs = np.where(np.arange(x.size) % 2 == 0, 1.0, -1.0).astype(x.dtype)
        # Each entry moves in its own units, so a large parameter does not make
        # the others move far enough for the curvature of r to show. Zero
        # entries stay, which only lowers the estimate.
        offsets = NOISE_SPACING * eps * np.abs(x) * signs
        trials = np.stack([x + j * offsets for j in range(1, NOISE_ORDER + 1)])
        trials = np.stack([bounds.project(self.box, trial) for trial in trials])
        values = self.evaluator.trial_residuals(trials)
        self.nfev += NOISE_ORDER
        samples = np.vstack([point.residual[None, :], values])
        if not np.all(np.isfinite(samples)):
            return None
        differences = np.diff(samples, n=NOISE_ORDER, axis=0)[0]
        return math.sqrt(np.sum(differences**2) / math.comb(2 * NOISE_ORDER, NOISE_ORDER))

    def _cannot_progress(self, point: _Point, factors, state) -> bool:
        """Return whether the control has shrunk its step to nothing after rejections."""
        control = self.control
        if control == "trust-region":
            return float(state.damping) > 1e30 * float(factors.s[0]) ** 2
        if control == "line-search":
            lengths = (state.step_length, *state.lower_lengths)
            return max(float(v) for v in lengths) <= np.finfo(point.x.dtype).eps
        # A fixed step that gave a non-finite point would do so again.
        return True

    def _record(self, point: _Point, proposal, index, state, gain_ratio, accepted: bool) -> None:
        """Append a history row for the trial ``index`` of ``proposal`` (0 when rejected)."""
        blocks = self.evaluator.blocks
        condition_costs = condition_cost_map(blocks, point.residual)
        row = {
            "cost": point.cost,
            "time": self.elapsed(),
            "rank": int(proposal.ranks[index]),
            "rtol": float(proposal.cutoffs[index]),
            "damping": float(state.damping),
            "step_length": float(proposal.lengths[index]),
            "gain_ratio": float(gain_ratio),
            "nfev": self.nfev,
            "accepted": accepted,
        }
        if len(blocks) > 1:
            row.update({f"cost:{name}": value for name, value in condition_costs.items()})
        self.history.append(row)
        self.reporter.update(self.nit, self.best.cost, row)
        if self.options.callback is not None:
            iterate = Iterate(
                self.nit,
                point.x,
                point.cost,
                condition_costs,
                row["time"],
                row["rank"],
                row["damping"],
                row["step_length"],
                self.nfev,
            )
            self._call_back(iterate)

    def _call_back(self, iterate: Iterate) -> None:
        try:
            stop = self.options.callback(iterate)
        except StopIteration:
            raise _CallbackStop(None) from None
        except Exception as error:  # noqa: BLE001 (the best point must survive a buggy callback)
            logger.error("callback raised %r; returning the best point", error)
            raise _CallbackStop(error) from error
        if stop is True:
            raise _CallbackStop(None)

    def _result(self, status: Status, with_jacobian: bool = True) -> Result:
        """Return the Result at the best point; without J (jac None, grad NaN) if asked."""
        if self.resample and with_jacobian:
            # The last iterate, with its cost on the Problem's own points: costs
            # on different samples do not rank points.
            self.evaluator.set_points(None)
            residual = self.evaluator.residual(self.best.x)
            self.nfev += 1
            self.best = _Point(self.best.x, residual, self.loss.cost(residual))
        best = self.best
        jacobian, grad = None, np.full(best.x.shape, np.nan)
        if with_jacobian:
            jacobian = self.best_jacobian
            if self.best_jacobian_point is not best:
                jacobian = self.evaluator.jacobian(best.x)
                self.njev += 1
            # J^T rho'(z) r, the robust cost's gradient, on all parameters (bounds aside).
            scaled_residual, scaled_jacobian = self.loss.scale(best.residual, jacobian)
            grad = transpose_times(scaled_jacobian, scaled_residual)
            # As scipy's least_squares does, a robust loss returns the rescaled J,
            # whose J^T J is the Gauss-Newton model of the cost's Hessian.
            jacobian = scaled_jacobian
        message = MESSAGES[status]
        error = getattr(self, "callback_error", None)
        if error is not None:
            message = f"The callback raised {error!r}; the best point is returned."
        return Result(
            x=best.x,
            cost=best.cost,
            fun=best.residual,
            jac=jacobian,
            grad=grad,
            optimality=float(np.max(np.abs(grad))) if grad.size else 0.0,
            nfev=self.nfev,
            njev=self.njev,
            nit=self.nit,
            status=int(status),
            message=message,
            success=status > 0,
            history=history_arrays(self.history),
            singular_values=self.last_singular_values,
            rtol=self.rtol,
            control=" -> ".join(self.controls_used),
            active_mask=bounds.active_mask(self.box, best.x, grad),
            time=self.elapsed(),
            condition_costs=condition_cost_map(self.evaluator.blocks, best.residual),
            callback_error=error,
            jacobian_method=self._jacobian_method(),
        )

    def _jacobian_method(self) -> str:
        """Describe the Jacobian path and factorisation, with the reason for the choice."""
        choice = self.evaluator.choice
        if choice is None:
            return self.evaluator.jacobian_mode
        return f"{choice.method} ({choice.svd}): {choice.reason}"


def condition_cost_map(blocks, residual: np.ndarray) -> dict[str, float]:
    """Cost ``0.5 * ||r_block||^2`` of each condition, by name."""
    costs = {}
    for block in blocks:
        part = residual[block.start : block.stop]
        costs[block.name] = 0.5 * float(part @ part)
    return costs


class _CallbackStop(Exception):
    def __init__(self, error):
        super().__init__(error)
        self.error = error


def _is_finite(jacobian) -> bool:
    """Return whether every entry of a dense J is finite; operators are not checked."""
    return is_operator(jacobian) or bool(np.all(np.isfinite(jacobian)))


def _model_reduction(point: _Point, jacobian, steps: np.ndarray) -> np.ndarray:
    """Reduction of 0.5 ||r + J step||^2 for each row of ``steps`` (after projection)."""
    model = point.residual[None, :] + times(jacobian, steps.T).T
    return 0.5 * (point.residual @ point.residual) - 0.5 * np.sum(model**2, axis=1)


def _choose_control(control: str, n: int, p: int) -> str:
    """Resolve "auto": a trust region for fits (n >= p), a line search for PINNs (n < p).

    Measured on the 2D Poisson PINN (1,020 x 1,185, 30 s): the grid line
    search reached a relative L2 error of 3e-7 in 9 s, the trust region
    1e-4 in 60 s, since Nielsen's damping update shrinks too slowly once the
    cutoff already regularises. On the 54 NIST StRD cases the trust region
    needs fewer evaluations for the same digits. A line search chosen this
    way falls back to the trust region when it stalls (`_maybe_fall_back`).
    """
    if control != "auto":
        return control
    return "trust-region" if n >= p else "line-search"


def _use_column_scaling(x_scale, n: int, p: int) -> bool:
    """Scale Jacobian columns for "jac" or given scales, and for "auto" when n >= p.

    With fewer residuals than parameters (PINNs) the unscaled minimum-norm
    step is the Sven update, a natural gradient step in parameter space.
    """
    if not isinstance(x_scale, str):
        return True
    if x_scale == "auto":
        return n >= p
    return x_scale == "jac"


def _clamp_tolerances(options: Options, dtype) -> dict[str, float | None]:
    """Raise tolerances that ask for more than the dtype can resolve to its eps; keep None."""
    eps = float(np.finfo(dtype).eps)
    tolerances = {}
    for name in ("ftol", "xtol", "gtol"):
        value = getattr(options, name)
        if value is None:  # scipy's way to switch a test off
            tolerances[name] = None
            continue
        value = float(value)
        if value < eps:
            logger.info("%s=%g is below the %s eps; using %g", name, value, np.dtype(dtype), eps)
            value = eps
        tolerances[name] = value
    return tolerances


def _iterations(count: int) -> str:
    """Return "1 iteration" or "N iterations"."""
    return f"{count} iteration" + ("" if count == 1 else "s")
