"""Tests of the Kovasznay flow PINN problem against independent references."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

import svensolve as sv  # noqa: E402
from problems import kovasznay  # noqa: E402
from problems.networks import mlp  # noqa: E402
from svensolve import evaluate  # noqa: E402

N_INTERIOR = 300
N_BOUNDARY = 78
N_ROWS = 2 * N_INTERIOR + N_INTERIOR + 2 * N_BOUNDARY + 1
N_PARAMS = 1251
NU = 1 / 40
LAMBDA = 20 - np.sqrt(400 + 4 * np.pi**2)


@pytest.fixture(scope="module")
def flow():
    return kovasznay.build()


@pytest.fixture(scope="module")
def jacobian(flow):
    # The solver's own compiled Jacobian, cached on the Problem, so the solve test
    # below does not compile it again.
    evaluator, x0, _ = evaluate.from_problem(flow.problem, flow.params)
    return evaluator.jacobian(x0)


def numpy_exact(x, y):
    """Return the Kovasznay (u, v, p) from the formulas, each of the shape of x."""
    decay = np.exp(LAMBDA * x)
    u = 1 - decay * np.cos(2 * np.pi * y)
    v = LAMBDA / (2 * np.pi) * decay * np.sin(2 * np.pi * y)
    p = (1 - np.exp(2 * LAMBDA * x)) / 2
    return u, v, p


def numpy_mlp(params, points):
    """Evaluate a tanh MLP on an (m, d) array with numpy alone, shape (m, outputs)."""
    hidden = np.asarray(points, dtype=np.float64)
    for layer in params[:-1]:
        hidden = np.tanh(hidden @ np.asarray(layer["w"]) + np.asarray(layer["b"]))
    return hidden @ np.asarray(params[-1]["w"]) + np.asarray(params[-1]["b"])


# Equations


def test_exact_formulas_pass_finite_differences():
    h = 1e-4
    for x, y in [(0.1, 0.2), (-0.3, 1.1), (0.8, -0.4)]:
        center = np.array(numpy_exact(x, y))
        east, west = np.array(numpy_exact(x + h, y)), np.array(numpy_exact(x - h, y))
        north, south = np.array(numpy_exact(x, y + h)), np.array(numpy_exact(x, y - h))
        d_dx = (east - west) / (2 * h)
        d_dy = (north - south) / (2 * h)
        laplacian = (east + west + north + south - 4 * center) / h**2
        u, v = center[0], center[1]

        momentum = u * d_dx[:2] + v * d_dy[:2] + np.array([d_dx[2], d_dy[2]]) - NU * laplacian[:2]
        assert np.max(np.abs(momentum)) < 1e-5
        assert abs(d_dx[0] + d_dy[1]) < 1e-6


def test_exact_solution_matches_numpy_formulas(flow):
    points = flow.test_grid()[::37]

    values = np.asarray(flow.exact(points))

    expected = np.stack(numpy_exact(points[:, 0], points[:, 1]), axis=1)
    np.testing.assert_allclose(values, expected, rtol=1e-13, atol=1e-14)


def test_exact_solution_has_zero_residuals(flow):
    points = jnp.asarray(flow.interior_points)
    exact = kovasznay.exact_solution

    momentum = jax.jit(jax.vmap(lambda x: kovasznay.momentum_residual(exact, x)))(points)
    continuity = jax.jit(jax.vmap(lambda x: kovasznay.continuity_residual(exact, x)))(points)

    assert momentum.shape == (N_INTERIOR, 2)
    assert np.max(np.abs(np.asarray(momentum))) < 1e-12
    assert np.max(np.abs(np.asarray(continuity))) < 1e-12


def test_residual_signs_on_polynomial_field():
    # u = x + y^2, v = -y, p = x^2 + y is divergence-free. The x momentum is
    # u * 1 + v * 2y + 2x - 2 nu = 3x - y^2 - 2 nu and the y momentum is y + 1.
    def fields(point):
        x, y = point[0], point[1]
        return jnp.stack([x + y**2, -y, x**2 + y])

    x, y = 0.3, 0.7
    point = jnp.asarray([x, y])

    momentum = np.asarray(kovasznay.momentum_residual(fields, point))
    continuity = float(kovasznay.continuity_residual(fields, point))

    np.testing.assert_allclose(momentum, [3 * x - y**2 - 2 * NU, y + 1], atol=1e-12)
    assert continuity == pytest.approx(0.0, abs=1e-12)


# Collocation


def test_points_lie_inside_and_on_the_rectangle(flow):
    inside = flow.interior_points
    boundary = flow.boundary_points
    on_x_edge = np.isin(boundary[:, 0], [-0.5, 1.0])
    on_y_edge = np.isin(boundary[:, 1], [-0.5, 1.5])

    assert inside.shape == (N_INTERIOR, 2)
    assert boundary.shape == (N_BOUNDARY, 2)
    assert np.all((inside[:, 0] > -0.5) & (inside[:, 0] < 1.0))
    assert np.all((inside[:, 1] > -0.5) & (inside[:, 1] < 1.5))
    assert np.all(on_x_edge | on_y_edge)
    np.testing.assert_array_equal(flow.pressure_point, [[-0.5, -0.5]])


# Problem assembly


def test_condition_names_and_residual_size(flow):
    names = [condition.name for condition in flow.problem.conditions]
    residual = jax.jit(flow.problem.residual)(flow.params)

    assert names == ["momentum", "continuity", "boundary", "pressure"]
    assert residual.shape == (N_ROWS,)
    assert sum(leaf.size for leaf in jax.tree.leaves(flow.params)) == N_PARAMS


def test_boundary_residuals_are_scaled_velocity_misfits(flow):
    residual = np.asarray(jax.jit(flow.problem.residual)(flow.params))
    points = flow.boundary_points
    start = 3 * N_INTERIOR

    predicted = numpy_mlp(flow.params, points)[:, :2]
    exact = np.stack(numpy_exact(points[:, 0], points[:, 1])[:2], axis=1)
    expected = (predicted - exact).ravel() / np.sqrt(N_BOUNDARY)
    np.testing.assert_allclose(residual[start : start + 2 * N_BOUNDARY], expected, atol=1e-14)


def test_jacobian_shape(jacobian):
    assert jacobian.shape == (N_ROWS, N_PARAMS)


@pytest.mark.parametrize("component", [0, 1])
def test_jacobian_momentum_row_matches_grad(flow, jacobian, component):
    index = 157
    point = jnp.asarray(flow.interior_points[index])

    def scaled_residual(params):
        # An independent residual from the full Jacobian and Hessian of the network.
        values = mlp(params, point)
        first = jax.jacfwd(mlp, argnums=1)(params, point)
        second = jax.hessian(mlp, argnums=1)(params, point)
        convection = values[0] * first[component, 0] + values[1] * first[component, 1]
        laplacian = second[component, 0, 0] + second[component, 1, 1]
        momentum = convection + first[2, component] - NU * laplacian
        return momentum / np.sqrt(N_INTERIOR)

    expected, _ = ravel_pytree(jax.jit(jax.grad(scaled_residual))(flow.params))
    row = jacobian[2 * index + component]
    np.testing.assert_allclose(row, np.asarray(expected), rtol=1e-10, atol=1e-13)


def test_jacobian_pressure_row_matches_grad(flow, jacobian):
    point = jnp.asarray(flow.pressure_point[0])

    expected, _ = ravel_pytree(jax.grad(lambda params: mlp(params, point)[2])(flow.params))
    np.testing.assert_allclose(jacobian[-1], np.asarray(expected), rtol=1e-12, atol=1e-15)


# Solve and metrics


def test_short_solve_lowers_cost_and_error(flow):
    residual = jax.jit(flow.problem.residual)(flow.params)
    start_cost = 0.5 * float(jnp.sum(residual**2))
    start_error = flow.relative_l2_error(flow.params)

    result = sv.minimize(flow.problem, flow.params, max_iter=3, time_limit=20)

    assert result.cost < 0.9 * start_cost
    assert flow.relative_l2_error(result.params) < start_error


def test_errors_match_numpy(flow):
    xs, ys = np.meshgrid(np.linspace(-0.5, 1.0, 100), np.linspace(-0.5, 1.5, 100))
    points = np.stack([xs.ravel(), ys.ravel()], axis=1)
    predicted = numpy_mlp(flow.params, points)
    exact = np.stack(numpy_exact(points[:, 0], points[:, 1]), axis=1)

    components = flow.component_errors(flow.params)
    velocity = flow.relative_l2_error(flow.params)

    for index, name in enumerate(["u", "v", "p"]):
        difference = np.linalg.norm(predicted[:, index] - exact[:, index])
        expected = difference / np.linalg.norm(exact[:, index])
        assert components[name] == pytest.approx(expected, rel=1e-12)
    velocity_difference = np.linalg.norm(predicted[:, :2] - exact[:, :2])
    expected_velocity = velocity_difference / np.linalg.norm(exact[:, :2])
    assert velocity == pytest.approx(expected_velocity, rel=1e-12)
