"""One table across problems from the JSON of the PINN suite: svensolve against the best peer.

For each problem the best peer is the one with the lowest final metric. The
table gives both final metrics, the time each of the two first reached the
best peer's final metric, and whether svensolve did at least as well at the
budget. Later files replace the optimizers of earlier ones with the same
name, so a rerun of one peer (``python -m benchmarks.pinn --peers NAME
--json FILE``) can update a suite run.

With ``--plots DIR`` it also draws one figure per problem from the merged
traces, all optimizers on one axis, as the suite's own ``--plots`` does.

Usage: ``python -m benchmarks.pinn_summary SUITE.json [RERUN.json ...] [--tables] [--plots DIR]``.
"""

import argparse
import json
import math
import os

from benchmarks.pinn import FIXED_STEP, REFERENCE, plot_metric_traces, plot_title
from benchmarks.poisson2d import import_pyplot

# Variants of svensolve, not peers.
NOT_PEERS = (REFERENCE, FIXED_STEP)


def load_problems(paths) -> dict:
    """Return problem name -> {"metric": text, "optimizers": {name: data}}, merged over files."""
    problems = {}
    for path in paths:
        with open(path, encoding="utf-8") as file:
            report = json.load(file)
        entries = report["problems"].values() if "problems" in report else [report]
        for entry in entries:
            budget = report.get("budget_seconds")
            problem = problems.setdefault(
                entry["problem"], {"metric": entry["metric"], "optimizers": {}, "budget": budget}
            )
            problem["optimizers"].update(entry["optimizers"])
    return problems


def time_to_reach(optimizer: dict, value: float) -> float | None:
    """Return the first time at which the optimizer's metric was at or below ``value``, or None."""
    for time, metric in zip(optimizer["times"], optimizer["metrics"], strict=True):
        if metric is not None and math.isfinite(metric) and metric <= value:
            return time
    return None


def summary_rows(problems: dict) -> list[tuple]:
    """Return (problem, svensolve metric, best peer, its metric, both times, verdict) rows."""
    rows = []
    for name, problem in problems.items():
        optimizers = problem["optimizers"]
        peers = {key: data for key, data in optimizers.items() if key not in NOT_PEERS}
        if REFERENCE not in optimizers or not peers:
            continue
        best = min(peers, key=lambda key: _final(peers[key]))
        target = _final(peers[best])
        ours = optimizers[REFERENCE]
        ours_time = time_to_reach(ours, target)
        peer_time = time_to_reach(peers[best], target)
        better = _final(ours) <= target
        faster = ours_time is not None and (peer_time is None or ours_time <= peer_time)
        verdict = "no"
        if better:
            verdict = "yes" if faster else "metric only"
        rows.append((name, _final(ours), best, target, ours_time, peer_time, verdict))
    return rows


def _final(optimizer: dict) -> float:
    value = optimizer["final_metric"]
    return math.inf if value is None or not math.isfinite(value) else value


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f}"


def print_summary(problems: dict) -> None:
    print("| Problem | svensolve | Best peer | Its metric | svensolve time to it (s) "
          "| Peer time to it (s) | svensolve at least as good and faster |")
    print("|---|---|---|---|---|---|---|")
    for name, ours, best, target, ours_time, peer_time, verdict in summary_rows(problems):
        print(f"| {name} | {ours:.3e} | {best} | {target:.3e} | {_seconds(ours_time)} "
              f"| {_seconds(peer_time)} | {verdict} |")


def print_tables(problems: dict) -> None:
    """Print one compact table per problem: final metric, iterations, times to thresholds.

    The times are the suite's own ``time_to`` entries, keyed by threshold.
    """
    for name, problem in problems.items():
        thresholds = list(next(iter(problem["optimizers"].values()))["time_to"])
        print(f"\n{name} ({problem['metric']}):\n")
        print("| Optimizer | Final metric | Iterations | Warm-up (s) | "
              + " | ".join(f"To {t} (s)" for t in thresholds) + " |")
        print("|---|---|---|---|" + "---|" * len(thresholds))
        for key, data in problem["optimizers"].items():
            times = [_seconds(data["time_to"][t]) for t in thresholds]
            print(f"| {key} | {_final(data):.3e} | {data['iterations']} | "
                  f"{data['warmup_seconds']:.2f} | " + " | ".join(times) + " |")


def draw_plots(problems: dict, directory: str) -> None:
    """Write ``directory/<problem>.png``: the metric of every optimizer against time."""
    pyplot = import_pyplot()
    os.makedirs(directory, exist_ok=True)
    for name, problem in problems.items():
        traces = {key: (data["times"], data["metrics"])
                  for key, data in problem["optimizers"].items()}
        budget = problem["budget"]
        title = plot_title(name, budget) if budget is not None else f"{name} PINN"
        path = os.path.join(directory, f"{name}.png")
        plot_metric_traces(pyplot, traces, title, problem["metric"], path)
        print(f"Wrote {path}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pinn_summary",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="JSON from the pinn suite, then reruns that replace optimizers")
    parser.add_argument("--tables", action="store_true",
                        help="also print a compact table per problem")
    parser.add_argument("--plots", metavar="DIR", default=None,
                        help="also draw DIR/<problem>.png, metric against time of every "
                             "optimizer (needs matplotlib)")
    args = parser.parse_args(argv)
    problems = load_problems(args.files)
    print_summary(problems)
    if args.tables:
        print_tables(problems)
    if args.plots:
        draw_plots(problems, args.plots)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
