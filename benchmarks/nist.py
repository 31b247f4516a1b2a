"""Benchmark svensolve against scipy's "trf" and "lm" on the 54 NIST StRD cases.

The 27 NIST StRD nonlinear regression problems run from both NIST starts, in
one process, with each method at its default settings:

- svensolve: ``sv.least_squares`` on the ``jax.numpy`` residual, so svensolve
  compiles the residual and its Jacobian itself.
- scipy: ``scipy.optimize.least_squares`` with method "trf" and "lm" on the
  numpy residual. The Jacobian comes from ``jax.jit(jax.jacfwd(...))`` of the
  ``jax.numpy`` residual and is converted to a numpy array. Each scipy method
  builds its own jitted Jacobians in its first pass, so compiling them counts
  in that pass.

The first pass over the cases includes compilation; the repeated passes that
follow it are timed too, and the fastest is reported. A case's score is the
minimum over the parameters of NIST's log relative error (LRE), the number of
correct significant digits (0 to 15).

Usage: ``python -m benchmarks.nist [--repeat N] [--json FILE] [--only NAME[,NAME]]``.
"""

import argparse
import dataclasses
import json
import os
import platform
import sys
import time

# The imports are timed because every process pays them once, before any solve.
_IMPORT_STARTED = time.perf_counter()
import jax  # noqa: E402

_JAX_IMPORTED = time.perf_counter()
import svensolve as sv  # noqa: E402

_SVENSOLVE_IMPORTED = time.perf_counter()

import jax.numpy as jnp  # noqa: E402
import jaxlib  # noqa: E402
import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.optimize  # noqa: E402

from problems import nist  # noqa: E402

METHODS = ("svensolve", "trf", "lm")

# Cases that reach this many correct digits count as solved in the summary.
GOOD_DIGITS = 6


@dataclasses.dataclass(frozen=True)
class Case:
    """One NIST problem from one of its two starts."""

    problem: nist.NistProblem
    start: int  # NIST's numbering: 1 or 2

    @property
    def x0(self) -> np.ndarray:
        # A writable copy, because the loaded problem's arrays are read-only.
        return np.array(self.problem.starts[self.start - 1], dtype=np.float64)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.nist",
        description=(
            "Solve the 27 NIST StRD problems from both starts with svensolve and with "
            "scipy.optimize.least_squares ('trf' and 'lm'); print digits, nfev and times."
        ),
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="number of timed passes over all cases after the first pass (which "
        "includes compilation); the fastest of them is reported (default: 1)",
    )
    parser.add_argument(
        "--json",
        metavar="FILE",
        help="also write the raw numbers of every case and method to FILE as JSON",
    )
    parser.add_argument(
        "--only",
        metavar="NAME[,NAME]",
        help="comma-separated NIST problem names to run instead of all 27, "
        "e.g. Misra1a,DanWood (both starts of each are run)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    args.names = _selected_names(parser, args.only)
    return args


def _selected_names(parser: argparse.ArgumentParser, only: str | None) -> tuple[str, ...]:
    if only is None:
        return nist.NAMES
    names = tuple(name.strip() for name in only.split(",") if name.strip())
    unknown = [name for name in names if name not in nist.NAMES]
    if unknown or not names:
        parser.error(
            f"--only got unknown or no NIST problem names {unknown or only!r}; "
            f"valid names are: {', '.join(nist.NAMES)}"
        )
    return names


def machine_facts() -> dict:
    """Collect what decides the timings: CPUs, library versions, JAX devices, thread settings."""
    usable_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "svensolve": sv.__version__,
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(device) for device in jax.devices()],
        "XLA_FLAGS": os.environ.get("XLA_FLAGS"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
    }


def print_machine_facts(facts: dict) -> None:
    print(f"- CPUs: {facts['cpu_count']} ({facts['usable_cpus']} usable by this process)")
    print(f"- Platform: {facts['platform']}, Python {facts['python']}")
    print(
        f"- Versions: numpy {facts['numpy']}, scipy {facts['scipy']}, jax {facts['jax']}, "
        f"jaxlib {facts['jaxlib']}, svensolve {facts['svensolve']}"
    )
    print(f"- JAX backend: {facts['jax_backend']} ({', '.join(facts['jax_devices'])})")
    for variable in ("XLA_FLAGS", "OMP_NUM_THREADS"):
        value = facts[variable]
        print(f"- {variable}: {'(unset)' if value is None else value}")


def start_backend() -> float:
    """Start JAX's backend with one tiny computation and return the seconds it took.

    Without this, the first solve of the first method would pay the backend start.
    """
    started = time.perf_counter()
    jnp.zeros(()).block_until_ready()
    return time.perf_counter() - started


def jnp_residual(problem: nist.NistProblem):
    return lambda b: problem.residual(b, jnp)


def solve_svensolve(case: Case, compiled: dict):
    if case.problem.name not in compiled:
        compiled[case.problem.name] = jnp_residual(case.problem)
    return sv.least_squares(compiled[case.problem.name], case.x0)


def scipy_functions(problem: nist.NistProblem):
    """Return the numpy residual and a numpy Jacobian from a jitted forward-mode JAX Jacobian."""
    jacobian_jit = jax.jit(jax.jacfwd(jnp_residual(problem)))

    def residual(b):
        return problem.residual(b, np)

    def jacobian(b):
        return np.asarray(jacobian_jit(b))

    return residual, jacobian


def solve_scipy(method: str, case: Case, compiled: dict):
    if case.problem.name not in compiled:
        compiled[case.problem.name] = scipy_functions(case.problem)
    residual, jacobian = compiled[case.problem.name]
    # numpy warns when trial points of the harder problems overflow exp or
    # divide by zero. The warnings would bury the table, and the outcome of
    # each solve is recorded anyway.
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return scipy.optimize.least_squares(residual, case.x0, jac=jacobian, method=method)


def solve_case(method: str, case: Case, compiled: dict):
    if method == "svensolve":
        return solve_svensolve(case, compiled)
    return solve_scipy(method, case, compiled)


def run_case(method: str, case: Case, compiled: dict) -> dict:
    """Solve one case, time it and score it. An exception counts as a failure with 0 digits."""
    started = time.perf_counter()
    try:
        result = solve_case(method, case, compiled)
    except Exception as error:  # one failing case must not hide the other results
        return {
            "seconds": time.perf_counter() - started,
            "digits": 0.0,
            "success": False,
            "status": None,
            "message": None,
            "nfev": None,
            "njev": None,
            "x": None,
            "error": f"{type(error).__name__}: {error}",
        }
    seconds = time.perf_counter() - started
    x = np.asarray(result.x, dtype=np.float64)
    digits = nist.log_relative_error(x, case.problem.certified_params).min()
    return {
        "seconds": seconds,
        "digits": float(digits),
        "success": bool(result.success),
        "status": int(result.status),
        "message": str(result.message),
        "nfev": int(result.nfev),
        # scipy's "lm" reports None when it estimates J by finite differences.
        "njev": None if result.njev is None else int(result.njev),
        "x": x.tolist(),
        "error": None,
    }


def run_pass(method: str, cases: list[Case], compiled: dict) -> tuple[list[dict], float]:
    started = time.perf_counter()
    records = [run_case(method, case, compiled) for case in cases]
    return records, time.perf_counter() - started


def run_method(method: str, cases: list[Case], repeat: int) -> dict:
    """Run the first pass over all cases, then ``repeat`` timed passes that reuse its compiled code.

    svensolve 0.1.0 compiles again inside every call to `sv.least_squares`, so
    its repeated passes include compilation too. For scipy, the jitted
    Jacobians built in the first pass are reused.
    """
    compiled: dict = {}
    print(f"{method}: first pass over {len(cases)} cases", file=sys.stderr)
    records, first_seconds = run_pass(method, cases, compiled)
    repeat_seconds = []
    for index in range(repeat):
        print(f"{method}: repeated pass {index + 1} of {repeat}", file=sys.stderr)
        repeated, seconds = run_pass(method, cases, compiled)
        repeat_seconds.append(seconds)
        for record, again in zip(records, repeated, strict=True):
            record.setdefault("repeat_seconds", []).append(again["seconds"])
    return {
        "cases": records,
        "first_pass_seconds": first_seconds,
        "repeat_pass_seconds": repeat_seconds,
    }


def summarize(runs: dict, n_cases: int) -> dict:
    summary = {}
    for method, run in runs.items():
        records = run["cases"]
        summary[method] = {
            "cases": n_cases,
            "good_digits_cases": sum(record["digits"] >= GOOD_DIGITS for record in records),
            "successes": sum(record["success"] for record in records),
            "first_pass_seconds": run["first_pass_seconds"],
            "best_repeat_pass_seconds": min(run["repeat_pass_seconds"]),
        }
    return summary


def print_case_table(cases: list[Case], runs: dict) -> None:
    columns = ["Problem", "Start"]
    columns += [f"Digits {method}" for method in METHODS]
    columns += [f"nfev {method}" for method in METHODS]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for index, case in enumerate(cases):
        records = [runs[method]["cases"][index] for method in METHODS]
        cells = [case.problem.name, str(case.start)]
        cells += [f"{record['digits']:.1f}" for record in records]
        cells += ["-" if record["nfev"] is None else str(record["nfev"]) for record in records]
        print("| " + " | ".join(cells) + " |")


def print_summary_table(summary: dict, repeat: int) -> None:
    print(
        f"| Method | Cases with >= {GOOD_DIGITS} digits | Successes | First pass (s) "
        f"| Repeated pass, best of {repeat} (s) |"
    )
    print("|---|---|---|---|---|")
    for method in METHODS:
        row = summary[method]
        print(
            f"| {method} | {row['good_digits_cases']}/{row['cases']} "
            f"| {row['successes']}/{row['cases']} | {row['first_pass_seconds']:.3f} "
            f"| {row['best_repeat_pass_seconds']:.3f} |"
        )


def print_errors(cases: list[Case], runs: dict) -> None:
    """Print the exceptions raised by solves, which the table shows as 0 digits."""
    lines = []
    for method in METHODS:
        for case, record in zip(cases, runs[method]["cases"], strict=True):
            if record["error"] is not None:
                where = f"{method} on {case.problem.name} start {case.start}"
                lines.append(f"- {where}: {record['error']}")
    if lines:
        print("Exceptions (scored as 0 digits, not a success):")
        print("\n".join(lines))
        print()


def write_json(path: str, report: dict) -> None:
    with open(path, "w", encoding="utf-8") as file:
        json.dump(report, file, indent=1)
        file.write("\n")


def main(argv=None) -> int:
    args = parse_args(argv)
    import_seconds = {
        "jax": _JAX_IMPORTED - _IMPORT_STARTED,
        "svensolve_after_jax": _SVENSOLVE_IMPORTED - _JAX_IMPORTED,
        "jax_backend_start": start_backend(),
    }
    facts = machine_facts()
    cases = [Case(nist.load(name), start) for name in args.names for start in (1, 2)]

    print("# NIST StRD: svensolve vs scipy.optimize.least_squares")
    print()
    print_machine_facts(facts)
    print(
        f"- Import: jax {import_seconds['jax']:.2f} s, then svensolve "
        f"{import_seconds['svensolve_after_jax']:.2f} s; JAX backend start "
        f"{import_seconds['jax_backend_start']:.2f} s (not part of any pass)"
    )
    print()
    sys.stdout.flush()

    runs = {method: run_method(method, cases, args.repeat) for method in METHODS}
    summary = summarize(runs, len(cases))

    print(
        "Digits: minimum LRE over the parameters (0 to 15). All methods run at their "
        "default settings. scipy uses the numpy residual and a numpy Jacobian from "
        "jax.jit(jax.jacfwd(jnp residual)); compiling it is part of scipy's first pass."
    )
    print()
    print_case_table(cases, runs)
    print()
    print_summary_table(summary, args.repeat)
    print()
    print_errors(cases, runs)

    if args.json:
        report = {
            "machine": facts,
            "import_seconds": import_seconds,
            "repeat": args.repeat,
            "cases": [{"problem": case.problem.name, "start": case.start} for case in cases],
            "methods": runs,
            "summary": summary,
        }
        write_json(args.json, report)
        print(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
