"""Peer optimizers that the benchmarks run against svensolve, each within a wall-clock budget.

Every runner takes a svensolve `Problem`, a starting parameter pytree, a budget in
seconds and a metric of the flat parameter vector (``ravel_pytree`` order), and
returns a `PeerRun`: a `Trace` of (time, cost, metric) and the final parameters.
All runners minimize the same cost ``0.5 * ||problem.residual(params)||^2`` in the
dtype of the parameters (float64 once svensolve is imported).

Timing rules, the same for every runner:

- A warm-up calls each jitted function once before the timed run, so compilation
  is timed separately (``PeerRun.warmup_seconds``) and is not part of the budget.
- The budget and the trace's times leave out the time spent evaluating the metric
  and the cost for the trace (``Trace.monitoring_seconds``).
- The budget is checked between iterations, so a run can overrun it by one
  iteration. Adam checks it every `ADAM_CHECK_EVERY` steps, scipy's
  least_squares after every residual and Jacobian evaluation, and optimistix
  after every slice of `OPTIMISTIX_STEPS_PER_SLICE` steps.
"""

import dataclasses
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
from jax.flatten_util import ravel_pytree

# Iteration and evaluation limits high enough that only the budget stops a run.
UNLIMITED = 10**9

LBFGS_MEMORY = 50
# Steps between Adam's clock checks, which also offer the point to the trace.
# Checking only every 50 steps keeps the checks cheap beside the steps.
ADAM_CHECK_EVERY = 50
ADAM_LEARNING_RATE = 1e-3
# Share of the budget that the Adam-then-L-BFGS recipe gives to Adam.
ADAM_FRACTION = 0.2

# Step lengths that the Gauss-Newton baseline tries along each step: 1, 1/2, ..., 2^-30,
# the grid of the energy natural gradient recipe. A grid down to 1/128 stopped at the
# start of the PINNs, where the first length that lowers the cost is near 2^-16.
GAUSS_NEWTON_STEP_LENGTHS = tuple(2.0**-k for k in range(31))

# Steps of one optimistix.least_squares call, between two clock checks. Every call
# starts LM afresh, with its initial damping and no previous cost for its stopping
# test, so short slices handicap it. On the 2D Poisson PINN at width 8 and grid 6,
# 250 steps in slices of 5, 20, 50 and 250 reached relative L2 errors of 1.8e-2,
# 2.8e-3, 1.3e-3 and 1.3e-3 (optimistix 0.1.0). Long slices overrun the budget more,
# by up to one slice: optimistix forms the dense Jacobian by forward mode at every
# step, which took about 4 s per step at the default size on a loaded 2-core machine.
OPTIMISTIX_STEPS_PER_SLICE = 20
# optimistix's LM stops when both the step and the change of the residual are below
# atol + rtol * size. Tolerances near machine epsilon leave the stop to the budget.
OPTIMISTIX_RTOL = 1e-15
OPTIMISTIX_ATOL = 1e-15

# Earliest time after the start that a log-spaced trace records a point.
FIRST_SAMPLE_SECONDS = 1e-3


class NotApplicable(Exception):
    """Raised before the warm-up when a peer cannot run on the given problem."""


class BudgetExhausted(Exception):
    """Raised from inside scipy's least_squares to end the run when the budget is spent."""


@dataclasses.dataclass
class Trace:
    """Cost and metric against run time, sampled while an optimizer runs.

    Times are seconds since `start`, less the time spent recording. With
    ``sample_growth=None`` every offered point is recorded. With a factor g > 1, an
    offered point is recorded once the time reaches g times the time of the previous
    record (and at least `FIRST_SAMPLE_SECONDS`), so samples are evenly spaced in log
    time. The start, the last offered point and the returned point are always recorded.
    """

    cost_function: Callable
    metric: Callable
    sample_growth: float | None = None
    clock: Callable = time.perf_counter
    times: list = dataclasses.field(default_factory=list)
    costs: list = dataclasses.field(default_factory=list)
    metrics: list = dataclasses.field(default_factory=list)
    monitoring_seconds: float = 0.0
    started: float = 0.0
    next_sample_time: float = 0.0
    pending: tuple | None = None

    def start(self, x, cost: float | None = None) -> None:
        """Start the clock and record the starting point at time 0."""
        self.started = self.clock()
        self._record(0.0, x, cost)

    def elapsed(self) -> float:
        """Return the seconds since `start`, less the time spent recording."""
        return self.clock() - self.started - self.monitoring_seconds

    def offer(self, x, cost: float | None = None) -> float:
        """Record ``x`` if a sample is due, else keep it for `finish`; return the time."""
        elapsed = self.elapsed()
        if self.sample_growth is None or elapsed >= self.next_sample_time:
            self._record(elapsed, x, cost)
            self.pending = None
        else:
            # A copy, because scipy may overwrite its iterate in place.
            self.pending = (elapsed, np.array(x, dtype=np.float64), cost)
        return elapsed

    def finish(self, x, cost: float | None = None) -> None:
        """Record the last offered point if it was skipped, then ``x`` at the current time.

        ``x`` is the point that the optimizer returns, so every trace ends when its
        run ended, also a run that never improved on its start.
        """
        if self.pending is not None:
            self._record(*self.pending)
            self.pending = None
        self._record(self.elapsed(), x, cost)

    def time_to_reach(self, threshold: float) -> float | None:
        """Return the first recorded time the metric is at most ``threshold``, or None."""
        for seconds, metric in zip(self.times, self.metrics, strict=True):
            if metric <= threshold:
                return seconds
        return None

    def _record(self, elapsed: float, x, cost: float | None) -> None:
        recording_started = self.clock()
        if cost is None:
            cost = self.cost_function(x)
        self.times.append(elapsed)
        self.costs.append(float(cost))
        self.metrics.append(float(self.metric(x)))
        self.monitoring_seconds += self.clock() - recording_started
        if self.sample_growth is not None:
            self.next_sample_time = max(elapsed * self.sample_growth, FIRST_SAMPLE_SECONDS)


@dataclasses.dataclass
class PeerRun:
    """One optimizer's timed run: its trace, final point and how it ended."""

    trace: Trace
    x: np.ndarray  # final flat parameters
    params: object  # the same point, with the structure of the starting pytree
    warmup_seconds: float
    iterations: int
    final_metric: float
    message: str
    nfev: int | None = None  # residual evaluations, where the runner counts them


def make_cost(problem, unravel) -> Callable:
    """Compile ``0.5 * ||r||^2`` as a function of the flat parameters."""

    @jax.jit
    def cost(x):
        residual = problem.residual(unravel(x))
        return 0.5 * jnp.dot(residual, residual)

    return cost


def make_cost_and_gradient(cost) -> Callable:
    """Return ``fun(x) -> (cost, gradient)`` on float64 numpy arrays, as scipy expects."""
    value_and_grad = jax.jit(jax.value_and_grad(cost))

    def fun(x):
        value, gradient = value_and_grad(x)
        return float(value), np.asarray(gradient, dtype=np.float64)

    return fun


def finish_run(trace, x, unravel, warmup_seconds, iterations, message, cost=None) -> PeerRun:
    """Finish the trace at the returned point, flat ``x``, and return the run."""
    x = np.asarray(x, dtype=np.float64)
    trace.finish(x, cost)
    return PeerRun(
        trace=trace,
        x=x,
        params=unravel(jnp.asarray(x)),
        warmup_seconds=warmup_seconds,
        iterations=int(iterations),
        final_metric=float(trace.metric(x)),
        message=message,
    )


# ---------------------------------------------------------------- L-BFGS


def _run_lbfgs_iterations(trace: Trace, x0: np.ndarray, fun, stop_at: float):
    """Run L-BFGS-B from ``x0`` until the trace's time reaches ``stop_at``."""

    def callback(intermediate_result):
        elapsed = trace.offer(intermediate_result.x, intermediate_result.fun)
        if elapsed >= stop_at:
            # scipy.optimize.minimize ends the run and returns this iterate
            # (checked with scipy 1.17).
            raise StopIteration

    # scipy's ftol is absolute once the cost is below 1, so its default would stop
    # L-BFGS long before a PINN's cost stops falling. Zero tolerances leave it to the budget.
    options = {
        "maxcor": LBFGS_MEMORY,
        "maxiter": UNLIMITED,
        "maxfun": UNLIMITED,
        "ftol": 0.0,
        "gtol": 0.0,
    }
    return scipy.optimize.minimize(
        fun, x0, jac=True, method="L-BFGS-B", callback=callback, options=options
    )


def run_lbfgs(problem, params, budget: float, metric, sample_growth=None) -> PeerRun:
    """Run scipy's L-BFGS-B (memory `LBFGS_MEMORY`) on a jitted value and gradient."""
    x0, unravel = ravel_pytree(params)
    x0 = np.asarray(x0, dtype=np.float64)
    cost = make_cost(problem, unravel)
    fun = make_cost_and_gradient(cost)
    started = time.perf_counter()
    cost0, _ = fun(x0)
    warmup_seconds = time.perf_counter() - started

    trace = Trace(cost, metric, sample_growth)
    trace.start(x0, cost0)
    result = _run_lbfgs_iterations(trace, x0, fun, budget)
    message = str(result.message)
    return finish_run(trace, result.x, unravel, warmup_seconds, result.nit, message, result.fun)


# ---------------------------------------------------------------- Adam


def _compile_adam_update(cost, learning_rate):
    """Return optax's Adam and a jitted ``update(x, state) -> (x, state)`` of one step."""
    import optax

    optimizer = optax.adam(learning_rate)

    @jax.jit
    def update(x, state):
        gradient = jax.grad(cost)(x)
        updates, state = optimizer.update(gradient, state, x)
        return optax.apply_updates(x, updates), state

    return optimizer, update


def _run_adam_steps(trace: Trace, x, state, update, stop_at: float):
    """Take Adam steps until the trace's time reaches ``stop_at``; return x, state, steps."""
    steps = 0
    while True:
        x, state = update(x, state)
        steps += 1
        if steps % ADAM_CHECK_EVERY:
            continue
        jax.block_until_ready(x)
        if trace.offer(x) >= stop_at:
            return x, state, steps


def run_adam(
    problem, params, budget: float, metric, learning_rate=ADAM_LEARNING_RATE, sample_growth=None
) -> PeerRun:
    """Run optax's Adam with ``learning_rate`` (a float or an optax schedule)."""
    x, unravel = ravel_pytree(params)
    cost = make_cost(problem, unravel)
    optimizer, update = _compile_adam_update(cost, learning_rate)
    state = optimizer.init(x)
    started = time.perf_counter()
    jax.block_until_ready(update(x, state))
    cost0 = float(cost(x))
    warmup_seconds = time.perf_counter() - started

    trace = Trace(cost, metric, sample_growth)
    trace.start(x, cost0)
    x, state, steps = _run_adam_steps(trace, x, state, update, budget)
    return finish_run(trace, x, unravel, warmup_seconds, steps, "budget reached")


def run_best_adam(problem, params, budget: float, metric, sample_growth=None) -> PeerRun:
    """Run Adam with a constant 1e-3 and with an exponential decay; return the better run.

    The two runs take ``budget`` seconds each. The better run is the one with the
    lower final metric.
    """
    import optax

    decay = optax.exponential_decay(1e-2, transition_steps=1000, decay_rate=0.9)
    runs = [
        run_adam(problem, params, budget, metric, rate, sample_growth)
        for rate in (ADAM_LEARNING_RATE, decay)
    ]
    best = min(runs, key=lambda run: run.final_metric)
    best.message = "lr 1e-3" if best is runs[0] else "lr 1e-2 * 0.9^(step / 1000)"
    return best


def run_adam_then_lbfgs(
    problem, params, budget: float, metric, adam_fraction=ADAM_FRACTION, sample_growth=None
) -> PeerRun:
    """Run Adam (learning rate 1e-3) for ``adam_fraction`` of the budget, then L-BFGS-B.

    L-BFGS-B starts from Adam's last point, with the settings of `run_lbfgs`, and
    runs until the whole budget is spent. Both phases compile in the warm-up.
    """
    if not 0 < adam_fraction < 1:
        raise ValueError(f"adam_fraction must be between 0 and 1, got {adam_fraction!r}")
    x, unravel = ravel_pytree(params)
    cost = make_cost(problem, unravel)
    optimizer, update = _compile_adam_update(cost, ADAM_LEARNING_RATE)
    fun = make_cost_and_gradient(cost)
    state = optimizer.init(x)
    started = time.perf_counter()
    jax.block_until_ready(update(x, state))
    cost0 = float(cost(x))
    fun(np.asarray(x, dtype=np.float64))
    warmup_seconds = time.perf_counter() - started

    trace = Trace(cost, metric, sample_growth)
    trace.start(x, cost0)
    x, state, steps = _run_adam_steps(trace, x, state, update, adam_fraction * budget)
    result = _run_lbfgs_iterations(trace, np.asarray(x, dtype=np.float64), fun, budget)
    message = f"{steps} Adam steps, then L-BFGS-B: {result.message}"
    return finish_run(trace, result.x, unravel, warmup_seconds, steps + result.nit, message)


# ---------------------------------------------------------------- scipy least_squares


class _BudgetedLeastSquares:
    """Residual and Jacobian callables for scipy that keep the lowest-cost point seen.

    Each evaluation first runs, then raises `BudgetExhausted` once the trace's time
    reaches the budget, so the point that scipy asked for last still counts.
    """

    def __init__(self, residual, jacobian, trace: Trace, budget: float, x0, cost0: float):
        self.residual_function = residual
        self.jacobian_function = jacobian
        self.trace = trace
        self.budget = budget
        self.best_x = np.array(x0, dtype=np.float64)
        self.best_cost = cost0
        self.nfev = 0
        self.njev = 0

    def residual(self, x):
        residual = np.asarray(self.residual_function(x), dtype=np.float64)
        self.nfev += 1
        cost = 0.5 * float(np.dot(residual, residual))
        # A NaN cost compares false, so it never becomes the best point.
        if cost < self.best_cost:
            self.best_x, self.best_cost = np.array(x, dtype=np.float64), cost
            elapsed = self.trace.offer(x, cost)
        else:
            elapsed = self.trace.elapsed()
        if elapsed >= self.budget:
            raise BudgetExhausted
        return residual

    def jacobian(self, x):
        jacobian = np.asarray(self.jacobian_function(x), dtype=np.float64)
        self.njev += 1
        if self.trace.elapsed() >= self.budget:
            raise BudgetExhausted
        return jacobian


def run_least_squares(
    problem, params, budget: float, metric, method="trf", sample_growth=None,
    clock=time.perf_counter,
) -> PeerRun:
    """Run scipy.optimize.least_squares with the jitted dense Jacobian of ``problem``.

    ``method`` is "trf" or "lm", at scipy's defaults except ``ftol = xtol = gtol``
    at machine epsilon and no evaluation limit, so that the budget ends the run
    unless scipy converges first. The returned point is the lowest-cost point that
    scipy evaluated, wherever the run stopped. ``clock`` (seconds) lets tests stop
    a run at a chosen evaluation.

    Raises
    ------
    NotApplicable
        For "lm" with fewer residuals than parameters, which MINPACK rejects.
    """
    x0, unravel = ravel_pytree(params)
    x0 = np.asarray(x0, dtype=np.float64)
    residual_count = jax.eval_shape(problem.residual, params).shape[0]
    if method == "lm" and residual_count < x0.size:
        raise NotApplicable(
            f"scipy's 'lm' needs at least as many residuals as parameters, "
            f"got {residual_count} residuals and {x0.size} parameters"
        )
    residual = jax.jit(lambda x: problem.residual(unravel(x)))
    jacobian = jax.jit(lambda x: problem.jacobian(unravel(x)))
    started = time.perf_counter()
    residual0 = np.asarray(residual(x0), dtype=np.float64)
    jax.block_until_ready(jacobian(x0))
    warmup_seconds = time.perf_counter() - started

    cost0 = 0.5 * float(np.dot(residual0, residual0))
    trace = Trace(make_cost(problem, unravel), metric, sample_growth, clock)
    trace.start(x0, cost0)
    budgeted = _BudgetedLeastSquares(residual, jacobian, trace, budget, x0, cost0)
    tolerance = float(np.finfo(np.float64).eps)
    try:
        result = scipy.optimize.least_squares(
            budgeted.residual, x0, jac=budgeted.jacobian, method=method,
            ftol=tolerance, xtol=tolerance, gtol=tolerance, max_nfev=UNLIMITED,
        )
        message = str(result.message)
    except BudgetExhausted:
        message = "budget reached"
    message += (
        f" after {budgeted.nfev} residual and {budgeted.njev} Jacobian evaluations; "
        "the lowest-cost point is returned"
    )
    run = finish_run(
        trace, budgeted.best_x, unravel, warmup_seconds, budgeted.njev, message,
        budgeted.best_cost,
    )
    run.nfev = budgeted.nfev
    return run


# ---------------------------------------------------------------- dense Gauss-Newton


def make_gauss_newton_step(problem, unravel, step_lengths=GAUSS_NEWTON_STEP_LENGTHS):
    """Compile one Gauss-Newton step with a grid line search.

    The direction is the minimum-norm least-squares solution d of J d = -r, from
    ``jnp.linalg.lstsq`` with its default cutoff (singular values below
    ``eps * max(n, p) * s_max`` are dropped). Every length in ``step_lengths`` is
    tried and the one with the lowest cost is returned with that cost.
    """
    lengths = jnp.asarray(step_lengths)

    def cost(x):
        residual = problem.residual(unravel(x))
        return 0.5 * jnp.dot(residual, residual)

    @jax.jit
    def step(x):
        params = unravel(x)
        residual = problem.residual(params)
        jacobian = problem.jacobian(params)
        direction = jnp.linalg.lstsq(jacobian, -residual)[0]
        trial_costs = jax.vmap(lambda length: cost(x + length * direction))(lengths)
        trial_costs = jnp.where(jnp.isnan(trial_costs), jnp.inf, trial_costs)
        best = jnp.argmin(trial_costs)
        return x + lengths[best] * direction, trial_costs[best]

    return step


def run_gauss_newton(
    problem, params, budget: float, metric, step_lengths=GAUSS_NEWTON_STEP_LENGTHS,
    sample_growth=None,
) -> PeerRun:
    """Run dense Gauss-Newton steps with a grid line search, the classical baseline.

    Each iteration forms the dense Jacobian, takes the full least-squares step and
    keeps the best of ``step_lengths`` (default 1, 1/2, ..., 2^-30). The run stops
    at the budget, or earlier when no length lowers the cost.
    """
    x, unravel = ravel_pytree(params)
    cost_function = make_cost(problem, unravel)
    step = make_gauss_newton_step(problem, unravel, step_lengths)
    started = time.perf_counter()
    jax.block_until_ready(step(x))
    cost = float(cost_function(x))
    warmup_seconds = time.perf_counter() - started

    trace = Trace(cost_function, metric, sample_growth)
    trace.start(x, cost)
    iterations = 0
    while True:
        trial_x, trial_cost = step(x)
        trial_cost = float(trial_cost)
        if not trial_cost < cost:
            message = (
                f"no step length from {max(step_lengths):g} down to {min(step_lengths):g} "
                "lowers the cost"
            )
            break
        x, cost = trial_x, trial_cost
        iterations += 1
        if trace.offer(x, cost) >= budget:
            message = "budget reached"
            break
    return finish_run(trace, x, unravel, warmup_seconds, iterations, message, cost)


# ---------------------------------------------------------------- optimistix


def _optimistix_slice(optimistix, residual, solver, steps: int):
    """Return ``solve(x) -> (x, steps taken, result)``: one `optimistix.least_squares` call.

    ``result`` is optimistix's RESULTS item. The same function, solver and step count
    at every call let equinox's filter_jit reuse the code compiled by the first call.
    """

    def solve(x):
        solution = optimistix.least_squares(
            residual, solver, x, max_steps=steps, throw=False
        )
        return solution.value, int(solution.stats["num_steps"]), solution.result

    return solve


def run_optimistix(
    problem, params, budget: float, metric, sample_growth=None,
    rtol=OPTIMISTIX_RTOL, atol=OPTIMISTIX_ATOL, steps_per_slice=OPTIMISTIX_STEPS_PER_SLICE,
) -> PeerRun:
    """Run optimistix's LevenbergMarquardt(rtol, atol) on the flat parameters.

    The run is a sequence of ``optimistix.least_squares`` calls of ``steps_per_slice``
    steps each with ``throw=False``, each starting from the previous call's value.
    The clock is checked and the trace offered the point after every call. The run
    ends at the budget, when optimistix reports convergence, or when it reports a
    failure. The returned point is the lowest-cost point that a call returned.

    NOTE: every call starts LM afresh, so its damping is reset once per slice and
    its stopping test needs a few steps of a slice before it can pass. See
    `OPTIMISTIX_STEPS_PER_SLICE` for what this costs. The iteration count is
    optimistix's ``num_steps``, which includes rejected steps.

    Raises
    ------
    NotApplicable
        When optimistix is not installed.
    """
    try:
        import optimistix
    except ImportError as error:
        raise NotApplicable(
            "optimistix is not installed; install the bench extra with "
            "`pip install -e \".[bench]\"`"
        ) from error

    x0, unravel = ravel_pytree(params)
    cost = make_cost(problem, unravel)
    solver = optimistix.LevenbergMarquardt(rtol=rtol, atol=atol)
    solve = _optimistix_slice(
        optimistix, lambda x, args: problem.residual(unravel(x)), solver, steps_per_slice
    )
    started = time.perf_counter()
    jax.block_until_ready(solve(x0)[0])
    cost0 = float(cost(x0))
    warmup_seconds = time.perf_counter() - started

    trace = Trace(cost, metric, sample_growth)
    trace.start(x0, cost0)
    x, best_x, best_cost, iterations = x0, x0, cost0, 0
    while True:
        x, steps, result = solve(x)
        iterations += steps
        slice_cost = float(cost(x))
        # A NaN cost compares false, so it never becomes the best point.
        if slice_cost < best_cost:
            best_x, best_cost = x, slice_cost
        elapsed = trace.offer(x, slice_cost)
        if result == optimistix.RESULTS.successful:
            message = "optimistix reports convergence"
            break
        if result != optimistix.RESULTS.nonlinear_max_steps_reached:
            message = f"optimistix stopped: {optimistix.RESULTS[result]}"
            break
        if elapsed >= budget:
            message = "budget reached"
            break
    message += f" after {iterations} steps; the lowest-cost point is returned"
    return finish_run(trace, best_x, unravel, warmup_seconds, iterations, message, best_cost)


# Runners by the names that `python -m benchmarks.pinn --peers` accepts.
PEERS = {
    "adam": run_best_adam,
    "lbfgs": run_lbfgs,
    "adam-lbfgs": run_adam_then_lbfgs,
    "trf": lambda *args, **kwargs: run_least_squares(*args, method="trf", **kwargs),
    "lm": lambda *args, **kwargs: run_least_squares(*args, method="lm", **kwargs),
    "gauss-newton": run_gauss_newton,
    "optimistix-lm": run_optimistix,
}
