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


@pytest.mark.slow
def test_ode_example_identifies_pendulum_parameters():
    output = run_example("ode_parameters.py")

    errors = {
        name: float(value)
        for name, value in re.findall(r"^(\w+): identified .* relative error (\S+)$", output, re.M)
    }
    assert set(errors) == {"omega2", "friction"}
    # solve_ivp at rtol 1e-12 against RK4 with 0.005 s steps: measured 1.4e-9 and 3.4e-9.
    assert errors["omega2"] < 1e-7
    assert errors["friction"] < 1e-7


@pytest.mark.slow
def test_equinox_example_matches_exact_solution():
    pytest.importorskip("equinox")

    output = run_example("equinox_network.py")

    error = float(re.search(r"max \|u - exact\| = (\S+)", output).group(1))
    assert error < 1e-5


@pytest.mark.slow
def test_inverse_example_identifies_diffusion_coefficient():
    output = run_example("inverse_diffusion.py")

    error = float(re.search(r"^k: identified .* relative error (\S+)$", output, re.M).group(1))
    # Noise-free data from the exact solution: measured 6.5e-10.
    assert error < 1e-6
