"""Micro-batching, random parameter fractions and resampled collocation points."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import svensolve as sv
from svensolve import evaluate


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
