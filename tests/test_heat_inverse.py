"""Tests of the inverse heat problem (fit k in u_t = k u_xx) against independent references."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

import svensolve as sv  # noqa: E402
from problems import heat1d, heat_inverse  # noqa: E402
from problems.networks import mlp  # noqa: E402

N_INTERIOR = 900
N_INITIAL = 30
N_BOUNDARY = 60
N_DATA = 50
N_ROWS = N_INTERIOR + N_INITIAL + N_BOUNDARY + N_DATA
N_PARAMS = 1186
DATA_START = N_INTERIOR + N_INITIAL + N_BOUNDARY


@pytest.fixture(scope="module")
def inverse():
    return heat_inverse.build()


@pytest.fixture(scope="module")
def small_inverse():
    # A smaller network and grid keep the solve test's SVDs cheap.
    return heat_inverse.build(width=24, grid=20, initial_count=20, boundary_count=20)


@pytest.fixture(scope="module")
def jacobian(inverse):
    return np.asarray(jax.jit(inverse.problem.jacobian)(inverse.params))


def numpy_exact(x, t, k=0.25):
    return np.exp(-np.pi**2 * k * t) * np.sin(np.pi * x)


def numpy_mlp(params, points):
    """Evaluate a tanh MLP with scalar output on an (m, d) array with numpy alone."""
    hidden = np.asarray(points, dtype=np.float64)
    for layer in params[:-1]:
        hidden = np.tanh(hidden @ np.asarray(layer["w"]) + np.asarray(layer["b"]))
    return (hidden @ np.asarray(params[-1]["w"]) + np.asarray(params[-1]["b"]))[:, 0]


@jax.jit
def independent_pde_residual(net, k, point):
    """u_t - k u_xx of the network from its full gradient and Hessian in (x, t)."""
    gradient = jax.grad(mlp, argnums=1)(net, point)
    hessian = jax.hessian(mlp, argnums=1)(net, point)
    return gradient[1] - k * hessian[0, 0]


# Equation and data


def test_exact_residual_zero_at_true_k(inverse):
    def residual_of_exact(point):
        return heat1d.heat_residual(heat_inverse.exact_solution, point, 0.25)

    residuals = jax.jit(jax.vmap(residual_of_exact))(jnp.asarray(inverse.interior_points))

    assert np.max(np.abs(np.asarray(residuals))) < 1e-12


def test_exact_residual_nonzero_at_start_k(inverse):
    # With k = 1 the residual is (1 - 0.25) pi^2 u, so the data must move k.
    point = jnp.asarray([0.5, 0.2])

    residual = heat1d.heat_residual(heat_inverse.exact_solution, point, 1.0)

    expected = 0.75 * np.pi**2 * numpy_exact(0.5, 0.2)
    assert float(residual) == pytest.approx(expected, rel=1e-12)


def test_observations_are_seeded_exact_values(inverse):
    points = inverse.observation_points

    assert points.shape == (N_DATA, 2)
    assert np.all((points > 0) & (points < 1))
    np.testing.assert_array_equal(points, np.random.default_rng(0).uniform(0, 1, size=(50, 2)))
    expected = numpy_exact(points[:, 0], points[:, 1])
    np.testing.assert_allclose(inverse.observed_values, expected, rtol=1e-13, atol=1e-15)


# Parameters and problem assembly


def test_params_start_at_k_one(inverse):
    k = inverse.params["k"]

    assert k.shape == ()
    assert k.dtype == jnp.float64
    assert float(k) == 1.0
    assert sum(leaf.size for leaf in jax.tree.leaves(inverse.params)) == N_PARAMS


def test_condition_names_and_residual_size(inverse):
    names = [condition.name for condition in inverse.problem.conditions]
    residual = jax.jit(inverse.problem.residual)(inverse.params)

    assert names == ["pde", "initial", "boundary", "data"]
    assert residual.shape == (N_ROWS,)


def test_pde_and_data_residuals_match_references(inverse):
    params = {"net": inverse.params["net"], "k": jnp.asarray(0.7)}
    residual = np.asarray(jax.jit(inverse.problem.residual)(params))

    for index in [0, 450, 899]:
        point = jnp.asarray(inverse.interior_points[index])
        expected = independent_pde_residual(params["net"], 0.7, point) / np.sqrt(N_INTERIOR)
        assert residual[index] == pytest.approx(float(expected), rel=1e-10)
    predicted = numpy_mlp(params["net"], inverse.observation_points)
    expected_data = (predicted - inverse.observed_values) / np.sqrt(N_DATA)
    np.testing.assert_allclose(residual[DATA_START:], expected_data, rtol=1e-12, atol=1e-15)


def test_jacobian_shape(jacobian):
    assert jacobian.shape == (N_ROWS, N_PARAMS)


def test_jacobian_pde_row_matches_grad(inverse, jacobian):
    index = 321
    point = jnp.asarray(inverse.interior_points[index])

    def scaled_residual(params):
        return independent_pde_residual(params["net"], params["k"], point) / np.sqrt(N_INTERIOR)

    expected, _ = ravel_pytree(jax.jit(jax.grad(scaled_residual))(inverse.params))
    np.testing.assert_allclose(jacobian[index], np.asarray(expected), rtol=1e-10, atol=1e-13)


def test_k_column_zero_outside_pde_rows(inverse, jacobian):
    # Only "pde" depends on k. ravel_pytree orders dict keys, so "k" comes before "net".
    marker = {"k": jnp.asarray(1.0), "net": jax.tree.map(jnp.zeros_like, inverse.params["net"])}
    column = int(np.argmax(np.asarray(ravel_pytree(marker)[0])))

    assert np.any(jacobian[:N_INTERIOR, column] != 0)
    assert np.all(jacobian[N_INTERIOR:, column] == 0)


# Solve and metrics


def test_short_solve_lowers_cost_and_errors(small_inverse):
    residual = jax.jit(small_inverse.problem.residual)(small_inverse.params)
    start_cost = 0.5 * float(jnp.sum(residual**2))
    start_error = small_inverse.relative_l2_error(small_inverse.params)
    start_k_error = small_inverse.coefficient_errors(small_inverse.params)["k"]

    result = sv.minimize(small_inverse.problem, small_inverse.params, max_iter=3, time_limit=20)

    assert result.cost < 0.9 * start_cost
    assert small_inverse.relative_l2_error(result.params) < start_error
    assert small_inverse.coefficient_errors(result.params)["k"] < start_k_error


def test_coefficient_errors_are_relative_to_true_k(inverse):
    exact = {"net": inverse.params["net"], "k": jnp.asarray(0.25)}
    off = {"net": inverse.params["net"], "k": jnp.asarray(0.2625)}

    assert inverse.coefficient_errors(exact) == {"k": 0.0}
    assert inverse.coefficient_errors(off)["k"] == pytest.approx(0.05, rel=1e-12)
    assert inverse.coefficient_errors(inverse.params)["k"] == pytest.approx(3.0, rel=1e-12)


def test_relative_l2_error_matches_numpy(inverse):
    ticks = np.linspace(0.0, 1.0, 100)
    xs, ts = np.meshgrid(ticks, ticks)
    points = np.stack([xs.ravel(), ts.ravel()], axis=1)
    predicted = numpy_mlp(inverse.params["net"], points)
    exact = numpy_exact(points[:, 0], points[:, 1])
    expected = np.linalg.norm(predicted - exact) / np.linalg.norm(exact)

    assert inverse.relative_l2_error(inverse.params) == pytest.approx(expected, rel=1e-12)
