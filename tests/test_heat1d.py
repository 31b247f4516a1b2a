"""Tests of the 1D heat equation PINN problem against independent references."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

import svensolve as sv  # noqa: E402
from problems import heat1d  # noqa: E402
from problems.networks import mlp  # noqa: E402

N_INTERIOR = 900
N_INITIAL = 30
N_BOUNDARY = 60
N_PARAMS = 1185


@pytest.fixture(scope="module")
def heat():
    return heat1d.build()


@pytest.fixture(scope="module")
def small_heat():
    # A smaller network and grid keep the solve test's SVDs cheap.
    return heat1d.build(width=16, grid=15, initial_count=15, boundary_count=15)


@pytest.fixture(scope="module")
def jacobian(heat):
    return np.asarray(jax.jit(heat.problem.jacobian)(heat.params))


def numpy_mlp(params, points):
    """Evaluate a tanh MLP with scalar output on an (m, d) array with numpy alone."""
    hidden = np.asarray(points, dtype=np.float64)
    for layer in params[:-1]:
        hidden = np.tanh(hidden @ np.asarray(layer["w"]) + np.asarray(layer["b"]))
    return (hidden @ np.asarray(params[-1]["w"]) + np.asarray(params[-1]["b"]))[:, 0]


def numpy_exact(x, t):
    return np.exp(-np.pi**2 * t / 4) * np.sin(np.pi * x)


# Equation


def test_exact_formula_passes_finite_differences():
    step = 1e-4
    for x, t in [(0.3, 0.2), (0.7, 0.9), (0.5, 0.05)]:
        center = numpy_exact(x, t)
        u_t = (numpy_exact(x, t + step) - numpy_exact(x, t - step)) / (2 * step)
        u_xx = (numpy_exact(x + step, t) - 2 * center + numpy_exact(x - step, t)) / step**2
        assert u_t == pytest.approx(u_xx / 4, rel=1e-6)


def test_exact_solution_matches_numpy_formula(heat):
    points = heat.test_grid()

    values = np.asarray(heat.exact(points))

    np.testing.assert_allclose(values, numpy_exact(points[:, 0], points[:, 1]), atol=1e-15)


def test_exact_solution_has_zero_pde_residual(heat):
    residuals = jax.vmap(heat1d.heat_residual, in_axes=(None, 0))(
        heat1d.exact_solution, jnp.asarray(heat.interior_points)
    )

    assert np.max(np.abs(np.asarray(residuals))) < 1e-12


def test_exact_initial_and_boundary_values(heat):
    initial = np.asarray(heat.exact(heat.initial_points))
    boundary = np.asarray(heat.exact(heat.boundary_points))

    np.testing.assert_allclose(initial, np.sin(np.pi * heat.initial_points[:, 0]), atol=1e-15)
    assert np.max(np.abs(boundary)) < 1e-15


def test_heat_residual_sign_on_polynomial():
    # u = x^2 + 3 t has u_t = 3 and u_xx = 2, so u_t - u_xx / 4 = 2.5.
    def u(point):
        return point[0] ** 2 + 3 * point[1]

    residual = heat1d.heat_residual(u, jnp.asarray([0.4, 0.7]))

    assert float(residual) == pytest.approx(2.5, abs=1e-12)


# Collocation


def test_point_set_shapes_and_locations(heat):
    assert heat.interior_points.shape == (N_INTERIOR, 2)
    assert heat.initial_points.shape == (N_INITIAL, 2)
    assert heat.boundary_points.shape == (N_BOUNDARY, 2)
    inside = heat.interior_points
    assert np.all((inside > 0) & (inside < 1))
    assert np.all(heat.initial_points[:, 1] == 0)
    np.testing.assert_array_equal(np.unique(heat.boundary_points[:, 0]), [0.0, 1.0])


def test_build_rejects_single_initial_point():
    with pytest.raises(ValueError, match="initial_count"):
        heat1d.build(initial_count=1)


# Problem assembly


def test_condition_names_and_residual_size(heat):
    names = [condition.name for condition in heat.problem.conditions]
    residual = jax.jit(heat.problem.residual)(heat.params)

    assert names == ["pde", "initial", "boundary"]
    assert residual.shape == (N_INTERIOR + N_INITIAL + N_BOUNDARY,)
    assert sum(leaf.size for leaf in jax.tree.leaves(heat.params)) == N_PARAMS


def test_jacobian_shape(jacobian):
    assert jacobian.shape == (N_INTERIOR + N_INITIAL + N_BOUNDARY, N_PARAMS)


def test_jacobian_pde_row_matches_grad(heat, jacobian):
    index = 437
    point = jnp.asarray(heat.interior_points[index])

    def scaled_residual(params):
        # An independent residual: the full Hessian instead of the module's jvp.
        gradient = jax.grad(mlp, argnums=1)(params, point)
        hessian = jax.hessian(mlp, argnums=1)(params, point)
        return (gradient[1] - hessian[0, 0] / 4) / np.sqrt(N_INTERIOR)

    expected, _ = ravel_pytree(jax.jit(jax.grad(scaled_residual))(heat.params))
    np.testing.assert_allclose(jacobian[index], np.asarray(expected), rtol=1e-10, atol=1e-13)


def test_jacobian_initial_row_matches_grad(heat, jacobian):
    index = 11
    point = jnp.asarray(heat.initial_points[index])

    def scaled_residual(params):
        return (mlp(params, point) - jnp.sin(jnp.pi * point[0])) / np.sqrt(N_INITIAL)

    expected, _ = ravel_pytree(jax.grad(scaled_residual)(heat.params))
    row = jacobian[N_INTERIOR + index]
    np.testing.assert_allclose(row, np.asarray(expected), rtol=1e-12, atol=1e-15)


# Solve and metric


def test_short_solve_lowers_cost_and_error(small_heat):
    residual = jax.jit(small_heat.problem.residual)(small_heat.params)
    start_cost = 0.5 * float(jnp.sum(residual**2))
    start_error = small_heat.relative_l2_error(small_heat.params)

    result = sv.minimize(small_heat.problem, small_heat.params, max_iter=5, time_limit=20)

    assert result.cost < 0.9 * start_cost
    assert small_heat.relative_l2_error(result.params) < start_error


def test_relative_l2_error_matches_numpy(heat):
    ticks = np.linspace(0.0, 1.0, 100)
    xs, ts = np.meshgrid(ticks, ticks)
    points = np.stack([xs.ravel(), ts.ravel()], axis=1)
    predicted = numpy_mlp(heat.params, points)
    exact = numpy_exact(points[:, 0], points[:, 1])
    expected = np.linalg.norm(predicted - exact) / np.linalg.norm(exact)

    error = heat.relative_l2_error(heat.params)

    assert error == pytest.approx(expected, rel=1e-12)
