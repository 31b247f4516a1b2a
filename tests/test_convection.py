"""Tests of the convection PINN problem (beta = 40) against independent references."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import svensolve as sv  # noqa: E402
from problems import convection  # noqa: E402

N_INTERIOR = 1024
N_INITIAL = 64
N_PERIODIC = 64
N_PARAMS = 1185


@pytest.fixture(scope="module")
def case():
    return convection.build()


def numpy_network(params, points):
    """Evaluate the tanh MLP on (x, t) rows mapped from [0, 2 pi] x [0, 1] onto [-1, 1]^2."""
    points = np.asarray(points, dtype=np.float64)
    hidden = np.stack([points[:, 0] / np.pi - 1, 2 * points[:, 1] - 1], axis=1)
    for layer in params[:-1]:
        hidden = np.tanh(hidden @ np.asarray(layer["w"]) + np.asarray(layer["b"]))
    return (hidden @ np.asarray(params[-1]["w"]) + np.asarray(params[-1]["b"]))[:, 0]


# Equation


def test_exact_solution_has_zero_pde_residual(case):
    residuals = jax.vmap(convection.convection_residual, in_axes=(None, 0))(
        convection.exact_solution, jnp.asarray(case.interior_points)
    )

    assert np.max(np.abs(np.asarray(residuals))) < 1e-10


def test_exact_solution_matches_numpy_formula(case):
    points = case.test_grid()

    values = np.asarray(case.exact(points))

    np.testing.assert_allclose(values, np.sin(points[:, 0] - 40 * points[:, 1]), atol=1e-15)


def test_exact_initial_and_periodic_values(case):
    times = np.linspace(0.0, 1.0, 17)
    left = np.stack([np.zeros_like(times), times], axis=1)
    right = np.stack([np.full_like(times, 2 * np.pi), times], axis=1)

    initial = np.asarray(case.exact(case.initial_points))

    np.testing.assert_allclose(initial, np.sin(case.initial_points[:, 0]), atol=1e-15)
    np.testing.assert_allclose(np.asarray(case.exact(left)), np.asarray(case.exact(right)),
                               atol=1e-13)


def test_convection_residual_on_polynomial():
    # u = x^2 + 3 t has u_t = 3 and u_x = 2 x, so u_t + 40 u_x = 3 + 80 x.
    def u(point):
        return point[0] ** 2 + 3 * point[1]

    residual = convection.convection_residual(u, jnp.asarray([0.5, 0.7]))

    assert float(residual) == pytest.approx(43.0, abs=1e-12)


# Collocation and assembly


def test_point_sets_lie_in_their_regions(case):
    inside = case.interior_points

    assert inside.shape == (N_INTERIOR, 2)
    assert np.all((inside[:, 0] > 0) & (inside[:, 0] < 2 * np.pi))
    assert np.all((inside[:, 1] > 0) & (inside[:, 1] < 1))
    assert case.initial_points.shape == (N_INITIAL, 2)
    assert np.all(case.initial_points[:, 1] == 0)
    assert case.periodic_times.shape == (N_PERIODIC, 1)


def test_condition_names_and_sizes(case):
    names = [condition.name for condition in case.problem.conditions]
    residual = jax.jit(case.problem.residual)(case.params)

    assert names == ["pde", "initial", "periodic"]
    assert residual.shape == (N_INTERIOR + N_INITIAL + N_PERIODIC,)
    assert sum(leaf.size for leaf in jax.tree.leaves(case.params)) == N_PARAMS


def test_periodic_residuals_match_numpy(case):
    residual = np.asarray(jax.jit(case.problem.residual)(case.params))
    times = case.periodic_times[:, 0]
    left = numpy_network(case.params, np.stack([np.zeros_like(times), times], axis=1))
    right = numpy_network(case.params, np.stack([np.full_like(times, 2 * np.pi), times], axis=1))

    expected = (left - right) / np.sqrt(N_PERIODIC)

    np.testing.assert_allclose(residual[-N_PERIODIC:], expected, rtol=1e-10, atol=1e-14)


def test_build_rejects_single_periodic_time():
    with pytest.raises(ValueError, match="periodic_count"):
        convection.build(periodic_count=1)


# Solve and metric


def test_short_solve_lowers_error_at_small_beta():
    # beta = 40 is beyond a short solve; beta = 1 checks the assembly and the metric.
    small = convection.build(width=16, x_count=12, t_count=12, initial_count=16,
                             periodic_count=16, beta=1.0)
    start_error = small.relative_l2_error(small.params)

    result = sv.minimize(small.problem, small.params, max_iter=50)

    # Measured: 0.79 at the start, 1.2e-2 after 40 iterations and 1.9e-5 after 50.
    assert start_error > 0.5
    assert small.relative_l2_error(result.params) < 1e-2


def test_relative_l2_error_matches_numpy(case):
    xs, ts = np.meshgrid(np.linspace(0, 2 * np.pi, 200), np.linspace(0, 1, 200))
    points = np.stack([xs.ravel(), ts.ravel()], axis=1)
    predicted = numpy_network(case.params, points)
    exact = np.sin(points[:, 0] - 40 * points[:, 1])
    expected = np.linalg.norm(predicted - exact) / np.linalg.norm(exact)

    assert case.relative_l2_error(case.params) == pytest.approx(expected, rel=1e-12)
