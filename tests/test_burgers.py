"""Tests of the Burgers PINN problem and its Cole-Hopf reference against independent references."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.integrate import quad  # noqa: E402

import svensolve as sv  # noqa: E402
from problems import burgers  # noqa: E402

NU = 0.01 / np.pi
N_INTERIOR = 1024
N_INITIAL = 64
N_BOUNDARY = 64


@pytest.fixture(scope="module")
def case():
    return burgers.build()


def numpy_network(params, points):
    """Evaluate the tanh MLP on (x, t) rows mapped from [-1, 1] x [0, 1] onto [-1, 1]^2."""
    points = np.asarray(points, dtype=np.float64)
    hidden = np.stack([points[:, 0], 2 * points[:, 1] - 1], axis=1)
    for layer in params[:-1]:
        hidden = np.tanh(hidden @ np.asarray(layer["w"]) + np.asarray(layer["b"]))
    return (hidden @ np.asarray(params[-1]["w"]) + np.asarray(params[-1]["b"]))[:, 0]


def cole_hopf_by_quad(x, t):
    """The Cole-Hopf integrals by adaptive quadrature in eta, an independent reference."""

    def exponent(eta):
        return -(eta**2) / (4 * NU * t) - np.cos(np.pi * (x - eta)) / (2 * np.pi * NU)

    # Past |eta| = reach the Gaussian factor is below e^-140 and f is at most e^50.
    reach = np.sqrt(4 * NU * t * 140)
    grid = np.linspace(-reach, reach, 20001)
    shift = exponent(grid).max()
    peaks = [grid[np.argmax(exponent(grid))]]

    def weight(eta):
        return np.exp(exponent(eta) - shift)

    options = {"points": peaks, "limit": 500, "epsabs": 1e-14, "epsrel": 1e-13}
    numerator, _ = quad(lambda eta: np.sin(np.pi * (x - eta)) * weight(eta), -reach, reach,
                        **options)
    denominator, _ = quad(weight, -reach, reach, **options)
    return -numerator / denominator


# Reference


@pytest.mark.parametrize(
    "x, t", [(0.5, 0.1), (-0.3, 0.4), (0.02, 0.6), (-0.005, 1.0), (0.9, 0.8), (0.0001, 0.3)]
)
def test_cole_hopf_matches_adaptive_quadrature(x, t):
    value = float(burgers.cole_hopf_solution(x, t))

    assert value == pytest.approx(cole_hopf_by_quad(x, t), abs=1e-10)


def test_cole_hopf_converges_in_node_count():
    grid = burgers.convection.uniform_grid(
        burgers.X_RANGE, burgers.T_RANGE, (201, 201)
    )
    near_front = np.stack([np.linspace(-0.01, 0.01, 41), np.full(41, 1.0)], axis=1)
    points = np.concatenate([grid, near_front])

    coarse = burgers.cole_hopf_solution(points[:, 0], points[:, 1], nodes=200)
    fine = burgers.cole_hopf_solution(points[:, 0], points[:, 1], nodes=300)

    assert np.max(np.abs(coarse - fine)) < 1e-12


def test_cole_hopf_initial_and_boundary_values():
    x = np.linspace(-1, 1, 33)
    t = np.linspace(0.05, 1, 20)

    initial = burgers.cole_hopf_solution(x, 0.0)
    left = burgers.cole_hopf_solution(-1.0, t)
    right = burgers.cole_hopf_solution(1.0, t)

    np.testing.assert_array_equal(initial, -np.sin(np.pi * x))
    assert np.max(np.abs(left)) < 1e-12
    assert np.max(np.abs(right)) < 1e-12


def test_cole_hopf_satisfies_pde():
    step = 1e-4
    for x, t in [(0.5, 0.1), (-0.6, 0.5), (0.3, 0.9)]:
        def u(dx, dt, x=x, t=t):
            return float(burgers.cole_hopf_solution(x + dx, t + dt))

        u_t = (u(0, step) - u(0, -step)) / (2 * step)
        u_x = (u(step, 0) - u(-step, 0)) / (2 * step)
        u_xx = (u(step, 0) - 2 * u(0, 0) + u(-step, 0)) / step**2
        assert abs(u_t + u(0, 0) * u_x - NU * u_xx) < 1e-5


def test_cole_hopf_rejects_too_many_nodes():
    with pytest.raises(ValueError, match="nodes must be from 2 to 300"):
        burgers.cole_hopf_solution(0.0, 0.5, nodes=400)


def test_burgers_residual_on_polynomial():
    # u = x^2 + t has u_t = 1, u_x = 2 x and u_xx = 2.
    point = jnp.asarray([0.5, 0.3])

    residual = burgers.burgers_residual(lambda p: p[0] ** 2 + p[1], point)

    expected = 1 + (0.25 + 0.3) * 1.0 - NU * 2
    assert float(residual) == pytest.approx(expected, abs=1e-12)


# Assembly


def test_condition_names_and_sizes(case):
    names = [condition.name for condition in case.problem.conditions]
    residual = jax.jit(case.problem.residual)(case.params)

    assert names == ["pde", "initial", "boundary"]
    assert residual.shape == (N_INTERIOR + N_INITIAL + N_BOUNDARY,)


# Solve and metric


def test_short_solve_lowers_error():
    small = burgers.build(width=16, x_count=12, t_count=12, initial_count=16, boundary_count=12)
    start_error = small.relative_l2_error(small.params)

    result = sv.minimize(small.problem, small.params, max_iter=40)

    # Measured: 0.82 at the start and 0.40 after 40 iterations.
    assert start_error > 0.7
    assert small.relative_l2_error(result.params) < 0.6


def test_relative_l2_error_matches_numpy(case):
    xs, ts = np.meshgrid(np.linspace(-1, 1, 201), np.linspace(0, 1, 201))
    points = np.stack([xs.ravel(), ts.ravel()], axis=1)
    predicted = numpy_network(case.params, points)
    exact = burgers.cole_hopf_solution(points[:, 0], points[:, 1])
    expected = np.linalg.norm(predicted - exact) / np.linalg.norm(exact)

    assert case.relative_l2_error(case.params) == pytest.approx(expected, rel=1e-12)
