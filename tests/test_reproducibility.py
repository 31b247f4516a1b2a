"""Reproducibility: the same inputs give bit-identical results, in one process and across two.

Each solve is summarised by the hex of the bytes of ``x``, ``cost`` and
``history["cost"]``, so any difference in the last bit fails the test. The
child processes import this file and print the same summaries as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import svensolve as sv
from problems.networks import init_mlp, mlp

REPOSITORY = Path(__file__).resolve().parents[1]
# Fixed so that the PINN stops on the iteration budget, not on the wall clock.
PINN_ITERATIONS = 15


def rosenbrock(x):
    return jnp.array([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])


def pinn_problem() -> sv.Problem:
    """The 1D Poisson PINN of the README: -u'' = pi^2 sin(pi x) on (0, 1), u = 0 at both ends."""

    def pde(params, x):
        u_xx = jax.grad(jax.grad(lambda t: mlp(params, jnp.array([t]))))(x[0])
        return -u_xx - jnp.pi**2 * jnp.sin(jnp.pi * x[0])

    return sv.Problem(
        [
            sv.Condition("pde", pde, points=np.linspace(0, 1, 50)[1:-1, None]),
            sv.Condition("boundary", lambda p, x: mlp(p, x), points=np.array([[0.0], [1.0]])),
        ]
    )


def pinn_start():
    return init_mlp(jax.random.PRNGKey(0), [1, 16, 16, 1])


def fingerprint(result) -> dict[str, str | int]:
    """Hex of the bytes of x, cost and the cost history, with the evaluation count."""
    return {
        "x": np.asarray(result.x).tobytes().hex(),
        "cost": float(result.cost).hex(),
        "history_cost": np.asarray(result.history["cost"], dtype=np.float64).tobytes().hex(),
        "nfev": int(result.nfev),
    }


def fingerprints() -> dict[str, dict[str, str | int]]:
    """Solve the Rosenbrock fit and the README PINN from scratch and fingerprint each."""
    rosenbrock_fit = sv.least_squares(rosenbrock, np.array([-1.2, 1.0]))
    pinn = sv.minimize(pinn_problem(), pinn_start(), max_iter=PINN_ITERATIONS, progress=False)
    return {"rosenbrock": fingerprint(rosenbrock_fit), "pinn": fingerprint(pinn)}


CHILD_SCRIPT = f"""
import json, sys
sys.path.insert(0, {str(REPOSITORY / "tests")!r})
import test_reproducibility
print(json.dumps(test_reproducibility.fingerprints()))
"""


def run_children(count: int) -> list[dict]:
    """Run ``count`` fresh Python processes at once and return the fingerprints they print."""
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD_SCRIPT],
            cwd=REPOSITORY,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    outputs = []
    for child in children:
        stdout, stderr = child.communicate(timeout=300)
        assert child.returncode == 0, f"child process failed:\n{stderr}"
        outputs.append(json.loads(stdout.strip().splitlines()[-1]))
    return outputs


def assert_same_bits(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for problem in expected:
        for field in expected[problem]:
            assert got[problem][field] == expected[problem][field], (problem, field)


def test_repeated_solves_are_bit_identical():
    first = fingerprints()
    second = fingerprints()

    assert_same_bits(second, first)


def test_cached_problem_repeats_bits():
    problem = pinn_problem()
    options = {"max_iter": PINN_ITERATIONS, "progress": False}

    fresh = sv.minimize(problem, pinn_start(), **options)
    cached = sv.minimize(problem, pinn_start(), **options)  # reuses the compiled evaluator
    other_problem = sv.minimize(pinn_problem(), pinn_start(), **options)

    assert_same_bits({"pinn": fingerprint(cached)}, {"pinn": fingerprint(fresh)})
    assert_same_bits({"pinn": fingerprint(other_problem)}, {"pinn": fingerprint(fresh)})


def test_child_processes_are_bit_identical():
    this_process = fingerprints()

    first, second = run_children(2)

    assert_same_bits(second, first)
    assert_same_bits(this_process, first)
