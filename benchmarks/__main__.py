"""Run one benchmark suite: ``python -m benchmarks run --suite NAME``.

Suites:

- ``pinn``: svensolve and the peers of `benchmarks.peers` on every PINN problem
  of ``problems.REGISTRY`` (all but "nist"), with the machinery of
  `benchmarks.pinn`: one markdown table per problem, one PNG per problem in
  ``--plots DIR`` and one JSON for the whole suite.
- ``nist``: `benchmarks.nist` on the 54 NIST StRD cases.
- ``cost``: the cost table of `benchmarks.jacobian` (one Sven direction per
  Jacobian path, in units of one gradient).
- ``scaling``: `benchmarks.scaling`, time per iteration and peak memory as n * p
  grows about 10x per step.
- ``bounds``: `benchmarks.bounds`, bound-constrained fits against scipy's "trf".

``--quick`` makes each suite a smoke run on one tiny case. A suite that has no
use for ``--budget``, ``--json`` or ``--plots`` prints a note on stderr and runs
without it.

Usage: ``python -m benchmarks run --suite {pinn,nist,cost,scaling,bounds}
[--budget SECONDS] [--quick] [--json FILE] [--plots DIR] [--problems NAME[,NAME]]``.
"""

# The suite modules are imported inside the functions that run them, because
# benchmarks.nist times the imports of jax and svensolve when it is first imported.
import argparse
import os
import sys

SUITES = ("pinn", "nist", "cost", "scaling", "bounds")

PINN_BUDGET = 60.0
PINN_QUICK_BUDGET = 1.0
# The tiny case of the quick pinn suite: 36 + 24 residuals, 105 parameters.
PINN_QUICK_SIZE = {"width": 8, "grid": 6, "edge_points": 6}
QUICK_NIST_PROBLEM = "Misra1a"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run svensolve's benchmark suites and print their tables.",
    )

    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run", help="run one suite", description="Run one benchmark suite and print its tables."
    )

    run.add_argument("--suite", required=True, choices=SUITES, help="the suite to run")
    run.add_argument(
        "--budget",
        type=float,
        metavar="SECONDS",
        help=f"pinn: time budget of each optimizer on each problem, in seconds (default: "
        f"{PINN_BUDGET:g}, {PINN_QUICK_BUDGET:g} with --quick); scaling: the longest "
        "iteration, in seconds, before the curve stops (default: 60); other suites ignore it",
    )
    run.add_argument(
        "--quick", action="store_true", help="run one tiny case of the suite (a smoke run)"
    )
    run.add_argument(
        "--json", metavar="FILE", help="also write the raw numbers to FILE (pinn, nist, scaling)"
    )
    run.add_argument(
        "--plots",
        metavar="DIR",
        help="also draw PNG figures into DIR, created if missing (pinn: one per problem; "
        "scaling: scaling.png); needs matplotlib",
    )
    run.add_argument(
        "--problems",
        metavar="NAME[,NAME]",
        help="pinn: comma-separated problems to run instead of all of them; "
        "with --quick they run at their default sizes with the quick budget",
    )

    args = parser.parse_args(argv)
    if args.budget is not None and not args.budget > 0:
        run.error(f"--budget must be a positive number of seconds, got {args.budget}")
    if args.problems is not None and args.suite != "pinn":
        run.error(f"--problems applies to the pinn suite only, got --suite {args.suite}")
    return args


# Reason that a delegated suite ignores an option, by option name.
IGNORED_BECAUSE = {
    "budget": "it has no time budget, because it times whole solves or single steps",
    "json": "its module writes no JSON",
    "plots": "it draws no figures",
}


def note_ignored(args, suite: str, options: tuple[str, ...]) -> None:
    """Print on stderr each of the given options that was set, which the suite ignores."""
    for option in options:
        if getattr(args, option) is not None:
            print(f"suite {suite} ignores --{option}: {IGNORED_BECAUSE[option]}", file=sys.stderr)


# ---------------------------------------------------------------- pinn


def selected_problems(args) -> tuple[str, ...]:
    from benchmarks import pinn

    if args.problems is None:
        return ("poisson2d",) if args.quick else pinn.PROBLEMS
    names = tuple(name.strip() for name in args.problems.split(",") if name.strip())
    unknown = [name for name in names if name not in pinn.PROBLEMS]
    if unknown or not names:
        raise SystemExit(
            f"--problems got unknown or no problem names {unknown or args.problems!r}; "
            f"valid names are: {', '.join(pinn.PROBLEMS)}"
        )
    return names


def build_case(name: str, args):
    from problems import REGISTRY

    if args.quick and args.problems is None:
        return REGISTRY[name].build(**PINN_QUICK_SIZE)
    return REGISTRY[name].build()


def run_pinn(args) -> int:
    from benchmarks import peers, pinn
    from benchmarks.nist import machine_facts, print_machine_facts
    from benchmarks.poisson2d import import_pyplot

    names = selected_problems(args)
    budget = args.budget or (PINN_QUICK_BUDGET if args.quick else PINN_BUDGET)
    # Fail before the long runs, not after them.
    pyplot = import_pyplot() if args.plots else None
    if args.plots:
        os.makedirs(args.plots, exist_ok=True)

    facts = machine_facts()
    print(f"# PINN suite: svensolve and peers, budget {budget:g} s per optimizer")
    print()
    print_machine_facts(facts)
    print(f"- Problems: {', '.join(names)}" + (" (tiny sizes)" if args.quick else ""))
    print()
    sys.stdout.flush()

    reports, skipped_problems = {}, {}
    for name in names:
        print(f"## {name}")
        print()
        print(f"{name}: building the problem", file=sys.stderr)
        case = build_case(name, args)
        try:
            report = pinn.benchmark_problem(name, case, tuple(peers.PEERS), budget)
        except pinn.MetricUnavailable as reason:
            skipped_problems[name] = str(reason)
            print(f"Skipped: no metric for {name}: {reason}")
            print()
            continue
        reports[name] = report
        pinn.print_problem_report(report, budget)
        if pyplot is not None:
            path = os.path.join(args.plots, f"{name}.png")
            title = pinn.plot_title(name, budget)
            pinn.plot_traces(pyplot, report.runs, title, report.metric_description, path)
            print(f"Wrote {path}")
        print()
        sys.stdout.flush()

    if args.json:
        pinn.write_json(args.json, {
            "machine": facts,
            "budget_seconds": budget,
            "sample_growth": pinn.SAMPLE_GROWTH,
            "quick": args.quick,
            "problems": {name: pinn.problem_json(report) for name, report in reports.items()},
            "skipped_problems": skipped_problems,
        })
        print(f"Wrote {args.json}")
    return 0


# ---------------------------------------------------------------- delegated suites


def run_nist(args) -> int:
    note_ignored(args, "nist", ("budget", "plots"))
    from benchmarks import nist

    argv = ["--only", QUICK_NIST_PROBLEM] if args.quick else []
    if args.json:
        argv += ["--json", args.json]
    return nist.main(argv)


def run_cost(args) -> int:
    note_ignored(args, "cost", ("budget", "json", "plots"))
    from benchmarks import jacobian

    return jacobian.main(["cost", "--quick"] if args.quick else ["cost"])


def run_bounds(args) -> int:
    note_ignored(args, "bounds", ("budget", "json", "plots"))
    from benchmarks import bounds

    return bounds.main(["--quick"] if args.quick else [])


def run_scaling(args) -> int:
    from benchmarks import scaling

    argv = ["--quick"] if args.quick else []
    if args.budget is not None:
        argv += ["--budget", str(args.budget)]
    if args.json:
        argv += ["--json", args.json]
    if args.plots:
        os.makedirs(args.plots, exist_ok=True)
        argv += ["--plot", os.path.join(args.plots, "scaling.png")]
    return scaling.main(argv)


RUNNERS = {
    "pinn": run_pinn,
    "nist": run_nist,
    "cost": run_cost,
    "scaling": run_scaling,
    "bounds": run_bounds,
}


def main(argv=None) -> int:
    args = parse_args(argv)
    return RUNNERS[args.suite](args)


if __name__ == "__main__":
    sys.exit(main())
