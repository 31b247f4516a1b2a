"""The svensolve command: listing, info and one-line errors with exit status 2."""

import re
import sys

import numpy as np
import pytest

import svensolve
from svensolve.cli import (
    _build_parsers,
    _figure_kind,
    _figure_path,
    _solver_options,
    build_parser,
    main,
)


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
        (["run", "nist", "--jacobian", "streamed"],
         "--jacobian 'streamed' is not available for nist, because least_squares chooses the "
         "Jacobian itself and forms it dense for these small cases. Remove --jacobian, which "
         "applies only to the other problems"),
        (["run", "nist", "--memory-limit", "1GiB"],
         "--memory-limit '1GiB' is not available for nist, because least_squares chooses the "
         "Jacobian itself and forms it dense for these small cases. Remove --memory-limit, "
         "which applies only to the other problems"),
        (["run", "nist", "--plot", "x.png"], "--plot is not available for nist"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, argv, message):
    with pytest.raises(SystemExit) as stop:
        main(argv)

    assert stop.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("usage: svensolve run [-h]")
    error = captured.err.strip().splitlines()[-1]
    assert error.startswith("svensolve run: error: ")
    assert message in error


def test_plot_suffix_lists_supported_formats(capsys):
    pytest.importorskip("matplotlib")

    with pytest.raises(SystemExit) as stop:
        main(["run", "poisson2d", "--plot", "x.xyz"])

    assert stop.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("usage: svensolve run [-h]")
    error = captured.err.strip().splitlines()[-1]
    assert error.startswith("svensolve run: error: --plot: suffix '.xyz' of 'x.xyz' is not a "
                            "format that matplotlib writes. Use one of ")
    assert ".pdf, " in error
    assert ".png, " in error
    assert error.endswith(", or no suffix for .png")


@pytest.mark.parametrize(("path", "written"), [
    ("figs/lv", "figs/lv.png"),
    ("figs/lv.", "figs/lv.png"),
    ("figs/lv.pdf", "figs/lv.pdf"),
    ("figs/lv.PNG", "figs/lv.PNG"),
])
def test_figure_path_is_file_written(path, written):
    pytest.importorskip("matplotlib")
    run_parser = _build_parsers()[1]

    assert _figure_path(run_parser, path) == written


def test_plot_without_matplotlib_exits_2(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backend_bases", None)

    with pytest.raises(SystemExit) as stop:
        main(["run", "poisson2d", "--plot", "x"])

    assert stop.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == ("svensolve run: error: --plot needs matplotlib, which is not installed: "
                     "pip install 'svensolve[plot]'")


def _run_help(capsys) -> str:
    """Return the help of `svensolve run` with its line breaks joined."""
    with pytest.raises(SystemExit) as stop:
        main(["run", "--help"])
    assert stop.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_run_help_names_nist_limits(capsys):
    text = _run_help(capsys)

    assert "(default: auto); not available for nist" in text
    assert "(default: half of the free memory); not available for nist" in text
    assert "in seconds, for nist per case (default: 60, for nist none)" in text
    assert "iteration budget, for nist per case (default: 100000)" in text
    assert "so it is not available for nist, poisson5d and kovasznay" in text
    assert "numpy's .npz format; not available for nist" in text


def test_run_help_names_problems_without_figure(capsys):
    from problems import REGISTRY

    text = _run_help(capsys)
    named = set(text.split("so it is not available for ")[1].split(" --save")[0]
                .replace(" and ", ", ").split(", "))

    without_figure = {"nist"}
    for name, module in REGISTRY.items():
        if name == "nist":
            continue
        case = module.build(seed=0)
        points = case.test_grid()
        values = np.asarray(case.solution(case.params, points))
        if _figure_kind(points, values) is None:
            without_figure.add(name)
    assert named == without_figure


def test_time_limit_default_is_60_s_except_nist():
    parser = build_parser()

    assert _solver_options(parser.parse_args(["run", "poisson2d"]))["time_limit"] == 60.0
    assert _solver_options(parser.parse_args(["run", "nist"]))["time_limit"] is None


def _record_least_squares(monkeypatch):
    """Run nist on Misra1a only and collect the keyword arguments of each least_squares call."""
    import problems.nist

    calls = []
    solve = svensolve.least_squares

    def recording_least_squares(*args, **kwargs):
        calls.append(kwargs)
        return solve(*args, **kwargs)

    monkeypatch.setattr(problems.nist, "NAMES", ("Misra1a",))
    monkeypatch.setattr(svensolve, "least_squares", recording_least_squares)
    return calls


def test_nist_limits_apply_per_case(capsys, monkeypatch):
    calls = _record_least_squares(monkeypatch)

    assert main(["run", "nist", "--max-iter", "2", "--time-limit", "30"]) == 0

    assert [call["max_iter"] for call in calls] == [2, 2]
    assert [call["time_limit"] for call in calls] == [30.0, 30.0]
    output = capsys.readouterr().out
    assert output.count("The maximum number of iterations is reached.") == 2
    assert "0 of 2 cases reach 6 certified digits" in output


def test_nist_defaults_set_no_time_limit(capsys, monkeypatch):
    calls = _record_least_squares(monkeypatch)

    assert main(["run", "nist"]) == 0

    assert [call["time_limit"] for call in calls] == [None, None]
    assert "2 of 2 cases reach 6 certified digits" in capsys.readouterr().out


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


def test_plot_without_suffix_writes_png(capsys, tmp_path):
    pytest.importorskip("matplotlib")

    arguments = ["run", "heat1d", "--quiet", "--max-iter", "2", "--plot", str(tmp_path / "h")]
    assert main(arguments) == 0

    output = capsys.readouterr().out
    assert f"figure:              {tmp_path / 'h.png'}\n" in output
    assert [path.name for path in tmp_path.iterdir()] == ["h.png"]
    times = re.search(r"^time: +(\S+) s solving \(first compilation included\), (\S+) s in all$",
                      output, re.MULTILINE)
    assert times is not None
    assert float(times[1]) <= float(times[2])


def test_plot_of_5d_problem_exits_2_before_solving(capsys, tmp_path):
    figure = tmp_path / "p5.png"

    with pytest.raises(SystemExit) as stop:
        main(["run", "poisson5d", "--plot", str(figure)])

    assert stop.value.code == 2
    captured = capsys.readouterr()
    error = captured.err.strip().splitlines()[-1]
    assert error.startswith("svensolve run: error: --plot: poisson5d has 5-D points and 1 value "
                            "per point")
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


def test_plot_into_existing_directory_exits_2(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    with pytest.raises(SystemExit) as stop:
        main(["run", "lotka_volterra", "--plot", str(tmp_path)])
    assert stop.value.code == 2
    assert "is a directory; give a file name" in capsys.readouterr().err


def test_failed_figure_keeps_saved_solution(capsys, monkeypatch, tmp_path):
    pytest.importorskip("matplotlib")
    import svensolve.cli

    def failing_plot(*args):
        raise RuntimeError("no TeX here")

    monkeypatch.setattr(svensolve.cli, "_plot_field", failing_plot)
    saved = tmp_path / "run.npz"
    argv = ["run", "lotka_volterra", "--quiet", "--max-iter", "2", "--plot",
            str(tmp_path / "f.png"), "--save", str(saved)]

    assert main(argv) == 1
    assert "could not be written: no TeX here" in capsys.readouterr().err
    assert np.load(saved)["nit"] == 2
