"""Benchmark bound-constrained fits: svensolve.least_squares against scipy's "trf".

Each case is a least-squares fit with box constraints, solved in one process
by ``sv.least_squares`` and by ``scipy.optimize.least_squares(method="trf")``,
both at their default tolerances and with the same bounds and start:

- NIST StRD problems with bounds placed relative to the certified values.
  An "active" bound cuts off the certified solution, so the constrained
  solution lies on it. A "near" bound sits 1e-4 (relative) beyond a
  certified value, so it is inactive but close. A NIST start outside the
  box is clipped onto it, so some fits start on a bound.
- A synthetic fit of ``a exp(-k t) + c`` to noisy data whose true offset is
  negative, with the bound ``c >= 0``, which is active at the solution.

svensolve differentiates the ``jax.numpy`` residual itself; scipy gets the
numpy residual and a Jacobian from ``jax.jit(jax.jacfwd(...))``. Each method
solves each case once untimed (scipy's jitted Jacobian compiles then), and
the fastest of ``--repeat`` further solves is reported. ``sv.least_squares``
compiles the residual inside every call, so its times include compilation.

Usage: ``python -m benchmarks.bounds [--quick] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

import svensolve as sv
from benchmarks.nist import machine_facts, print_machine_facts, start_backend
from problems import nist

METHODS = ("svensolve", "trf")

# Relative distance of a "near" bound beyond the certified value.
NEAR = 1e-4


@dataclasses.dataclass(frozen=True)
class Bound:
    """A bound on parameter ``index`` at ``factor`` times its certified value."""

    index: int
    side: str  # "lower" or "upper"
    factor: float


@dataclasses.dataclass(frozen=True)
class Case:
    """One bound-constrained fit: residuals in both array namespaces, start and box."""

    label: str
    residual_jnp: Callable
    residual_np: Callable
    x0: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    description: str


def nist_case(name: str, start: int, bounds: list[Bound]) -> Case:
    """Build a NIST problem from one of its starts, with bounds relative to the certified values."""
    problem = nist.load(name)
    certified = problem.certified_params
    lower = np.full(certified.size, -np.inf)
    upper = np.full(certified.size, np.inf)
    parts = []
    for bound in bounds:
        value = bound.factor * certified[bound.index]
        if bound.side == "lower":
            lower[bound.index] = value
            parts.append(f"b{bound.index + 1} >= {value:.6g}")
        else:
            upper[bound.index] = value
            parts.append(f"b{bound.index + 1} <= {value:.6g}")
    x0 = np.clip(np.array(problem.starts[start - 1], dtype=np.float64), lower, upper)
    return Case(
        label=f"{name} start {start}",
        residual_jnp=lambda b: problem.residual(b, jnp),
        residual_np=lambda b: problem.residual(b, np),
        x0=x0,
        lower=lower,
        upper=upper,
        description=", ".join(parts),
    )


def exponential_case() -> Case:
    """``2.5 exp(-1.3 t) - 0.05`` plus noise, fitted with the offset bounded below by 0."""
    rng = np.random.default_rng(1)
    t = np.linspace(0.0, 5.0, 60)
    y = 2.5 * np.exp(-1.3 * t) - 0.05 + 0.02 * rng.standard_normal(t.size)

    def residual(b, xp):
        return b[0] * xp.exp(-b[1] * t) + b[2] - y

    return Case(
        label="exponential, offset >= 0",
        residual_jnp=lambda b: residual(b, jnp),
        residual_np=lambda b: residual(b, np),
        x0=np.array([1.0, 1.0, 0.5]),
        lower=np.array([-np.inf, 0.0, 0.0]),
        upper=np.full(3, np.inf),
        description="a free, k >= 0, c >= 0 (true c = -0.05)",
    )


def build_cases(quick: bool) -> list[Case]:
    active_misra = nist_case("Misra1a", 1, [Bound(0, "upper", 0.8)])
    active_danwood = nist_case("DanWood", 1, [Bound(1, "upper", 0.9)])
    if quick:
        return [active_misra, active_danwood, exponential_case()]
    positive = [Bound(index, "lower", 0.0) for index in range(6)]
    return [
        active_misra,
        nist_case("Misra1a", 2, [Bound(0, "upper", 1 + NEAR)]),
        nist_case("Chwirut2", 1, [Bound(2, "upper", 0.8)]),
        active_danwood,
        nist_case("BoxBOD", 2, [Bound(0, "upper", 0.9)]),
        nist_case("Thurber", 1, [Bound(4, "lower", 1.05), Bound(6, "lower", 1 - NEAR)]),
        nist_case("Gauss1", 1, [Bound(4, "upper", 0.95), Bound(7, "lower", 1 - NEAR)]),
        nist_case("Rat42", 2, [Bound(0, "upper", 1 + NEAR), Bound(2, "lower", 1 - NEAR)]),
        nist_case("Eckerle4", 2, [Bound(1, "upper", 0.95)]),
        nist_case("Lanczos3", 2, [Bound(0, "upper", 0.8), *positive]),
        exponential_case(),
    ]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bounds",
        description=(
            "Solve bound-constrained NIST and synthetic fits with svensolve.least_squares and "
            "scipy.optimize.least_squares(method='trf'); print costs, agreement, nfev and times."
        ),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="run 3 of the cases and one timed solve per method (a smoke run)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        metavar="N",
        help="timed solves per case and method after the untimed first solve; the fastest "
        "is reported (default: 3, or 1 with --quick)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    if args.quick and "--repeat" not in (argv if argv is not None else sys.argv[1:]):
        args.repeat = 1
    return args


def make_solver(method: str, case: Case) -> Callable[[], scipy.optimize.OptimizeResult]:
    """Return a function that solves the case with one method; scipy's Jacobian is jitted once."""
    bounds = (case.lower, case.upper)
    if method == "svensolve":
        return lambda: sv.least_squares(case.residual_jnp, case.x0.copy(), bounds=bounds)

    jacobian_jit = jax.jit(jax.jacfwd(case.residual_jnp))

    def solve():
        # Trial points of the harder NIST problems overflow exp; the outcome is recorded anyway.
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return scipy.optimize.least_squares(
                case.residual_np, case.x0.copy(), bounds=bounds, method="trf",
                jac=lambda b: np.asarray(jacobian_jit(b)),
            )

    return solve


def run_method(method: str, case: Case, repeat: int) -> dict:
    """Solve once untimed, then ``repeat`` timed solves; an exception is recorded, not raised."""
    try:
        solve = make_solver(method, case)
        result = solve()
        seconds = []
        for _ in range(repeat):
            started = time.perf_counter()
            result = solve()
            seconds.append(time.perf_counter() - started)
    except Exception as error:  # one failing case must not hide the other results
        return {"error": f"{type(error).__name__}: {error}"}
    return {
        "error": None,
        "x": np.asarray(result.x, dtype=np.float64),
        "cost": float(result.cost),
        "nfev": int(result.nfev),
        "active_mask": np.asarray(result.active_mask),
        "success": bool(result.success),
        "message": str(result.message),
        "seconds": min(seconds),
    }


def agreement_digits(case: Case, ours: dict, trf: dict) -> float:
    """Minimum LRE of svensolve's solution against trf's, trf's active parameters at their bound.

    trf keeps its iterates strictly inside the box, so a parameter it reports
    active sits a little off the bound (2e-23 off a bound at 0 in the
    exponential case), which would make a relative error meaningless.
    """
    mask = trf["active_mask"]
    reference = np.where(mask == -1, case.lower, np.where(mask == 1, case.upper, trf["x"]))
    return float(nist.log_relative_error(ours["x"], reference).min())


def format_row(case: Case, records: dict) -> str:
    ours, trf = records["svensolve"], records["trf"]
    if ours["error"] or trf["error"]:
        cells = [case.label] + ["failed"] * 9
        return "| " + " | ".join(cells) + " |"
    digits = agreement_digits(case, ours, trf)
    same_active = "yes" if np.array_equal(ours["active_mask"], trf["active_mask"]) else "no"
    cells = [
        case.label,
        f"{ours['cost']:.10e}",
        f"{trf['cost']:.10e}",
        f"{digits:.1f}",
        same_active,
        str(ours["nfev"]),
        str(trf["nfev"]),
        f"{ours['seconds']:.4f}",
        f"{trf['seconds']:.4f}",
        f"{ours['seconds'] / trf['seconds']:.2f}",
    ]
    return "| " + " | ".join(cells) + " |"


TABLE_HEADER = (
    "| Problem | Cost svensolve | Cost trf | Digits agreement | Same active set "
    "| nfev svensolve | nfev trf | Time svensolve (s) | Time trf (s) | Time ratio svensolve/trf |"
)


def print_notes(cases: list[Case], runs: list[dict]) -> None:
    """Print each case's bounds and any solve that failed or did not report success."""
    print("Bounds of each case (b1, b2, ... are NIST's parameter names):")
    for case in cases:
        print(f"- {case.label}: {case.description}")
    print()
    for case, records in zip(cases, runs, strict=True):
        for method in METHODS:
            record = records[method]
            if record["error"]:
                print(f"- {method} on {case.label} raised {record['error']}")
            elif not record["success"]:
                print(f"- {method} on {case.label} did not converge: {record['message']}")


def main(argv=None) -> int:
    args = parse_args(argv)
    backend_seconds = start_backend()
    cases = build_cases(args.quick)

    print("# Bound-constrained fits: svensolve vs scipy.optimize.least_squares (trf)")
    print()
    print_machine_facts(machine_facts())
    print(f"- JAX backend start: {backend_seconds:.2f} s (not part of any solve)")
    print(f"- Timed solves per case and method: {args.repeat} after one untimed solve; best shown")
    print()
    sys.stdout.flush()

    runs = []
    for case in cases:
        print(f"solving {case.label}", file=sys.stderr)
        runs.append({method: run_method(method, case, args.repeat) for method in METHODS})

    print(
        "Both methods at their default tolerances. Digits agreement: the minimum over the "
        "parameters of -log10(|x_svensolve - x_trf| / |x_trf|), capped at 15, where a "
        "parameter that trf reports active is taken at its bound. A time ratio "
        "above 1 means svensolve was slower; its times include compiling the residual, "
        "which sv.least_squares does in every call."
    )
    print()
    print(TABLE_HEADER)
    print("|" + "---|" * 10)
    for case, records in zip(cases, runs, strict=True):
        print(format_row(case, records))
    print()
    print_notes(cases, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
