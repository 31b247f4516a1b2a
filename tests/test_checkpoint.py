"""Checkpoints: atomic writes, and a resumed run that matches an uninterrupted one bit for bit."""

import os
import stat

import float32_pinn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import svensolve as sv
from problems.networks import init_mlp, mlp


def small_pinn():
    def pde(params, x):
        u_xx = jax.grad(jax.grad(lambda t: mlp(params, jnp.array([t]))))(x[0])
        return -u_xx - jnp.pi**2 * jnp.sin(jnp.pi * x[0])

    problem = sv.Problem([
        sv.Condition("pde", pde, points=np.linspace(0, 1, 20)[1:-1, None]),
        sv.Condition("boundary", lambda p, x: mlp(p, x), points=np.array([[0.0], [1.0]])),
    ])
    return problem, init_mlp(jax.random.PRNGKey(1), [1, 8, 8, 1])


@pytest.mark.parametrize("control", ["line-search", "trust-region"])
def test_resumed_run_matches_uninterrupted_run_bit_for_bit(tmp_path, control):
    problem, params = small_pinn()
    options = {"control": control, "ftol": None, "xtol": None, "gtol": None}
    whole = sv.minimize(problem, params, max_iter=12, **options)

    path = tmp_path / "run.npz"
    first = sv.minimize(problem, params, max_iter=5, checkpoint=str(path), **options)
    assert first.status == sv.Status.MAX_ITER
    assert path.is_file()
    resumed = sv.minimize(problem, params, max_iter=12, resume=str(path), **options)

    assert resumed.nit == whole.nit == 12
    assert resumed.x.tobytes() == whole.x.tobytes()
    assert resumed.cost == whole.cost
    np.testing.assert_array_equal(resumed.history["cost"], whole.history["cost"])


@pytest.mark.parametrize("svd", ["gram", "randomized"])
def test_resumed_streamed_run_bit_for_bit(tmp_path, svd):
    # A memory limit of 32 KiB splits J (20 x 97) into blocks of 2 rows. Each
    # pass then sums its products in an order that the start's finiteness
    # check must not change.
    problem, params = small_pinn()
    options = {"jacobian": "streamed", "svd": svd, "memory_limit": "32KiB",
               "ftol": None, "xtol": None, "gtol": None}
    whole = sv.minimize(problem, params, max_iter=10, **options)
    assert whole.jacobian_method.startswith("streamed")

    path = tmp_path / "streamed.npz"
    sv.minimize(problem, params, max_iter=4, checkpoint=str(path), **options)
    resumed = sv.minimize(problem, params, max_iter=10, resume=str(path), **options)

    assert resumed.nit == whole.nit
    assert resumed.x.tobytes() == whole.x.tobytes()
    np.testing.assert_array_equal(resumed.history["cost"], whole.history["cost"])


def test_checkpoint_every_writes_during_the_run(tmp_path):
    problem, params = small_pinn()
    path = tmp_path / "run.npz"
    seen = []

    def look(iterate):
        if path.is_file():
            seen.append(int(np.load(path)["counters"][0]))

    sv.minimize(problem, params, max_iter=7, checkpoint=str(path), checkpoint_every=2,
                callback=look, ftol=None, xtol=None, gtol=None)

    assert seen and set(seen) <= {2, 4, 6}
    assert int(np.load(path)["counters"][0]) == 7
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("umask", [0o022, 0o077], ids=["022", "077"])
def test_checkpoint_mode_follows_umask(tmp_path, umask):
    # A checkpoint gets the mode of a file made by open(), not mkstemp's 0600.
    problem, params = small_pinn()
    previous = os.umask(umask)
    try:
        sv.minimize(problem, params, max_iter=2, checkpoint=str(tmp_path / "run.npz"))
        (tmp_path / "plain.txt").write_text("reference")
    finally:
        os.umask(previous)

    mode = stat.S_IMODE((tmp_path / "run.npz").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)


def test_failed_checkpoint_write_continues(tmp_path):
    problem, params = small_pinn()
    directory = tmp_path / "runs"
    directory.mkdir()
    path = directory / "run.npz"
    options = {"max_iter": 6, "ftol": None, "xtol": None, "gtol": None, "progress": False}
    whole = sv.minimize(problem, params, **options)

    def remove_directory(iterate):
        if iterate.nit == 2:
            path.unlink()
            directory.rmdir()

    with pytest.warns(RuntimeWarning, match="could not be written") as caught:
        result = sv.minimize(problem, params, checkpoint=str(path), checkpoint_every=1,
                             callback=remove_directory, **options)

    assert len(caught) == 1  # one warning for the writes at iterations 3 to 6 and the last
    assert result.nit == 6
    assert result.x.tobytes() == whole.x.tobytes()


def test_interrupted_run_keeps_its_checkpoint(tmp_path):
    problem, params = small_pinn()
    path = tmp_path / "run.npz"

    def interrupt(iterate):
        if iterate.nit == 3:
            raise KeyboardInterrupt

    result = sv.minimize(problem, params, checkpoint=str(path), callback=interrupt)

    assert result.status == sv.Status.INTERRUPTED
    saved = np.load(path)
    np.testing.assert_array_equal(saved["best_x"], result.x)


@pytest.mark.parametrize("control", ["line-search", "trust-region"])
def test_resume_after_midstep_interrupt(tmp_path, monkeypatch, control):
    from svensolve.solve import _Run

    problem, params = small_pinn()
    options = {"control": control, "ftol": None, "xtol": None, "gtol": None}
    whole = sv.minimize(problem, params, max_iter=12, **options)

    # Ctrl-C while the point accepted by the 5th step is factored: the
    # counters and the history have moved on, the control state has not.
    factor_at = _Run._factor_at

    def interrupted_factor_at(self, point, jacobian):
        if self.nit == 5:
            raise KeyboardInterrupt
        return factor_at(self, point, jacobian)

    path = tmp_path / "run.npz"
    with monkeypatch.context() as patch:
        patch.setattr(_Run, "_factor_at", interrupted_factor_at)
        first = sv.minimize(problem, params, max_iter=12, checkpoint=str(path), **options)
    assert first.status == sv.Status.INTERRUPTED
    resumed = sv.minimize(problem, params, max_iter=12, resume=str(path), **options)

    assert resumed.nit == whole.nit == 12
    assert resumed.x.tobytes() == whole.x.tobytes()
    np.testing.assert_array_equal(resumed.history["cost"], whole.history["cost"])


def test_resume_errors_name_the_problem(tmp_path):
    problem, params = small_pinn()
    with pytest.raises(ValueError, match="is a directory; pass the checkpoint file"):
        sv.minimize(problem, params, resume=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        sv.minimize(problem, params, resume=str(tmp_path / "missing.npz"))
    with pytest.raises(ValueError, match="checkpoint_every needs a checkpoint path"):
        sv.minimize(problem, params, checkpoint_every=3)
    path = tmp_path / "run.npz"
    sv.least_squares(lambda x: x - 1.0, np.zeros(3), checkpoint=str(path))
    with pytest.raises(ValueError, match="checkpoint has 3 parameters but params has 2"):
        sv.least_squares(lambda x: x - 1.0, np.zeros(2), resume=str(path))


def _write_garbage(path):
    path.write_bytes(b"not a zip file")


def _write_pickled(path):
    with open(path, "wb") as handle:
        np.save(handle, np.array([{"a": 1}], dtype=object))


def _write_plain_npy(path):
    with open(path, "wb") as handle:
        np.save(handle, np.arange(3.0))


def _write_pickled_npz(path):
    with open(path, "wb") as handle:
        np.savez(handle, a=np.array([{"x": 1}], dtype=object))


def _write_other_npz(path):
    with open(path, "wb") as handle:
        np.savez(handle, a=np.arange(3))


@pytest.mark.parametrize(("write", "reason"), [
    (_write_garbage, "ValueError from numpy"),
    (_write_pickled, "ValueError from numpy"),
    (_write_pickled_npz, "ValueError from numpy"),
    (_write_plain_npy, "it contains a single array"),
    (_write_other_npz, "it has no format_version entry"),
])
def test_resume_from_non_checkpoint_names_file(tmp_path, write, reason):
    path = tmp_path / "file.npz"
    write(path)

    with pytest.raises(ValueError, match="is not a svensolve checkpoint") as caught:
        sv.least_squares(lambda x: x - 1.0, np.zeros(2), resume=str(path))

    assert str(path) in str(caught.value)
    assert reason in str(caught.value)
    assert "allow_pickle" not in str(caught.value)


def test_resumed_poisson_line_search_matches_bit_for_bit(tmp_path):
    from problems import poisson2d

    case = poisson2d.build(grid=8, edge_points=8)  # 96 x 1,185: the unfused path
    options = {"ftol": None, "xtol": None, "gtol": None}
    whole = sv.minimize(case.problem, case.params, max_iter=8, **options)
    path = tmp_path / "poisson.npz"
    sv.minimize(case.problem, case.params, max_iter=4, checkpoint=str(path), **options)
    resumed = sv.minimize(case.problem, case.params, max_iter=8, resume=str(path), **options)

    assert resumed.x.tobytes() == whole.x.tobytes()


@pytest.mark.usefixtures("measured_rounding")
@pytest.mark.parametrize("stop", [35, 36])
def test_resume_inside_short_step_streak(tmp_path, stop):
    # This float32 PINN's line search takes steps shorter than 2^-16 at
    # iterations 35 to 37 and then hands over to the trust region. A resume
    # inside that streak must go on counting from where it stopped.
    problem, start = float32_pinn.problem_and_start()
    whole = sv.minimize(problem, start, max_iter=60, progress=False)

    path = tmp_path / "run.npz"
    sv.minimize(problem, start, max_iter=stop, checkpoint=str(path), progress=False)
    assert np.load(path)["step_counts"][0] == stop - 34
    resumed = sv.minimize(problem, start, max_iter=60, resume=str(path), progress=False)

    assert resumed.x.tobytes() == whole.x.tobytes()
    np.testing.assert_array_equal(resumed.history["cost"], whole.history["cost"])


@pytest.mark.usefixtures("measured_rounding")
def test_resume_keeps_nfev_budget_and_control_path(tmp_path):
    rng = np.random.default_rng(1)
    t = np.linspace(0, 4, 60)
    y = 2.5 * np.exp(-1.3 * t) + 0.5 * np.sin(2 * t) + 0.02 * rng.standard_normal(t.size)

    def residual(b):
        return b[0] * jnp.exp(-b[1] * t) + b[2] * jnp.sin(b[3] * t) - y

    start = np.array([1.0, 0.5, 1.0, 1.5])
    whole = sv.least_squares(residual, start, max_nfev=9)
    path = tmp_path / "fit.npz"
    sv.least_squares(residual, start, max_nfev=9, max_iter=3, checkpoint=str(path))
    resumed = sv.least_squares(residual, start, max_nfev=9, resume=str(path))

    # The resume must not count its look at the saved best point.
    assert (resumed.status, resumed.nit, resumed.nfev) == (whole.status, whole.nit, whole.nfev)
    assert resumed.x.tobytes() == whole.x.tobytes()

    problem, pinn_start = float32_pinn.problem_and_start()
    whole = sv.minimize(problem, pinn_start, max_iter=100, progress=False)
    path = tmp_path / "pinn.npz"
    sv.minimize(problem, pinn_start, max_iter=50, checkpoint=str(path), progress=False)
    resumed = sv.minimize(problem, pinn_start, max_iter=100, resume=str(path), progress=False)

    assert whole.control == "line-search -> trust-region -> line-search"
    assert resumed.control == whole.control
    assert resumed.x.tobytes() == whole.x.tobytes()
