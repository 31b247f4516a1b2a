"""Box constraints: exact solutions on bounds, scipy's active_mask, feasible iterates."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from jax.flatten_util import ravel_pytree

import svensolve as sv


def rosenbrock(x):
    return jnp.array([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])


def test_rosenbrock_with_active_upper_bound_is_exact():
    seen = []

    result = sv.least_squares(rosenbrock, np.array([-1.2, 1.0]), bounds=([-2, -2], [0.5, 2]),
                              callback=lambda it: seen.append(it.x.copy()))

    assert result.success, result.message
    np.testing.assert_allclose(result.x, [0.5, 0.25], rtol=1e-12)
    assert result.x[0] == 0.5
    np.testing.assert_array_equal(result.active_mask, [1, 0])
    assert all(np.all(x <= [0.5, 2]) and np.all(x >= [-2, -2]) for x in seen)


def test_inactive_bounds_give_the_unconstrained_solution():
    result = sv.least_squares(rosenbrock, np.array([-1.2, 1.0]), bounds=([-5, -5], [5, 5]))

    np.testing.assert_allclose(result.x, [1.0, 1.0], rtol=1e-12)
    np.testing.assert_array_equal(result.active_mask, [0, 0])


@pytest.mark.parametrize("seed", range(5))
def test_bounded_linear_fit_matches_scipy_lsq_linear(seed):
    rng = np.random.default_rng(seed)
    matrix, rhs = rng.standard_normal((30, 6)), rng.standard_normal(30)
    lower, upper = -0.1 * np.ones(6), 0.1 * np.ones(6)
    reference = scipy.optimize.lsq_linear(matrix, rhs, bounds=(lower, upper), tol=1e-14)

    result = sv.least_squares(lambda x: matrix @ x - rhs, np.zeros(6), bounds=(lower, upper))

    assert result.success, result.message
    np.testing.assert_allclose(result.x, reference.x, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(result.cost, reference.cost, rtol=1e-12)
    np.testing.assert_array_equal(result.active_mask, reference.active_mask)


def test_start_on_a_bound_is_accepted():
    result = sv.least_squares(rosenbrock, np.array([0.5, 0.0]),
                              bounds=scipy.optimize.Bounds([-2, -2], [0.5, 2]))

    np.testing.assert_allclose(result.x, [0.5, 0.25], rtol=1e-12)


def test_bad_bounds_are_named():
    with pytest.raises(ValueError, match=r"x0 is infeasible: x0\[0\] = 3.0"):
        sv.least_squares(rosenbrock, np.array([3.0, 1.0]), bounds=(-2, 2))
    with pytest.raises(ValueError, match=r"lb\[1\] = 2.0 and ub\[1\] = 1.0"):
        sv.least_squares(rosenbrock, np.array([0.0, 0.0]), bounds=([-1, 2], [1, 1]))
    with pytest.raises(ValueError, match=r"lb must be a number or an array of shape \(2,\)"):
        sv.least_squares(rosenbrock, np.array([0.0, 0.0]), bounds=(np.zeros(3), 1))


# minimize with bounds on pytree parameters, checked against scipy's "trf" on
# the flattened vector (jax.flatten_util.ravel_pytree order: sorted dict keys).

TIMES = np.linspace(0.0, 4.0, 40)
OBSERVED = 3.0 * np.exp(-0.7 * TIMES) + 0.5 * np.exp(-3.0 * TIMES) + 0.2
START = {
    "amplitude": jnp.array([1.0, 1.0]),
    "rate": jnp.array([0.5, 2.0]),
    "offset": jnp.array(0.0),
}


def model(params, times):
    amplitude, rate = params["amplitude"], params["rate"]
    decays = amplitude[0] * jnp.exp(-rate[0] * times) + amplitude[1] * jnp.exp(-rate[1] * times)
    return decays + params["offset"]


def two_exponentials(params):
    return model(params, TIMES) - OBSERVED


def data_problem():
    """The same residuals as a Problem with one data condition (scaled by 1/sqrt(40))."""

    def data(params, point):
        time, observed = point
        return model(params, time) - observed

    return sv.Problem([sv.Condition("data", data, points=(TIMES, OBSERVED))])


def scipy_trf(residual, lower, upper):
    """Solve with scipy's bounded trf on the flat vector, exact Jacobian and tight tolerances."""
    x0, unravel = ravel_pytree(START)
    jacobian = jax.jit(jax.jacfwd(lambda x: residual(unravel(x))))
    return scipy.optimize.least_squares(
        lambda x: np.asarray(residual(unravel(x))), np.asarray(x0),
        jac=lambda x: np.asarray(jacobian(x)), bounds=(lower, upper), method="trf",
        ftol=1e-15, xtol=1e-15, gtol=1e-15,
    )


INF = np.inf
# Each case: bounds as passed to minimize, and the same bounds on the flat
# vector [amplitude[0], amplitude[1], offset, rate[0], rate[1]].
BOUND_FORMS = {
    "pytree pair": (
        ({"amplitude": 0.0, "rate": None, "offset": 0.0},
         {"amplitude": [2.5, INF], "rate": 10.0, "offset": None}),
        ([0, 0, 0, -INF, -INF], [2.5, INF, INF, 10, 10]),
    ),
    "scalar pair": ((0.0, 2.5), ([0] * 5, [2.5] * 5)),
    "one side None": ((None, {"amplitude": [2.5, 2.5], "rate": INF, "offset": 0.1}),
                      ([-INF] * 5, [2.5, 2.5, 0.1, INF, INF])),
    "scipy Bounds": (
        scipy.optimize.Bounds(0, [10, 10, 10, 10, 2.5]),
        ([0] * 5, [10, 10, 10, 10, 2.5]),
    ),
    # scipy stores Bounds(0.0, 2.5) as arrays of shape (1,), which apply to every entry.
    "scipy Bounds of scalars": (scipy.optimize.Bounds(0.0, 2.5), ([0] * 5, [2.5] * 5)),
}


@pytest.mark.parametrize("form", BOUND_FORMS)
def test_minimize_pytree_bounds_match_scipy_trf(form):
    bounds, (lower, upper) = BOUND_FORMS[form]
    reference = scipy_trf(two_exponentials, lower, upper)
    seen = []

    result = sv.minimize(two_exponentials, START, bounds=bounds,
                         callback=lambda it: seen.append(it.x.copy()))

    assert result.success, result.message
    assert reference.success, reference.message
    np.testing.assert_allclose(result.x, reference.x, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(result.cost, reference.cost, rtol=1e-9)
    np.testing.assert_array_equal(result.active_mask, reference.active_mask)
    assert np.any(reference.active_mask != 0), "the case should have an active bound"
    np.testing.assert_allclose(result.params["amplitude"], reference.x[:2], rtol=1e-6)
    assert all(np.all(x >= np.array(lower)) and np.all(x <= np.array(upper)) for x in seen)


def test_minimize_problem_bounds_match_scipy_trf():
    problem = data_problem()
    lower, upper = [0, 0, 0, -INF, -INF], [2.5, INF, INF, INF, INF]
    reference = scipy_trf(problem.residual, lower, upper)

    result = sv.minimize(problem, START, bounds=({"amplitude": 0.0, "rate": None, "offset": 0.0},
                                                 {"amplitude": [2.5, INF], "rate": None,
                                                  "offset": None}))

    assert result.success, result.message
    np.testing.assert_allclose(result.x, reference.x, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(result.active_mask, reference.active_mask)
    assert result.x[0] == 2.5


def test_minimize_infinite_bounds_give_unconstrained_solution():
    reference = scipy_trf(two_exponentials, -INF, INF)

    for bounds in [(None, None), (-INF, INF), scipy.optimize.Bounds(-INF, INF)]:
        result = sv.minimize(two_exponentials, START, bounds=bounds)

        np.testing.assert_allclose(result.x, reference.x, rtol=1e-6)
        np.testing.assert_array_equal(result.active_mask, np.zeros(5))


def test_minimize_start_on_bound_is_accepted():
    start = {**START, "amplitude": jnp.array([2.5, 1.0])}

    result = sv.minimize(two_exponentials, start, bounds=(0.0, {"amplitude": 2.5, "rate": None,
                                                                "offset": None}))

    assert result.success, result.message
    assert result.x[0] == 2.5
    assert result.active_mask[0] == 1


def test_minimize_bounds_broadcast_over_matrix_leaf():
    # A (2, 3) matrix with one upper bound per column: the solution clips the
    # least-squares values [[1, 2, 3], [4, 5, 6]] at [2.5, 2.5, 5] per column.
    target = np.arange(1.0, 7.0).reshape(2, 3)
    params = {"matrix": jnp.zeros((2, 3))}

    result = sv.minimize(lambda p: (p["matrix"] - target).ravel(), params,
                         bounds=(None, {"matrix": [2.5, 2.5, 5.0]}))

    np.testing.assert_allclose(result.params["matrix"], [[1, 2, 3], [2.5, 2.5, 5]], rtol=1e-12)


@pytest.mark.parametrize(
    "bounds, message",
    [
        (({"amplitude": 0.0, "rate": 0.0}, INF),
         r"bounds: lower must be .* structure of params; params\['offset'\] has no entry in lower"),
        ((0.0, {"amplitude": 9.0, "rate": 9.0, "offset": 9.0, "scale": 9.0}),
         r"upper\['scale'\] matches no leaf of params"),
        ((0.0, {"amplitude": [1.0, 2.0, 3.0], "rate": 9.0, "offset": 9.0}),
         r"bounds: upper\['amplitude'\] has shape \(3,\), which does not broadcast to the "
         r"shape \(2,\) of params\['amplitude'\]"),
        (({"amplitude": [0.0, 3.0], "rate": 0.0, "offset": 0.0}, 2.0),
         r"bounds: each lower bound must be below its upper bound, got lower = 3.0 and "
         r"upper = 2.0 for params\['amplitude'\]\[1\] \(x\[1\]\)"),
        ((1.0, 1.0), r"got lower = 1.0 and upper = 1.0 for params\['amplitude'\]\[0\]"),
        ((0.0, {"amplitude": 9.0, "rate": [9.0, 1.5], "offset": 9.0}),
         r"params is infeasible: params\['rate'\]\[1\] \(x\[4\]\) = 2.0 is outside the "
         r"bounds \[0.0, 1.5\]"),
        ((np.nan, 1.0), r"bounds: lower contains NaN"),
        (("low", 1.0), r"bounds: lower must be numbers or None, got 'low'"),
        ([0.0, 1.0, 2.0], r"bounds must be None, a pair \(lower, upper\)"),
        (0.5, r"bounds must be None, a pair \(lower, upper\)"),
        (scipy.optimize.Bounds(np.zeros(4), np.ones(4)),
         r"bounds: lb must be a number or an array of shape \(5,\)"),
    ],
    ids=["missing-leaf", "extra-leaf", "leaf-shape", "lower-above-upper", "lower-equals-upper",
         "start-outside", "nan", "not-numbers", "not-a-pair", "scalar", "bounds-length"],
)
def test_minimize_invalid_bounds_raise(bounds, message):
    with pytest.raises(ValueError, match=message):
        sv.minimize(two_exponentials, START, bounds=bounds)


def test_active_bound_is_not_a_cut_direction():
    # Eckerle4 from NIST start 2 with b2 <= 3.88439: b2 is on its bound at the
    # solution, and the converged fit must report success, not status -8.
    from problems import nist

    problem = nist.load("Eckerle4")
    lower = np.full(3, -np.inf)
    upper = np.full(3, np.inf)
    upper[1] = 3.88439
    start = np.minimum(np.asarray(problem.starts[1], dtype=float), upper)  # on the bound
    result = sv.least_squares(lambda b: problem.residual(b, jnp), start, bounds=(lower, upper))
    expected = scipy.optimize.least_squares(
        lambda b: problem.residual(b, np), start, bounds=(lower, upper),
        method="trf", ftol=1e-15, xtol=1e-15, gtol=1e-15,
    )
    assert result.success, result.message
    assert result.active_mask[1] == 1
    assert result.cost == pytest.approx(expected.cost, rel=1e-9)
