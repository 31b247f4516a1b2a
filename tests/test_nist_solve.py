"""Every NIST StRD problem from both starts against its certified values."""

import jax.numpy as jnp
import pytest

import svensolve as sv
from problems import nist

CASES = [(name, start) for name in nist.NAMES for start in (1, 2)]


@pytest.mark.parametrize("name, start", CASES, ids=[f"{n}-{s}" for n, s in CASES])
def test_default_settings_reach_six_certified_digits(name, start):
    problem = nist.load(name)

    result = sv.least_squares(lambda b: problem.residual(b, jnp), problem.starts[start - 1])

    digits = nist.log_relative_error(result.x, problem.certified_params).min()
    assert digits >= 6, f"{name} start {start}: {digits:.1f} digits, {result.message}"
    assert result.success, result.message
