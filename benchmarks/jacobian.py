"""Cost of one Sven direction on each Jacobian path, in units of one gradient.

Three measurements, each in one process:

- ``cost``: for the 2D Poisson PINN (1,020 residuals, 1,185 parameters) and a
  wide Poisson PINN (about 2e4 residuals, 9e4 parameters), the time of one
  direction (build J or its operator, factor it, form the step) on every
  path and rank, divided by the time of one gradient of the cost
  ``0.5 ||r||^2``. Each time is the median of ``--repeat`` runs after a
  warm-up run, so compilation is excluded.
- ``auto``: short solves (``--iterations`` iterations) on every path side by
  side with ``jacobian="auto"``, with the time per iteration and the ratio
  of auto to the fastest fixed path.
- ``memory``: a data fit whose dense Jacobian needs more than 40 GB, solved
  for 5 iterations in a child process; prints the peak resident memory
  (``ru_maxrss``) and the cost before and after.

Usage: ``python -m benchmarks.jacobian [cost|auto|memory] [--quick]``.
"""

import argparse
import subprocess
import sys
import time

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

import svensolve as sv
from problems import poisson2d
from svensolve import evaluate
from svensolve.linalg.operator import is_operator
from svensolve.memory import available_memory
from svensolve.options import make_options
from svensolve.solve import _Run
from svensolve.step import sven_direction

RANKS = (16, 64, 256)
# (path, svd) pairs; rank None for the methods that keep the whole spectrum.
PATHS = (
    ("dense", "exact"),
    ("dense", "randomized"),
    ("streamed", "gram"),
    ("streamed", "randomized"),
    ("streamed", "single-pass"),
    ("streamed", "krylov"),
    ("matrix-free", "randomized"),
)
FULL_SPECTRUM = {"exact", "gram"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", default="cost", choices=("cost", "auto", "memory"))
    parser.add_argument("--quick", action="store_true", help="small problems, one repeat")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per entry")
    parser.add_argument("--iterations", type=int, default=5, help="iterations per solve (auto)")
    parser.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                        help="auto: solve each path until it converges or for this many "
                             "seconds, instead of --iterations, and report the time to "
                             "reach a cost of 1e-10 and the relative L2 error")
    parser.add_argument("--rtol", type=float, default=None,
                        help="auto with --budget: the same singular value cutoff on every "
                             "path, so the table compares paths alone; by default only the "
                             "dense exact path (and auto when it picks it) tries the ladder "
                             "of cutoffs")
    parser.add_argument("--cases", default="both", choices=("small", "wide", "both"),
                        help="the 1,020 x 1,185 PINN, the wide one, or both")
    parser.add_argument("--paths", default=None,
                        help="path:svd pairs to run in the cost table, comma-separated, "
                             "e.g. streamed:randomized")
    parser.add_argument("--all-paths", action="store_true",
                        help="also run the matrix-free path on the wide problem (auto)")
    return parser.parse_args(argv)


def problems(quick: bool, which: str = "both", with_cases: bool = False):
    """(label, Problem, params) of the benchmark PINNs, with the problem case if asked."""
    cases = []
    if which in ("small", "both"):
        cases.append(("poisson2d 1,020 x 1,185", poisson2d.build()))
    if which in ("wide", "both") and quick:
        cases.append(("poisson2d wide (quick)", poisson2d.build(width=48, grid=20, edge_points=20)))
    elif which in ("wide", "both"):
        cases.append(("poisson2d wide", poisson2d.build(width=300, grid=140, edge_points=100)))
    if with_cases:
        return [(label, case.problem, case.params, case) for label, case in cases]
    return [(label, case.problem, case.params) for label, case in cases]


def selected_paths(text):
    """Return the (path, svd) pairs named by ``--paths``, or all of `PATHS`."""
    if text is None:
        return PATHS
    return tuple(tuple(item.split(":")) for item in text.split(","))


def median_time(function, repeat: int) -> float:
    function()  # warm-up: compilation and caches
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def gradient_time(problem, params, repeat: int) -> float:
    x0, unravel = jax.flatten_util.ravel_pytree(params)

    @jax.jit
    def gradient(x):
        return jax.grad(lambda x: 0.5 * jnp.sum(problem.residual(unravel(x)) ** 2))(x)

    return median_time(lambda: gradient(x0).block_until_ready(), repeat)


def direction_function(problem, params, path, svd, rank):
    """A function that computes one direction at the start, or None if the path cannot."""
    try:
        evaluator, x0, _ = evaluate.from_problem(problem, params, path, rank=rank, svd=svd)
    except ValueError as error:
        return None, str(error).split(";")[0]
    options = make_options(rank=rank, svd=svd, jacobian=path)
    run = _Run(evaluator, options)
    residual = evaluator.residual(x0)
    n, p = residual.size, x0.size
    if path == "dense" and 6 * n * p * 8 > 0.5 * _available():
        return None, "dense J does not fit"
    run._configure(x0, n, p)

    def direction():
        jacobian = evaluator.jacobian(x0)
        if is_operator(jacobian):
            jacobian.expect_residual(residual)
        factors = run._factor(jacobian)
        return sven_direction(factors, residual, 1.0, rank, run.rtol).step

    return direction, ""


def _available() -> int:
    return available_memory()


def cost_table(args) -> None:
    print("Cost of one direction (build J or operator, factor, step) at the start point,")
    print(f"median of {args.repeat} after a warm-up; 'grads' = time / one gradient of the cost.")
    for label, problem, params in problems(args.quick, args.cases):
        grad = gradient_time(problem, params, args.repeat)
        n = problem.blocks(params)[-1].stop
        p = jax.flatten_util.ravel_pytree(params)[0].size
        print(f"\n{label}: n = {n}, p = {p}, one gradient {grad * 1e3:.2f} ms")
        print(f"{'path':<12} {'svd':<11} {'rank':>5} {'seconds':>9} {'grads':>8}")
        sketch_ranks = RANKS
        if n * p > 10**8:
            sketch_ranks = RANKS[:2]
            print("(rank 256 left out on this size: about 4 times the rank-64 time)")
        for path, svd in selected_paths(args.paths):
            ranks = (None,) if svd in FULL_SPECTRUM else sketch_ranks
            for rank in ranks:
                if rank is not None and rank >= min(n, p):
                    continue
                direction, reason = direction_function(problem, params, path, svd, rank)
                if direction is None:
                    print(f"{path:<12} {svd:<11} {str(rank):>5} {'-':>9} {'-':>8}  ({reason})")
                    continue
                seconds = median_time(direction, args.repeat)
                print(f"{path:<12} {svd:<11} {str(rank):>5} {seconds:>9.3f} {seconds / grad:>8.1f}")


# Cost that the --budget solves are timed to.
TARGET_COST = 1e-10


def budget_table(args) -> None:
    """Solve on each path for up to ``args.budget`` seconds; time to a cost and final error."""
    cutoff = "default cutoffs" if args.rtol is None else f"rtol {args.rtol:g} on every path"
    print(f"Solves of at most {args.budget:g} s from the start, warm (second solve timed); "
          f"time to cost <= {TARGET_COST:g}; {cutoff}.")
    for label, problem, params, case in problems(args.quick, args.cases, with_cases=True):
        print(f"\n{label}")
        print(f"{'jacobian':<12} {'svd':<11} {'to target':>10} {'seconds':>8} {'its':>5} "
              f"{'cost':>10} {'L2 error':>10}  chosen")
        times = {}
        for path, svd, rank, skip in _side_by_side(problem, params, args.all_paths):
            if skip:
                print(f"{path:<12} {svd:<11} ({skip})")
                continue
            _solver(problem, params, path, svd, rank, 2, args.rtol)()  # compile
            result = sv.minimize(problem, params, jacobian=path, svd=svd, rank=rank,
                                 rtol=args.rtol, time_limit=args.budget, progress=False)
            reached = np.flatnonzero(result.history["cost"] <= TARGET_COST)
            to_target = float(result.history["time"][reached[0]]) if reached.size else None
            times[(path, svd)] = to_target
            to_target_text = "never" if to_target is None else f"{to_target:.2f}"
            chosen = result.jacobian_method.split(":")[0]
            print(f"{path:<12} {svd:<11} {to_target_text:>10} {result.time:>8.2f} {result.nit:>5} "
                  f"{result.cost:>10.2e} {case.relative_l2_error(result.params):>10.2e}  "
                  f"{chosen}")
        fixed = [t for key, t in times.items() if key[0] != "auto" and t is not None]
        auto = times.get(("auto", "auto"))
        if fixed and auto is not None:
            print(f"auto / fastest fixed path to the target: {auto / min(fixed):.2f}")


def auto_table(args) -> None:
    if args.budget is not None:
        budget_table(args)
        return
    print(f"Solves of {args.iterations} iterations from the start, warm (second solve timed).")
    for label, problem, params in problems(args.quick, args.cases):
        print(f"\n{label}")
        print(f"{'jacobian':<12} {'svd':<11} {'s/iteration':>12} {'cost':>11}  chosen")
        rows = []
        for path, svd, rank, skip in _side_by_side(problem, params, args.all_paths):
            if skip:
                print(f"{path:<12} {svd:<11} {'-':>12} {'-':>11}  ({skip})")
                continue
            try:
                solve = _solver(problem, params, path, svd, rank, args.iterations)
                solve()
                result = solve()
            except (ValueError, MemoryError) as error:
                print(f"{path:<12} {svd:<11} {'-':>12} {'-':>11}  ({str(error)[:60]})")
                continue
            per_iteration = result.time / max(result.nit, 1)
            rows.append((path, per_iteration))
            chosen = result.jacobian_method.split(":")[0]
            print(f"{path:<12} {svd:<11} {per_iteration:>12.3f} {result.cost:>11.3e}  {chosen}")
        fixed = [seconds for path, seconds in rows if path != "auto"]
        auto = [seconds for path, seconds in rows if path == "auto"]
        if fixed and auto:
            print(f"auto / fastest fixed path: {auto[0] / min(fixed):.2f}")


def _side_by_side(problem, params, all_paths: bool):
    """Yield (path, svd, rank, skip reason) for auto and every fixed path.

    The randomized and Krylov methods keep rank 64; exact and Gram keep all.
    """
    n = problem.blocks(params)[-1].stop
    p = jax.flatten_util.ravel_pytree(params)[0].size
    for path, svd in (("auto", "auto"), *PATHS):
        rank = None if svd in FULL_SPECTRUM or path == "auto" else 64
        yield path, svd, rank, _skip_reason(path, n, p, all_paths)


def _skip_reason(path: str, n: int, p: int, all_paths: bool) -> str:
    """Why a path is left out of the side-by-side solves, or an empty string."""
    if path == "dense" and 6 * n * p * 8 > 0.5 * available_memory():
        return "dense J does not fit"
    if path == "matrix-free" and n * p > 10**8 and not all_paths:
        return "about 300 gradients per iteration at rank 64; --all-paths runs it"
    return ""


def _solver(problem, params, path, svd, rank, iterations, rtol=None):
    def solve():
        return sv.minimize(problem, params, jacobian=path, svd=svd, rank=rank, rtol=rtol,
                           max_iter=iterations, progress=False)

    return solve


MEMORY_CHILD = """
import resource, sys, time
import jax, jax.numpy as jnp, numpy as np
import svensolve as sv

n, width, rank = {n}, {width}, {rank}
keys = jax.random.split(jax.random.PRNGKey(0), 3)
params = {{"w1": jax.random.normal(keys[0], (width, 1)), "b1": jnp.zeros(width),
          "w2": jax.random.normal(keys[1], (width, width)) / width ** 0.5,
          "b2": jnp.zeros(width), "w3": jnp.zeros((1, width)), "b3": jnp.zeros(1)}}
x = np.linspace(-1, 1, n)[:, None]

def fit(params, point):
    h = jnp.tanh(params["w1"] @ point + params["b1"])
    h = jnp.tanh(params["w2"] @ h + params["b2"])
    return (params["w3"] @ h + params["b3"])[0] - jnp.sin(3 * point[0])

problem = sv.Problem([sv.Condition("data", fit, points=x)])
p = jax.flatten_util.ravel_pytree(params)[0].size
start = 0.5 * float(jnp.sum(problem.residual(params) ** 2))
started = time.perf_counter()
result = sv.minimize(problem, params, rank=rank, max_iter=5, memory_limit={limit},
                     progress=False)
elapsed = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(f"n = {{n}}, p = {{p}}: dense J would take {{n * p * 8 / 1e9:.1f}} GB")
print(f"path: {{result.jacobian_method}}")
print(f"cost {{start:.4e}} -> {{result.cost:.4e}} in {{result.nit}} iterations, {{elapsed:.1f}} s")
print(f"peak resident memory {{peak:.2f}} GiB")
"""


def memory_run(args) -> None:
    if args.quick:
        n, width, rank, limit = 4000, 100, 8, 2**30
    else:
        n, width, rank, limit = 50_000, 320, 16, 6 * 2**30
    script = MEMORY_CHILD.format(n=n, width=width, rank=rank, limit=limit)
    subprocess.run([sys.executable, "-c", script], check=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.quick:
        args.repeat = 1
        args.iterations = 2
    {"cost": cost_table, "auto": auto_table, "memory": memory_run}[args.what](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
