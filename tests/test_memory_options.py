"""Micro-batching, random parameter fractions and resampled collocation points."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import svensolve as sv
from svensolve import evaluate
from svensolve.memory import parse_memory_limit


def _line_fit(points=64):
    x = np.linspace(-1.0, 1.0, points)
    y = 2.0 * x + 0.5 + 0.1 * np.sin(7 * x)

    def residual(params, point):
        xi, yi = point
        return params["a"] * xi + params["b"] - yi

    return sv.Condition("data", residual, points=(x, y), weight=3.0), x, y


def test_micro_batch_keeps_cost():
    condition, _, _ = _line_fit()
    grouped = sv.micro_batch(condition, 8)
    params = {"a": jnp.array(1.0), "b": jnp.array(-0.3)}
    full = sv.Problem([condition]).residual(params)
    merged = sv.Problem([grouped]).residual(params)
    assert merged.shape == (8,)
    np.testing.assert_allclose(merged @ merged, full @ full, rtol=1e-13)


def test_micro_batch_solution_matches_lstsq():
    condition, x, y = _line_fit()
    grouped = sv.micro_batch(condition, 4)
    result = sv.minimize(sv.Problem([grouped]), {"a": jnp.array(0.0), "b": jnp.array(0.0)})
    design = np.stack([x, np.ones_like(x)], axis=1)
    expected = np.linalg.lstsq(design, y, rcond=None)[0]
    # The minimum of the cost does not change; only the model of it does.
    np.testing.assert_allclose([result.params["a"], result.params["b"]], expected, rtol=1e-7)


def test_micro_batch_zero_residual_has_finite_gradient():
    condition, x, y = _line_fit()
    grouped = sv.micro_batch(condition, 8)
    problem = sv.Problem([grouped])
    params = {"a": jnp.array(0.0), "b": jnp.array(0.0)}
    zero = sv.Problem([sv.micro_batch(sv.Condition("z", lambda p, t: 0.0 * p["a"],
                                                   points=np.zeros(8)), 8)])
    assert np.all(np.isfinite(zero.jacobian(params)))
    assert np.all(np.isfinite(problem.jacobian(params)))


def test_micro_batch_rejects_bad_sizes():
    condition, _, _ = _line_fit(points=10)
    with pytest.raises(ValueError, match="10 points, not a multiple of the micro-batch size 4"):
        sv.micro_batch(condition, 4)
    with pytest.raises(ValueError, match="size must be an integer >= 1, got 0"):
        sv.micro_batch(condition, 0)
    with pytest.raises(ValueError, match="has no points"):
        sv.micro_batch(sv.Condition("plain", lambda p: p), 2)


@pytest.mark.parametrize("sampling", ["entries", "leaves"])
def test_param_fraction_still_solves_linear_fit(sampling):
    rng = np.random.default_rng(0)
    design = rng.standard_normal((80, 6))
    observed = design @ rng.standard_normal(6)
    params = {"first": jnp.zeros(3), "second": jnp.zeros(3)}

    def residual(params):
        return design @ jnp.concatenate([params["first"], params["second"]]) - observed

    result = sv.minimize(residual, params, param_fraction=0.5, param_sampling=sampling,
                         max_iter=200, gtol=1e-10)
    expected = np.linalg.lstsq(design, observed, rcond=None)[0]
    solution = np.concatenate([result.params["first"], result.params["second"]])
    np.testing.assert_allclose(solution, expected, atol=1e-8)
    assert result.success


def test_param_fraction_moves_only_chosen_leaf():
    moved = []

    def residual(params):
        return jnp.concatenate([params["first"] - 1.0, params["second"] - 2.0])

    def callback(iterate):
        moved.append(iterate.x.copy())

    params = {"first": jnp.zeros(2), "second": jnp.zeros(2)}
    sv.minimize(residual, params, param_fraction=0.5, param_sampling="leaves",
                max_iter=1, callback=callback, control="fixed")
    step = moved[0]
    assert np.count_nonzero(step) == 2
    assert np.all(step[:2] == 0) or np.all(step[2:] == 0)


def test_param_options_validated():
    with pytest.raises(ValueError, match="param_fraction must be in \\(0, 1\\], got 0"):
        sv.minimize(lambda p: p, jnp.ones(2), param_fraction=0)
    with pytest.raises(ValueError, match="param_sampling must be 'entries' or 'leaves'"):
        sv.minimize(lambda p: p, jnp.ones(2), param_fraction=0.5, param_sampling="rows")


def _sampled_problem():
    def sampler(key):
        return jax.random.uniform(key, (32,), minval=-1.0, maxval=1.0)

    def residual(params, x):
        return params["a"] * x + params["b"] - jnp.sin(x)

    return sv.Problem([sv.Condition("fit", residual, sampler=sampler)])


def test_resample_is_reproducible_with_seed():
    params = {"a": jnp.array(0.0), "b": jnp.array(0.0)}
    options = dict(resample=True, control="fixed", lr=0.5, max_iter=6)
    first = sv.minimize(_sampled_problem(), params, seed=3, **options)
    second = sv.minimize(_sampled_problem(), params, seed=3, **options)
    other = sv.minimize(_sampled_problem(), params, seed=4, **options)
    np.testing.assert_array_equal(first.x, second.x)
    assert not np.array_equal(first.x, other.x)
    assert first.nit == 6


def test_resample_draws_new_points_without_recompiling():
    problem = _sampled_problem()
    params = {"a": jnp.array(0.0), "b": jnp.array(0.0)}
    evaluator, x0, _ = evaluate.from_problem(problem, params)
    at_start = evaluator.residual(x0)
    evaluator.set_points(problem.sample(jax.random.PRNGKey(1)))
    resampled = evaluator.residual(x0)
    expected = -np.sin(np.asarray(problem.sample(jax.random.PRNGKey(1))[0])) / np.sqrt(32)
    np.testing.assert_allclose(resampled, expected, rtol=1e-14)
    assert not np.allclose(at_start, resampled)
    evaluator.set_points(None)
    np.testing.assert_array_equal(evaluator.residual(x0), at_start)


def test_resample_converges_to_population_fit():
    # The least-squares line to sin on [-1, 1] under the uniform density:
    # a = 3 (sin 1 - cos 1), b = 0.
    params = {"a": jnp.array(0.0), "b": jnp.array(0.3)}
    result = sv.minimize(_sampled_problem(), params, resample=True, control="fixed",
                         lr=0.3, max_iter=80)
    assert float(result.params["a"]) == pytest.approx(3 * (np.sin(1) - np.cos(1)), abs=0.03)
    assert abs(float(result.params["b"])) < 0.03


def test_resample_needs_sampler():
    condition, _, _ = _line_fit()
    with pytest.raises(ValueError, match="resample=True needs a condition with a sampler"):
        sv.minimize(sv.Problem([condition]), {"a": jnp.array(0.0), "b": jnp.array(0.0)},
                    resample=True)


def test_sampler_shape_change_is_rejected():
    shapes = iter([(32,), (16,)])

    def sampler(key):
        return jax.random.uniform(key, next(shapes))

    problem = sv.Problem([sv.Condition("fit", lambda p, x: p * x, sampler=sampler)])
    with pytest.raises(ValueError, match="sampler returned points of shapes"):
        problem.sample(jax.random.PRNGKey(2))


def _sampler_from(draws):
    """Sampler that returns the given point sets in turn, whatever the key."""
    draws = iter(draws)

    def sampler(key):
        return next(draws)

    return sampler


def test_good_sampler_passes_checks():
    problem = _sampled_problem()
    (points,) = problem.sample(jax.random.PRNGKey(7))
    assert points.shape == (32,)
    assert points.dtype == jnp.float64
    assert bool(jnp.all(jnp.isfinite(points)))


def test_first_draw_integer_indices_allowed():
    sampler = _sampler_from([jnp.arange(8)])
    condition = sv.Condition("interior", lambda p, i: p * i, sampler=sampler)
    assert condition.points.dtype == jnp.arange(8).dtype


def test_resampled_dtype_change_names_condition():
    sampler = _sampler_from([jnp.ones(8), jnp.arange(8)])
    problem = sv.Problem([sv.Condition("interior", lambda p, x: p * x, sampler=sampler)])
    message = "condition 'interior': sampler returned points of dtype int64, expected float64"
    with pytest.raises(ValueError, match=message):
        problem.sample(jax.random.PRNGKey(2))


def test_resampled_nonfinite_points_name_condition():
    bad = jnp.ones((8, 2)).at[3, 1].set(jnp.nan).at[5, 0].set(jnp.inf)
    sampler = _sampler_from([jnp.ones((8, 2)), bad])
    problem = sv.Problem([sv.Condition("interior", lambda p, x: p * x[0], sampler=sampler)])
    message = (r"condition 'interior': sampler returned points with 2 non-finite entries; "
               r"the first is nan at index \(3, 1\)")
    with pytest.raises(ValueError, match=message):
        problem.sample(jax.random.PRNGKey(2))


def test_first_draw_nonfinite_leaf_is_named():
    sampler = _sampler_from([(jnp.ones(4), jnp.array([1.0, jnp.inf, 2.0, 3.0]))])
    message = (r"condition 'boundary': sampler returned points\[1\] with 1 non-finite entry; "
               r"the first is inf at index 1")
    with pytest.raises(ValueError, match=message):
        sv.Condition("boundary", lambda p, point: p * point[0] - point[1], sampler=sampler)


def test_resampled_shape_change_names_condition():
    sampler = _sampler_from([jnp.ones(8), jnp.ones(6)])
    problem = sv.Problem([sv.Condition("interior", lambda p, x: p * x, sampler=sampler)])
    with pytest.raises(ValueError, match=r"condition 'interior': sampler returned points of "
                                         r"shapes \(6,\), expected \(8,\)"):
        problem.sample(jax.random.PRNGKey(2))


def test_micro_batch_sampler_count_not_multiple():
    sampler = _sampler_from([jnp.ones(16), jnp.ones(12)])
    condition = sv.Condition("interior", lambda p, x: p * x, sampler=sampler)
    problem = sv.Problem([sv.micro_batch(condition, 8)])
    message = ("condition 'interior': sampler returned 12 points, not a multiple of the "
               "micro-batch size 8; return 16 points")
    with pytest.raises(ValueError, match=message):
        problem.sample(jax.random.PRNGKey(2))


def test_micro_batch_sampler_reports_ungrouped_index():
    sampler = _sampler_from([jnp.ones(16), jnp.ones(16).at[9].set(jnp.nan)])
    condition = sv.Condition("interior", lambda p, x: p * x, sampler=sampler)
    problem = sv.Problem([sv.micro_batch(condition, 8)])
    with pytest.raises(ValueError, match="condition 'interior': .* the first is nan at index 9"):
        problem.sample(jax.random.PRNGKey(2))


def test_micro_batch_good_sampler_is_grouped():
    condition = sv.Condition("interior", lambda p, x: p * x,
                             sampler=lambda key: jax.random.uniform(key, (16,)))
    problem = sv.Problem([sv.micro_batch(condition, 8)])
    (points,) = problem.sample(jax.random.PRNGKey(2))
    assert points.shape == (2, 8)


def test_resample_solve_stops_on_nonfinite_sample():
    def residual(params, x):
        return params["a"] * x - jnp.sin(x)

    # The given points are finite, so only the solve's own draws are NaN.
    condition = sv.Condition("interior", residual, points=jnp.linspace(-1.0, 1.0, 16),
                             sampler=lambda key: jnp.full(16, jnp.nan))
    with pytest.raises(ValueError, match="condition 'interior': sampler returned points with 16"):
        sv.minimize(sv.Problem([condition]), {"a": jnp.array(0.0)}, resample=True, max_iter=3,
                    control="fixed")


@pytest.mark.parametrize(
    "value, expected",
    [
        (4096, 4096),
        (2.5e9, 2_500_000_000),
        (1536.9, 1536),
        ("6GiB", 6 * 2**30),
        ("512MiB", 512 * 2**20),
        ("2.5GB", 2_500_000_000),
        ("800MB", 800_000_000),
        ("2.3GB", 2_300_000_000),
        ("1.5 KiB", 1536),
        ("3kb", 3000),
        ("1 tib", 2**40),
        ("1TB", 10**12),
        ("100B", 100),
        (None, None),
    ],
)
def test_memory_limit_parses_units(value, expected):
    assert parse_memory_limit(value) == expected


def test_memory_limit_text_without_unit_uses_default():
    assert parse_memory_limit("2", default_unit="GiB") == 2 * 2**30
    assert parse_memory_limit("2MB", default_unit="GiB") == 2_000_000
    with pytest.raises(ValueError, match="must be a number of GiB or a size"):
        parse_memory_limit("abc", default_unit="GiB")


@pytest.mark.parametrize(
    "value, message",
    [
        (0, "memory_limit must be >= 1, got 0 bytes"),
        (-5, "memory_limit must be >= 1, got -5 bytes"),
        ("-1GiB", "memory_limit must be >= 1, got '-1GiB'"),
        ("0.5B", "memory_limit must be >= 1, got '0.5B', which is 0 whole bytes"),
        ("1.5", "memory_limit text needs a unit, as in '1.5GiB'"),
        ("5XB", "memory_limit has an unknown unit 'XB' in '5XB'"),
        ("6 G", "memory_limit has an unknown unit 'G' in '6 G'"),
        ("lots", "memory_limit must be a number of bytes or a size .* got 'lots'"),
        ("GiB", "memory_limit must be a number of bytes or a size .* got 'GiB'"),
        ("", "memory_limit must be a number of bytes or a size .* got ''"),
        (True, "memory_limit must be a number of bytes or a size .* got True"),
        (float("inf"), "memory_limit must be a finite number of bytes, got inf"),
        (float("nan"), "memory_limit must be a finite number of bytes, got nan"),
        (1.5, "memory_limit is a number of bytes, got 1.5; .* such as '1.5GiB'"),
    ],
)
def test_memory_limit_rejects_bad_values(value, message):
    with pytest.raises(ValueError, match=message):
        parse_memory_limit(value)


def test_minimize_accepts_memory_limit_with_unit():
    params = {"a": jnp.array(0.0), "b": jnp.array(0.0)}
    condition, _, _ = _line_fit()
    result = sv.minimize(sv.Problem([condition]), params, memory_limit="1MiB", max_iter=1)
    assert result.nit == 1
    evaluator, _, _ = evaluate.from_problem(sv.Problem([condition]), params,
                                            memory_limit="1MiB")
    assert evaluator.choice.memory_limit == 2**20


def test_minimize_rejects_bad_memory_limit_unit():
    with pytest.raises(ValueError, match="memory_limit has an unknown unit 'XB' in '5XB'"):
        sv.minimize(lambda p: p, jnp.ones(2), memory_limit="5XB")


def test_resumed_resample_run_matches_uninterrupted(tmp_path):
    # A fit with n >= p, so the running column scales are part of the state.
    params = {"a": jnp.array(0.0), "b": jnp.array(0.3)}
    options = dict(resample=True, control="trust-region", seed=5)
    full = sv.minimize(_sampled_problem(), params, max_iter=6, **options)
    path = str(tmp_path / "run.npz")
    sv.minimize(_sampled_problem(), params, max_iter=3, checkpoint=path, **options)
    resumed = sv.minimize(_sampled_problem(), params, max_iter=6, resume=path, **options)
    assert resumed.x.tobytes() == full.x.tobytes()


def test_resample_without_budget_is_rejected():
    params = {"a": jnp.array(0.0), "b": jnp.array(0.0)}
    with pytest.raises(ValueError, match="needs a budget"):
        sv.minimize(_sampled_problem(), params, resample=True, max_iter=None)


def test_gram_path_rejects_sketch_svd():
    params = {"a": jnp.array(0.0), "b": jnp.array(0.0)}
    with pytest.raises(ValueError, match="jacobian='gram' factors through the Gram matrix"):
        sv.minimize(_sampled_problem(), params, jacobian="gram", svd="randomized")
