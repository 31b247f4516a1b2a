"""Tests of the Allen-Cahn PINN problem and its spectral ETDRK4 reference."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

import svensolve as sv  # noqa: E402
from problems import allen_cahn  # noqa: E402

N_INTERIOR = 1024
N_INITIAL = 64
N_PERIODIC = 32


@pytest.fixture(scope="module")
def case():
    return allen_cahn.build()


def numpy_network(params, points):
    """Evaluate the tanh MLP on (x, t) rows mapped from [-1, 1] x [0, 1] onto [-1, 1]^2."""
    points = np.asarray(points, dtype=np.float64)
    hidden = np.stack([points[:, 0], 2 * points[:, 1] - 1], axis=1)
    for layer in params[:-1]:
        hidden = np.tanh(hidden @ np.asarray(layer["w"]) + np.asarray(layer["b"]))
    return (hidden @ np.asarray(params[-1]["w"]) + np.asarray(params[-1]["b"]))[:, 0]


# Reference


def test_etdrk4_matches_scipy_dop853():
    # The same 128-mode semi-discrete system, integrated by scipy's DOP853, checks the time
    # stepping alone. Its stiffest mode is -1e-4 (64 pi)^2 = -4, so an explicit method works.
    modes = 128
    x, times, values = allen_cahn.spectral_solution(modes=modes, time_step=1e-3, snapshots=11)
    wavenumbers = np.pi * np.fft.rfftfreq(modes, d=1.0 / modes)

    def rhs(_, u):
        u_xx = np.fft.irfft(-(wavenumbers**2) * np.fft.rfft(u), modes)
        return 1e-4 * u_xx + 5 * u - 5 * u**3

    ode = solve_ivp(rhs, (0, 1), x**2 * np.cos(np.pi * x), method="DOP853", t_eval=times,
                    rtol=1e-12, atol=1e-12)

    assert ode.success
    np.testing.assert_allclose(values, ode.y.T, atol=1e-8)


def test_two_resolutions_agree():
    # 1,024 modes with step 1/1020 against 2,048 modes with step 1/2040, on the metric grid.
    # The kink of the initial value at x = +-1 limits the agreement near t = 0, and
    # diffusion smooths it out later.
    _, _, coarse = allen_cahn.spectral_solution(modes=1024, time_step=1 / 1020)
    _, _, fine = allen_cahn.spectral_solution(modes=2048, time_step=1 / 2040)
    coarse, fine = coarse[:, ::4], fine[:, ::8]

    relative = np.linalg.norm(coarse - fine) / np.linalg.norm(fine)

    assert relative < 1e-5
    assert np.max(np.abs(coarse - fine)) < 1e-3
    # Measured: 3.7e-6 relative, 3.3e-4 at most, and 2.6e-7 at most from t = 0.5 on.
    assert np.max(np.abs(coarse[128:] - fine[128:])) < 1e-6


def test_reference_stays_within_plateaus():
    _, _, values = allen_cahn.reference_solution()

    assert values.min() >= -1 - 1e-9
    assert values.max() <= 1 + 1e-9
    assert values[-1].min() < -0.99
    assert values[-1].max() > 0.99


def test_reference_values_interpolate_between_nodes():
    x_nodes, times, values = allen_cahn.reference_solution()
    xs = np.array([-0.77, 0.1234, 0.5, 0.91])
    # Interpolated values at t = 0 reproduce the initial value away from the kink at +-1.
    points = np.stack([xs, np.zeros_like(xs)], axis=1)

    interpolated = allen_cahn.reference_values(points)

    np.testing.assert_allclose(interpolated, xs**2 * np.cos(np.pi * xs), atol=1e-4)
    on_nodes = np.stack([x_nodes[::64], np.full(32, times[51])], axis=1)
    np.testing.assert_allclose(allen_cahn.reference_values(on_nodes), values[51, ::64],
                               atol=1e-12)


def test_reference_rejects_off_grid_time():
    with pytest.raises(ValueError, match="snapshot times"):
        allen_cahn.reference_values(np.array([[0.0, 0.005]]))


def test_allen_cahn_residual_on_polynomial():
    # u = x + t has u_t = 1 and u_xx = 0, so the residual is 1 - 5 u + 5 u^3 at u = 0.5.
    residual = allen_cahn.allen_cahn_residual(lambda p: p[0] + p[1], jnp.asarray([0.2, 0.3]))

    assert float(residual) == pytest.approx(1 - 2.5 + 0.625, abs=1e-12)


# Assembly


def test_condition_names_and_sizes(case):
    names = [condition.name for condition in case.problem.conditions]
    residual = jax.jit(case.problem.residual)(case.params)

    assert names == ["pde", "initial", "periodic"]
    assert residual.shape == (N_INTERIOR + N_INITIAL + 2 * N_PERIODIC,)


def test_periodic_residuals_match_differences(case):
    residual = np.asarray(jax.jit(case.problem.residual)(case.params))
    times = case.periodic_times[:, 0]
    step = 1e-6

    def at(x):
        return numpy_network(case.params, np.stack([np.full_like(times, x), times], axis=1))

    value_gap = at(-1.0) - at(1.0)
    slope_gap = (at(-1 + step) - at(-1 - step) - at(1 + step) + at(1 - step)) / (2 * step)

    block = residual[-2 * N_PERIODIC :].reshape(N_PERIODIC, 2) * np.sqrt(N_PERIODIC)
    np.testing.assert_allclose(block[:, 0], value_gap, atol=1e-12)
    np.testing.assert_allclose(block[:, 1], slope_gap, atol=1e-7)


# Solve and metric


def test_short_solve_fits_initial_value():
    # A short solve leaves the relative L2 error over the whole grid near 1 (0.97 after 40
    # iterations), so the check is on t = 0, where x^2 cos(pi x) is the exact reference.
    small = allen_cahn.build(width=16, x_count=12, t_count=12, initial_count=16,
                             periodic_count=12)
    xs = np.linspace(-1, 1, 101)
    points = np.stack([xs, np.zeros_like(xs)], axis=1)
    exact = xs**2 * np.cos(np.pi * xs)

    def initial_error(params):
        predicted = np.asarray(small.solution(params, points))
        return np.linalg.norm(predicted - exact) / np.linalg.norm(exact)

    result = sv.minimize(small.problem, small.params, max_iter=40)

    # Measured on t = 0: 1.15 at the start and 0.53 after 40 iterations.
    assert initial_error(small.params) > 0.9
    assert initial_error(result.params) < 0.75
    assert small.relative_l2_error(result.params) < 1.05


def test_relative_l2_error_matches_numpy(case):
    x_nodes, _, values = allen_cahn.reference_solution()
    xs, ts = np.meshgrid(x_nodes[::8], np.linspace(0, 1, 256), indexing="ij")
    points = np.stack([xs.ravel(), ts.ravel()], axis=1)
    exact = values[:, ::8].T.ravel()
    predicted = numpy_network(case.params, points)
    expected = np.linalg.norm(predicted - exact) / np.linalg.norm(exact)

    assert case.relative_l2_error(case.params) == pytest.approx(expected, rel=1e-12)
