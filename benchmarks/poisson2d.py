"""Benchmark svensolve against L-BFGS on the 2D Poisson PINN within one wall-clock budget.

Both methods start from the network of ``problems.poisson2d.build()`` and
minimize the same cost ``0.5 * ||r||^2`` in float64, each for ``--budget``
seconds in the same process:

- svensolve: ``sv.minimize(case.problem, case.params, time_limit=budget,
  max_iter=10**9)``, otherwise at its default settings.
- L-BFGS: ``scipy.optimize.minimize(method="L-BFGS-B")`` on the flat
  parameters with a jitted ``jax.value_and_grad`` of the cost, ``maxcor=50``,
  no iteration or evaluation limit and ``ftol = gtol = 0``, so the budget ends
  the run. scipy's ftol is absolute once the cost is below 1, so its default
  would stop L-BFGS long before the PINN's cost stops falling.

After every iteration a callback records the relative L2 error on the
problem's 10,000-point test grid. Trace times leave out the time spent in
these callbacks. L-BFGS's budget leaves it out too, because its iterations
are short enough that the error evaluations would take a large share of it.
svensolve's ``time_limit`` is wall-clock time, so it includes them.

Usage: ``python -m benchmarks.poisson2d [--budget SECONDS] [--plot FILE] [--json FILE]``.
"""

import argparse
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
from problems import poisson2d

THRESHOLDS = (1e-3, 1e-4, 1e-5, 1e-6)

# The threshold whose times are compared as a ratio.
RATIO_THRESHOLD = 1e-4


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.poisson2d",
        description=(
            "Solve the 2D Poisson PINN with svensolve and with L-BFGS for the same "
            "wall-clock budget; print the relative L2 error against time."
        ),
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="time budget of each method's timed run, in seconds (default: 60); "
        "the warm-up that compiles before it does not count",
    )
    parser.add_argument(
        "--plot",
        metavar="FILE",
        help="also draw the error against time of both methods to FILE "
        "(an image file such as errors.png; needs matplotlib)",
    )
    parser.add_argument(
        "--json",
        metavar="FILE",
        help="also write the traces (time in seconds, error) and summaries to FILE as JSON",
    )
    parser.add_argument(
        "--adam",
        action="store_true",
        help="also run optax's Adam twice (learning rate 1e-3, and an exponential decay "
        "from 1e-2) and report the better run; needs optax",
    )
    args = parser.parse_args(argv)
    if not args.budget > 0:
        parser.error(f"--budget must be a positive number of seconds, got {args.budget}")
    return args


def import_pyplot():
    """Import matplotlib's pyplot for writing files, or exit with a message if it is missing."""
    try:
        import matplotlib
    except ImportError as error:
        raise SystemExit(
            "--plot needs matplotlib, which is not installed; install it with "
            "`pip install matplotlib`, or run without --plot"
        ) from error
    matplotlib.use("Agg")  # draws to files, so no display is needed
    import matplotlib.pyplot as pyplot

    return pyplot


def make_error_function(case: poisson2d.Poisson2D, unravel):
    """Compile ``case.relative_l2_error`` as a function of the flat parameters.

    The eager version took about 5 ms per call on a loaded 2-core CPU, more
    than one L-BFGS iteration took there. The compiled one is checked against
    it once, at the start.
    """
    grid = jnp.asarray(case.test_grid())
    exact = case.exact(grid)
    exact_norm = jnp.linalg.norm(exact)

    @jax.jit
    def relative_l2_error(x):
        return jnp.linalg.norm(case.solution(unravel(x), grid) - exact) / exact_norm

    expected = case.relative_l2_error(case.params)
    x0, _ = ravel_pytree(case.params)
    got = float(relative_l2_error(x0))
    if not np.isclose(got, expected, rtol=1e-10):
        raise RuntimeError(
            f"the compiled relative L2 error {got!r} differs from "
            f"case.relative_l2_error {expected!r} at the start"
        )
    return relative_l2_error


def run_svensolve(case: poisson2d.Poisson2D, budget: float, error_function) -> dict:
    """Run a timed warm-up with ``max_iter=1``, then the traced run for ``budget`` seconds."""
    x0, unravel = ravel_pytree(case.params)
    cost = peers.make_cost(case.problem, unravel)
    started = time.perf_counter()
    sv.minimize(case.problem, case.params, max_iter=1)
    warmup_seconds = time.perf_counter() - started

    trace = peers.Trace(cost, error_function)
    trace.start(x0, float(cost(x0)))

    def callback(iterate):
        trace.offer(iterate.x, iterate.cost)

    # The Problem keeps its compiled functions, so the warm-up took the
    # compilation out of this run.
    result = sv.minimize(
        case.problem,
        case.params,
        time_limit=budget,
        max_iter=peers.UNLIMITED,
        callback=callback,
    )
    return {
        "warmup_seconds": warmup_seconds,
        "trace": trace,
        "iterations": int(result.nit),
        # The returned point is the lowest-cost one, not necessarily the last.
        "final_error": float(error_function(result.x)),
        "message": str(result.message),
    }


def as_report(run: peers.PeerRun) -> dict:
    """Convert a `peers.PeerRun` to the summary dict that this script prints."""
    return {
        "warmup_seconds": run.warmup_seconds,
        "trace": run.trace,
        "iterations": run.iterations,
        "final_error": run.final_metric,
        "message": run.message,
    }


def run_lbfgs(case: poisson2d.Poisson2D, budget: float, error_function) -> dict:
    """Run `peers.run_lbfgs`, L-BFGS-B with memory 50, recording every iteration."""
    return as_report(peers.run_lbfgs(case.problem, case.params, budget, error_function))


def run_best_adam(case: poisson2d.Poisson2D, budget: float, error_function) -> dict:
    """Run `peers.run_best_adam`: Adam at 1e-3 and with a decay; return the better run."""
    return as_report(peers.run_best_adam(case.problem, case.params, budget, error_function))


def format_seconds(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.2f}"


def format_ratio(results: dict) -> str:
    """Format L-BFGS's time to `RATIO_THRESHOLD` over svensolve's.

    When one method never reached the threshold, its whole traced run is a
    lower bound on its time, so the ratio is printed as a bound.
    """
    sven_trace = results["svensolve"]["trace"]
    lbfgs_trace = results["L-BFGS"]["trace"]
    sven = sven_trace.time_to_reach(RATIO_THRESHOLD)
    lbfgs = lbfgs_trace.time_to_reach(RATIO_THRESHOLD)
    if sven == 0.0:
        return f"n/a (the start is already at or below {RATIO_THRESHOLD:.0e})"
    if sven is not None and lbfgs is not None:
        return f"{lbfgs / sven:.2f}"
    if sven is not None:
        bound = lbfgs_trace.times[-1] / sven
        return f"> {bound:.2f} (L-BFGS did not reach {RATIO_THRESHOLD:.0e} in its run)"
    if lbfgs is not None:
        if sven_trace.times[-1] == 0.0:
            return "n/a (svensolve finished no iteration within the budget)"
        bound = lbfgs / sven_trace.times[-1]
        return f"< {bound:.2f} (svensolve did not reach {RATIO_THRESHOLD:.0e} in its run)"
    return f"n/a (neither method reached {RATIO_THRESHOLD:.0e} in its run)"


def print_report(results: dict, budget: float) -> None:
    print(
        f"Warm-up before the timed runs (compilation, not part of the budget): svensolve "
        f"{results['svensolve']['warmup_seconds']:.2f} s (sv.minimize with max_iter=1), "
        f"L-BFGS {results['L-BFGS']['warmup_seconds']:.2f} s (first value_and_grad call)"
    )
    print()
    print_results_table(results)
    print()
    print_notes(results, budget)


def print_results_table(results: dict) -> None:
    columns = ["Method", "Error at budget", "Iterations", "First iteration (s)"]
    columns += [f"Time to {threshold:.0e} (s)" for threshold in THRESHOLDS]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for name, result in results.items():
        trace = result["trace"]
        first_iteration = trace.times[1] if len(trace.times) > 1 else None
        cells = [name, f"{result['final_error']:.3e}", str(result["iterations"])]
        cells.append(format_seconds(first_iteration))
        cells += [format_seconds(trace.time_to_reach(threshold)) for threshold in THRESHOLDS]
        print("| " + " | ".join(cells) + " |")


def print_notes(results: dict, budget: float) -> None:
    print(
        f"Budget {budget:g} s per method: wall-clock for svensolve, without the error "
        "evaluations for L-BFGS. Error at budget: relative L2 error of the point each "
        "method returns (svensolve: the lowest-cost point; L-BFGS: the last iterate). "
        "Times: seconds since the timed run started, without the error evaluations. "
        "A time to a threshold is the first time the error was at or below it."
    )
    print()
    for name, result in results.items():
        print(f"- {name} final status: {result['message']}")
    monitoring = ", ".join(
        f"{name} {result['trace'].monitoring_seconds:.2f} s" for name, result in results.items()
    )
    print(f"- Error evaluations, left out of the times: {monitoring}")
    print(f"- Time to {RATIO_THRESHOLD:.0e}, L-BFGS / svensolve: {format_ratio(results)}")


def plot_traces(pyplot, results: dict, budget: float, path: str) -> None:
    figure, axis = pyplot.subplots(figsize=(7, 4.5))
    for name, result in results.items():
        axis.semilogy(result["trace"].times, result["trace"].metrics, label=name)
    axis.set_xlabel("time since the timed run started (s), error evaluations left out")
    axis.set_ylabel("relative L2 error")
    axis.set_title(f"2D Poisson PINN, budget {budget:g} s per method")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    figure.savefig(path, dpi=150, bbox_inches="tight")
    pyplot.close(figure)


def json_report(results: dict, budget: float, facts: dict) -> dict:
    methods = {}
    for name, result in results.items():
        trace = result["trace"]
        methods[name] = {
            "warmup_seconds": result["warmup_seconds"],
            "iterations": result["iterations"],
            "final_error": result["final_error"],
            "message": result["message"],
            "monitoring_seconds": trace.monitoring_seconds,
            "times": trace.times,
            "errors": trace.metrics,
            "time_to": {f"{t:.0e}": trace.time_to_reach(t) for t in THRESHOLDS},
        }
    return {"machine": facts, "budget_seconds": budget, "methods": methods}


def main(argv=None) -> int:
    args = parse_args(argv)
    # Fail before the long runs, not after them.
    pyplot = import_pyplot() if args.plot else None

    facts = machine_facts()
    print(f"# 2D Poisson PINN: svensolve vs L-BFGS, budget {args.budget:g} s per method")
    print()
    print_machine_facts(facts)
    print()
    sys.stdout.flush()

    case = poisson2d.build()
    _, unravel = ravel_pytree(case.params)
    error_function = make_error_function(case, unravel)

    print("svensolve: warm-up and timed run", file=sys.stderr)
    results = {"svensolve": run_svensolve(case, args.budget, error_function)}
    print("L-BFGS: warm-up and timed run", file=sys.stderr)
    results["L-BFGS"] = run_lbfgs(case, args.budget, error_function)
    if args.adam:
        print("Adam: two timed runs (constant and decaying learning rate)", file=sys.stderr)
        results["Adam"] = run_best_adam(case, args.budget, error_function)

    print_report(results, args.budget)
    if pyplot is not None:
        plot_traces(pyplot, results, args.budget, args.plot)
        print(f"Wrote {args.plot}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(json_report(results, args.budget, facts), file, indent=1)
            file.write("\n")
        print(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
