"""Each script in examples/ runs to the end and prints an accurate answer."""

import pathlib
import re
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str) -> str:
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


@pytest.mark.slow
def test_pinn_example_matches_exact_solution():
    output = run_example("pinn_poisson1d.py")

    error = float(re.search(r"max \|u - sin\(pi x\)\| = (\S+)", output).group(1))
    assert error < 1e-6


@pytest.mark.slow
def test_curve_fit_example_reaches_certified_digits():
    output = run_example("nist_curve_fit.py")

    digits = re.findall(r"\[([^\]]+)\]", output.split("certified digits, values:")[1])[0]
    assert min(float(d) for d in digits.split()) >= 8
