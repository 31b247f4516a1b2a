"""Run svensolve on bad inputs and print a markdown table of what each one gets.

Usage: ``python -m benchmarks.bad_inputs``. The table in docs/reliability.md
is this script's output.
"""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np

import svensolve as sv


def fit(b):
    t = jnp.linspace(0.0, 1.0, 5)
    return b[0] * jnp.exp(-b[1] * t) - 1.0


def points_mismatch():
    sv.Condition("data", lambda p, xy: p[0], points=(jnp.ones(3), jnp.ones(4)))


def inf_at_point():
    points = jnp.array([[0.0], [1.0]])
    problem = sv.Problem([sv.Condition("pde", lambda p, x: p[0] / x[0], points=points)])
    sv.minimize(problem, jnp.array([1.0]))


def ignored_params():
    constant = sv.Condition("constant", lambda p, x: x[0], points=jnp.ones((3, 1)))
    used = sv.Condition("used", lambda p, x: p[0] - x[0], points=jnp.ones((3, 1)))
    return sv.minimize(sv.Problem([used, constant]), jnp.array([0.0]))


CASES = [
    ("NaN in x0", lambda: sv.least_squares(fit, [np.nan, 1.0])),
    ("complex x0", lambda: sv.least_squares(fit, np.array([1 + 1j, 1.0]))),
    ("2-D x0", lambda: sv.least_squares(fit, np.ones((1, 2)))),
    ("fun returns 2-D", lambda: sv.least_squares(lambda b: jnp.ones((2, 2)) * b[0], [1.0])),
    ("inf residual at x0", lambda: sv.least_squares(lambda b: jnp.array([jnp.inf, b[0]]), [1.0])),
    ("inf at one collocation point", inf_at_point),
    ("integer params", lambda: sv.minimize(lambda p: p["w"] * 1.0, {"w": jnp.array([1, 2])})),
    ("complex params", lambda: sv.minimize(lambda p: jnp.abs(p[0]), [jnp.array([1j])])),
    ("empty Problem", lambda: sv.Problem([])),
    ("empty params", lambda: sv.minimize(lambda p: jnp.zeros(1), {})),
    ("points of different lengths", points_mismatch),
    ("condition ignores params", ignored_params),
    ("rank=0", lambda: sv.least_squares(fit, [1.0, 1.0], rank=0)),
    ("rank=1.5", lambda: sv.least_squares(fit, [1.0, 1.0], rank=1.5)),
    ("rtol=2", lambda: sv.least_squares(fit, [1.0, 1.0], rtol=2.0)),
    ("lr=0", lambda: sv.least_squares(fit, [1.0, 1.0], lr=0.0)),
    ("ftol=-1", lambda: sv.least_squares(fit, [1.0, 1.0], ftol=-1.0)),
    ("max_nfev=0", lambda: sv.least_squares(fit, [1.0, 1.0], max_nfev=0)),
    ("time_limit=0", lambda: sv.least_squares(fit, [1.0, 1.0], time_limit=0)),
    ("control='newton'", lambda: sv.least_squares(fit, [1.0, 1.0], control="newton")),
    ("method='lm'", lambda: sv.least_squares(fit, [1.0, 1.0], method="lm")),
    ("unknown keyword tol=", lambda: sv.least_squares(fit, [1.0, 1.0], tol=1e-3)),
    ("x0 outside bounds=(0, 0.5)", lambda: sv.least_squares(fit, [1.0, 1.0], bounds=(0, 0.5))),
    ("loss='l1'", lambda: sv.least_squares(fit, [1.0, 1.0], loss="l1")),
    ("checkpoint in a missing folder",
     lambda: sv.least_squares(fit, [1.0, 1.0], checkpoint="/no/such/run.npz")),
    ("resume from a missing file",
     lambda: sv.least_squares(fit, [1.0, 1.0], resume="/no/such/run.npz")),
    ("constant residual", lambda: sv.least_squares(lambda b: jnp.ones(1) + 0.0 * b, [2.0])),
]


def outcome(case) -> str:
    """Describe the outcome: the error raised, or the status and warnings of the result."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = case()
        except Exception as error:  # noqa: BLE001 (the table reports every error)
            return f"`{type(error).__name__}`: {error}"
    seen = "; ".join(f"`{w.category.__name__}`: {w.message}" for w in caught)
    if result is None:
        return seen or "no error"
    text = f"status {result.status}: {result.message}"
    return f"{seen}; {text}" if seen else text


def main() -> None:
    print("| input | what svensolve does |")
    print("| --- | --- |")
    for label, case in CASES:
        text = outcome(case).replace("|", "\\|").replace("\n", " ")
        print(f"| {label} | {text} |")


if __name__ == "__main__":
    main()
