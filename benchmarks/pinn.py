"""Benchmark svensolve against peer optimizers on one PINN reference problem, same budget each.

Every optimizer starts from the network of ``problems.<name>.build()`` and
minimizes the same cost ``0.5 * ||r||^2`` in float64 for ``--budget`` seconds,
one after another in the same process:

- svensolve: ``sv.minimize(problem, params, max_iter=10**9, callback=...)``,
  otherwise at its default settings. The callback stops it at the budget.
  ``memory_limit`` is the default, computed once for the warm-up and the run.
- svensolve-fixed: the same with ``control="fixed", lr=1.0``, Sven's plain rule
  of a full step every iteration, with no damping or line search.
- the peers of `benchmarks.peers` named by ``--peers``, all by default: Adam,
  L-BFGS-B, Adam then L-BFGS-B, scipy's least_squares "trf" and "lm", a dense
  Gauss-Newton with a grid line search, and optimistix's LevenbergMarquardt.
  A peer that cannot run (optimistix not installed, "lm" with fewer residuals
  than parameters) is skipped with a note. Adam reports the better of two
  learning rates, so it runs twice, each for the budget.

Compilation is left out of every budget in the same way: each optimizer first
runs a warm-up that compiles its jitted functions, timed and printed in the
"Warm-up" column. svensolve's warm-up is ``sv.minimize`` with ``max_iter=1``,
so it also includes one iteration. Times and budgets leave out the time spent
evaluating the metric and cost for the traces, which are sampled evenly in log
time (each sample at least `SAMPLE_GROWTH` times later than the previous one).

The metric is the relative L2 error of the solution on the problem's test points,
of the velocity (u, v) for kovasznay. For the inverse problems, whose cases have
``coefficient_errors`` (heat_inverse, lotka_volterra), it is the largest relative
error of the fitted coefficients.

`python -m benchmarks run --suite pinn` runs every problem of this module's
`PROBLEMS` through `benchmark_problem` and `print_problem_report`.

Usage: ``python -m benchmarks.pinn --problem NAME [--budget SECONDS]
[--peers NAME[,NAME]] [--json FILE] [--plot FILE]``.
"""

import argparse
import dataclasses
import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

import svensolve as sv
from benchmarks import peers
from benchmarks.nist import machine_facts, print_machine_facts
from benchmarks.poisson2d import import_pyplot
from problems import REGISTRY
from svensolve.memory import default_memory_limit

# Every registered problem except the NIST regressions, which benchmarks.nist covers.
PROBLEMS = tuple(name for name in REGISTRY if name != "nist")
THRESHOLDS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)

# A trace records a point once the time has grown by this factor since its last
# record, so a time to a threshold is late by at most 2% or one iteration.
SAMPLE_GROWTH = 1.02

REFERENCE = "svensolve"
# svensolve with Sven's plain rule: a full step (lr = 1) every iteration, no damping.
FIXED_STEP = "svensolve-fixed"
FIXED_STEP_OPTIONS = {"control": "fixed", "lr": 1.0}

# Output components that a field metric compares, where not all of them.
METRIC_COMPONENTS = {"kovasznay": (slice(0, 2), "relative L2 error of (u, v)")}


class MetricUnavailable(Exception):
    """Raised when a problem's case offers no metric that this benchmark can compile."""


@dataclasses.dataclass
class ProblemReport:
    """The runs of every optimizer on one problem, with the peers skipped and why."""

    name: str
    metric_description: str
    runs: dict
    skipped: dict


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.pinn",
        description=(
            "Solve one PINN reference problem with svensolve and with peer optimizers for "
            "the same budget each; print the metric reached and the time to thresholds."
        ),
    )
    parser.add_argument(
        "--problem", choices=PROBLEMS, default="poisson2d", help="problem (default: poisson2d)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="time budget of each optimizer's timed run, in seconds (default: 60); "
        "compilation and metric evaluations do not count",
    )
    parser.add_argument(
        "--peers",
        default=",".join(peers.PEERS),
        metavar="NAME[,NAME]",
        help=f"comma-separated peers to run besides svensolve (default: all of "
        f"{', '.join(peers.PEERS)})",
    )
    parser.add_argument(
        "--peers-only", action="store_true",
        help="run only the peers, not svensolve (to rerun one peer; the ratio columns "
        "are then n/a)",
    )
    parser.add_argument(
        "--json", metavar="FILE", help="also write the traces and summaries to FILE as JSON"
    )
    parser.add_argument(
        "--plot",
        metavar="FILE",
        help="also draw the metric against time of every optimizer to FILE "
        "(an image file such as pinn.png; needs matplotlib)",
    )
    args = parser.parse_args(argv)
    if not args.budget > 0:
        parser.error(f"--budget must be a positive number of seconds, got {args.budget}")
    args.peer_names = _selected_peers(parser, args.peers)
    return args


def _selected_peers(parser: argparse.ArgumentParser, text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in peers.PEERS]
    if unknown:
        parser.error(
            f"--peers got unknown names {unknown}; valid names are: {', '.join(peers.PEERS)}"
        )
    return names


def make_metric(name: str, case, unravel):
    """Return a description of the problem's metric and the metric as a function of flat x.

    A case with ``coefficient_errors`` (an inverse problem) gets the largest relative
    error of its coefficients. Any other case gets the relative L2 error of
    ``case.solution`` against ``case.exact`` on ``case.test_grid()``, compiled and
    checked once against the case's own ``relative_l2_error`` at the start.

    Raises
    ------
    MetricUnavailable
        When the case lacks those methods, or the compiled error disagrees with
        ``case.relative_l2_error``.
    """
    if hasattr(case, "coefficient_errors"):
        return _coefficient_metric(case, unravel)

    missing = [
        method for method in ("solution", "exact", "test_grid", "relative_l2_error")
        if not hasattr(case, method)
    ]
    if missing:
        raise MetricUnavailable(f"the {name} case has no {', '.join(missing)}")
    components, description = METRIC_COMPONENTS.get(name, (slice(None), "relative L2 error"))
    grid = jnp.asarray(case.test_grid())
    exact = jnp.asarray(case.exact(grid))[..., components]
    exact_norm = jnp.linalg.norm(exact)

    @jax.jit
    def relative_l2_error(x):
        predicted = case.solution(unravel(x), grid)[..., components]
        return jnp.linalg.norm(predicted - exact) / exact_norm

    expected = case.relative_l2_error(case.params)
    got = float(relative_l2_error(ravel_pytree(case.params)[0]))
    if not np.isclose(got, expected, rtol=1e-10):
        raise MetricUnavailable(
            f"the compiled relative L2 error {got!r} differs from "
            f"case.relative_l2_error {expected!r} at the start"
        )
    return description, relative_l2_error


def _coefficient_metric(case, unravel):
    """Return the description and the largest relative coefficient error of flat x."""
    names = list(case.coefficient_errors(case.params))

    def coefficient_error(x):
        return max(case.coefficient_errors(unravel(jnp.asarray(x))).values())

    if len(names) == 1:
        return f"relative error of {names[0]}", coefficient_error
    return f"largest relative error of {', '.join(names)}", coefficient_error


def run_svensolve(
    problem, params, budget: float, metric, sample_growth=None, **options
) -> peers.PeerRun:
    """Run ``sv.minimize(**options)`` after a ``max_iter=1`` warm-up, for ``budget`` s.

    ``options`` are passed to both calls, so no options means svensolve's defaults.
    The budget is checked in the callback after each iteration, on the same clock
    as the peers, because ``time_limit`` would count the metric evaluations too.
    """
    x0, unravel = ravel_pytree(params)
    cost = peers.make_cost(problem, unravel)
    # NOTE: the Problem caches its compiled functions under a key that includes sizes
    # derived from the memory available at each call, so in svensolve 0.1.0 two calls
    # at the default memory_limit compile twice. Both calls here get the default limit,
    # computed once, so the timed run reuses the warm-up's compiled code.
    memory_limit = default_memory_limit()
    started = time.perf_counter()
    sv.minimize(
        problem, params, max_iter=1, progress=False, memory_limit=memory_limit, **options
    )
    cost0 = float(cost(x0))
    warmup_seconds = time.perf_counter() - started

    trace = peers.Trace(cost, metric, sample_growth)
    budget_reached = False

    def callback(iterate):
        nonlocal budget_reached
        budget_reached = trace.offer(iterate.x, iterate.cost) >= budget
        return budget_reached

    trace.start(x0, cost0)
    result = sv.minimize(
        problem, params, max_iter=peers.UNLIMITED, callback=callback, progress=False,
        memory_limit=memory_limit, **options,
    )
    message = "budget reached" if budget_reached else str(result.message)
    # The returned point is the lowest-cost one, not necessarily the last iterate.
    return peers.finish_run(
        trace, result.x, unravel, warmup_seconds, result.nit, message, result.cost
    )


def run_all(case, names, budget: float, metric, with_svensolve: bool = True) -> tuple[dict, dict]:
    """Run both svensolve rows and the named peers; return the runs and the skipped peers."""
    runs, skipped = {}, {}
    if with_svensolve:
        print(f"{REFERENCE}: warm-up and timed run", file=sys.stderr)
        runs[REFERENCE] = run_svensolve(case.problem, case.params, budget, metric, SAMPLE_GROWTH)
        print(f"{FIXED_STEP}: warm-up and timed run", file=sys.stderr)
        runs[FIXED_STEP] = run_svensolve(
            case.problem, case.params, budget, metric, SAMPLE_GROWTH, **FIXED_STEP_OPTIONS
        )
    for name in names:
        print(f"{name}: warm-up and timed run", file=sys.stderr)
        runner = peers.PEERS[name]
        try:
            runs[name] = runner(
                case.problem, case.params, budget, metric, sample_growth=SAMPLE_GROWTH
            )
        except peers.NotApplicable as reason:
            skipped[name] = str(reason)
    return runs, skipped


def format_seconds(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.2f}"


def format_ratio(run: peers.PeerRun, reference: peers.PeerRun, threshold: float) -> str:
    """Format the run's time to ``threshold`` over svensolve's.

    When one of them never reached the threshold, its whole traced run is a lower
    bound on its time, so the ratio is printed as a bound.
    """
    mine = run.trace.time_to_reach(threshold)
    theirs = reference.trace.time_to_reach(threshold)
    if mine is not None and theirs is not None:
        return "n/a" if theirs == 0 else f"{mine / theirs:.2f}"
    if theirs is not None:
        return "n/a" if theirs == 0 else f"> {run.trace.times[-1] / theirs:.2f}"
    if mine is not None:
        reference_end = reference.trace.times[-1]
        return "n/a" if reference_end == 0 else f"< {mine / reference_end:.2f}"
    return "n/a"


def print_results_table(runs: dict) -> None:
    columns = ["Optimizer", "Final metric", "Iterations", "Warm-up (s)"]
    columns += [f"Time to {threshold:.0e} (s)" for threshold in THRESHOLDS]
    columns += [f"Ratio at {threshold:.0e}" for threshold in THRESHOLDS]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    reference = runs.get(REFERENCE)
    for name, run in runs.items():
        cells = [name, f"{run.final_metric:.3e}", str(run.iterations)]
        cells.append(f"{run.warmup_seconds:.2f}")
        cells += [format_seconds(run.trace.time_to_reach(t)) for t in THRESHOLDS]
        if reference is None:
            cells += ["n/a"] * len(THRESHOLDS)
        else:
            cells += [format_ratio(run, reference, t) for t in THRESHOLDS]
        print("| " + " | ".join(cells) + " |")


def print_notes(runs: dict, skipped: dict, budget: float, metric_description: str) -> None:
    print(
        f"Metric: {metric_description}. Budget {budget:g} s per optimizer (Adam runs twice, "
        "each for the budget), without compilation and without the metric and cost evaluations of "
        "the traces. Warm-up: compilation before the timed run, not part of the budget. "
        "Final metric: that of the point each optimizer returns. Times: seconds since the "
        "timed run started. Ratio: the optimizer's time to the threshold over svensolve's; "
        "'>' and '<' mark bounds where one of the two never reached it. "
        f"{FIXED_STEP}: svensolve with control='fixed' and lr=1.0."
    )
    print()
    for name, run in runs.items():
        print(f"- {name} final status: {run.message}")
    for name, reason in skipped.items():
        print(f"- {name} skipped: {reason}")
    monitoring = ", ".join(
        f"{name} {run.trace.monitoring_seconds:.2f} s" for name, run in runs.items()
    )
    print(f"- Metric and cost evaluations, left out of the times: {monitoring}")


def plot_traces(pyplot, runs: dict, title: str, metric_description: str, path: str) -> None:
    traces = {name: (run.trace.times, run.trace.metrics) for name, run in runs.items()}
    plot_metric_traces(pyplot, traces, title, metric_description, path)


def plot_metric_traces(pyplot, traces: dict, title: str, metric_description: str,
                       path: str) -> None:
    """Draw metric against time for each optimizer name -> (times, metrics) on one axis."""
    figure, axis = pyplot.subplots(figsize=(7, 4.5))
    for name, (times, metrics) in traces.items():
        axis.semilogy(times, metrics, label=name)
    axis.set_xlabel("time since the timed run started (s), metric evaluations left out")
    axis.set_ylabel(metric_description)
    axis.set_title(title)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    figure.savefig(path, dpi=150, bbox_inches="tight")
    pyplot.close(figure)


def problem_json(report: ProblemReport) -> dict:
    """Return the raw numbers of one problem's runs: traces, summaries and skipped peers."""
    optimizers = {}
    for name, run in report.runs.items():
        trace = run.trace
        optimizers[name] = {
            "warmup_seconds": run.warmup_seconds,
            "iterations": run.iterations,
            "final_metric": run.final_metric,
            "message": run.message,
            "monitoring_seconds": trace.monitoring_seconds,
            "times": trace.times,
            "costs": trace.costs,
            "metrics": trace.metrics,
            "time_to": {f"{t:.0e}": trace.time_to_reach(t) for t in THRESHOLDS},
        }
    return {
        "problem": report.name,
        "metric": report.metric_description,
        "optimizers": optimizers,
        "skipped": report.skipped,
    }


def write_json(path: str, report: dict) -> None:
    with open(path, "w", encoding="utf-8") as file:
        json.dump(report, file, indent=1)
        file.write("\n")


def plot_title(name: str, budget: float) -> str:
    return f"{name} PINN, budget {budget:g} s per optimizer"


def benchmark_problem(name: str, case, peer_names, budget: float,
                      with_svensolve: bool = True) -> ProblemReport:
    """Compile the metric of ``case`` and run svensolve and the named peers on it.

    Raises
    ------
    MetricUnavailable
        When `make_metric` finds no metric for the case; nothing has run then.
    """
    _, unravel = ravel_pytree(case.params)
    metric_description, metric = make_metric(name, case, unravel)
    runs, skipped = run_all(case, peer_names, budget, metric, with_svensolve)
    return ProblemReport(name, metric_description, runs, skipped)


def print_problem_report(report: ProblemReport, budget: float) -> None:
    print_results_table(report.runs)
    print()
    print_notes(report.runs, report.skipped, budget, report.metric_description)


def main(argv=None) -> int:
    args = parse_args(argv)
    # Fail before the long runs, not after them.
    pyplot = import_pyplot() if args.plot else None

    facts = machine_facts()
    title = plot_title(args.problem, args.budget)
    print(f"# {title}")
    print()
    print_machine_facts(facts)
    print()
    sys.stdout.flush()

    case = REGISTRY[args.problem].build()
    try:
        report = benchmark_problem(args.problem, case, args.peer_names, args.budget,
                                   with_svensolve=not args.peers_only)
    except MetricUnavailable as reason:
        raise SystemExit(f"no metric for {args.problem}: {reason}") from reason

    print_problem_report(report, args.budget)
    if pyplot is not None:
        plot_traces(pyplot, report.runs, title, report.metric_description, args.plot)
        print(f"Wrote {args.plot}")
    if args.json:
        write_json(args.json, {
            "machine": facts,
            **problem_json(report),
            "budget_seconds": args.budget,
            "sample_growth": SAMPLE_GROWTH,
        })
        print(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
