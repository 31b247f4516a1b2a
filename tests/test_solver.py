"""The solver against independent references: numpy's lstsq and SVD, scipy, exact solutions."""

import float32_pinn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import svensolve as sv
from problems.networks import init_mlp, mlp
from svensolve.linalg import randomized_svd, thin_svd, truncated_svd
from svensolve.loop import LoopSettings, solve_jit
from svensolve.step import column_norms, sven_direction


def rosenbrock(x):
    return jnp.array([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])


def getting_started_problem():
    """Return the PINN of the getting-started page: -u'' = pi^2 sin(pi x), u(0) = u(1) = 0."""

    def pde(params, x):
        u_xx = jax.grad(jax.grad(lambda t: mlp(params, jnp.array([t]))))(x[0])
        return -u_xx - jnp.pi**2 * jnp.sin(jnp.pi * x[0])

    return sv.Problem([
        sv.Condition("pde", pde, points=np.linspace(0, 1, 50)[1:-1, None]),
        sv.Condition("boundary", mlp, points=np.array([[0.0], [1.0]])),
    ])


def linear_system(rows, cols, rank=None, seed=0):
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((rows, cols))
    if rank is not None:
        matrix = rng.standard_normal((rows, rank)) @ rng.standard_normal((rank, cols))
    return matrix, rng.standard_normal(rows)


@pytest.mark.parametrize(
    "rows, cols, rank",
    [(30, 6, None), (6, 30, None), (30, 8, 5), (8, 30, 5)],
    ids=["tall", "wide", "tall-rank-deficient", "wide-rank-deficient"],
)
def test_linear_least_squares_matches_numpy_lstsq(rows, cols, rank):
    matrix, rhs = linear_system(rows, cols, rank)
    expected = np.linalg.lstsq(matrix, rhs, rcond=None)[0]

    # Unscaled columns make the step minimum-norm in x itself, as lstsq's.
    result = sv.least_squares(lambda x: matrix @ x - rhs, np.zeros(cols), x_scale="none")

    assert result.success
    np.testing.assert_allclose(result.x, expected, rtol=1e-8, atol=1e-10)


def test_scaled_columns_still_reach_least_squares_cost():
    matrix, rhs = linear_system(30, 8, rank=5)
    expected = np.linalg.lstsq(matrix, rhs, rcond=None)[0]
    best_cost = 0.5 * np.sum((matrix @ expected - rhs) ** 2)

    result = sv.least_squares(lambda x: matrix @ x - rhs, np.zeros(8))

    assert result.success
    np.testing.assert_allclose(result.cost, best_cost, rtol=1e-12)


def test_minimum_norm_solution_of_rank_deficient_system_is_exact():
    columns = [(0, 1, 0, 1, 2, 0), (0, 2, 0, 0, 1, 0), (1, 0, 1, 0, 0, 4), (0, 0, 0, 2, 3, 0)]
    matrix = np.array(columns, dtype=float).T
    rhs = np.eye(6)[0]

    result = sv.least_squares(lambda x: matrix @ x - rhs, np.zeros(4))

    np.testing.assert_allclose(result.x, [0.0, 0.0, 1.0 / 18.0, 0.0], atol=1e-15)


@pytest.mark.parametrize("control", ["trust-region", "line-search", "fixed"])
def test_rosenbrock_reaches_exact_minimum(control):
    result = sv.least_squares(rosenbrock, np.array([-1.2, 1.0]), control=control)

    assert result.success, result.message
    np.testing.assert_allclose(result.x, [1.0, 1.0], rtol=1e-10)


@pytest.mark.parametrize("xp", [np, jnp])
def test_column_norms_do_not_overflow(xp):
    matrix = xp.asarray([[3e200, 1.0, 0.0], [4e200, -2.0, 0.0]])
    # Exact 2-norms of the columns: 5e200 (a 3-4-5 triangle), sqrt(5) and 0.
    np.testing.assert_allclose(column_norms(matrix), [5e200, np.sqrt(5.0), 0.0], rtol=1e-15)
    rng = np.random.default_rng(3)
    ordinary = rng.standard_normal((40, 7))
    np.testing.assert_allclose(column_norms(xp.asarray(ordinary)), np.linalg.norm(ordinary, axis=0),
                               rtol=1e-14)


def test_huge_jacobian_column_is_not_gtol_success():
    # From b1 = 1e-160 the column of b1 contains b0 / b1 = 1e160, whose square
    # overflows. A column norm of inf made the gradient test pass at cost 72.
    t = np.linspace(0.1, 4.0, 50)
    observed = 2.0 * np.log(1.3 * t)
    with np.errstate(over="ignore"):
        result = sv.least_squares(lambda b: b[0] * jnp.log(b[1] * t) - observed, [1.0, 1e-160])

    assert result.cost > 1.0  # scipy's "lm" from this start ends far from the minimum too
    assert not result.success
    assert result.status != sv.Status.GTOL


def test_fun_without_forward_mode_uses_finite_differences(caplog):
    # A jax.custom_vjp function traces but has no forward mode, which the
    # Jacobian of a tall fit uses. The fit falls back to 2-point differences.
    @jax.custom_vjp
    def decay(x):
        return jnp.exp(x)

    decay.defvjp(lambda x: (jnp.exp(x), jnp.exp(x)), lambda value, g: (value * g,))
    t = np.linspace(0.0, 3.0, 40)
    observed = 2.5 * np.exp(-1.3 * t) + 0.01 * np.sin(5.0 * t)

    with caplog.at_level("INFO", logger="svensolve.api"):
        result = sv.least_squares(lambda b: b[0] * decay(-b[1] * t) - observed, [1.0, 1.0])
    reference = scipy.optimize.least_squares(
        lambda b: b[0] * np.exp(-b[1] * t) - observed, [1.0, 1.0], xtol=1e-15, ftol=1e-15,
        gtol=1e-15,
    )

    assert "fun cannot be differentiated by JAX" in caplog.text
    np.testing.assert_allclose(result.x, reference.x, rtol=1e-7)


def test_fun_without_reverse_mode_uses_finite_differences():
    # A while_loop has no reverse mode, which the Jacobian of a wide fit uses.
    def halved_sum(b):
        _, value = jax.lax.while_loop(
            lambda carry: carry[0] < 3, lambda carry: (carry[0] + 1, 0.5 * carry[1]), (0, b[0])
        )
        return jnp.array([value + b[1] + b[2] - 1.0, b[1] - b[2]])

    result = sv.least_squares(halved_sum, [1.0, 1.0, 1.0])

    # Minimum-norm solution of b0 / 8 + b1 + b2 = 1, b1 = b2, from numpy's lstsq.
    design = np.array([[0.125, 1.0, 1.0], [0.0, 1.0, -1.0]])
    step = np.linalg.lstsq(design, np.array([1.0, 0.0]) - design @ np.ones(3), rcond=None)[0]
    np.testing.assert_allclose(result.x, np.ones(3) + step, rtol=1e-6)


def test_truncated_step_matches_numpy_svd():
    matrix, residual = linear_system(40, 25, seed=3)
    u, s, vt = np.linalg.svd(matrix, full_matrices=False)
    rank, lr = 7, 0.5
    expected = -lr * vt[:rank].T @ ((u[:, :rank].T @ residual) / s[:rank])

    direction = sven_direction(thin_svd(matrix), residual, lr=lr, rank=rank)

    np.testing.assert_allclose(direction.step, expected, rtol=1e-12, atol=1e-14)
    model = residual + matrix @ direction.step
    actual = 0.5 * residual @ residual - 0.5 * model @ model
    np.testing.assert_allclose(direction.predicted_reduction, actual, rtol=1e-12)


def test_damped_step_matches_levenberg_marquardt_normal_equations():
    matrix, residual = linear_system(30, 10, seed=4)
    damping = 0.7
    normal = matrix.T @ matrix + damping * np.eye(10)
    expected = -np.linalg.solve(normal, matrix.T @ residual)

    direction = sven_direction(thin_svd(matrix), residual, damping=damping)

    np.testing.assert_allclose(direction.step, expected, rtol=1e-11)


def test_rtol_drops_small_singular_values_like_pinv():
    matrix, residual = linear_system(20, 12, seed=5)
    u, s, vt = np.linalg.svd(matrix, full_matrices=False)
    s[-4:] *= 1e-6
    matrix = (u * s) @ vt
    expected = -np.linalg.pinv(matrix, rtol=1e-3) @ residual

    direction = sven_direction(thin_svd(matrix), residual, rtol=1e-3)

    np.testing.assert_allclose(direction.step, expected, rtol=1e-10)
    assert direction.rank == 8


def test_randomized_svd_recovers_leading_singular_values():
    rng = np.random.default_rng(6)
    left, _ = np.linalg.qr(rng.standard_normal((300, 60)))
    right, _ = np.linalg.qr(rng.standard_normal((200, 60)))
    spectrum = np.logspace(0, -8, 60)
    matrix = (left * spectrum) @ right.T

    factors = randomized_svd(matrix, rank=10)

    np.testing.assert_allclose(factors.s, spectrum[:10], rtol=1e-10)
    reconstruction = (factors.u * factors.s) @ factors.v.T
    best = (left[:, :10] * spectrum[:10]) @ right[:, :10].T
    np.testing.assert_allclose(reconstruction, best, atol=1e-9)


def test_truncated_svd_auto_picks_randomized_for_small_rank():
    rng = np.random.default_rng(7)
    left, _ = np.linalg.qr(rng.standard_normal((100, 80)))
    right, _ = np.linalg.qr(rng.standard_normal((80, 80)))
    matrix = (left * np.logspace(0, -6, 80)) @ right.T
    exact = np.linalg.svd(matrix, compute_uv=False)

    factors = truncated_svd(matrix, rank=5)

    assert factors.s.shape == (5,)
    np.testing.assert_allclose(factors.s, exact[:5], rtol=1e-6)


def test_pytree_params_round_trip_to_lstsq_solution():
    matrix, rhs = linear_system(12, 7, seed=8)
    expected = np.linalg.lstsq(matrix, rhs, rcond=None)[0]
    params = {"a": jnp.zeros(3), "rest": [jnp.zeros((2, 2))]}

    def residuals(p):
        x = jnp.concatenate([p["a"], p["rest"][0].ravel()])
        return matrix @ x - rhs

    result = sv.minimize(residuals, params)

    assert set(result.params) == {"a", "rest"}
    assert result.params["rest"][0].shape == (2, 2)
    np.testing.assert_allclose(result.params["a"], expected[:3], rtol=1e-7)
    np.testing.assert_allclose(result.params["rest"][0].ravel(), expected[3:], rtol=1e-7)


def test_result_fields_match_scipy_on_exponential_fit():
    t = np.linspace(0, 4, 25)
    y = 3.0 * np.exp(-0.7 * t) + 0.01 * np.sin(7 * t)

    def fun(b):
        return b[0] * jnp.exp(-b[1] * t) - y

    ours = sv.least_squares(fun, np.array([1.0, 0.1]))
    reference = scipy.optimize.least_squares(
        lambda b: np.asarray(fun(b)), [1.0, 0.1], ftol=1e-12, xtol=1e-12, gtol=1e-12
    )

    np.testing.assert_allclose(ours.x, reference.x, rtol=1e-7)
    np.testing.assert_allclose(ours.cost, reference.cost, rtol=1e-10)
    np.testing.assert_allclose(ours.fun, reference.fun, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(ours.grad, ours.jac.T @ ours.fun, rtol=1e-12)
    assert ours.optimality == pytest.approx(np.max(np.abs(ours.grad)))
    assert ours.status in (1, 2, 3, 4)
    assert ours.success
    assert ours.nfev >= 1
    assert ours.njev >= 1
    assert ours.nit >= 1


def test_numpy_fun_uses_finite_differences_and_converges():
    t = np.linspace(0, 4, 25)
    y = 3.0 * np.exp(-0.7 * t)

    def fun(b):
        return b[0] * np.exp(-b[1] * t) - y  # numpy only: not traceable by JAX

    result = sv.least_squares(fun, [1.0, 0.1])

    assert result.success
    np.testing.assert_allclose(result.x, [3.0, 0.7], rtol=1e-7)


def test_numpy_fun_called_once_at_x0():
    t = np.linspace(0, 4, 25)
    points = []

    def fun(b):
        points.append(np.array(b, dtype=float))  # a JAX tracing attempt raises here
        return b[0] * np.exp(-b[1] * t) - 3.0 * np.exp(-0.7 * t)

    sv.least_squares(fun, [1.0, 0.1], max_nfev=1)

    # x0 once, then one forward difference per parameter, as scipy's 2-point scheme.
    at_start = [x for x in points if np.array_equal(x, [1.0, 0.1])]
    assert len(at_start) == 1
    assert len(points) == 3


def test_args_and_kwargs_are_passed_like_scipy():
    def fun(x, a, b=0.0):
        return x - a - b

    result = sv.least_squares(fun, np.zeros(3), args=(np.arange(3.0),), kwargs={"b": 1.0})

    np.testing.assert_allclose(result.x, np.arange(3.0) + 1.0, rtol=1e-12)


def test_float32_start_stays_float32_and_converges():
    t = np.linspace(0, 1, 100, dtype=np.float32)
    y = (2.0 * t - 0.5).astype(np.float32)
    reference = np.polyfit(t.astype(np.float64), y.astype(np.float64), 1)

    result = sv.least_squares(lambda b: b[0] * t + b[1] - y, np.array([-1.0, -1.0], np.float32))

    assert result.x.dtype == np.float32
    np.testing.assert_allclose(result.x, reference, rtol=1e-5, atol=1e-5)


def test_float64_is_default_for_python_floats():
    result = sv.minimize(lambda p: p - 2.0, jnp.array([0.0, 1.0]))

    assert result.x.dtype == np.float64
    assert result.params.dtype == jnp.float64


def test_best_point_is_returned_when_fixed_steps_overshoot():
    def fun(x):
        return jnp.array([x[0] ** 2 - 4.0])

    result = sv.least_squares(fun, np.array([1.0]), control="fixed", lr=1.9, max_nfev=30)

    costs = result.history["cost"]
    assert result.cost == pytest.approx(min(costs.min(), 0.5 * 9.0))


def test_max_nfev_is_a_hard_budget():
    for budget in (1, 2, 5):
        result = sv.least_squares(rosenbrock, np.array([-1.2, 1.0]), max_nfev=budget)
        assert result.nfev <= budget
        assert result.status == sv.Status.MAX_NFEV
    result = sv.least_squares(rosenbrock, np.array([-1.2, 1.0]), max_nfev=1)
    np.testing.assert_array_equal(result.x, [-1.2, 1.0])
    assert result.cost == pytest.approx(0.5 * (4.4**2 + 2.2**2))


def test_callback_can_stop_and_a_raising_callback_keeps_best_point():
    seen = []

    def stop_at_three(iterate):
        seen.append(iterate.cost)
        return iterate.nit >= 3

    result = sv.least_squares(rosenbrock, np.array([-1.2, 1.0]), callback=stop_at_three)
    assert result.nit == 3
    assert result.status == sv.Status.CALLBACK
    assert result.cost == pytest.approx(min(seen + [12.1]))

    def broken(iterate):
        raise RuntimeError("boom")

    result = sv.least_squares(rosenbrock, np.array([-1.2, 1.0]), callback=broken)
    assert result.status == sv.Status.CALLBACK
    assert not result.success
    assert "boom" in result.message
    assert result.cost < 0.5 * (4.4**2 + 2.2**2)


def test_keyboard_interrupt_returns_best_point():
    def interrupt(iterate):
        if iterate.nit == 2:
            raise KeyboardInterrupt

    result = sv.least_squares(rosenbrock, np.array([-1.2, 1.0]), callback=interrupt)

    assert result.status == sv.Status.INTERRUPTED
    assert np.all(np.isfinite(result.x))
    assert result.cost <= result.history["cost"].min()


def test_zero_residual_at_start_is_success_at_iteration_zero():
    result = sv.least_squares(lambda x: x, np.array([0.0]))

    assert result.success and result.nit == 0


def test_constant_residual_reports_zero_jacobian():
    with pytest.warns(RuntimeWarning, match="does not depend on the parameters"):
        result = sv.least_squares(lambda x: jnp.ones(1) + 0.0 * x, np.array([2.0]))

    assert result.status == sv.Status.ZERO_JACOBIAN
    assert not result.success
    assert result.cost == 0.5
    assert np.all(np.isfinite(result.x))


def test_jit_loop_matches_scipy_on_rosenbrock_and_vmaps():
    state = jax.jit(solve_jit, static_argnums=(0, 2))(rosenbrock, jnp.array([-1.2, 1.0]), None)
    np.testing.assert_allclose(state.x, [1.0, 1.0], rtol=1e-10)
    assert int(state.status) > 0

    t = jnp.linspace(0, 1, 20)
    rates = jnp.linspace(0.5, 3.0, 64)

    def fit(rate):
        return solve_jit(lambda b: b[0] * jnp.exp(b[1] * t) - 2.0 * jnp.exp(-rate * t),
                         jnp.array([1.0, 0.0]), LoopSettings())

    states = jax.jit(jax.vmap(fit))(rates)
    np.testing.assert_allclose(states.x[:, 1], -rates, rtol=1e-9)
    np.testing.assert_allclose(states.x[:, 0], 2.0, rtol=1e-9)


def test_solve_jit_xtol_is_per_parameter():
    # One parameter near 1e8 must not hide the others' steps from the xtol test.
    t = jnp.linspace(0.0, 4.0, 30)
    data = 3.0 * jnp.exp(-0.7 * t) + 0.5

    def residual(b):
        return b[0] * jnp.exp(-b[1] * t) + b[2] - data

    state = solve_jit(residual, jnp.array([1e8, 1e-8, 1.0]))

    reference = scipy.optimize.least_squares(
        lambda b: np.asarray(residual(jnp.asarray(b))), [3.0, 0.7, 0.5], method="lm"
    )
    assert float(state.cost) < 1e-20
    np.testing.assert_allclose(state.x, reference.x, rtol=1e-8)


def test_solve_jit_start_checks():
    target = jnp.array([1.0, 2.0])

    # An integer start is promoted to float64, so the steps are not truncated.
    state = solve_jit(lambda b: b - target, [0, 0])
    np.testing.assert_allclose(state.x, target, rtol=1e-10)
    assert state.x.dtype == jnp.float64

    # A NaN cost at x0 stops at once with the error status.
    state = solve_jit(lambda b: jnp.log(b - 1.0), jnp.array([0.0, 0.5]))
    assert int(state.status) == sv.Status.ERROR
    assert int(state.nit) == 0

    state = solve_jit(lambda b: b - target, jnp.zeros(2), LoopSettings(max_iter=0))
    assert int(state.status) == sv.Status.MAX_ITER
    assert int(state.nit) == 0

    with pytest.raises(ValueError, match=r"x0 must be 1-D, got shape \(2, 2\)"):
        solve_jit(lambda b: b, jnp.zeros((2, 2)))

    # float64 data with a float32 start: the solve stays float32.
    state = solve_jit(lambda b: b - target, jnp.zeros(2, dtype=jnp.float32))
    assert state.x.dtype == jnp.float32
    np.testing.assert_allclose(state.x, target, rtol=1e-6)


def test_x_scale_array_reaches_badly_scaled_solution():
    t = np.linspace(0, 1, 30)
    truth = np.array([2e-9, 3e3])
    y = truth[0] * 1e9 * np.exp(-t) + truth[1] * 1e-3 * t

    def fun(b):
        return b[0] * 1e9 * jnp.exp(-t) + b[1] * 1e-3 * t - y

    for x_scale in (np.array([1e-9, 1e3]), "jac"):
        result = sv.least_squares(fun, np.array([1e-9, 1e3]), x_scale=x_scale)
        assert result.success, result.message
        np.testing.assert_allclose(result.x, truth, rtol=1e-10)


def test_x_scale_array_must_be_positive_and_match_x0():
    with pytest.raises(ValueError, match="x_scale must be finite and > 0"):
        sv.least_squares(rosenbrock, np.array([-1.2, 1.0]), x_scale=np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match=r"of shape \(2,\)"):
        sv.least_squares(rosenbrock, np.array([-1.2, 1.0]), x_scale=np.ones(3))


def test_rank_covering_all_values_keeps_cutoff_ladder():
    # A rank of min(n, p) cuts no singular value, so the solve must be the
    # one with no rank: the same ladder of cutoffs and the same iterates.
    points = np.linspace(0.0, 1.0, 12)[:, None]

    def fit(params, x):
        hidden = jnp.tanh(params["w1"] @ x + params["b1"])
        return params["w2"] @ hidden - jnp.sin(3.0 * x[0])

    rng = np.random.default_rng(0)
    params = {"w1": rng.standard_normal((8, 1)), "b1": np.zeros(8), "w2": rng.standard_normal(8)}
    problem = sv.Problem([sv.Condition("fit", fit, points=points)])
    free = sv.minimize(problem, params, max_iter=15, control="line-search")
    full = sv.minimize(problem, params, max_iter=15, control="line-search", rank=12)

    assert len(np.unique(free.history["rtol"])) > 1  # the ladder was used
    np.testing.assert_array_equal(full.history["rtol"], free.history["rtol"])
    np.testing.assert_array_equal(full.x, free.x)


@pytest.mark.usefixtures("measured_rounding")
@pytest.mark.parametrize("control", ["fixed", "trust-region"])
def test_default_rtol_plateau_is_not_success(control):
    # A fixed or trust-region control steps with rtol 1e-7 alone, whether rtol
    # is the default or given, so the same run ends with the same status.
    problem = getting_started_problem()
    params = init_mlp(jax.random.PRNGKey(0), [1, 16, 16, 1])
    runs = [sv.minimize(problem, params, control=control, rtol=rtol, max_iter=60,
                        progress=False) for rtol in (None, 1e-7)]

    assert runs[0].status == runs[1].status
    assert runs[0].x.tobytes() == runs[1].x.tobytes()
    if control == "fixed":
        # Measured: 22 fixed steps to a cost of 22.8 with a gradient of 10.
        assert runs[0].status == sv.Status.PLATEAU
        assert not runs[0].success


@pytest.mark.usefixtures("measured_rounding")
def test_stalled_trust_region_hands_back_to_line_search():
    problem, start = float32_pinn.problem_and_start()
    result = sv.minimize(problem, start, max_iter=300, progress=False)

    # Measured: the trust region stalled at a cost of 1.7e-4 (maximum error
    # 4.4e-5); the line search it hands back to reaches 2.1e-8.
    assert result.control == "line-search -> trust-region -> line-search"
    assert result.cost < 1e-6
    grid = np.linspace(0, 1, 301)
    fitted = np.array([float32_pinn.network(result.params, np.float32(x)) for x in grid],
                      dtype=float)
    assert np.max(np.abs(fitted - float32_pinn.exact(grid))) < 1e-5
    # The final undamped step may not raise the cost by more than rounding.
    assert result.cost <= np.min(result.history["cost"]) * (1 + 1e-6)


@pytest.mark.usefixtures("measured_rounding")
@pytest.mark.parametrize("limit", [1040, 1041])
def test_max_nfev_cut_after_restart_is_not_success(limit):
    # The first batch after the restart is cut short by max_nfev, so its small
    # gain does not show a stall. The budget, not convergence, ends the solve.
    problem, start = float32_pinn.sine_problem_and_start()
    result = sv.minimize(problem, start, max_iter=300, max_nfev=limit, progress=False)

    assert result.status == sv.Status.MAX_NFEV
    assert not result.success
    assert result.nfev == limit


def test_verbose_table_shows_polish_step(capsys):
    t = np.linspace(0.0, 3.0, 20)
    observed = 2.5 * np.exp(-1.3 * t)
    result = sv.least_squares(lambda b: b[0] * jnp.exp(-b[1] * t) - observed, [1.0, 1.0],
                              verbose=2)

    rows = capsys.readouterr().out.splitlines()
    polish = [row.split() for row in rows if row.strip().startswith("polish")]
    assert len(polish) == 1
    # The table's last iteration is above the final cost; the polish row gives it.
    assert float(polish[0][1]) == pytest.approx(result.cost, rel=1e-6)


def test_warm_start_at_solution_is_success():
    # The getting-started PINN. From its own solution no step lowers the cost,
    # and r has no larger start value to be small against: what is left of r
    # lies on singular values at the rounding floor, and is noise elsewhere.
    problem = getting_started_problem()
    first = sv.minimize(problem, init_mlp(jax.random.PRNGKey(0), [1, 16, 16, 1]),
                        max_iter=200, progress=False)
    again = sv.minimize(problem, first.params, max_iter=50, progress=False)

    assert first.status == sv.Status.ROUNDING
    assert again.status == sv.Status.ROUNDING
    assert again.success
    assert again.cost <= first.cost
    grid = np.linspace(0, 1, 101)[:, None]
    u = jax.vmap(mlp, in_axes=(None, 0))(again.params, jnp.asarray(grid))
    assert np.max(np.abs(np.asarray(u) - np.sin(np.pi * grid[:, 0]))) < 1e-9


def test_progress_bar_shows_current_cost_and_total():
    from svensolve.progress import ProgressReporter

    reporter = ProgressReporter(True, 0, None, max_iter=10)
    reporter.resume_at(3)  # a resumed run's bar goes on from its iterations
    reporter.update(4, 1.5e-3, {"rank": 7, "time": 0.1})

    assert (reporter.bar.n, reporter.bar.total) == (4, 10)
    assert "cost=1.500e-03" in str(reporter.bar)  # this iteration's cost, not the last one's
    reporter.close()


def test_coarse_rtol_warm_start_is_plateau():
    # rtol=1e-3 cuts directions the PINN needs. Started after 5 iterations the
    # stall path used to call the small steps on the kept subspace ftol success.
    problem = getting_started_problem()
    start = init_mlp(jax.random.PRNGKey(0), [1, 16, 16, 1])
    part = sv.minimize(problem, start, max_iter=5, progress=False)
    warm = sv.minimize(problem, part.params, rtol=1e-3, max_iter=200, progress=False)
    cold = sv.minimize(problem, start, rtol=1e-3, max_iter=200, progress=False)

    assert cold.status == sv.Status.PLATEAU
    assert warm.status == sv.Status.PLATEAU
    assert not warm.success
