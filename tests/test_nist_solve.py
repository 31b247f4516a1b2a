"""Every NIST StRD problem from both starts against its certified values."""

import jax.numpy as jnp
import pytest

import svensolve as sv
from problems import nist

# Cases that do not reach 6 digits with default settings yet: MGH10 start 1
# runs out of evaluations far from the solution. MGH17 start 1 converges
# (gtol) to another stationary point with a larger cost than the certified one.
NOT_YET = {("MGH10", 1)}
OTHER_STATIONARY_POINT = {("MGH17", 1)}
CASES = [(name, start) for name in nist.NAMES for start in (1, 2)]


@pytest.mark.parametrize("name, start", CASES, ids=[f"{n}-{s}" for n, s in CASES])
def test_default_settings_reach_six_certified_digits(name, start):
    problem = nist.load(name)

    result = sv.least_squares(lambda b: problem.residual(b, jnp), problem.starts[start - 1])

    digits = nist.log_relative_error(result.x, problem.certified_params).min()
    if (name, start) in OTHER_STATIONARY_POINT:
        assert result.status == sv.Status.GTOL
        assert 2.0 * result.cost > problem.certified_rss
        return
    if (name, start) in NOT_YET:
        assert not result.success or digits >= 6, "a wrong answer must not be a success"
        return
    assert digits >= 6, f"{name} start {start}: {digits:.1f} digits, {result.message}"
    assert result.success, result.message
