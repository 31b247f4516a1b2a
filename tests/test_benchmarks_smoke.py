"""Smoke tests that run the benchmark scripts on tiny settings and parse the tables they print.

The smoke runs start ``python -m benchmarks.<name>`` as a subprocess and are
marked slow; run them with ``pytest --runslow``. The option checks run in
process and are fast.
"""

import importlib.util
import json
import math
import pathlib
import subprocess
import sys

import pytest

from benchmarks import bounds as bounds_benchmark
from benchmarks import nist as nist_benchmark
from benchmarks import poisson2d as poisson_benchmark

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent

NIST_CASE_HEADER = (
    "| Problem | Start | Digits svensolve | Digits trf | Digits lm "
    "| nfev svensolve | nfev trf | nfev lm |"
)
NIST_SUMMARY_HEADER = "| Method | Cases with >= 6 digits | Successes | First pass (s) "
POISSON_HEADER = (
    "| Method | Error at budget | Iterations | First iteration (s) | Time to 1e-03 (s) "
    "| Time to 1e-04 (s) | Time to 1e-05 (s) | Time to 1e-06 (s) |"
)

BOUNDS_HEADER = (
    "| Problem | Cost svensolve | Cost trf | Digits agreement | Same active set "
    "| nfev svensolve | nfev trf | Time svensolve (s) | Time trf (s) | Time ratio svensolve/trf |"
)


def run_module(module: str, *args: str) -> str:
    """Run ``python -m module args`` from the repository root and return its stdout."""
    completed = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, (
        f"{module} exited with {completed.returncode}; stderr ends with:\n"
        f"{completed.stderr[-4000:]}"
    )
    return completed.stdout


def table_rows(output: str, header_start: str) -> list[list[str]]:
    """Return the cells of each row of the markdown table whose header starts with header_start."""
    lines = output.splitlines()
    matches = [index for index, line in enumerate(lines) if line.startswith(header_start)]
    assert matches, f"no table header starting with {header_start!r} in:\n{output}"
    rows = []
    # The line after the header is the |---| separator.
    for line in lines[matches[0] + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def parse_seconds(cell: str) -> float | None:
    return None if cell == "never" else float(cell)


def test_nist_option_rejects_unknown_name(capsys):
    with pytest.raises(SystemExit):
        nist_benchmark.parse_args(["--only", "Misra1a,NoSuchProblem"])
    message = capsys.readouterr().err
    assert "NoSuchProblem" in message
    assert "Misra1a, Chwirut2" in message


def test_nist_option_rejects_zero_repeat():
    with pytest.raises(SystemExit):
        nist_benchmark.parse_args(["--repeat", "0"])


def test_poisson_option_rejects_zero_budget():
    with pytest.raises(SystemExit):
        poisson_benchmark.parse_args(["--budget", "0"])


@pytest.mark.slow
def test_nist_script_two_problems(tmp_path):
    json_path = tmp_path / "nist.json"
    output = run_module(
        "benchmarks.nist", "--only", "Misra1a,DanWood", "--repeat", "1", "--json", str(json_path)
    )

    assert "- CPUs:" in output
    assert "- XLA_FLAGS:" in output
    assert "- OMP_NUM_THREADS:" in output
    assert "- Import: jax" in output
    assert NIST_CASE_HEADER in output

    rows = table_rows(output, NIST_CASE_HEADER)
    cases = [(row[0], row[1]) for row in rows]
    assert cases == [("Misra1a", "1"), ("Misra1a", "2"), ("DanWood", "1"), ("DanWood", "2")]
    for row in rows:
        assert len(row) == 8, row
        for cell in row[2:5]:
            assert 0.0 <= float(cell) <= 15.0, row
        for cell in row[5:8]:
            assert int(cell) > 0, row
    # Misra1a is easy for every method, so few digits here mean a wiring error
    # such as a wrong start or certified vector, not a weak solver.
    misra_digits = [float(cell) for row in rows[:2] for cell in row[2:5]]
    assert min(misra_digits) >= 6, rows[:2]

    summary = table_rows(output, NIST_SUMMARY_HEADER)
    assert [row[0] for row in summary] == ["svensolve", "trf", "lm"]
    for row in summary:
        good, total = row[1].split("/")
        assert 0 <= int(good) <= int(total) == 4, row
        successes, total = row[2].split("/")
        assert 0 <= int(successes) <= int(total) == 4, row
        assert float(row[3]) >= 0, row
        assert float(row[4]) >= 0, row

    report = json.loads(json_path.read_text())
    assert report["repeat"] == 1
    assert len(report["cases"]) == 4
    assert set(report["methods"]) == {"svensolve", "trf", "lm"}
    for method, run in report["methods"].items():
        assert len(run["cases"]) == 4, method
        assert len(run["repeat_pass_seconds"]) == 1, method
        for record in run["cases"]:
            assert record["error"] is None, (method, record["error"])
            assert len(record["x"]) == 2, (method, record)
            assert len(record["repeat_seconds"]) == 1, (method, record)


@pytest.mark.slow
def test_poisson_script_short_budget(tmp_path):
    json_path = tmp_path / "poisson.json"
    args = ["--budget", "3", "--json", str(json_path)]
    plot_path = tmp_path / "errors.png"
    with_plot = importlib.util.find_spec("matplotlib") is not None
    if with_plot:
        args += ["--plot", str(plot_path)]
    output = run_module("benchmarks.poisson2d", *args)

    assert "- CPUs:" in output
    assert "Warm-up before the timed runs" in output
    assert POISSON_HEADER in output
    rows = table_rows(output, POISSON_HEADER)
    assert [row[0] for row in rows] == ["svensolve", "L-BFGS"]
    for row in rows:
        assert len(row) == 8, row
        error = float(row[1])
        assert math.isfinite(error), row
        assert error > 0, row
        # svensolve compiles inside its timed run, so on a loaded machine 3 s may
        # end before its first iteration.
        assert int(row[2]) >= 0, row
        for cell in row[3:]:
            seconds = parse_seconds(cell)
            assert seconds is None or seconds >= 0, row
    assert "- svensolve final status:" in output
    assert "- L-BFGS final status:" in output
    assert "- Time to 1e-04, L-BFGS / svensolve:" in output

    report = json.loads(json_path.read_text())
    assert report["budget_seconds"] == 3
    assert set(report["methods"]) == {"svensolve", "L-BFGS"}
    for name, method in report["methods"].items():
        times, errors = method["times"], method["errors"]
        assert len(times) == len(errors) >= 1, name
        assert times[0] == 0.0, name
        assert times == sorted(times), name
        assert all(math.isfinite(error) for error in errors), name
        assert set(method["time_to"]) == {"1e-03", "1e-04", "1e-05", "1e-06"}, name
    assert report["methods"]["L-BFGS"]["iterations"] >= 1

    if with_plot:
        assert plot_path.stat().st_size > 0


def test_bounds_option_rejects_zero_repeat():
    with pytest.raises(SystemExit):
        bounds_benchmark.parse_args(["--repeat", "0"])


def test_bounds_quick_option_sets_one_repeat():
    assert bounds_benchmark.parse_args(["--quick"]).repeat == 1
    assert bounds_benchmark.parse_args(["--quick", "--repeat", "2"]).repeat == 2


@pytest.mark.slow
def test_bounds_script_quick():
    output = run_module("benchmarks.bounds", "--quick")

    assert "- CPUs:" in output
    assert BOUNDS_HEADER in output
    rows = table_rows(output, BOUNDS_HEADER)
    assert [row[0] for row in rows] == [
        "Misra1a start 1",
        "DanWood start 1",
        "exponential, offset >= 0",
    ]
    for row in rows:
        assert len(row) == 10, row
        cost_svensolve, cost_trf = float(row[1]), float(row[2])
        assert math.isfinite(cost_svensolve), row
        assert cost_svensolve > 0, row
        assert cost_svensolve == pytest.approx(cost_trf, rel=1e-6), row
        # Each quick case has one active bound at a well-determined solution,
        # so fewer digits point to a wiring error, such as a bound applied to
        # the wrong parameter, not to a weak solver.
        assert 6.0 <= float(row[3]) <= 15.0, row
        assert row[4] == "yes", row
        assert int(row[5]) > 0, row
        assert int(row[6]) > 0, row
        for cell in row[7:10]:
            assert float(cell) >= 0, row
    assert "- Misra1a start 1: b1 <= 191.154" in output
    assert "did not converge" not in output
    assert "raised" not in output


@pytest.mark.slow
def test_pinn_script_poisson2d_short_budget(tmp_path):
    json_path = tmp_path / "pinn.json"
    args = ["--problem", "poisson2d", "--budget", "3", "--json", str(json_path)]
    plot_path = tmp_path / "pinn.png"
    with_plot = importlib.util.find_spec("matplotlib") is not None
    if with_plot:
        args += ["--plot", str(plot_path)]
    output = run_module("benchmarks.pinn", *args)

    assert "- CPUs:" in output
    rows = table_rows(output, "| Optimizer | Final metric | Iterations | Warm-up (s) |")
    # scipy's lm needs at least as many residuals as parameters, so it has no row here.
    expected = ["svensolve", "svensolve-fixed", "adam", "lbfgs", "adam-lbfgs", "trf",
                "gauss-newton"]
    if importlib.util.find_spec("optimistix") is not None:
        expected.append("optimistix-lm")
    assert [row[0] for row in rows] == expected
    for row in rows:
        assert len(row) == 14, row
        metric = float(row[1])
        assert math.isfinite(metric), row
        assert metric > 0, row
        assert int(row[2]) >= 0, row
        assert float(row[3]) >= 0, row
        for cell in row[4:9]:
            seconds = parse_seconds(cell)
            assert seconds is None or seconds >= 0, row
    assert "- lm skipped: scipy's 'lm' needs at least as many residuals" in output
    if "optimistix-lm" not in expected:
        assert "- optimistix-lm skipped: optimistix is not installed" in output

    report = json.loads(json_path.read_text())
    assert report["problem"] == "poisson2d"
    assert report["budget_seconds"] == 3
    assert set(report["optimizers"]) == set(expected)
    assert set(report["skipped"]) == {"lm"}
    for name, run in report["optimizers"].items():
        times, costs, metrics = run["times"], run["costs"], run["metrics"]
        assert len(times) == len(costs) == len(metrics) >= 2, name
        assert times[0] == 0.0, name
        assert times == sorted(times), name
        assert all(math.isfinite(value) for value in costs + metrics), name
        assert math.isfinite(run["final_metric"]), name

    if with_plot:
        assert plot_path.stat().st_size > 0


# ---------------------------------------------------------------- python -m benchmarks run

PINN_SUITE_HEADER = "| Optimizer | Final metric | Iterations | Warm-up (s) |"
SCALING_HEADER = "| Grid | Width | n | p | n * p | Jacobian path | Warm-up (s) | Iterations |"


def run_suite(suite: str, *args: str) -> str:
    """Run ``python -m benchmarks run --suite SUITE --quick args`` and return its stdout."""
    return run_module("benchmarks", "run", "--suite", suite, "--quick", *args)


def test_suite_option_rejects_unknown_suite():
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "run", "--suite", "nope"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 2, completed.stderr
    assert "argument --suite: invalid choice: 'nope'" in completed.stderr
    assert "'pinn', 'nist', 'cost', 'scaling', 'bounds'" in completed.stderr
    assert completed.stdout == ""


@pytest.mark.slow
def test_pinn_suite_quick(tmp_path):
    json_path = tmp_path / "pinn.json"
    plots = tmp_path / "plots"
    args = ["--json", str(json_path)]
    with_plot = importlib.util.find_spec("matplotlib") is not None
    if with_plot:
        args += ["--plots", str(plots)]
    output = run_suite("pinn", *args)

    assert "## poisson2d" in output
    rows = table_rows(output, PINN_SUITE_HEADER)
    names = [row[0] for row in rows]
    assert names[:2] == ["svensolve", "svensolve-fixed"]
    assert {"adam", "lbfgs", "adam-lbfgs", "trf", "gauss-newton"} <= set(names)
    with_optimistix = importlib.util.find_spec("optimistix") is not None
    assert ("optimistix-lm" in names) == with_optimistix
    if not with_optimistix:
        assert "- optimistix-lm skipped: optimistix is not installed" in output
    for row in rows:
        assert len(row) == 14, row
        metric = float(row[1])
        assert math.isfinite(metric), row
        assert metric > 0, row
        assert int(row[2]) >= 0, row
        assert float(row[3]) >= 0, row

    report = json.loads(json_path.read_text())
    assert report["quick"] is True
    assert report["budget_seconds"] == 1.0
    assert set(report["problems"]) == {"poisson2d"}
    assert set(report["problems"]["poisson2d"]["optimizers"]) == set(names)
    if with_plot:
        assert (plots / "poisson2d.png").stat().st_size > 0


@pytest.mark.slow
def test_nist_suite_quick(tmp_path):
    json_path = tmp_path / "nist.json"
    output = run_suite("nist", "--json", str(json_path))

    rows = table_rows(output, NIST_CASE_HEADER)
    assert [(row[0], row[1]) for row in rows] == [("Misra1a", "1"), ("Misra1a", "2")]
    for row in rows:
        for cell in row[2:5]:
            assert float(cell) >= 6, row
    assert len(json.loads(json_path.read_text())["cases"]) == 2


@pytest.mark.slow
def test_cost_suite_quick():
    output = run_suite("cost")

    lines = output.splitlines()
    headers = [index for index, line in enumerate(lines) if line.split()[:5] == [
        "path", "svd", "rank", "seconds", "grads"
    ]]
    assert len(headers) == 2, output
    first_row = lines[headers[0] + 1].split()
    assert first_row[:3] == ["dense", "exact", "None"], first_row
    assert float(first_row[3]) > 0, first_row
    assert float(first_row[4]) > 0, first_row


@pytest.mark.slow
def test_scaling_suite_quick(tmp_path):
    json_path = tmp_path / "scaling.json"
    output = run_suite("scaling", "--json", str(json_path))

    rows = table_rows(output, SCALING_HEADER)
    assert [(row[0], row[1]) for row in rows] == [("6", "6"), ("10", "10")]
    for row in rows:
        assert len(row) == 11, row
        grid, width, n, p = (int(cell) for cell in row[:4])
        # poisson2d has grid**2 interior and 4 * grid edge residuals, and a 2-width-width-1 network.
        assert n == grid**2 + 4 * grid, row
        assert p == (2 * width + width) + (width * width + width) + (width + 1), row
        assert row[5].startswith("dense"), row
        assert int(row[7]) >= 1, row
        assert float(row[8]) > 0, row
        assert float(row[9]) > 0, row
        assert row[10] == "ok", row
    assert "- Stopped: every size in the list was measured" in output

    report = json.loads(json_path.read_text())
    assert [record["status"] for record in report["sizes"]] == ["ok", "ok"]


@pytest.mark.slow
def test_bounds_suite_quick():
    output = run_suite("bounds")

    rows = table_rows(output, BOUNDS_HEADER)
    assert [row[0] for row in rows] == [
        "Misra1a start 1",
        "DanWood start 1",
        "exponential, offset >= 0",
    ]


@pytest.mark.slow
def test_trajectory_script_short_budget():
    output = run_module("benchmarks.trajectory", "lotka_volterra", "--budget", "5")

    assert output.startswith("lotka_volterra: 80 residuals, 4 parameters, budget 5 s")
    last = output.strip().splitlines()[-1]
    error = float(last.split("relative L2 error")[1].split()[0])
    # The fit recovers the coefficients behind the data (measured: 1.9e-10 in 2 s).
    assert error < 1e-6


def test_pinn_summary_merges_rerun_and_picks_best_peer(tmp_path, capsys):
    from benchmarks import pinn_summary

    def optimizer(final, times, metrics):
        return {"final_metric": final, "times": times, "metrics": metrics,
                "iterations": len(times), "warmup_seconds": 0.5}

    suite = {"problems": {"demo": {"problem": "demo", "metric": "relative L2 error",
                                   "optimizers": {
                                       "svensolve": optimizer(1e-4, [0, 2, 5], [1, 1e-2, 1e-4]),
                                       "lbfgs": optimizer(1e-3, [0, 9], [1, 1e-3]),
                                       "gauss-newton": optimizer(1.0, [0], [1.0]),
                                   }}}}
    rerun = {"problem": "demo", "metric": "relative L2 error",
             "optimizers": {"gauss-newton": optimizer(5e-4, [0, 4], [1, 5e-4])}}
    paths = [tmp_path / "suite.json", tmp_path / "rerun.json"]
    for path, report in zip(paths, [suite, rerun], strict=True):
        path.write_text(json.dumps(report))

    pinn_summary.main([str(path) for path in paths])

    row = table_rows(capsys.readouterr().out, "| Problem |")[0]
    # The rerun's Gauss-Newton (5e-4) is now the best peer; svensolve reached it at 5 s.
    assert row == ["demo", "1.000e-04", "gauss-newton", "5.000e-04", "5.00", "4.00", "metric only"]


def test_pinn_summary_draws_figures(tmp_path):
    pytest.importorskip("matplotlib")
    from benchmarks import pinn_summary

    report = {"problem": "demo", "metric": "relative L2 error", "budget_seconds": 30.0,
              "optimizers": {"svensolve": {"final_metric": 1e-4, "times": [0, 2, 5],
                                           "metrics": [1, 1e-2, 1e-4], "iterations": 3,
                                           "warmup_seconds": 0.5}}}
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(report))

    pinn_summary.main([str(path), "--plots", str(tmp_path / "figures")])

    figure = (tmp_path / "figures" / "demo.png").read_bytes()
    assert figure.startswith(b"\x89PNG")
