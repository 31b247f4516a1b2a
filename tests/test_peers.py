"""Tests of the benchmark peers on small problems, checked against numpy and scipy."""

import itertools
import sys

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import svensolve as sv
from benchmarks import peers
from benchmarks import pinn as pinn_benchmark

ROSENBROCK_START = np.array([-1.2, 1.0])


def linear_problem(rows: int, columns: int, seed: int = 0):
    """Return ``r(x) = A x - b`` as a Problem, with A and b drawn from a fixed seed."""
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(rows, columns))
    target = rng.normal(size=rows)
    problem = sv.Problem.from_function(lambda x: jnp.asarray(matrix) @ x - jnp.asarray(target))
    return problem, matrix, target


def rosenbrock_problem():
    """Return Rosenbrock's function as two residuals ``10 (x1 - x0^2)`` and ``1 - x0``."""
    return sv.Problem.from_function(lambda x: jnp.stack([10 * (x[1] - x[0] ** 2), 1 - x[0]]))


def counting_clock():
    """Return a clock that advances by one second at every call."""
    ticks = itertools.count()
    return lambda: float(next(ticks))


def zero_metric(x):
    return 0.0


@pytest.mark.parametrize("rows, columns", [(30, 6), (6, 30)])
def test_gauss_newton_matches_lstsq(rows, columns):
    # From x = 0 the first full step is numpy's minimum-norm least-squares solution,
    # for an overdetermined and for an underdetermined system alike.
    problem, matrix, target = linear_problem(rows, columns)
    expected = np.linalg.lstsq(matrix, target, rcond=None)[0]

    run = peers.run_gauss_newton(problem, jnp.zeros(columns), 5.0, zero_metric)

    assert run.iterations >= 1
    np.testing.assert_allclose(run.x, expected, rtol=0, atol=1e-10 * np.linalg.norm(expected))
    assert np.asarray(run.params).shape == (columns,)


def scipy_evaluations(problem, method: str) -> list[tuple[np.ndarray, float]]:
    """Run scipy's least_squares directly to convergence; return (x, cost) of each evaluation."""
    residual = jax.jit(problem.residual)
    jacobian = jax.jit(problem.jacobian)
    evaluated = []

    def logged_residual(x):
        values = np.asarray(residual(x), dtype=np.float64)
        evaluated.append((x.copy(), 0.5 * float(np.dot(values, values))))
        return values

    tolerance = float(np.finfo(np.float64).eps)
    scipy.optimize.least_squares(
        logged_residual, ROSENBROCK_START, jac=lambda x: np.asarray(jacobian(x)), method=method,
        ftol=tolerance, xtol=tolerance, gtol=tolerance,
    )
    return evaluated


@pytest.mark.parametrize("method", ["trf", "lm"])
def test_least_squares_budget_keeps_best_point(method):
    problem = rosenbrock_problem()
    # The budgeted runs evaluate the same points as this unbudgeted one, up to their stop.
    evaluated = scipy_evaluations(problem, method)
    stopped_runs = 0
    stops_after_a_worse_point = 0

    # With one second per clock call, each budget stops scipy at a different evaluation.
    for budget in range(1, 40):
        run = peers.run_least_squares(
            problem, ROSENBROCK_START, float(budget), zero_metric, method=method,
            clock=counting_clock(),
        )
        if "budget reached" not in run.message:
            break
        stopped_runs += 1
        assert run.nfev < len(evaluated), budget
        seen = evaluated[: run.nfev]
        best_x, best_cost = min(seen, key=lambda point: point[1])

        np.testing.assert_array_equal(run.x, best_x, err_msg=f"budget {budget}")
        assert run.trace.costs[-1] == best_cost, budget
        stops_after_a_worse_point += seen[-1][1] > best_cost

    assert stopped_runs >= 5
    # Stops right after a rejected trial point are the cases where keeping the best matters.
    assert stops_after_a_worse_point >= 1


def test_lm_rejects_underdetermined_problem():
    problem, _, _ = linear_problem(3, 5)
    with pytest.raises(peers.NotApplicable, match="3 residuals and 5 parameters"):
        peers.run_least_squares(problem, jnp.zeros(5), 1.0, zero_metric, method="lm")


def test_trace_log_schedule_sampling():
    # Clock readings in call order. The start reads 0.0 and records from 0.0 to 0.5.
    # The first offer and its record read 1.05, the second 1.9, recorded until 1.95.
    # Two offers that are not due read 2.2 and 2.5. In finish, the last offer is
    # recorded at 2.5 and the returned point at 3.0.
    readings = iter(
        [0.0, 0.0, 0.5, 1.05, 1.05, 1.05, 1.9, 1.9, 1.95, 2.2, 2.5, 2.5, 2.5, 3.0, 3.0, 3.0]
    )
    trace = peers.Trace(
        cost_function=float, metric=float, sample_growth=2.0, clock=lambda: next(readings)
    )

    trace.start(np.array(5.0), cost=5.0)
    trace.offer(np.array(4.0), cost=4.0)  # time 0.55: recorded, the next is due at 1.1
    trace.offer(np.array(3.0), cost=3.0)  # time 1.4: recorded, the next is due at 2.8
    trace.offer(np.array(2.5), cost=2.5)  # time 1.65: not due, replaced by the next offer
    trace.offer(np.array(2.0), cost=2.0)  # time 1.95: not due, recorded by finish
    trace.finish(np.array(1.5))  # time 2.45, with the cost from cost_function

    assert trace.metrics == [5.0, 4.0, 3.0, 2.0, 1.5]
    assert trace.costs == [5.0, 4.0, 3.0, 2.0, 1.5]
    np.testing.assert_allclose(trace.times, [0.0, 0.55, 1.4, 1.95, 2.45])
    np.testing.assert_allclose(trace.monitoring_seconds, 0.55)
    assert trace.time_to_reach(3.5) == trace.times[2]
    assert trace.time_to_reach(1.0) is None


def test_pinn_option_rejects_unknown_peer(capsys):
    with pytest.raises(SystemExit):
        pinn_benchmark.parse_args(["--peers", "adam,no-such-peer"])
    assert "no-such-peer" in capsys.readouterr().err


def test_pinn_option_rejects_zero_budget():
    with pytest.raises(SystemExit):
        pinn_benchmark.parse_args(["--budget", "0"])


def test_optimistix_matches_lstsq_on_linear_problem():
    pytest.importorskip("optimistix")
    problem, matrix, target = linear_problem(30, 6)
    expected = np.linalg.lstsq(matrix, target, rcond=None)[0]

    run = peers.run_optimistix(problem, jnp.zeros(6), 1.0, zero_metric)

    assert run.iterations >= 1
    np.testing.assert_allclose(run.x, expected, rtol=0, atol=1e-8)
    assert np.asarray(run.params).shape == (6,)
    assert run.trace.costs[-1] <= run.trace.costs[0]


def test_optimistix_missing_raises_not_applicable(monkeypatch):
    # A None entry in sys.modules makes `import optimistix` raise ImportError.
    monkeypatch.setitem(sys.modules, "optimistix", None)
    problem, _, _ = linear_problem(5, 2)

    with pytest.raises(peers.NotApplicable, match="optimistix is not installed"):
        peers.run_optimistix(problem, jnp.zeros(2), 1.0, zero_metric)


def test_pinn_registers_optimistix_peer():
    assert peers.PEERS["optimistix-lm"] is peers.run_optimistix
    assert "optimistix-lm" in pinn_benchmark.parse_args([]).peer_names


def test_pinn_metric_for_inverse_problem():
    from problems import lotka_volterra

    case = lotka_volterra.build()
    x0, unravel = jax.flatten_util.ravel_pytree(case.params)

    description, metric = pinn_benchmark.make_metric("lotka_volterra", case, unravel)

    # The start is the true coefficients times START_FACTORS, so the largest
    # relative error is the largest |factor - 1|.
    expected = max(abs(factor - 1) for factor in lotka_volterra.START_FACTORS)
    assert metric(x0) == pytest.approx(expected, rel=1e-12)
    assert description == "largest relative error of alpha, beta, delta, gamma"


def test_pinn_metric_unavailable_without_test_grid():
    class CaseWithoutGrid:
        params = jnp.zeros(2)

        def solution(self, params, points):
            return points

    with pytest.raises(pinn_benchmark.MetricUnavailable, match="exact, test_grid"):
        pinn_benchmark.make_metric("made-up", CaseWithoutGrid(), lambda x: x)
