"""Error against time of one svensolve run on a reference problem, at default settings.

The run starts from ``problems.<name>.build()`` after a one-iteration warm-up
that compiles, so compilation is not in the times. The relative L2 error is
printed when the solve time passes 10, 20, 40, ... seconds and at the end;
the time spent on these error evaluations counts in the budget, but they are
few.

Usage: ``python -m benchmarks.trajectory NAME [--budget SECONDS]``.
"""

import argparse
import importlib

import jax
from jax.flatten_util import ravel_pytree

import svensolve as sv
from problems import REGISTRY

FIRST_MARK = 10.0  # seconds; each later mark doubles


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.trajectory",
                                     description=__doc__.splitlines()[0])
    names = [name for name in REGISTRY if name != "nist"]
    parser.add_argument("problem", choices=names, help="the reference problem")
    parser.add_argument("--budget", type=float, default=300.0, metavar="SECONDS",
                        help="time limit of the solve after the warm-up (default: 300)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    case = importlib.import_module(f"problems.{args.problem}").build()
    _, unravel = ravel_pytree(case.params)
    n = case.problem.blocks(case.params)[-1].stop
    p = sum(leaf.size for leaf in jax.tree.leaves(case.params))
    print(f"{args.problem}: {n} residuals, {p} parameters, budget {args.budget:g} s")
    sv.minimize(case.problem, case.params, max_iter=1, progress=False)  # compiles
    marks = [FIRST_MARK]

    def report(iterate):
        if iterate.time < marks[-1]:
            return
        marks.append(2 * marks[-1])
        error = case.relative_l2_error(unravel(iterate.x))
        print(f"  {iterate.time:7.1f} s  iteration {iterate.nit:5d}  cost {iterate.cost:.3e}  "
              f"relative L2 error {error:.3e}", flush=True)

    result = sv.minimize(case.problem, case.params, time_limit=args.budget, callback=report,
                         progress=False)
    error = case.relative_l2_error(result.params)
    print(f"  {result.time:7.1f} s  iteration {result.nit:5d}  cost {result.cost:.3e}  "
          f"relative L2 error {error:.3e}  ({result.message})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
