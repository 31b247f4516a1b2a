"""Tests of the reaction PINN problem (rho = 5) against independent references."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

import svensolve as sv  # noqa: E402
from problems import reaction  # noqa: E402

N_INTERIOR = 1024
N_INITIAL = 64
N_PERIODIC = 64


@pytest.fixture(scope="module")
def case():
    return reaction.build()


def numpy_network(params, points):
    """Evaluate the tanh MLP on (x, t) rows mapped from [0, 2 pi] x [0, 1] onto [-1, 1]^2."""
    points = np.asarray(points, dtype=np.float64)
    hidden = np.stack([points[:, 0] / np.pi - 1, 2 * points[:, 1] - 1], axis=1)
    for layer in params[:-1]:
        hidden = np.tanh(hidden @ np.asarray(layer["w"]) + np.asarray(layer["b"]))
    return (hidden @ np.asarray(params[-1]["w"]) + np.asarray(params[-1]["b"]))[:, 0]


def gaussian(x):
    return np.exp(-((x - np.pi) ** 2) / (2 * (np.pi / 4) ** 2))


# Equation


def test_exact_solution_has_zero_pde_residual(case):
    residuals = jax.vmap(reaction.reaction_residual, in_axes=(None, 0))(
        reaction.exact_solution, jnp.asarray(case.interior_points)
    )

    assert np.max(np.abs(np.asarray(residuals))) < 1e-10


def test_exact_solution_matches_logistic_ode():
    # Each x follows u' = 5 u (1 - u) on its own, so scipy's ODE solver is a reference.
    xs = np.array([0.3, 2.0, np.pi, 4.5])
    ode = solve_ivp(lambda _, u: 5 * u * (1 - u), (0, 1), gaussian(xs), t_eval=[0.25, 0.5, 1.0],
                    rtol=1e-12, atol=1e-14)

    for column, t in enumerate(ode.t):
        points = np.stack([xs, np.full_like(xs, t)], axis=1)
        values = np.asarray(jax.vmap(reaction.exact_solution)(jnp.asarray(points)))
        np.testing.assert_allclose(values, ode.y[:, column], rtol=1e-9)


def test_exact_initial_and_periodic_values(case):
    times = np.linspace(0.0, 1.0, 17)
    left = np.stack([np.zeros_like(times), times], axis=1)
    right = np.stack([np.full_like(times, 2 * np.pi), times], axis=1)

    initial = np.asarray(case.exact(case.initial_points))

    np.testing.assert_allclose(initial, gaussian(case.initial_points[:, 0]), rtol=1e-14)
    np.testing.assert_allclose(np.asarray(case.exact(left)), np.asarray(case.exact(right)),
                               rtol=1e-12)


def test_reaction_residual_on_polynomial():
    # u = x + t has u_t = 1, so u_t - 5 u (1 - u) = 1 - 5 * 0.8 * 0.2 at x + t = 0.8.
    residual = reaction.reaction_residual(lambda p: p[0] + p[1], jnp.asarray([0.5, 0.3]))

    assert float(residual) == pytest.approx(0.2, abs=1e-12)


# Assembly


def test_condition_names_and_sizes(case):
    names = [condition.name for condition in case.problem.conditions]
    residual = jax.jit(case.problem.residual)(case.params)

    assert names == ["pde", "initial", "periodic"]
    assert residual.shape == (N_INTERIOR + N_INITIAL + N_PERIODIC,)


def test_initial_residuals_match_numpy(case):
    residual = np.asarray(jax.jit(case.problem.residual)(case.params))
    points = case.initial_points

    expected = (numpy_network(case.params, points) - gaussian(points[:, 0])) / np.sqrt(N_INITIAL)

    block = residual[N_INTERIOR : N_INTERIOR + N_INITIAL]
    np.testing.assert_allclose(block, expected, rtol=1e-10, atol=1e-14)


# Solve and metric


def test_short_solve_lowers_error_at_small_rho():
    # rho = 5 is beyond a short solve; rho = 1 checks the assembly and the metric.
    small = reaction.build(width=16, x_count=12, t_count=12, initial_count=16,
                           periodic_count=16, rho=1.0)
    start_error = small.relative_l2_error(small.params)

    result = sv.minimize(small.problem, small.params, max_iter=25)

    # Measured: 1.15 at the start, 2.0e-2 after 20 iterations and 9.3e-3 after 25.
    assert start_error > 0.5
    assert small.relative_l2_error(result.params) < 0.1


def test_relative_l2_error_matches_numpy(case):
    xs, ts = np.meshgrid(np.linspace(0, 2 * np.pi, 200), np.linspace(0, 1, 200))
    growth = gaussian(xs) * np.exp(5 * ts)
    exact = (growth / (growth + 1 - gaussian(xs))).ravel()
    predicted = numpy_network(case.params, np.stack([xs.ravel(), ts.ravel()], axis=1))
    expected = np.linalg.norm(predicted - exact) / np.linalg.norm(exact)

    assert case.relative_l2_error(case.params) == pytest.approx(expected, rel=1e-12)
