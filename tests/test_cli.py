"""The svensolve command: listing, info and one-line errors with exit status 2."""

import pytest

from svensolve.cli import main


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
        (["run", "poisson2d", "--rank", "0"], "rank must be >= 1, got 0"),
        (["run", "poisson2d", "--time-limit", "-1"], "--time-limit must be > 0"),
        (["run", "poisson2d", "--control", "newton"], "invalid choice: 'newton'"),
        (["run", "poisson2d", "--plot", "/no/such/dir/x.png"], "does not exist"),
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
