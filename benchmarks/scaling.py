"""Measure svensolve's time per iteration and peak memory as the problem grows.

The problem is the 2D Poisson PINN of `problems.poisson2d`, a tanh network of
two hidden layers. From one size to the next, the interior grid per direction
and the hidden width both grow by 10**(1/4). The residual count n (about
grid**2) and the parameter count p (about width**2) then each grow by about
sqrt(10), and n * p by about 10. The curve stops at the first size whose
iteration takes longer than the budget, that fails (out of memory, for one),
or that runs past the child time limit.

Each size runs in its own child process, so that its peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is that size's alone. The child
calls ``sv.minimize`` at its default settings twice: once with ``max_iter=1``
to compile (the "Warm-up" column), then for `ITERATIONS` iterations with
``time_limit`` set to the budget. Seconds per iteration is the second call's
``result.time / result.nit``, which includes the call's own setup. The Jacobian
path is ``result.jacobian_method``, the path that ``jacobian="auto"`` chose; the
table shows its name and the JSON the whole text, with the reason for the choice.

Usage: ``python -m benchmarks.scaling [--budget SECONDS] [--quick] [--json FILE]
[--plot FILE]``.
"""

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import time

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent

# The first size: 10 x 10 interior points and width 8 (n = 140, p = 105).
FIRST_GRID = 10
FIRST_WIDTH = 8
GROWTH_PER_STEP = 10 ** 0.25
MAX_STEPS = 10
QUICK_SIZES = ((6, 6), (10, 10))  # (grid, width)

ITERATIONS = 5
QUICK_ITERATIONS = 2
DEFAULT_BUDGET = 60.0

# A child gets this long to start and compile, on top of four budgets for its
# iterations (the warm-up's and the last timed one can each take up to a budget).
CHILD_STARTUP_SECONDS = 600.0

# Prefix of the line with which a child reports its measurement on stdout.
RESULT_PREFIX = "SCALING_RESULT "


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scaling",
        description=(
            "Measure svensolve's seconds per iteration and peak memory on the 2D Poisson "
            "PINN as n * p grows about 10x per step, one child process per size."
        ),
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET,
        metavar="SECONDS",
        help="stop after the first size whose iteration takes longer than this, in seconds "
        f"(default: {DEFAULT_BUDGET:g})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"measure only the sizes (grid, width) {QUICK_SIZES}, "
        f"{QUICK_ITERATIONS} iterations each (a smoke run)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write every measurement to FILE")
    parser.add_argument(
        "--plot",
        metavar="FILE",
        help="also draw seconds per iteration and peak memory against n * p to FILE "
        "(an image file such as scaling.png; needs matplotlib)",
    )
    parser.add_argument(
        "--measure",
        nargs=4,
        type=float,
        metavar=("GRID", "WIDTH", "ITERATIONS", "BUDGET"),
        help="measure one size in this process and print its result line; the parent "
        "run starts a child process with this option for every size",
    )
    args = parser.parse_args(argv)
    if not args.budget > 0:
        parser.error(f"--budget must be a positive number of seconds, got {args.budget}")
    return args


def sizes(quick: bool) -> list[tuple[int, int]]:
    """Return the (grid, width) of every step, smallest first."""
    if quick:
        return list(QUICK_SIZES)
    return [
        (round(FIRST_GRID * GROWTH_PER_STEP**step), round(FIRST_WIDTH * GROWTH_PER_STEP**step))
        for step in range(MAX_STEPS)
    ]


def measure(grid: int, width: int, iterations: int, budget: float) -> dict:
    """Solve one size in this process and return its measurement."""
    import jax
    from jax.flatten_util import ravel_pytree

    import svensolve as sv
    from problems import poisson2d
    from svensolve.memory import default_memory_limit

    case = poisson2d.build(width=width, grid=grid, edge_points=grid)
    n = case.problem.blocks(case.params)[-1].stop
    p = ravel_pytree(case.params)[0].size
    # The same limit in both calls lets the timed call reuse the warm-up's compiled code.
    memory_limit = default_memory_limit()

    started = time.perf_counter()
    sv.minimize(case.problem, case.params, max_iter=1, progress=False, memory_limit=memory_limit)
    warmup_seconds = time.perf_counter() - started
    result = sv.minimize(
        case.problem, case.params, max_iter=iterations, time_limit=budget, progress=False,
        memory_limit=memory_limit,
    )

    # ru_maxrss is in KiB on Linux.
    peak_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    device_stats = jax.devices()[0].memory_stats() or {}
    return {
        "grid": grid,
        "width": width,
        "n": int(n),
        "p": int(p),
        "jacobian_method": str(result.jacobian_method),
        "warmup_seconds": warmup_seconds,
        "iterations": int(result.nit),
        "seconds_per_iteration": result.time / result.nit if result.nit else None,
        "peak_resident_bytes": peak_bytes,
        "device_peak_bytes": device_stats.get("peak_bytes_in_use"),
    }


def run_child(grid: int, width: int, iterations: int, budget: float) -> dict:
    """Measure one size in a child process and return its measurement or why it failed."""
    command = [
        sys.executable, "-m", "benchmarks.scaling",
        "--measure", str(grid), str(width), str(iterations), str(budget),
    ]
    timeout = CHILD_STARTUP_SECONDS + 4 * budget
    failed = {"grid": grid, "width": width}
    try:
        completed = subprocess.run(
            command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {**failed, "status": f"timed out after {timeout:g} s"}

    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return {**json.loads(line[len(RESULT_PREFIX):]), "status": "ok"}
    return {**failed, "status": failure_reason(completed)}


def failure_reason(completed: subprocess.CompletedProcess) -> str:
    """Describe why a child ended without a measurement, from its exit status and stderr."""
    lines = completed.stderr.strip().splitlines()
    last_line = lines[-1] if lines else "no output on stderr"
    out_of_memory = ("RESOURCE_EXHAUSTED", "MemoryError")
    if completed.returncode == -9 or any(word in completed.stderr for word in out_of_memory):
        return f"out of memory (exit status {completed.returncode}): {last_line}"
    return f"failed with exit status {completed.returncode}: {last_line}"


def measure_curve(size_list, iterations: int, budget: float) -> tuple[list[dict], str]:
    """Measure sizes in order until one fails or takes over the budget per iteration."""
    records = []
    for grid, width in size_list:
        print(f"grid {grid}, width {width}: child process started", file=sys.stderr)
        record = run_child(grid, width, iterations, budget)
        records.append(record)
        if record["status"] != "ok":
            return records, f"grid {grid}, width {width}: {record['status']}"
        seconds = record["seconds_per_iteration"]
        if not record["iterations"]:
            return records, (
                f"grid {grid}, width {width}: no iteration finished within the budget of "
                f"{budget:g} s"
            )
        if seconds is not None and seconds > budget:
            return records, (
                f"grid {grid}, width {width}: one iteration took {seconds:.1f} s, "
                f"over the budget of {budget:g} s"
            )
    return records, "every size in the list was measured"


def format_cell(value, pattern: str) -> str:
    return "-" if value is None else format(value, pattern)


TABLE_COLUMNS = (
    "Grid", "Width", "n", "p", "n * p", "Jacobian path", "Warm-up (s)", "Iterations",
    "Seconds per iteration", "Peak resident memory (GiB)", "Status",
)


def print_table(records: list[dict]) -> None:
    print("| " + " | ".join(TABLE_COLUMNS) + " |")
    print("|" + "---|" * len(TABLE_COLUMNS))
    for record in records:
        n, p = record.get("n"), record.get("p")
        # The table keeps the path's name, and the JSON has the whole reason for the choice.
        path = record.get("jacobian_method", "-").split(":")[0].replace("|", "/")
        peak = record.get("peak_resident_bytes")
        cells = [
            str(record["grid"]),
            str(record["width"]),
            format_cell(n, "d"),
            format_cell(p, "d"),
            "-" if n is None else f"{n * p:.2e}",
            path,
            format_cell(record.get("warmup_seconds"), ".2f"),
            format_cell(record.get("iterations"), "d"),
            format_cell(record.get("seconds_per_iteration"), ".3g"),
            "-" if peak is None else f"{peak / 2**30:.2f}",
            record["status"],
        ]
        print("| " + " | ".join(cells) + " |")


def plot_curve(pyplot, records: list[dict], budget: float, path: str) -> None:
    measured = [record for record in records if record["status"] == "ok" and record["iterations"]]
    products = [record["n"] * record["p"] for record in measured]
    figure, time_axis = pyplot.subplots(figsize=(7, 4.5))
    time_axis.loglog(products, [r["seconds_per_iteration"] for r in measured], "o-", label="time")
    time_axis.axhline(budget, color="gray", linestyle=":", label="budget")
    time_axis.set_xlabel("n * p (residuals x parameters)")
    time_axis.set_ylabel("seconds per iteration")
    memory_axis = time_axis.twinx()
    memory_axis.loglog(
        products, [r["peak_resident_bytes"] / 2**30 for r in measured], "s--", color="tab:red",
        label="peak resident memory",
    )
    memory_axis.set_ylabel("peak resident memory (GiB)")
    time_axis.set_title("svensolve on the 2D Poisson PINN, default settings")
    time_axis.grid(True, which="both", alpha=0.3)
    handles = time_axis.get_legend_handles_labels()[0] + memory_axis.get_legend_handles_labels()[0]
    time_axis.legend(handles=handles, loc="upper left")
    figure.savefig(path, dpi=150, bbox_inches="tight")
    pyplot.close(figure)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.measure is not None:
        grid, width, iterations, budget = args.measure
        record = measure(int(grid), int(width), int(iterations), budget)
        print(RESULT_PREFIX + json.dumps(record))
        return 0

    # On a GPU, JAX would otherwise reserve most of the device's memory in this parent
    # process when machine_facts starts the backend, leaving little for the children.
    # The children inherit the setting, so device_peak_bytes is what a size used.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    from benchmarks.nist import machine_facts, print_machine_facts
    from benchmarks.poisson2d import import_pyplot

    # Fail before the long runs, not after them.
    pyplot = import_pyplot() if args.plot else None
    iterations = QUICK_ITERATIONS if args.quick else ITERATIONS
    facts = machine_facts()
    print(f"# Scaling of svensolve on the 2D Poisson PINN, budget {args.budget:g} s per iteration")
    print()
    print_machine_facts(facts)
    print(f"- Timed iterations per size: {iterations}, after a max_iter=1 warm-up")
    print()
    sys.stdout.flush()

    records, stopped = measure_curve(sizes(args.quick), iterations, args.budget)
    print_table(records)
    print()
    print(
        "n: residuals, p: parameters. Warm-up: the max_iter=1 call, compilation included. "
        "Seconds per iteration: the timed call's time over its iterations. Peak resident "
        "memory: ru_maxrss of the size's child process, both calls included; on a GPU it "
        "leaves out device memory, which the JSON has as device_peak_bytes."
    )
    print(f"- Stopped: {stopped}")
    if pyplot is not None:
        plot_curve(pyplot, records, args.budget, args.plot)
        print(f"Wrote {args.plot}")
    if args.json:
        report = {
            "machine": facts,
            "budget_seconds": args.budget,
            "iterations": iterations,
            "growth_per_step": GROWTH_PER_STEP,
            "sizes": records,
            "stopped": stopped,
        }
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(report, file, indent=1)
            file.write("\n")
        print(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
