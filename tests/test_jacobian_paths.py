"""The streamed, Gram and matrix-free Jacobian paths against the dense SVD and numpy."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import svensolve as sv
from svensolve import evaluate, rows
from svensolve.linalg.block_products import DeviceKernels, HostKernels
from svensolve.linalg.implicit import (
    ArrayOperator,
    block_krylov_factors,
    gram_factors,
    operator_factors,
    randomized_factors,
    single_pass_factors,
)
from svensolve.linalg.operator import largest_column_projection
from svensolve.memory import CHUNK_BYTES, choose_jacobian
from svensolve.options import make_options
from svensolve.solve import solve
from svensolve.step import sven_direction

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _mlp(params, x):
    hidden = jnp.tanh(params["w1"] @ x + params["b1"])
    return params["w2"] @ hidden + params["b2"]


def _small_problem(points=40, width=20, seed=0):
    """A data fit (pointwise, two outputs per point) plus a whole-block penalty."""
    keys = jax.random.split(jax.random.PRNGKey(seed), 3)
    params = {
        "w1": jax.random.normal(keys[0], (width, 2)),
        "b1": jnp.zeros(width),
        "w2": jax.random.normal(keys[1], (2, width)) / np.sqrt(width),
        "b2": jnp.zeros(2),
    }
    x = np.asarray(jax.random.uniform(keys[2], (points, 2), minval=-1, maxval=1))
    targets = np.stack([np.sin(x[:, 0]) * x[:, 1], np.cos(x[:, 1])], axis=1)

    def fit(params, point):
        inputs, target = point
        return _mlp(params, inputs) - target

    def penalty(params):
        return 0.1 * params["b1"]

    problem = sv.Problem([
        sv.Condition("data", fit, points=(x, targets)),
        sv.Condition("penalty", penalty),
    ])
    return problem, params


def _operator(path, problem, params, chunk_rows=10):
    # A small memory_limit forces blocks of a few rows, so chunking is exercised:
    # a block gets a sixteenth of the limit.
    p = jax.flatten_util.ravel_pytree(params)[0].size
    ev, x0, _ = evaluate.from_problem(problem, params, path, memory_limit=chunk_rows * 16 * 8 * p)
    return ev, x0, ev.jacobian(x0), ev.residual(x0)


@pytest.fixture(scope="module")
def small():
    problem, params = _small_problem()
    dense_ev, x0, _ = evaluate.from_problem(problem, params, "dense")
    return problem, params, x0, dense_ev.jacobian(x0), dense_ev.residual(x0)


@pytest.mark.parametrize("path", ["streamed", "matrix-free"])
def test_operator_products_match_dense(small, path):
    problem, params, x0, jac, residual = small
    _, _, op, _ = _operator(path, problem, params)
    rng = np.random.default_rng(1)
    block = rng.standard_normal((jac.shape[1], 3))
    cotangents = rng.standard_normal((jac.shape[0], 3))
    assert op.shape == jac.shape
    np.testing.assert_allclose(op.matmat(block), jac @ block, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(op.rmatmat(cotangents), jac.T @ cotangents, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(op.rmatvec(residual), jac.T @ residual, rtol=1e-12, atol=1e-13)


def test_streamed_chunks_cover_rows(small):
    problem, params, x0, jac, _ = small
    _, _, op, _ = _operator("streamed", problem, params)
    assert len(op.chunks) > 3
    assert op.chunks[0].start == 0
    assert op.chunks[-1].stop == jac.shape[0]
    for before, after in zip(op.chunks[:-1], op.chunks[1:], strict=True):
        assert before.stop == after.start


@pytest.mark.parametrize("path", ["streamed", "array"])
def test_scaled_operator_matches_scaled_matrix(small, path):
    problem, params, x0, jac, _ = small
    op = ArrayOperator(jac) if path == "array" else _operator(path, problem, params)[2]
    rng = np.random.default_rng(2)
    rows = rng.uniform(0.5, 2.0, jac.shape[0])
    columns = rng.uniform(0.5, 2.0, jac.shape[1])
    scaled = op.scaled(rows=rows).scaled(columns=columns)
    expected = rows[:, None] * jac * columns
    np.testing.assert_allclose(scaled.matmat(np.eye(jac.shape[1])), expected, rtol=1e-12)
    np.testing.assert_allclose(scaled.column_norms(), np.linalg.norm(expected, axis=0), rtol=1e-12)
    np.testing.assert_allclose(scaled.gram_matrix(), expected @ expected.T, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("kernels", [HostKernels, DeviceKernels])
def test_streamed_block_kernels_match_dense(small, kernels):
    # The device kernels run here on the CPU, so both sets are checked.
    problem, params, x0, jac, residual = small
    rng = np.random.default_rng(3)
    rows = rng.uniform(0.5, 2.0, jac.shape[0])
    columns = rng.uniform(0.5, 2.0, jac.shape[1])
    scaled = _operator("streamed", problem, params)[2].scaled(rows=rows, columns=columns)
    scaled.kernels = kernels
    expected = rows[:, None] * jac * columns
    block = rng.standard_normal((jac.shape[1], 3))
    cotangents = rng.standard_normal((jac.shape[0], 2))
    scaled.expect_residual(residual)
    product, normal = scaled.range_and_normal_matmat(block)
    np.testing.assert_allclose(product, expected @ block, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(normal, expected.T @ (expected @ block), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(scaled.normal_matmat(block), normal, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(scaled.matmat(block), product, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(scaled.rmatmat(cotangents), expected.T @ cotangents,
                               rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(scaled.rmatvec(residual), expected.T @ residual,
                               rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(scaled.column_norms(), np.linalg.norm(expected, axis=0),
                               rtol=1e-12)
    np.testing.assert_allclose(scaled.gram_matrix(), expected @ expected.T, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("kernels", [HostKernels, DeviceKernels])
def test_streamed_normal_matrix_of_tall_problem(kernels):
    problem, params = _small_problem(points=60, width=4)
    dense_ev, x0, _ = evaluate.from_problem(problem, params, "dense")
    jac = dense_ev.jacobian(x0)
    assert jac.shape[0] > jac.shape[1]  # so the Gram matrix is J^T J
    op = _operator("streamed", problem, params)[2]
    rng = np.random.default_rng(7)
    rows = rng.uniform(0.5, 2.0, jac.shape[0])
    columns = rng.uniform(0.5, 2.0, jac.shape[1])
    expected = rows[:, None] * jac * columns
    scaled = op.scaled(rows=rows, columns=columns)
    scaled.kernels = kernels
    np.testing.assert_allclose(scaled.gram_matrix(), expected.T @ expected, rtol=1e-11)


def test_streamed_gram_spans_panels(small):
    problem, params, x0, jac, _ = small
    assert jac.shape[0] < jac.shape[1]  # so the Gram matrix is J J^T
    _, _, op, _ = _operator("streamed", problem, params)
    op.panel_rows = 7  # several panels, so off-diagonal blocks are streamed
    np.testing.assert_allclose(op.gram_matrix(), jac @ jac.T, rtol=1e-11, atol=1e-12)


def test_streamed_gradient_gathered_in_first_pass(small):
    problem, params, x0, jac, residual = small
    _, _, op, _ = _operator("streamed", problem, params)
    op.expect_residual(residual)
    randomized_factors(op, rank=8)  # one pass gathers J^T r and the column norms
    passes = op.passes
    np.testing.assert_allclose(op.rmatvec(residual), jac.T @ residual, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(op.column_norms(), np.linalg.norm(jac, axis=0), rtol=1e-12)
    assert op.passes == passes


@pytest.mark.parametrize("method", ["randomized", "single-pass", "krylov"])
def test_sketch_of_rank_deficient_fit(method):
    # 5 of 20 columns are zero, so J Omega has rank 15 and a width of 20.
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, 300)
    features = np.stack([np.cos(k * np.arccos(x)) for k in range(20)], axis=1)
    features[:, [3, 7, 11, 12, 19]] = 0.0
    targets = features @ rng.normal(size=20) + 0.01 * rng.normal(size=300)
    expected = np.linalg.lstsq(features, targets, rcond=None)[0]

    factors = operator_factors(ArrayOperator(features), 64, method, seed=0)
    step = sven_direction(factors, -targets, 1.0, None, 1e-10, 0.0).step

    left = factors.u
    np.testing.assert_allclose(left.T @ left, np.eye(left.shape[1]), atol=1e-12)
    np.testing.assert_allclose(step, expected, rtol=1e-11, atol=1e-12)


def _well_conditioned(n, p, seed=0):
    rng = np.random.default_rng(seed)
    k = min(n, p)
    left, _ = np.linalg.qr(rng.standard_normal((n, k)))
    right, _ = np.linalg.qr(rng.standard_normal((p, k)))
    values = np.geomspace(10.0, 0.1, k)
    return (left * values) @ right.T, values


@pytest.mark.parametrize("explicit_bytes", [None, 0])
@pytest.mark.parametrize("shape", [(30, 50), (50, 30)])
def test_gram_step_matches_lstsq(shape, explicit_bytes):
    jac, values = _well_conditioned(*shape)
    residual = np.random.default_rng(3).standard_normal(shape[0])
    factors = gram_factors(ArrayOperator(jac), explicit_bytes=explicit_bytes)
    implicit = not isinstance(factors.u if shape[0] > shape[1] else factors.v, np.ndarray)
    assert implicit == (explicit_bytes == 0)
    np.testing.assert_allclose(factors.s, values, rtol=1e-10)
    direction = sven_direction(factors, residual)
    expected = -np.linalg.lstsq(jac, residual, rcond=None)[0]
    np.testing.assert_allclose(direction.step, expected, rtol=1e-10, atol=1e-12)
    model = residual + jac @ direction.step
    predicted = 0.5 * residual @ residual - 0.5 * model @ model
    np.testing.assert_allclose(direction.predicted_reduction, predicted, rtol=1e-10)


@pytest.mark.parametrize("method", [randomized_factors, block_krylov_factors])
def test_sketches_match_exact_svd(method):
    jac, values = _well_conditioned(60, 40)
    residual = np.random.default_rng(4).standard_normal(60)
    factors = method(ArrayOperator(jac), rank=40, oversampling=0)
    np.testing.assert_allclose(factors.s, values, rtol=1e-10)
    direction = sven_direction(factors, residual)
    expected = -np.linalg.lstsq(jac, residual, rcond=None)[0]
    np.testing.assert_allclose(direction.step, expected, rtol=1e-10, atol=1e-12)


SHORT_SKETCHES = {
    "two-pass": lambda op: randomized_factors(op, rank=40, oversampling=0, two_pass=True),
    "single-pass": lambda op: operator_factors(op, 40, "single-pass"),
}


@pytest.mark.parametrize("sketch", sorted(SHORT_SKETCHES))
def test_short_sketch_matches_exact_svd(sketch):
    # J of rank 40 is caught whole by a sketch of width 40, so the factors are exact.
    jac, values = _well_conditioned(60, 40)
    residual = np.random.default_rng(4).standard_normal(60)
    factors = SHORT_SKETCHES[sketch](ArrayOperator(jac))
    np.testing.assert_allclose(factors.s, values, rtol=1e-10)
    direction = sven_direction(factors, residual)
    expected = -np.linalg.lstsq(jac, residual, rcond=None)[0]
    np.testing.assert_allclose(direction.step, expected, rtol=1e-10, atol=1e-12)


def test_streamed_two_pass_sketch(small):
    problem, params, x0, jac, _ = small
    _, _, op, _ = _operator("streamed", problem, params)
    factors = operator_factors(op, 8, "randomized", rtol=1e-7)
    assert op.passes == 2
    exact = np.linalg.svd(jac, compute_uv=False)[:8]
    four_pass = randomized_factors(ArrayOperator(jac), 8)
    # Values of J Q are lower bounds, about as close as the four-pass ones.
    assert np.all(factors.s <= exact * (1 + 1e-12))
    assert np.max(exact - factors.s) <= 10 * np.max(exact - four_pass.s) + 1e-12
    # Factors of J Q Q^T: the left factor times s is J times the right factor.
    np.testing.assert_allclose(factors.u * factors.s, jac @ factors.v, rtol=1e-10, atol=1e-12)


def test_streamed_single_pass_sketch(small):
    problem, params, x0, jac, _ = small
    _, _, op, _ = _operator("streamed", problem, params)
    factors = operator_factors(op, 8, "single-pass", seed=3)
    assert op.passes == 1
    dense_sketch = single_pass_factors(ArrayOperator(jac), 8, seed=3)
    np.testing.assert_allclose(factors.s, dense_sketch.s, rtol=1e-9)
    exact = np.linalg.svd(jac, compute_uv=False)[:8]
    # Values of Q Q^T J are lower bounds of the exact ones.
    assert np.all(factors.s <= exact * (1 + 1e-12))
    # Factors of Q Q^T J: J^T times the left factor is the right factor times s.
    np.testing.assert_allclose(jac.T @ factors.u, factors.v * factors.s, rtol=1e-8, atol=1e-10)


def test_small_rtol_keeps_four_pass_sketch(small):
    problem, params, x0, jac, _ = small
    _, _, op, _ = _operator("streamed", problem, params)
    operator_factors(op, 8, "randomized", rtol=1e-10)
    assert op.passes == 4


@pytest.mark.parametrize("method", ["randomized", "krylov"])
def test_sketch_leading_values_of_decaying_spectrum(method):
    rng = np.random.default_rng(5)
    left, _ = np.linalg.qr(rng.standard_normal((300, 200)))
    right, _ = np.linalg.qr(rng.standard_normal((200, 200)))
    values = 0.7 ** np.arange(200)
    jac = (left * values) @ right.T
    factors = operator_factors(ArrayOperator(jac), 10, method)
    np.testing.assert_allclose(factors.s, values[:10], rtol=1e-10)


def test_largest_column_projection_operator(small):
    problem, params, x0, jac, residual = small
    _, _, op, _ = _operator("streamed", problem, params)
    norms = np.linalg.norm(jac, axis=0)
    expected = np.max(np.abs(jac.T @ residual) / norms)
    assert largest_column_projection(op, residual) == pytest.approx(expected, rel=1e-12)


def test_matrix_free_gtol_uses_spectral_norm(small):
    problem, params, x0, jac, residual = small
    _, _, op, _ = _operator("matrix-free", problem, params)
    randomized_factors(op, rank=10)
    expected = np.linalg.norm(jac.T @ residual) / np.linalg.norm(jac, 2)
    # rank 10 of 86 with one power iteration: s_max to about 1e-8 relative
    assert largest_column_projection(op, residual) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("path", ["streamed", "gram", "matrix-free"])
def test_linear_fit_solved_on_each_path(path):
    rng = np.random.default_rng(6)
    design = rng.standard_normal((200, 12))
    truth = rng.standard_normal(12)
    observed = design @ truth + 0.01 * rng.standard_normal(200)

    def model(params, row):
        features, value = row
        return features @ params - value

    problem = sv.Problem([sv.Condition("data", model, points=(design, observed), weight=14.0)])
    rank = 12 if path == "matrix-free" else None
    ev, x0, _ = evaluate.from_problem(problem, np.zeros(12), path, rank=rank,
                                      memory_limit=50 * 16 * 8 * 12)
    result = solve(ev, x0, make_options(rank=rank))
    expected = np.linalg.lstsq(design, observed, rcond=None)[0]
    np.testing.assert_allclose(result.x, expected, rtol=1e-9, atol=1e-11)
    assert result.success
    assert path.split("-")[0] in result.jacobian_method or path == "gram"


def test_unknown_xla_option_falls_back(monkeypatch, caplog):
    # An XLA without one of the compile options still solves the fit.
    options = {**evaluate.SMALL_FUNCTION_OPTIONS, "xla_option_that_does_not_exist": True}
    monkeypatch.setattr(evaluate, "SMALL_FUNCTION_OPTIONS", options)
    t = np.linspace(0.0, 4.0, 30)
    observed = 2.5 * np.exp(-1.3 * t) + 0.4 + 0.01 * np.cos(7.0 * t)

    def fun(b):
        return b[0] * jnp.exp(-b[1] * t) + b[2] - observed

    with caplog.at_level("INFO", logger="svensolve.evaluate"):
        result = sv.least_squares(fun, [1.0, 1.0, 0.0])
    reference = scipy.optimize.least_squares(
        lambda b: np.asarray(fun(b)), [1.0, 1.0, 0.0], xtol=1e-15, ftol=1e-15, gtol=1e-15
    )
    np.testing.assert_allclose(result.x, reference.x, rtol=1e-9)
    assert "xla_option_that_does_not_exist" in caplog.text


def test_solves_agree_with_dense_on_pinn_like_fit(small):
    problem, params, x0, jac, residual = small
    dense_ev, _, _ = evaluate.from_problem(problem, params, "dense")
    streamed_ev, _, _ = evaluate.from_problem(problem, params, "streamed")
    options = make_options(max_iter=5, control="trust-region")
    dense = solve(dense_ev, x0, options)
    streamed = solve(streamed_ev, x0, options)
    assert streamed.cost == pytest.approx(dense.cost, rel=1e-6)
    assert streamed.cost < 0.5 * (residual @ residual)


def test_choice_dense_when_it_fits():
    choice = choose_jacobian("auto", 1000, 1000, 8, memory_limit=10**9)
    assert choice.method == "dense"
    assert "within memory_limit" in choice.reason


@pytest.mark.parametrize(("n", "p", "svd", "rank"), [
    (1020, 1185, "auto", None),  # the 2D Poisson PINN: 1.3e10 operations, exact
    (3360, 2251, "randomized", 64),  # 1.6e11 operations
    (10**6, 10, "auto", None),  # a long data fit of few parameters: 4e8 operations
])
def test_choice_dense_svd_by_exact_cost(n, p, svd, rank):
    choice = choose_jacobian("auto", n, p, 8, memory_limit=64 * 2**30)
    assert choice.method == "dense"
    assert (choice.svd, choice.rank) == (svd, rank)
    assert ("floating-point operations" in choice.reason) == (svd == "randomized")


def test_choice_keeps_requested_exact_svd():
    choice = choose_jacobian("auto", 3360, 2251, 8, svd="exact", memory_limit=64 * 2**30)
    assert (choice.svd, choice.rank) == ("exact", None)


def test_choice_streamed_when_dense_too_big():
    choice = choose_jacobian("auto", 10**5, 10**5, 8, memory_limit=8 * 2**30)
    assert choice.method == "streamed"
    assert choice.svd == "randomized"  # a 1e5 x 1e5 Gram matrix does not fit either
    assert choice.rank == 64
    assert choice.chunk_rows * 10**5 * 8 <= CHUNK_BYTES < 2**30
    # 335 rows of 1e5 float64 entries: 255.6 MiB, to three digits 256 MiB.
    assert choice.chunk_rows == 335
    assert "blocks of about 335 rows (256 MiB)" in choice.reason


@pytest.mark.parametrize(("n", "limit", "text"), [
    (30, None, "J in one block of 30 rows (240 B)"),
    (30, 200, "blocks of about 1 row (8 B)"),
])
def test_choice_block_text_fits_problem(n, limit, text):
    # One parameter: a row is 8 bytes, and a block is a sixteenth of the limit.
    choice = choose_jacobian("streamed", n, 1, 8, memory_limit=limit or 2**30)
    assert text in choice.reason


@pytest.mark.parametrize(("limit", "fits"), [
    # (n + p) k + p = (1000 + 2000) 64 + 2000 = 194,000 entries: 1,552,000 bytes.
    (1_552_000, True),
    (1_551_999, False),
])
def test_choice_refuses_limit_below_factors(limit, fits):
    def choose():
        return choose_jacobian("streamed", 1000, 2000, 8, svd="randomized", rank=64,
                               memory_limit=limit)

    if fits:
        assert choose().rank == 64
    else:
        with pytest.raises(ValueError, match=r"memory_limit 1,551,999 B is below the 1,552,000 B"):
            choose()


def test_choice_warns_when_requested_dense_exceeds_limit():
    # 6 copies of a 100 x 100 float64 J: 480,000 bytes, over the 100,000 given.
    with pytest.warns(RuntimeWarning, match=r"about 469 KiB .* over memory_limit 97.7 KiB"):
        choice = choose_jacobian("dense", 100, 100, 8, memory_limit=100_000)
    assert choice.method == "dense"


@pytest.mark.parametrize(("requested", "advice"), [
    ("gram", "use jacobian='streamed' with a rank and svd='randomized' or 'krylov'"),
    ("streamed", "use a rank and svd='randomized' or 'krylov'"),
])
def test_gram_too_large_advice_names_path(requested, advice):
    # 3 x 10^4 x 10^4 float64 entries: 2.4 GB, over half of 1 GiB.
    with pytest.raises(ValueError, match="over half of memory_limit 1 GiB") as caught:
        choose_jacobian(requested, 10**4, 10**5, 8, svd="gram", memory_limit=2**30)
    assert advice in str(caught.value)


def test_choice_streamed_gram_when_it_fits():
    # The Gram matrix and its eigenvectors take 3 x 3.2 GB, within half of 32 GiB.
    choice = choose_jacobian("auto", 2 * 10**4, 10**6, 8, memory_limit=32 * 2**30)
    assert (choice.method, choice.svd, choice.rank) == ("streamed", "gram", None)


def test_choice_sizes_gram_in_float64():
    # In float32 the 1,000 x 1,000 Gram matrix and its eigenvectors would take
    # 12 MB, within half of the 40 MB limit, but they are float64: 24 MB.
    choice = choose_jacobian("auto", 1000, 10**5, 4, memory_limit=40 * 10**6)
    assert choice.method == "streamed"
    assert choice.svd == "randomized"


def test_choice_matrix_free_for_whole_blocks():
    choice = choose_jacobian("auto", 10**5, 10**5, 8, memory_limit=8 * 2**30,
                             largest_whole_block=10**5)
    assert choice.method == "matrix-free"
    assert "cannot be split" in choice.reason


def test_choice_rejects_gram_without_rows():
    with pytest.raises(ValueError, match="matrix-free path does not form"):
        choose_jacobian("matrix-free", 100, 100, 8, svd="gram", memory_limit=10**9)


def test_choice_rejects_gram_over_limit():
    with pytest.raises(ValueError, match="Gram matrix .* need about"):
        choose_jacobian("gram", 10**5, 10**6, 8, memory_limit=2**30)


def test_choice_message_sizes_in_fitting_unit():
    # 3 x 4 x 4 float64 entries are 384 bytes; half of the 200-byte limit is 100.
    expected = r"need about 384 B in float64, over half of memory_limit 200 B"
    with pytest.raises(ValueError, match=expected):
        choose_jacobian("gram", 4, 10**3, 8, memory_limit=200)


def test_options_reject_unknown_path():
    with pytest.raises(ValueError, match="jacobian must be one of"):
        make_options(jacobian="sparse")
    with pytest.raises(ValueError, match="memory_limit must be >= 1"):
        make_options(memory_limit=0)


def test_operator_result_has_no_covariance():
    problem, params = _small_problem()
    ev, x0, _ = evaluate.from_problem(problem, params, "streamed")
    result = solve(ev, x0, make_options(max_iter=2))
    with pytest.raises(ValueError, match="streamed operator"):
        result.covariance()


MEMORY_SCRIPT = textwrap.dedent("""
    import resource, sys
    import jax, jax.numpy as jnp, numpy as np
    import svensolve as sv
    from svensolve import evaluate, rows
from svensolve.linalg.block_products import DeviceKernels, HostKernels
    from svensolve.options import make_options
    from svensolve.solve import solve

    n, width = 20000, 140  # dense J: 20,000 x 20,301 float64 = 3.3 GB
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    params = {"w1": jax.random.normal(keys[0], (width, 1)), "b1": jnp.zeros(width),
              "w2": jax.random.normal(keys[1], (width, width)) / width ** 0.5,
              "b2": jnp.zeros(width), "w3": jnp.zeros((1, width)), "b3": jnp.zeros(1)}
    x = np.linspace(-1, 1, n)[:, None]

    def fit(params, point):
        h = jnp.tanh(params["w1"] @ point + params["b1"])
        h = jnp.tanh(params["w2"] @ h + params["b2"])
        return (params["w3"] @ h + params["b3"])[0] - jnp.sin(3 * point[0])

    problem = sv.Problem([sv.Condition("data", fit, points=x)])
    ev, x0, _ = evaluate.from_problem(problem, params, memory_limit=2 * 2**30, rank=16)
    result = solve(ev, x0, make_options(rank=16, max_iter=2))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start_cost = 0.5 * float(np.sum(ev.residual(x0) ** 2))
    print(ev.choice.method, x0.size, peak, start_cost, result.cost)
""")


@pytest.mark.slow
def test_streamed_peak_memory_below_dense_size(tmp_path):
    script = tmp_path / "memory.py"
    script.write_text(MEMORY_SCRIPT)
    output = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.split()
    method, p, peak, start_cost, cost = output[0], int(output[1]), int(output[2]), *map(
        float, output[3:5]
    )
    dense_bytes = 20000 * p * 8
    assert method == "streamed"
    assert dense_bytes > 3 * 2**30
    assert peak < 1.5 * 2**30
    assert cost < start_cost


def _recording_builds(op):
    """Wrap each chunk's builder, and return the list of (chunk start, block) it appends to."""
    built = []
    chunks = []
    for chunk in op.chunks:
        def build(x, spare=None, chunk=chunk):
            rows = chunk.build(x, spare)
            built.append((chunk.start, rows))
            return rows
        chunks.append(chunk._replace(build=build))
    op.chunks = tuple(chunks)
    return built


def test_streamed_blocks_never_reach_n_by_p(small):
    problem, params, x0, jac, _ = small
    _, _, op, _ = _operator("streamed", problem, params, chunk_rows=10)
    built = _recording_builds(op)
    randomized_factors(op, rank=8)
    op.gram_matrix()
    op.column_norms()
    whole_block = 20  # the penalty condition has no points, so it is built whole
    shapes = [rows.shape for _, rows in built]
    assert shapes
    assert all(rows <= 10 or rows == whole_block for rows, _ in shapes)


def test_streamed_build_donates_spare_block(small):
    problem, params, x0, jac, _ = small
    _, _, op, _ = _operator("streamed", problem, params, chunk_rows=10)
    built = _recording_builds(op)
    block = np.random.default_rng(4).standard_normal((jac.shape[1], 2))
    for _ in range(3):  # later passes write into blocks of earlier ones
        np.testing.assert_allclose(op.matmat(block), jac @ block, rtol=1e-12, atol=1e-13)
    donated = sum(rows.is_deleted() for _, rows in built)
    pointwise_blocks = len(op.chunks) - 1  # the penalty condition is built whole
    assert donated >= 2 * pointwise_blocks


def test_streamed_block_built_in_parts(small, monkeypatch):
    problem, params, x0, jac, _ = small
    # Parts of 2 points (4 rows) and blocks of 10 rows: 3 parts of a block,
    # with the block padded from 5 points to 6.
    monkeypatch.setattr(rows, "PART_BYTES", 4 * jac.shape[1] * 8)
    ev, _, op, _ = _operator("streamed", problem, params, chunk_rows=10)
    data = op.chunks[0]
    assert (data.stop - data.start) == 12
    part = next(part for part in _plan_parts(ev) if hasattr(part, "part_count"))
    assert part.part_count == 3
    assert part.part_points == 2
    assert part.points_per_chunk == 6
    built = _recording_builds(op)
    block = np.random.default_rng(5).standard_normal((jac.shape[1], 2))
    for _ in range(3):  # the second and third passes build into donated blocks
        np.testing.assert_allclose(op.matmat(block), jac @ block, rtol=1e-12, atol=1e-13)
    assert sum(block_rows.is_deleted() for _, block_rows in built) >= len(op.chunks)


def _plan_parts(evaluator):
    """The parts of the RowPlan that the streamed evaluator's Jacobian closes over."""
    cells = evaluator.jacobian.__closure__ or ()
    plan = next(cell.cell_contents for cell in cells
                if isinstance(cell.cell_contents, rows.RowPlan))
    return plan.parts


@pytest.mark.parametrize("chunk_rows", [10, 1000])
def test_streamed_pass_reuses_last_block(small, chunk_rows):
    problem, params, x0, jac, _ = small
    _, _, op, _ = _operator("streamed", problem, params, chunk_rows=chunk_rows)
    built = _recording_builds(op)
    blocks = len(op.chunks)
    rng = np.random.default_rng(3)
    block = rng.standard_normal((jac.shape[1], 2))
    cotangents = rng.standard_normal((jac.shape[0], 2))
    for _ in range(2):
        np.testing.assert_allclose(op.matmat(block), jac @ block, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(op.rmatmat(cotangents), jac.T @ cotangents,
                                   rtol=1e-12, atol=1e-13)
    # Four passes: the first builds every block, each later one all but one.
    assert len(built) == blocks + 3 * (blocks - 1)


@pytest.mark.parametrize("path", ["streamed", "gram", "matrix-free"])
def test_minimize_reports_path(path, capsys):
    problem, params = _small_problem()
    rank = 20 if path == "matrix-free" else None
    # An rtol given keeps the dense path to the one cutoff that the others use.
    result = sv.minimize(problem, params, jacobian=path, rank=rank, rtol=1e-7, max_iter=3,
                         verbose=1)
    expected = "streamed" if path == "gram" else path
    assert result.jacobian_method.startswith(expected)
    assert f"Jacobian: {expected}" in capsys.readouterr().out
    dense = sv.minimize(problem, params, jacobian="dense", rank=rank, rtol=1e-7, max_iter=3)
    assert dense.jacobian_method.startswith("dense")
    # A rank-20 randomized SVD is not the exact top 20, so the costs differ a little.
    assert result.cost == pytest.approx(dense.cost, rel=1e-3 if rank is None else 2e-2)


def test_second_solve_reuses_compiled_functions():
    problem, params = _small_problem()
    first, _, _ = evaluate.from_problem(problem, params, memory_limit=10**9)
    second, _, _ = evaluate.from_problem(problem, params, memory_limit=10**9 + 12345)
    assert first.residual is second.residual
    assert len(problem.compiled) == 1


@pytest.mark.filterwarnings("ignore:condition .* returns wider floats:RuntimeWarning")
def test_float32_gram_accumulates_in_float64():
    # float32 parameters with the problem's float64 points: the mix warns.
    problem, params = _small_problem()
    params32 = jax.tree.map(lambda leaf: leaf.astype(jnp.float32), params)
    ev64, x64, _ = evaluate.from_problem(problem, params, "dense")
    ev32, x32, _ = evaluate.from_problem(problem, params32, "streamed", svd="gram")
    op = ev32.jacobian(x32)
    gram = op.gram_matrix()
    jac = ev64.jacobian(x64)
    assert op.dtype == np.float32
    assert gram.dtype == np.float64
    # Only the float32 rounding of J's entries remains, not that of the sums.
    np.testing.assert_allclose(gram, jac @ jac.T, rtol=1e-5, atol=1e-6 * np.abs(gram).max())
    factors = gram_factors(op)
    values = np.linalg.svd(jac, compute_uv=False)
    np.testing.assert_allclose(factors.s[:5], values[:5], rtol=1e-5)
