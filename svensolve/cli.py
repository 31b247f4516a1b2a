"""The `svensolve` command: list, run and describe the reference problems."""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import time
from contextlib import nullcontext

import numpy as np

# Time limit in seconds of a solve when --time-limit is not given. The nist cases then
# have none, so that their results do not depend on the machine's speed.
DEFAULT_TIME_LIMIT = 60.0


def build_parser() -> argparse.ArgumentParser:
    return _build_parsers()[0]


def _build_parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """Build the `svensolve` parser and its `run` subparser, which reports run's errors."""
    parser = argparse.ArgumentParser(
        prog="svensolve", description="Solve reference problems with Sven steps."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the reference problems")
    commands.add_parser("info", help="print versions, devices and float64 status")

    run = commands.add_parser("run", help="solve a reference problem and print a summary")
    run.add_argument("name", help="problem name, from `svensolve list`")
    run.add_argument("--method", default="sven", choices=["sven"],
                     help="solver method (only 'sven', as in minimize)")
    run.add_argument("--jacobian", default="auto",
                     choices=["auto", "dense", "streamed", "gram", "matrix-free"],
                     help="how the Jacobian is formed and factored (default: auto); "
                          "not available for nist")
    run.add_argument("--memory-limit", default=None, metavar="SIZE",
                     help="memory the Jacobian may use: a size with a unit such as 512MiB or "
                          "2.5GB, or a plain number in GiB (default: half of the free memory); "
                          "not available for nist")
    run.add_argument("--control", default="auto",
                     choices=["auto", "trust-region", "line-search", "fixed"],
                     help="step control (default: auto)")
    run.add_argument("--rank", type=int, default=None,
                     help="singular directions kept per step (default: all)")
    run.add_argument("--rtol", type=float, default=None,
                     help="relative singular value cutoff (default: chosen from the shape)")
    run.add_argument("--lr", type=float, default=1.0,
                     help="step length of --control fixed, and the first one tried by the "
                          "line search (default: 1)")
    run.add_argument("--time-limit", type=float, default=None,
                     help="wall-clock budget of the solve in seconds, for nist per case "
                          f"(default: {DEFAULT_TIME_LIMIT:g}, for nist none)")
    run.add_argument("--max-iter", type=int, default=100_000,
                     help="iteration budget, for nist per case (default: 100000)")
    run.add_argument("--seed", type=int, default=0, help="seed of the initial network")
    run.add_argument("--plot", metavar="FILE", default=None,
                     help="save a figure of the solution, its error and the convergence to "
                          "FILE, in the format of its suffix (.png when it has none). It draws "
                          "curves of one variable and scalar fields on 2-D grids, so it is not "
                          "available for nist, poisson5d and kovasznay")
    run.add_argument("--save", metavar="FILE", default=None,
                     help="write the solution parameters, the iteration history and the "
                          "error metrics to FILE in numpy's .npz format; not available for nist")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser, run


def main(argv=None) -> int:
    """Entry point of the console script and of ``python -m svensolve``."""
    parser, run_parser = _build_parsers()
    args = parser.parse_args(argv)
    if args.command == "list":
        return _list()
    if args.command == "info":
        return _info()
    from problems import REGISTRY

    if args.name not in REGISTRY:
        run_parser.error(f"unknown problem {args.name!r}; choose from {sorted(REGISTRY)}")
    _check_run_arguments(run_parser, args)
    try:
        if args.name == "nist":
            return _run_nist(args)
        return _run_field(args, run_parser)
    except (ValueError, TypeError) as error:
        run_parser.error(str(error))
    return 2


def _check_run_arguments(parser, args) -> None:
    """Reject bad options before any problem is built or solved.

    ``parser`` is the `run` subparser, whose ``error`` exits with status 2. Sets
    ``args.plot`` to the file that the figure is written to.
    """
    from pathlib import Path

    from svensolve.options import make_options

    if args.name == "nist":
        _check_nist_arguments(parser, args)
    try:
        options = _solver_options(args)
        options.pop("method")  # checked by argparse's choices
        make_options(**options)
    except (ValueError, TypeError) as error:
        message = str(error)
        # Whole words only: "lr" must not change "already".
        for name in ("time_limit", "max_iter", "memory_limit", "rank", "rtol", "lr"):
            message = re.sub(rf"\b{name}\b", "--" + name.replace("_", "-"), message)
        parser.error(message)
    if args.plot:
        folder = Path(args.plot).parent
        if not folder.is_dir():
            parser.error(f"--plot: directory {str(folder)!r} does not exist")
        if Path(args.plot).is_dir():
            parser.error(f"--plot: {args.plot!r} is a directory; give a file name")
        args.plot = _figure_path(parser, args.plot)
    if args.save:
        target = Path(args.save)
        if not target.parent.is_dir():
            parser.error(f"--save: directory {str(target.parent)!r} does not exist")
        if target.is_dir():
            parser.error(f"--save: {str(target)!r} is a directory; give a file name")


def _check_nist_arguments(parser, args) -> None:
    """Reject the options that `svensolve.least_squares`, which solves the nist cases, lacks."""
    reason = ("is not available for nist, because least_squares chooses the Jacobian itself "
              "and forms it dense for these small cases")
    if args.jacobian != "auto":
        parser.error(f"--jacobian {args.jacobian!r} {reason}. Remove --jacobian, which "
                     "applies only to the other problems")
    if args.memory_limit is not None:
        parser.error(f"--memory-limit {args.memory_limit!r} {reason}. Remove --memory-limit, "
                     "which applies only to the other problems")
    if args.plot:
        parser.error("--plot is not available for nist")
    if args.save:
        parser.error("--save is not available for nist")


def _figure_path(parser, path: str) -> str:
    """Return the file that matplotlib writes for --plot PATH, or exit 2 on an unknown format.

    As matplotlib's savefig does, a PATH without a suffix gets one, here always .png.
    """
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        parser.error("--plot needs matplotlib, which is not installed: "
                     "pip install 'svensolve[plot]'")
    suffix = os.path.splitext(path)[1].lstrip(".")
    if not suffix:
        return path.rstrip(".") + ".png"
    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    if suffix.lower() not in formats:
        parser.error(f"--plot: suffix '.{suffix}' of {path!r} is not a format that matplotlib "
                     f"writes. Use one of {', '.join('.' + name for name in formats)}, or no "
                     "suffix for .png")
    return path


def _list() -> int:
    from problems import REGISTRY, describe

    width = max(len(name) for name in REGISTRY)
    for name in REGISTRY:
        print(f"{name:{width}s}  {describe(name)}")
    return 0


def _info() -> int:
    import jax
    import scipy

    import svensolve

    print(f"svensolve {svensolve.__version__}")
    print(f"python    {platform.python_version()}")
    print(f"jax       {jax.__version__}")
    print(f"numpy     {np.__version__}")
    print(f"scipy     {scipy.__version__}")
    print(f"devices   {', '.join(str(d) for d in jax.devices())}")
    print(f"float64   {'enabled' if jax.config.jax_enable_x64 else 'disabled'}")
    return 0


def _solver_options(args) -> dict:
    """Build the keyword arguments of `minimize` from the parsed options.

    Raises ValueError on a bad --memory-limit, where a plain number is in GiB.
    """
    from svensolve.memory import parse_memory_limit

    memory_limit = parse_memory_limit(args.memory_limit, default_unit="GiB")
    time_limit = args.time_limit
    if time_limit is None and args.name != "nist":
        time_limit = DEFAULT_TIME_LIMIT
    return {
        "method": args.method,
        "jacobian": args.jacobian,
        "memory_limit": memory_limit,
        "control": args.control,
        "rank": args.rank,
        "rtol": args.rtol,
        "lr": args.lr,
        "time_limit": time_limit,
        "max_iter": args.max_iter,
        "progress": False if args.quiet else None,
    }


def _run_field(args, parser) -> int:
    from jax.flatten_util import ravel_pytree

    import svensolve as sv
    from problems import REGISTRY

    case = REGISTRY[args.name].build(seed=args.seed)
    if args.plot:
        # Checked before the solve, so a figure that cannot be drawn costs no solve.
        points = case.test_grid()
        values = np.asarray(case.solution(case.params, points))
        if _figure_kind(points, values) is None:
            parser.error(f"--plot: {_no_figure_reason(args.name, points, values)}")
    unravel = ravel_pytree(case.params)[1]
    trace = []

    def record(iterate):
        trace.append((iterate.time, case.relative_l2_error(unravel(iterate.x))))

    options = _solver_options(args)
    print(f"solving {args.name}: {case.problem}")
    print(f"parameters:          {ravel_pytree(case.params)[0].size}")
    started = time.perf_counter()
    limited = _one_blas_thread_on_small_machine()
    with limited or nullcontext():
        result = sv.minimize(case.problem, case.params, callback=record, **options)
    wall = time.perf_counter() - started
    error = case.relative_l2_error(result.params)

    print(f"status:              {result.message}")
    print(f"iterations:          {result.nit} (residual evaluations {result.nfev})")
    print(f"time:                {result.time:.1f} s solving (first compilation included), "
          f"{wall:.1f} s in all")
    print(f"Jacobian:            {result.jacobian_method}")
    print(f"final cost:          {result.cost:.3e}")
    for name, cost in result.condition_costs.items():
        print(f"  cost[{name}]: {cost:.3e}")
    print(f"relative L2 error:   {error:.3e}")
    if hasattr(case, "coefficient_errors"):
        for name, value in case.coefficient_errors(result.params).items():
            print(f"  relative error of {name}: {value:.3e}")
    if result.status == sv.Status.TIME_LIMIT:
        hint = "" if limited else ", or on a busy machine try OPENBLAS_NUM_THREADS=1"
        print(f"note: the time limit stopped the solve before it converged; raise "
              f"--time-limit{hint}")
    for threshold in (1e-3, 1e-4, 1e-5, 1e-6):
        reached = [t for t, e in trace if e <= threshold]
        when = f"{reached[0]:.1f} s" if reached else "not reached"
        print(f"  time to {threshold:.0e}:    {when}")
    # The solution is saved first, so that a figure that fails to draw loses nothing.
    if args.save:
        _save_field(args.save, case, result, error)
    if args.plot:
        try:
            _plot_field(args, case, result, trace)
        except (OSError, RuntimeError, ValueError) as failure:
            print(f"svensolve run: error: --plot {args.plot!r} could not be written: {failure}",
                  file=sys.stderr)
            return 1
    return 0


def _save_field(path, case, result, error) -> None:
    """Write the solution, its history and its metrics to an .npz file, atomically.

    Keys: ``x`` (the flat parameters), ``params/<path>`` (each leaf of the parameter
    pytree, e.g. ``params/0/w``), ``history/<field>`` (each array of ``result.history``),
    ``relative_l2_error``, ``coefficient_error/<name>`` where the problem fits
    coefficients, ``status``, ``nit``, and the ``format_version`` that
    `svensolve.checkpoint.save` adds to every file it writes.
    """
    import jax

    from svensolve import checkpoint

    arrays = {"x": np.asarray(result.x), "relative_l2_error": np.asarray(error)}
    for key_path, leaf in jax.tree_util.tree_flatten_with_path(result.params)[0]:
        parts = [str(getattr(key, "key", getattr(key, "idx", key))) for key in key_path]
        arrays["/".join(["params", *parts])] = np.asarray(leaf)
    for name, values in result.history.items():
        arrays[f"history/{name}"] = np.asarray(values)
    if hasattr(case, "coefficient_errors"):
        for name, value in case.coefficient_errors(result.params).items():
            arrays[f"coefficient_error/{name}"] = np.asarray(value)
    arrays["status"] = np.asarray(int(result.status))
    arrays["nit"] = np.asarray(result.nit)
    checkpoint.save(path, arrays)
    print(f"saved:               {path}")


# Environment variables by which a user sets the BLAS threads; the CLI then keeps them.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _one_blas_thread_on_small_machine():
    """Return a limit of one BLAS thread on a machine with at most 2 usable cores, else None.

    There OpenBLAS's threads compete with JAX's, and with any other process. With one
    other busy process on 2 cores, the default problem took 40 s to 60 s with 2 BLAS
    threads and 19 s with one. Idle, it took 17.8 s and 18.8 s.
    """
    if any(name in os.environ for name in BLAS_THREAD_VARIABLES):
        return None
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        cores = os.cpu_count() or 1
    if cores > 2:
        return None
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _figure_kind(points, values) -> str | None:
    """Return "curves" (one variable), "field" (a scalar on a 2-D grid) or None (no figure)."""
    if points.shape[1] == 1:
        return "curves"
    if points.shape[1] == 2 and values.ndim == 1:
        return "field"
    return None


def _no_figure_reason(name: str, points, values) -> str:
    per_point = int(np.prod(values.shape[1:]))
    return (f"{name} has {points.shape[1]}-D points and {per_point} "
            f"value{'' if per_point == 1 else 's'} per point; --plot draws curves of one "
            "variable and scalar fields on 2-D grids")


def _plot_field(args, case, result, trace) -> None:
    from problems import REGISTRY
    from svensolve.plot import plot_curve_solution, plot_field_solution

    module = REGISTRY[args.name]
    points = case.test_grid()
    values = np.asarray(case.solution(result.params, points))
    exact = np.asarray(case.exact(points))
    if _figure_kind(points, values) == "curves":
        data = None
        if hasattr(case, "observation_times") and hasattr(case, "observed_states"):
            data = (case.observation_times, case.observed_states)
        plot_curve_solution(args.plot, points, values, exact, result.history, trace,
                            args.name, data=data, axis_name=getattr(module, "AXES", ("t",))[0],
                            components=getattr(module, "COMPONENTS", None))
    else:
        plot_field_solution(args.plot, points, values, values - exact, result.history, trace,
                            args.name, axes_names=getattr(module, "AXES", ("x", "y")))
    print(f"figure:              {args.plot}")


def _run_nist(args) -> int:
    import jax.numpy as jnp

    import svensolve as sv
    from problems import nist

    options = _solver_options(args)
    # _check_nist_arguments left both at their defaults, which least_squares does not take.
    options.pop("jacobian")
    options.pop("memory_limit")
    print(f"{'problem':10s} {'start':>5s} {'digits':>7s} {'nfev':>5s}  status")
    reached = 0
    started = time.perf_counter()
    for name in nist.NAMES:
        problem = nist.load(name)
        for index, start in enumerate(problem.starts, 1):
            result = sv.least_squares(lambda b, p=problem: p.residual(b, jnp), start, **options)
            digits = nist.log_relative_error(result.x, problem.certified_params).min()
            reached += digits >= 6
            print(f"{name:10s} {index:5d} {digits:7.1f} {result.nfev:5d}  {result.message}")
    total = 2 * len(nist.NAMES)
    print(f"{reached} of {total} cases reach 6 certified digits in every parameter "
          f"({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
