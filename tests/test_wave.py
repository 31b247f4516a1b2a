"""Tests of the 1D wave equation PINN problem against independent references."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import svensolve as sv  # noqa: E402
from problems import wave  # noqa: E402

N_INTERIOR = 1024
N_INITIAL = 48
N_BOUNDARY = 64
N_PARAMS = 1185


@pytest.fixture(scope="module")
def case():
    return wave.build()


def numpy_network(params, points):
    """Evaluate the tanh MLP on (x, t) rows mapped from [0, 1]^2 onto [-1, 1]^2."""
    hidden = 2 * np.asarray(points, dtype=np.float64) - 1
    for layer in params[:-1]:
        hidden = np.tanh(hidden @ np.asarray(layer["w"]) + np.asarray(layer["b"]))
    return (hidden @ np.asarray(params[-1]["w"]) + np.asarray(params[-1]["b"]))[:, 0]


def numpy_exact(x, t):
    return np.sin(np.pi * x) * np.cos(2 * np.pi * t) + np.sin(5 * np.pi * x) * np.cos(
        10 * np.pi * t
    ) / 2


# Equation


def test_exact_solution_has_zero_pde_residual(case):
    residuals = jax.vmap(wave.wave_residual, in_axes=(None, 0))(
        wave.exact_solution, jnp.asarray(case.interior_points)
    )

    assert np.max(np.abs(np.asarray(residuals))) < 1e-10


def test_exact_formula_passes_finite_differences():
    step = 1e-4
    for x, t in [(0.3, 0.2), (0.7, 0.9), (0.45, 0.05)]:
        center = numpy_exact(x, t)
        u_tt = (numpy_exact(x, t + step) - 2 * center + numpy_exact(x, t - step)) / step**2
        u_xx = (numpy_exact(x + step, t) - 2 * center + numpy_exact(x - step, t)) / step**2
        assert u_tt == pytest.approx(4 * u_xx, rel=1e-5)


def test_exact_initial_velocity_and_boundary(case):
    velocity = jax.vmap(jax.grad(wave.exact_solution))(jnp.asarray(case.initial_points))[:, 1]
    initial = np.asarray(case.exact(case.initial_points))
    boundary = np.asarray(case.exact(case.boundary_points))

    x = case.initial_points[:, 0]
    np.testing.assert_allclose(initial, np.sin(np.pi * x) + np.sin(5 * np.pi * x) / 2,
                               atol=1e-15)
    assert np.max(np.abs(np.asarray(velocity))) < 1e-12
    assert np.max(np.abs(boundary)) < 1e-14


def test_wave_residual_on_polynomial():
    # u = t^3 + x^2 has u_tt = 6 t and u_xx = 2, so u_tt - 4 u_xx = 6 t - 8.
    residual = wave.wave_residual(lambda p: p[1] ** 3 + p[0] ** 2, jnp.asarray([0.4, 0.5]))

    assert float(residual) == pytest.approx(-5.0, abs=1e-12)


# Assembly


def test_condition_names_and_sizes(case):
    names = [condition.name for condition in case.problem.conditions]
    residual = jax.jit(case.problem.residual)(case.params)

    assert names == ["pde", "initial", "initial_velocity", "boundary"]
    assert residual.shape == (N_INTERIOR + 2 * N_INITIAL + N_BOUNDARY,)
    assert sum(leaf.size for leaf in jax.tree.leaves(case.params)) == N_PARAMS


def test_initial_velocity_matches_differences(case):
    residual = np.asarray(jax.jit(case.problem.residual)(case.params))
    points = case.initial_points
    step = 1e-6
    later = numpy_network(case.params, points + [0.0, step])
    earlier = numpy_network(case.params, points - [0.0, step])

    expected = (later - earlier) / (2 * step) / np.sqrt(N_INITIAL)

    start = N_INTERIOR + N_INITIAL
    np.testing.assert_allclose(residual[start : start + N_INITIAL], expected, atol=1e-8)


# Solve and metric


def test_short_solve_lowers_error():
    small = wave.build(width=16, x_count=12, t_count=12, initial_count=16, boundary_count=12)
    start_error = small.relative_l2_error(small.params)

    result = sv.minimize(small.problem, small.params, max_iter=40)

    # Measured: 1.13 at the start and 0.68 after 40 iterations.
    assert start_error > 0.9
    assert small.relative_l2_error(result.params) < 0.8


def test_relative_l2_error_matches_numpy(case):
    xs, ts = np.meshgrid(np.linspace(0, 1, 100), np.linspace(0, 1, 100))
    points = np.stack([xs.ravel(), ts.ravel()], axis=1)
    predicted = numpy_network(case.params, points)
    exact = numpy_exact(points[:, 0], points[:, 1])
    expected = np.linalg.norm(predicted - exact) / np.linalg.norm(exact)

    assert case.relative_l2_error(case.params) == pytest.approx(expected, rel=1e-12)
