"""Check the NIST StRD loader and models against the certified values in the data files.

Reference values are read from the raw file text with this module's own small
regular expressions or written out from the NIST files, so a parser bug in
``problems.nist`` cannot hide behind itself.
"""

import math
import re

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from problems import nist  # noqa: E402

RSS_RTOL = 1e-6

# Lanczos1's data come from an exact function to 14 digits, so its certified
# RSS (1.4e-25) lies far below the error of the 11-digit certified parameters.
# test_lanczos1_gauss_newton_step_reaches_certified_rss covers it instead.
EXACT_RSS_NAMES = [name for name in nist.NAMES if name != "Lanczos1"]


def _file_text(name):
    return (nist.DATA_DIR / f"{name}.dat").read_text(encoding="ascii")


def _file_number(name, label):
    """Read the number after ``label:`` straight from the data file."""
    match = re.search(rf"^{re.escape(label)}:\s*(\S+)", _file_text(name), re.MULTILINE)
    assert match is not None, f"{name}.dat has no line '{label}:'"
    return float(match.group(1))


def _rss(residual, xp):
    return xp.sum(residual**2)


# ---------------------------------------------------------------------------
# Certified residual sum of squares
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXACT_RSS_NAMES)
def test_certified_params_reproduce_certified_rss(name):
    problem = nist.load(name)
    certified_rss = _file_number(name, "Residual Sum of Squares")

    rss = _rss(problem.residual(problem.certified_params, xp=np), np)

    assert rss == pytest.approx(certified_rss, rel=RSS_RTOL)


@pytest.mark.parametrize("name", EXACT_RSS_NAMES)
def test_certified_params_reproduce_certified_rss_with_jax(name):
    problem = nist.load(name)
    certified_rss = _file_number(name, "Residual Sum of Squares")

    rss = jax.jit(lambda b: _rss(problem.residual(b, xp=jnp), jnp))(
        jnp.asarray(problem.certified_params)
    )

    assert rss.dtype == jnp.float64
    assert float(rss) == pytest.approx(certified_rss, rel=RSS_RTOL)


def test_lanczos1_gauss_newton_step_reaches_certified_rss():
    problem = nist.load("Lanczos1")
    certified_rss = _file_number("Lanczos1", "Residual Sum of Squares")
    b = np.array(problem.certified_params)

    # At the printed 11-digit parameters the RSS is about 4e-21, far above the
    # certified minimum, so the printed values alone cannot reproduce it.
    assert _rss(problem.residual(b, xp=np), np) > 1e3 * certified_rss

    # One Gauss-Newton step removes the rounding error. The RSS then matches to
    # about 1e-3 (7e-4 measured), because float64 residuals of size 1e-13 carry
    # only about 3 correct digits.
    residual = problem.residual(b, xp=np)
    jacobian = np.asarray(jax.jacfwd(problem.residual)(jnp.asarray(b)))
    step = np.linalg.lstsq(jacobian, -residual, rcond=None)[0]
    refined = b + step

    assert _rss(problem.residual(refined, xp=np), np) == pytest.approx(certified_rss, rel=1e-2)
    assert np.all(nist.log_relative_error(refined, problem.certified_params) >= 10)


@pytest.mark.parametrize("name", nist.NAMES)
def test_residual_std_squared_times_dof_matches_rss(name):
    problem = nist.load(name)
    certified_rss = _file_number(name, "Residual Sum of Squares")

    assert problem.residual_std**2 * problem.dof == pytest.approx(certified_rss, rel=RSS_RTOL)


@pytest.mark.parametrize("name", nist.NAMES)
def test_rss_gradient_is_finite_under_jit(name):
    problem = nist.load(name)

    def rss(b):
        return _rss(problem.residual(b, xp=jnp), jnp)

    gradient = jax.jit(jax.grad(rss))(jnp.asarray(problem.certified_params))

    assert gradient.shape == (problem.n_params,)
    assert bool(jnp.all(jnp.isfinite(gradient)))


# ---------------------------------------------------------------------------
# Counts, shapes and parsed values
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", nist.NAMES)
def test_observation_count_matches_file(name):
    problem = nist.load(name)

    assert problem.n_observations == _file_number(name, "Number of Observations")
    assert problem.x.shape[0] == problem.n_observations


@pytest.mark.parametrize("name", nist.NAMES)
def test_dof_equals_observations_minus_params(name):
    problem = nist.load(name)

    assert problem.dof == problem.n_observations - problem.n_params


@pytest.mark.parametrize("name", [name for name in nist.NAMES if name != "Rat43"])
def test_dof_matches_file(name):
    assert nist.load(name).dof == _file_number(name, "Degrees of Freedom")


def test_rat43_file_dof_is_a_typo():
    # Rat43.dat states 9, but 15 observations minus 4 parameters is 11, and the
    # certified residual standard deviation fits 11, not 9.
    problem = nist.load("Rat43")
    certified_rss = _file_number("Rat43", "Residual Sum of Squares")
    residual_std = _file_number("Rat43", "Residual Standard Deviation")

    assert _file_number("Rat43", "Degrees of Freedom") == 9
    assert problem.dof == 11
    assert math.sqrt(certified_rss / 11) == pytest.approx(residual_std, rel=1e-9)


@pytest.mark.parametrize("name", nist.NAMES)
def test_arrays_are_read_only_float64(name):
    problem = nist.load(name)
    arrays = {
        "x": problem.x,
        "y": problem.y,
        "start 1": problem.starts[0],
        "start 2": problem.starts[1],
        "certified_params": problem.certified_params,
        "certified_stderr": problem.certified_stderr,
    }

    for label, array in arrays.items():
        assert array.dtype == np.float64, label
        assert not array.flags.writeable, label
    assert problem.y.shape == (problem.n_observations,)
    assert len(problem.starts) == 2
    assert problem.starts[0].shape == (problem.n_params,)
    assert problem.starts[1].shape == (problem.n_params,)
    assert problem.certified_stderr.shape == (problem.n_params,)


@pytest.mark.parametrize("name", nist.NAMES)
def test_parameter_count_matches_model_header(name):
    match = re.search(r"^\s*(\d+) Parameters", _file_text(name), re.MULTILINE)
    assert match is not None

    assert nist.load(name).n_params == int(match.group(1))


@pytest.mark.parametrize("name", nist.NAMES)
def test_description_has_no_error_term(name):
    description = nist.load(name).description

    assert re.match(r"^(y|log\[y\]) = ", description)
    assert not description.endswith("e")


def test_x_is_one_dimensional_except_nelson():
    for problem in nist.load_all():
        expected_ndim = 2 if problem.name == "Nelson" else 1
        assert problem.x.ndim == expected_ndim, problem.name
    assert nist.load("Nelson").x.shape == (128, 2)


def test_misra1a_values_match_file():
    problem = nist.load("Misra1a")

    assert problem.difficulty == "lower"
    assert problem.description == "y = b1*(1-exp[-b2*x])"
    np.testing.assert_array_equal(problem.starts[0], [500.0, 0.0001])
    np.testing.assert_array_equal(problem.starts[1], [250.0, 0.0005])
    np.testing.assert_array_equal(problem.certified_params, [2.3894212918e02, 5.5015643181e-04])
    np.testing.assert_array_equal(problem.certified_stderr, [2.7070075241e00, 7.2668688436e-06])
    assert problem.certified_rss == 1.2455138894e-01
    assert problem.residual_std == 1.0187876330e-01
    assert (problem.x[0], problem.y[0]) == (77.6, 10.07)
    assert (problem.x[-1], problem.y[-1]) == (760.0, 81.78)


def test_nelson_response_is_log_of_file_values():
    problem = nist.load("Nelson")

    assert problem.description == "log[y] = b1 - b2*x1 * exp[-b3*x2]"
    # The first data row of Nelson.dat is "15.00E0 1E0 180E0".
    assert problem.y[0] == math.log(15.0)
    np.testing.assert_array_equal(problem.x[0], [1.0, 180.0])


def test_roszman1_description_skips_pi_definition():
    assert nist.load("Roszman1").description == "y = b1 - b2*x - arctan[b3/(x-b4)]/pi"


def test_enso_description_joins_continuation_lines():
    description = nist.load("ENSO").description

    assert description.startswith("y = b1 + b2*cos( 2*pi*x/12 )")
    assert description.endswith("b9*sin( 2*pi*x/b7 )")


# ---------------------------------------------------------------------------
# Names, difficulty and loading
# ---------------------------------------------------------------------------


def test_names_cover_every_data_file():
    file_names = {path.stem for path in nist.DATA_DIR.glob("*.dat")}

    assert len(nist.NAMES) == 27
    assert set(nist.NAMES) == file_names


def test_names_are_ordered_by_file_difficulty():
    rank = {"Lower": 0, "Average": 1, "Higher": 2}
    ranks = []
    for name in nist.NAMES:
        match = re.search(r"(Lower|Average|Higher) Level of Difficulty", _file_text(name))
        assert match is not None, name
        ranks.append(rank[match.group(1)])

    assert ranks == sorted(ranks)
    assert [ranks.count(level) for level in range(3)] == [8, 11, 8]


@pytest.mark.parametrize("name", nist.NAMES)
def test_difficulty_matches_file(name):
    match = re.search(r"(Lower|Average|Higher) Level of Difficulty", _file_text(name))
    assert match is not None

    assert nist.load(name).difficulty == match.group(1).lower()


def test_load_rejects_unknown_name():
    with pytest.raises(ValueError) as error:
        nist.load("misra1a")

    message = str(error.value)
    assert "unknown NIST StRD problem 'misra1a'" in message
    assert "Valid names are: Misra1a, Chwirut2," in message
    assert message.endswith("Rat43, Bennett5")


def test_load_returns_cached_instance():
    assert nist.load("Rat42") is nist.load("Rat42")


def test_load_all_follows_names_order():
    assert [problem.name for problem in nist.load_all()] == list(nist.NAMES)


def test_residual_accepts_numpy_and_jax_namespaces():
    problem = nist.load("BoxBOD")
    b = problem.starts[1]

    numpy_residual = problem.residual(b, xp=np)
    jax_residual = problem.residual(jnp.asarray(b))

    assert isinstance(numpy_residual, np.ndarray)
    np.testing.assert_allclose(np.asarray(jax_residual), numpy_residual, rtol=1e-14)


# ---------------------------------------------------------------------------
# Log relative error
# ---------------------------------------------------------------------------


def test_log_relative_error_counts_matching_digits():
    lre = nist.log_relative_error(1.0000001, 1.0)

    assert lre == pytest.approx(7.0, abs=1e-6)


def test_log_relative_error_is_per_parameter():
    lre = nist.log_relative_error([1.01, 2.0002], [1.0, 2.0])

    np.testing.assert_allclose(lre, [2.0, 4.0], atol=1e-9)


def test_log_relative_error_exact_match_gives_15():
    lre = nist.log_relative_error([3.5, -2.0], [3.5, -2.0])

    np.testing.assert_array_equal(lre, [15.0, 15.0])


def test_log_relative_error_uses_absolute_error_at_zero():
    lre = nist.log_relative_error(1e-5, 0.0)

    assert lre == pytest.approx(5.0)


def test_log_relative_error_clips_to_zero():
    lre = nist.log_relative_error([50.0, np.nan, np.inf], [1.0, 1.0, 1.0])

    np.testing.assert_array_equal(lre, [0.0, 0.0, 0.0])
