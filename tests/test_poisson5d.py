"""Tests of the 5D Poisson PINN problem against independent references."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

import svensolve as sv  # noqa: E402
from problems import poisson5d  # noqa: E402
from problems.networks import mlp  # noqa: E402

N_INTERIOR = 500
N_BOUNDARY = 500
N_PARAMS = 1281


@pytest.fixture(scope="module")
def poisson():
    return poisson5d.build()


@pytest.fixture(scope="module")
def small_poisson():
    # A smaller network and point set keep the solve test's SVDs cheap.
    return poisson5d.build(width=16, interior_count=100, per_face=10)


def numpy_exact(points):
    return np.sum(np.sin(np.pi * np.asarray(points) / 2), axis=-1)


def numpy_mlp(params, points):
    """Evaluate a tanh MLP with scalar output on an (m, d) array with numpy alone."""
    hidden = np.asarray(points, dtype=np.float64)
    for layer in params[:-1]:
        hidden = np.tanh(hidden @ np.asarray(layer["w"]) + np.asarray(layer["b"]))
    return (hidden @ np.asarray(params[-1]["w"]) + np.asarray(params[-1]["b"]))[:, 0]


# Equation


def test_exact_formula_passes_finite_differences():
    step = 1e-4
    x = np.array([0.1, 0.35, 0.5, 0.72, 0.9])
    laplacian = 0.0
    for i in range(5):
        shift = np.zeros(5)
        shift[i] = step
        second_difference = numpy_exact(x + shift) - 2 * numpy_exact(x) + numpy_exact(x - shift)
        laplacian += second_difference / step**2

    source = np.pi**2 / 4 * np.sum(np.sin(np.pi * x / 2))
    assert -laplacian == pytest.approx(source, rel=1e-6)


def test_exact_solution_matches_numpy_formula(poisson):
    points = poisson.test_grid()[:200]

    np.testing.assert_allclose(np.asarray(poisson.exact(points)), numpy_exact(points), rtol=1e-14)


def test_exact_solution_has_zero_pde_residual(poisson):
    residual_of_exact = jax.jit(
        jax.vmap(lambda x: poisson5d.pde_residual(poisson5d.exact_solution, x))
    )
    residuals = residual_of_exact(jnp.asarray(poisson.interior_points))

    assert np.max(np.abs(np.asarray(residuals))) < 1e-12


def test_pde_residual_sign_on_quadratic():
    # u = |x|^2 has Laplacian 10 in 5D, so the residual is -10 - f(x).
    x = np.array([0.2, 0.4, 0.6, 0.8, 0.3])

    residual = poisson5d.pde_residual(lambda y: jnp.sum(y**2), jnp.asarray(x))

    expected = -10.0 - np.pi**2 / 4 * np.sum(np.sin(np.pi * x / 2))
    assert float(residual) == pytest.approx(expected, abs=1e-12)


# Collocation


def test_interior_points_are_inside_cube(poisson):
    points = poisson.interior_points

    assert points.shape == (N_INTERIOR, 5)
    assert np.all((points > 0) & (points < 1))


def test_boundary_points_fill_each_face_equally(poisson):
    points = poisson.boundary_points
    on_face = (points == 0.0) | (points == 1.0)

    assert points.shape == (N_BOUNDARY, 5)
    # Each point lies on exactly one face. The other coordinates are random in (0, 1).
    np.testing.assert_array_equal(on_face.sum(axis=1), np.ones(N_BOUNDARY))
    for axis in range(5):
        for side in (0.0, 1.0):
            assert np.sum(points[:, axis] == side) == 50


def test_points_depend_on_seed_only():
    first = poisson5d.build(seed=3)
    again = poisson5d.build(seed=3)
    other = poisson5d.build(seed=4)

    np.testing.assert_array_equal(first.interior_points, again.interior_points)
    np.testing.assert_array_equal(first.boundary_points, again.boundary_points)
    assert not np.array_equal(first.interior_points, other.interior_points)
    np.testing.assert_array_equal(first.test_grid(), other.test_grid())


# Problem assembly


def test_condition_names_and_residual_size(poisson):
    names = [condition.name for condition in poisson.problem.conditions]
    residual = jax.jit(poisson.problem.residual)(poisson.params)

    assert names == ["pde", "boundary"]
    assert residual.shape == (N_INTERIOR + N_BOUNDARY,)
    assert sum(leaf.size for leaf in jax.tree.leaves(poisson.params)) == N_PARAMS


def test_boundary_residuals_are_scaled_misfits(poisson):
    residual = np.asarray(jax.jit(poisson.problem.residual)(poisson.params))
    points = poisson.boundary_points

    expected = (numpy_mlp(poisson.params, points) - numpy_exact(points)) / np.sqrt(N_BOUNDARY)
    np.testing.assert_allclose(residual[N_INTERIOR:], expected, rtol=1e-12, atol=1e-15)


def test_jacobian_shape_and_pde_row(poisson):
    jacobian = np.asarray(jax.jit(poisson.problem.jacobian)(poisson.params))
    index = 123
    point = jnp.asarray(poisson.interior_points[index])

    def scaled_residual(params):
        # An independent residual: the trace of the full Hessian.
        laplacian = jnp.trace(jax.hessian(mlp, argnums=1)(params, point))
        source = jnp.pi**2 / 4 * jnp.sum(jnp.sin(jnp.pi * point / 2))
        return (-laplacian - source) / np.sqrt(N_INTERIOR)

    expected, _ = ravel_pytree(jax.jit(jax.grad(scaled_residual))(poisson.params))
    assert jacobian.shape == (N_INTERIOR + N_BOUNDARY, N_PARAMS)
    np.testing.assert_allclose(jacobian[index], np.asarray(expected), rtol=1e-10, atol=1e-13)


# Solve and metric


def test_short_solve_lowers_cost_and_error(small_poisson):
    residual = jax.jit(small_poisson.problem.residual)(small_poisson.params)
    start_cost = 0.5 * float(jnp.sum(residual**2))
    start_error = small_poisson.relative_l2_error(small_poisson.params)

    result = sv.minimize(small_poisson.problem, small_poisson.params, max_iter=5, time_limit=20)

    assert result.cost < 0.9 * start_cost
    assert small_poisson.relative_l2_error(result.params) < start_error


def test_relative_l2_error_matches_numpy(poisson):
    points = np.random.default_rng(poisson5d.TEST_SEED).uniform(0.0, 1.0, size=(10000, 5))
    predicted = numpy_mlp(poisson.params, points)
    exact = numpy_exact(points)
    expected = np.linalg.norm(predicted - exact) / np.linalg.norm(exact)

    error = poisson.relative_l2_error(poisson.params)

    assert error == pytest.approx(expected, rel=1e-12)


def test_resampled_solve_reduces_error():
    case = poisson5d.build()
    start_error = case.relative_l2_error(case.params)
    result = sv.minimize(case.problem, case.params, resample=True, control="line-search",
                         max_iter=10)
    assert result.nit == 10
    assert start_error > 0.5
    # Measured: 0.11 after 10 iterations, from 1.08.
    assert case.relative_l2_error(result.params) < 0.3


def test_boundary_sampler_puts_points_on_faces():
    case = poisson5d.build(per_face=7)
    drawn = case.problem.sample(jax.random.PRNGKey(3))[1]
    for face in range(10):
        block = np.asarray(drawn[7 * face : 7 * (face + 1)])
        axis, side = divmod(face, 2)
        np.testing.assert_array_equal(block[:, axis], float(side))
