"""Tests of the 2D Poisson PINN problem and its networks against independent references."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

from problems import poisson2d  # noqa: E402
from problems.networks import init_mlp, mlp  # noqa: E402

N_INTERIOR = 900
N_BOUNDARY = 120


@pytest.fixture(scope="module")
def poisson():
    return poisson2d.build()


def numpy_mlp(params, points):
    """Evaluate a tanh MLP on an (m, d) array with numpy alone, as a reference for `mlp`."""
    hidden = np.asarray(points, dtype=np.float64)
    layers = [{key: np.asarray(value) for key, value in layer.items()} for layer in params]
    for layer in layers[:-1]:
        hidden = np.tanh(hidden @ layer["w"] + layer["b"])
    return (hidden @ layers[-1]["w"] + layers[-1]["b"])[:, 0]


def finite_difference_laplacian(fn, x, step=1e-4):
    """Central second differences, one coordinate at a time, summed."""
    x = np.asarray(x, dtype=np.float64)
    center = fn(x)
    total = 0.0
    for i in range(x.shape[0]):
        shift = np.zeros_like(x)
        shift[i] = step
        total += (fn(x + shift) - 2 * center + fn(x - shift)) / step**2
    return total


# Networks


def test_init_mlp_layer_shapes_and_zero_biases():
    params = init_mlp(jax.random.PRNGKey(0), [3, 16, 8, 2])

    assert len(params) == 3
    for layer, (fan_in, fan_out) in zip(params, [(3, 16), (16, 8), (8, 2)], strict=True):
        assert layer["w"].shape == (fan_in, fan_out)
        assert layer["b"].shape == (fan_out,)
        assert layer["w"].dtype == jnp.float64
        assert np.all(np.asarray(layer["b"]) == 0)


def test_init_mlp_weights_have_glorot_variance():
    fan_in, fan_out = 400, 600
    params = init_mlp(jax.random.PRNGKey(1), [fan_in, fan_out])
    weights = np.asarray(params[0]["w"])

    expected_std = np.sqrt(2.0 / (fan_in + fan_out))
    standard_error = expected_std / np.sqrt(weights.size)
    assert abs(weights.mean()) < 5 * standard_error
    assert weights.std() == pytest.approx(expected_std, rel=0.02)


def test_init_mlp_rejects_single_width():
    with pytest.raises(ValueError, match="at least an input and an output"):
        init_mlp(jax.random.PRNGKey(0), [3])


def test_mlp_returns_scalar_for_width_one_output():
    params = init_mlp(jax.random.PRNGKey(2), [2, 5, 1])
    x = np.array([0.3, -0.7])

    value = mlp(params, jnp.asarray(x))

    assert value.shape == ()
    assert float(value) == pytest.approx(numpy_mlp(params, x[None, :])[0], rel=1e-14)


def test_mlp_returns_vector_for_wider_output():
    params = init_mlp(jax.random.PRNGKey(3), [2, 5, 3])
    x = np.array([0.3, -0.7])

    value = np.asarray(mlp(params, jnp.asarray(x)))

    hidden = np.tanh(x @ np.asarray(params[0]["w"]) + np.asarray(params[0]["b"]))
    expected = hidden @ np.asarray(params[1]["w"]) + np.asarray(params[1]["b"])
    assert value.shape == (3,)
    np.testing.assert_allclose(value, expected, rtol=1e-14)


# Laplacian


@pytest.mark.parametrize("point", [(0.3, 0.7), (0.5, 0.5), (0.12, 0.91)])
def test_laplacian_of_sine_product_is_analytic(point):
    x = jnp.asarray(point)

    def fn(y):
        return jnp.sin(jnp.pi * y[0]) * jnp.sin(jnp.pi * y[1])

    expected = -2 * np.pi**2 * np.sin(np.pi * point[0]) * np.sin(np.pi * point[1])
    assert float(poisson2d.laplacian(fn, x)) == pytest.approx(expected, abs=1e-10)


def test_laplacian_of_quadratic_is_eight():
    def fn(y):
        return y[0] ** 2 + 3 * y[1] ** 2

    for point in [(0.0, 0.0), (0.4, -1.3), (2.0, 5.0)]:
        assert float(poisson2d.laplacian(fn, jnp.asarray(point))) == pytest.approx(8.0, abs=1e-10)


def test_laplacian_in_five_dimensions():
    # sum_i (i + 1) x_i^2 + x_0 x_1 has Laplacian 2 * (1 + 2 + 3 + 4 + 5) = 30.
    def fn(y):
        return jnp.sum(jnp.arange(1, 6) * y**2) + y[0] * y[1]

    x = jnp.asarray([0.1, -0.2, 0.3, 0.4, -0.5])
    assert float(poisson2d.laplacian(fn, x)) == pytest.approx(30.0, abs=1e-10)


def test_laplacian_of_network_matches_finite_differences(poisson):
    params = poisson.params

    def network(y):
        return float(mlp(params, jnp.asarray(y)))

    for point in [(0.25, 0.75), (0.5, 0.1), (0.9, 0.4)]:
        x = np.asarray(point)
        autodiff = float(poisson2d.laplacian(lambda y: mlp(params, y), jnp.asarray(x)))
        estimate = finite_difference_laplacian(network, x, step=1e-4)
        assert autodiff == pytest.approx(estimate, rel=1e-5)


# Equation and collocation


def test_exact_solution_has_zero_pde_residual(poisson):
    points = jnp.asarray(poisson.interior_points)

    residuals = jax.vmap(poisson2d.pde_residual, in_axes=(None, 0))(
        poisson2d.exact_solution, points
    )

    assert np.max(np.abs(np.asarray(residuals))) < 1e-10


def test_exact_solution_vanishes_on_boundary_points(poisson):
    values = poisson.exact(poisson.boundary_points)

    assert np.max(np.abs(np.asarray(values))) < 1e-14


def test_source_equals_analytic_right_hand_side():
    x = jnp.asarray([0.3, 0.6])

    expected = 2 * np.pi**2 * np.sin(0.3 * np.pi) * np.sin(0.6 * np.pi)
    assert float(poisson2d.source(x)) == pytest.approx(expected, rel=1e-14)


def test_interior_points_are_strictly_inside(poisson):
    points = poisson.interior_points

    assert points.shape == (N_INTERIOR, 2)
    assert len(np.unique(points, axis=0)) == N_INTERIOR
    np.testing.assert_allclose(points.min(axis=0), 1 / 31, rtol=1e-14)
    np.testing.assert_allclose(points.max(axis=0), 30 / 31, rtol=1e-14)


def test_boundary_points_cover_every_edge(poisson):
    points = poisson.boundary_points

    assert points.shape == (N_BOUNDARY, 2)
    on_boundary = np.any((points == 0.0) | (points == 1.0), axis=1)
    assert np.all(on_boundary)
    ticks = np.linspace(0.0, 1.0, 30)
    for axis in (0, 1):
        for side in (0.0, 1.0):
            # Corners of the two perpendicular edges also lie on this edge, so compare
            # the set of positions along it rather than a count.
            along_edge = points[points[:, axis] == side, 1 - axis]
            np.testing.assert_array_equal(np.unique(along_edge), ticks)


# Problem assembly


def test_build_network_has_1185_parameters(poisson):
    leaves = jax.tree_util.tree_leaves(poisson.params)

    assert sum(leaf.size for leaf in leaves) == 1185
    assert [layer["w"].shape for layer in poisson.params] == [(2, 32), (32, 32), (32, 1)]


def test_build_condition_names_and_order(poisson):
    names = [condition.name for condition in poisson.problem.conditions]

    assert names == ["pde", "boundary"]


def test_residual_has_1020_entries(poisson):
    residual = poisson.problem.residual(poisson.params)

    assert residual.shape == (N_INTERIOR + N_BOUNDARY,)
    assert np.all(np.isfinite(np.asarray(residual)))


def test_boundary_residuals_are_scaled_network_values(poisson):
    residual = np.asarray(poisson.problem.residual(poisson.params))

    expected = numpy_mlp(poisson.params, poisson.boundary_points) / np.sqrt(N_BOUNDARY)
    np.testing.assert_allclose(residual[N_INTERIOR:], expected, rtol=1e-12, atol=1e-15)


def test_pde_residuals_match_finite_differences(poisson):
    residual = np.asarray(poisson.problem.residual(poisson.params))
    params = poisson.params

    def network(y):
        return numpy_mlp(params, y[None, :])[0]

    for index in [0, 437, 899]:
        x = poisson.interior_points[index]
        f = 2 * np.pi**2 * np.sin(np.pi * x[0]) * np.sin(np.pi * x[1])
        expected = (-finite_difference_laplacian(network, x) - f) / np.sqrt(N_INTERIOR)
        assert residual[index] == pytest.approx(expected, rel=1e-5)


def test_jacobian_shape(poisson):
    jacobian = poisson.problem.jacobian(poisson.params)

    assert jacobian.shape == (N_INTERIOR + N_BOUNDARY, 1185)


def test_jacobian_boundary_row_matches_grad(poisson):
    jacobian = np.asarray(poisson.problem.jacobian(poisson.params))

    for k in [0, 45, 119]:
        x = jnp.asarray(poisson.boundary_points[k])

        def scaled_residual(params, x=x):
            return mlp(params, x) / np.sqrt(N_BOUNDARY)

        expected, _ = ravel_pytree(jax.grad(scaled_residual)(poisson.params))
        np.testing.assert_allclose(
            jacobian[N_INTERIOR + k], np.asarray(expected), rtol=1e-12, atol=1e-15
        )


def test_jacobian_matches_directional_finite_differences(poisson):
    params = poisson.params
    flat_params, unravel = ravel_pytree(params)
    direction = jax.random.normal(jax.random.PRNGKey(7), flat_params.shape)
    direction = direction / jnp.linalg.norm(direction)
    step = 1e-5

    forward = np.asarray(poisson.problem.residual(unravel(flat_params + step * direction)))
    backward = np.asarray(poisson.problem.residual(unravel(flat_params - step * direction)))
    estimate = (forward - backward) / (2 * step)
    jacobian = np.asarray(poisson.problem.jacobian(params))
    directional = jacobian @ np.asarray(direction)

    # Rows of both blocks are checked, the PDE rows being the ones that differentiate
    # the Laplacian again with respect to the parameters.
    scale = np.max(np.abs(estimate))
    np.testing.assert_allclose(directional[:N_INTERIOR], estimate[:N_INTERIOR], atol=1e-7 * scale)
    np.testing.assert_allclose(directional[N_INTERIOR:], estimate[N_INTERIOR:], atol=1e-7 * scale)


# Metric


def test_test_grid_is_uniform_with_boundary(poisson):
    points = poisson.test_grid()
    ticks = np.linspace(0.0, 1.0, 100)

    assert points.shape == (10000, 2)
    assert len(np.unique(points, axis=0)) == 10000
    np.testing.assert_array_equal(np.unique(points[:, 0]), ticks)
    np.testing.assert_array_equal(np.unique(points[:, 1]), ticks)


def test_relative_l2_error_matches_numpy(poisson):
    ticks = np.linspace(0.0, 1.0, 100)
    xs, ys = np.meshgrid(ticks, ticks)
    points = np.stack([xs.ravel(), ys.ravel()], axis=1)
    predicted = numpy_mlp(poisson.params, points)
    exact = np.sin(np.pi * points[:, 0]) * np.sin(np.pi * points[:, 1])
    expected = np.linalg.norm(predicted - exact) / np.linalg.norm(exact)

    error = poisson.relative_l2_error(poisson.params)

    assert isinstance(error, float)
    assert error == pytest.approx(expected, rel=1e-12)
