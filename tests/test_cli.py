"""The svensolve command: listing, info and one-line errors with exit status 2."""

import numpy as np
import pytest

import svensolve
from svensolve.cli import _solver_options, build_parser, main


def test_list_names_the_problems(capsys):
    assert main(["list"]) == 0
    output = capsys.readouterr().out
    assert "poisson2d" in output
    assert "nist" in output


def test_info_reports_float64_enabled(capsys):
    assert main(["info"]) == 0
    assert "float64   enabled" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "nosuch"], "unknown problem 'nosuch'"),
        (["run", "poisson2d", "--rank", "0"], "--rank must be >= 1, got 0"),
        (["run", "poisson2d", "--lr", "-1", "--control", "fixed"], "--lr must be finite"),
        (["run", "poisson2d", "--time-limit", "-1"], "--time-limit must be > 0"),
        (["run", "poisson2d", "--control", "newton"], "invalid choice: 'newton'"),
        (["run", "poisson2d", "--plot", "/no/such/dir/x.png"], "does not exist"),
        (["run", "poisson2d", "--save", "/no/such/dir/x.npz"], "--save: directory"),
        (["run", "nist", "--save", "x.npz"], "--save is not available for nist"),
        (["run", "poisson2d", "--memory-limit", "5XB"],
         "--memory-limit has an unknown unit 'XB' in '5XB'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, argv, message):
    with pytest.raises(SystemExit) as stop:
        main(argv)

    assert stop.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert message in error


@pytest.mark.slow
def test_run_poisson2d_reaches_1e5(capsys, tmp_path):
    figure = tmp_path / "poisson.png"
    assert main(["run", "poisson2d", "--quiet", "--plot", str(figure)]) == 0
    output = capsys.readouterr().out
    error = float(output.split("relative L2 error:")[1].split()[0])
    assert error < 1e-5
    assert figure.stat().st_size > 10_000


def _saved_figures(monkeypatch):
    """Collect the figures that svensolve.plot saves, still open."""
    import svensolve.plot

    figures = []
    save = svensolve.plot._save

    def keep(plt, figure, path, title):
        figures.append((figure.axes[0].get_xlabel(), figure.axes[0].get_ylabel(),
                        figure.axes[0].get_legend_handles_labels()[1]))
        save(plt, figure, path, title)

    monkeypatch.setattr(svensolve.plot, "_save", keep)
    return figures


def test_run_lotka_volterra_plots_curves(capsys, monkeypatch, tmp_path):
    pytest.importorskip("matplotlib")
    figure = tmp_path / "lotka.png"
    figures = _saved_figures(monkeypatch)

    assert main(["run", "lotka_volterra", "--quiet", "--plot", str(figure)]) == 0

    assert f"figure:              {figure}" in capsys.readouterr().out
    assert figure.stat().st_size > 10_000
    assert figures == [("t", "", ["fit prey x", "reference prey x",
                                  "fit predators y", "reference predators y"])]


def test_plot_of_space_time_problem_names_t(monkeypatch, tmp_path):
    pytest.importorskip("matplotlib")
    figures = _saved_figures(monkeypatch)

    arguments = ["run", "heat1d", "--quiet", "--max-iter", "2", "--plot", str(tmp_path / "h.png")]
    assert main(arguments) == 0

    assert [labels[:2] for labels in figures] == [("x", "t")]


def test_plot_of_5d_problem_exits_2_before_solving(capsys, tmp_path):
    figure = tmp_path / "p5.png"

    assert main(["run", "poisson5d", "--plot", str(figure)]) == 2

    captured = capsys.readouterr()
    assert "poisson5d has 5-D points and 1 value per point" in captured.err
    assert "status:" not in captured.out
    assert not figure.exists()


@pytest.mark.parametrize(("cores", "variable", "limited"), [
    (2, None, True),
    (1, None, True),
    (4, None, False),
    (2, "OPENBLAS_NUM_THREADS", False),
])
def test_cli_blas_threads_on_small_machines(monkeypatch, cores, variable, limited):
    from threadpoolctl import threadpool_info

    from svensolve import cli

    for name in cli.BLAS_THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    if variable is not None:
        monkeypatch.setenv(variable, "2")
    monkeypatch.setattr(cli.os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)

    limit = cli._one_blas_thread_on_small_machine()

    assert (limit is not None) == limited
    if limit is not None:
        with limit:
            blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
            assert blas
            assert all(pool["num_threads"] == 1 for pool in blas)


def test_save_on_directory_exits_2_before_solving(capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        main(["run", "lotka_volterra", "--save", str(tmp_path)])

    assert stop.value.code == 2
    assert "is a directory" in capsys.readouterr().err.strip().splitlines()[-1]
    assert list(tmp_path.iterdir()) == []


def test_run_save_writes_npz(capsys, tmp_path):
    target = tmp_path / "lotka.npz"

    assert main(["run", "lotka_volterra", "--quiet", "--save", str(target)]) == 0

    with np.load(target) as saved:
        arrays = {key: saved[key] for key in saved.files}
    assert f"saved:               {target}" in capsys.readouterr().out
    # The parameters are log coefficients, so exp(x) must give the true (1, 0.1, 0.075, 1.5);
    # ravel_pytree orders the dict keys alphabetically: alpha, beta, delta, gamma.
    np.testing.assert_allclose(np.exp(arrays["x"]), [1.0, 0.1, 0.075, 1.5], rtol=1e-6)
    assert float(arrays["params/log_gamma"]) == pytest.approx(np.log(1.5), abs=1e-6)
    iterations = int(arrays["nit"])
    assert iterations > 0
    assert arrays["history/cost"].shape == (iterations,)
    assert arrays["history/cost"][-1] < 1e-12
    assert float(arrays["relative_l2_error"]) < 1e-6
    assert float(arrays["coefficient_error/delta"]) < 1e-6
    assert [path.name for path in tmp_path.iterdir()] == ["lotka.npz"]


def test_run_with_streamed_jacobian(capsys):
    assert main(["run", "poisson2d", "--jacobian", "streamed", "--max-iter", "2", "--quiet"]) == 0
    output = capsys.readouterr().out
    assert "streamed" in output


def test_bad_memory_limit_is_named(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["run", "poisson2d", "--memory-limit", "0"])
    assert stop.value.code == 2
    assert "--memory-limit must be >= 1" in capsys.readouterr().err


def test_memory_limit_with_unit_is_accepted(capsys, monkeypatch):
    requested = []
    solve = svensolve.minimize

    def recording_minimize(*args, **kwargs):
        requested.append(kwargs["memory_limit"])
        return solve(*args, **kwargs)

    monkeypatch.setattr(svensolve, "minimize", recording_minimize)
    argv = ["run", "poisson2d", "--memory-limit", "512MiB", "--max-iter", "1", "--quiet"]
    assert main(argv) == 0
    assert requested == [512 * 2**20]


def test_memory_limit_plain_number_is_gib():
    args = build_parser().parse_args(["run", "poisson2d", "--memory-limit", "1.5"])
    assert _solver_options(args)["memory_limit"] == 3 * 2**29
