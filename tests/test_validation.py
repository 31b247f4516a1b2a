"""Bad input gets a clear error that names the argument or condition and the value."""

import sys
import warnings

import jax.numpy as jnp
import numpy as np
import pytest

import svensolve as sv


def test_nonfinite_residual_at_start_names_condition_and_point():
    points = jnp.array([[0.0], [1.0], [2.0]])
    condition = sv.Condition("pde", lambda p, x: p[0] / x[0], points=points)
    good = sv.Condition("data", lambda p, x: p[0] - x[0], points=points)

    with pytest.raises(ValueError, match=r"'pde'.*point 0.*\[0\.\]"):
        sv.minimize(sv.Problem([good, condition]), jnp.array([1.0]))


@pytest.mark.parametrize("path", ["dense", "streamed"])
def test_nonfinite_jacobian_names_condition_and_point(path):
    # sqrt(|p x|) is finite at x = 0, but its derivative there is 0 / 0.
    points = jnp.array([[1.0], [2.0], [0.0], [3.0]])
    rooted = sv.Condition("root", lambda p, x: jnp.sqrt(jnp.abs(p[0] * x[0])) - 1.0,
                          points=points)
    data = sv.Condition("data", lambda p, x: p[0] - x[0], points=points)

    with pytest.raises(ValueError, match=r"'root' has a non-finite Jacobian.*point 2: \[0\.\]"):
        sv.minimize(sv.Problem([data, rooted]), jnp.array([1.0]), jacobian=path)


def test_nonfinite_params_name_leaf_and_index():
    params = {"w": jnp.ones((2, 3)).at[1, 2].set(jnp.nan), "b": jnp.zeros(3)}
    problem = sv.Problem([sv.Condition("fit", lambda p: p["w"].sum(axis=0) + p["b"])])

    with pytest.raises(ValueError, match=r"params\['w'\] has 1 non-finite values, the first "
                                         r"nan at index \(1, 2\)"):
        sv.minimize(problem, params)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nonfinite_scalar_param_is_named(value):
    t = np.linspace(0.0, 4.0, 30)

    def fit(params):
        return params["a"] * jnp.exp(-params["b"] * t) - 3.0 * np.exp(-0.7 * t)

    with pytest.raises(ValueError, match=rf"params\['b'\] is {value}; the start must be finite"):
        sv.minimize(fit, {"a": 1.0, "b": value})


def test_infinite_residual_in_least_squares_is_an_error():
    with pytest.raises(ValueError, match="non-finite residual"):
        sv.least_squares(lambda x: jnp.array([jnp.inf, x[0], x[1]]), np.ones(2))


def test_two_dimensional_output_is_rejected():
    with pytest.raises(ValueError, match="at most a 1-D array"):
        sv.least_squares(lambda x: jnp.ones((2, 2)) * x[0], np.ones(1))


@pytest.mark.parametrize(
    "fun, pattern",
    [(lambda x: {"r": x - 1.0}, "got dict"), (lambda x: None, "got NoneType: None")],
)
def test_output_without_array_is_rejected(fun, pattern):
    with pytest.raises(TypeError, match=f"fun must return a 1-D array of residuals, {pattern}"):
        sv.least_squares(fun, np.ones(2))


def test_numpy_fun_returning_none_is_rejected():
    def fun(b):
        np.exp(-b)  # the return statement is missing

    with pytest.raises(TypeError, match="fun must return a 1-D array of residuals, got NoneType"):
        sv.least_squares(fun, np.ones(2))


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"rank": 0}, ValueError, "rank must be >= 1, got 0"),
        ({"rank": 2.5}, TypeError, "rank must be an integer"),
        ({"rtol": 1.5}, ValueError, r"rtol must be in \[0, 1\)"),
        ({"lr": -1.0}, ValueError, "lr must be finite and > 0"),
        ({"ftol": -1e-3}, ValueError, "ftol must be"),
        ({"control": "newton"}, ValueError, "control must be .auto. or one of"),
        ({"time_limit": 0}, ValueError, "time_limit must be > 0"),
        ({"max_nfev": 0}, ValueError, "max_nfev must be >= 1"),
        ({"callback": 3}, TypeError, "callback must be callable"),
    ],
)
def test_bad_options_are_named(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        sv.least_squares(lambda x: x - 1.0, np.zeros(2), **kwargs)


def test_complex_x0_is_rejected():
    with pytest.raises(ValueError, match="x0 must be real"):
        sv.least_squares(lambda x: x, np.array([1 + 1j]))


def test_matrix_x0_is_rejected():
    with pytest.raises(ValueError, match="x0 must have at most 1 dimension"):
        sv.least_squares(lambda x: x.ravel(), np.ones((2, 2)))


def test_integer_and_complex_params_are_named():
    with pytest.raises(TypeError, match=r"params\['w'\] has dtype int"):
        sv.minimize(lambda p: p["w"] * 1.0, {"w": jnp.array([1, 2])})
    with pytest.raises(TypeError, match=r"params\[0\] is complex"):
        sv.minimize(lambda p: jnp.abs(p[0]), [jnp.array([1j])])


def test_empty_problem_and_empty_params_are_errors():
    with pytest.raises(ValueError, match="at least one Condition"):
        sv.Problem([])
    with pytest.raises(ValueError, match="params has no arrays"):
        sv.minimize(lambda p: jnp.zeros(1), {})


def test_condition_that_ignores_params_warns():
    constant = sv.Condition("constant", lambda p, x: x[0], points=jnp.ones((3, 1)))
    used = sv.Condition("used", lambda p, x: p[0] - x[0], points=jnp.ones((3, 1)))

    with pytest.warns(RuntimeWarning, match="'constant' does not depend on the parameters"):
        sv.minimize(sv.Problem([used, constant]), jnp.array([0.0]))


def test_unsupported_arguments_raise_not_implemented():
    with pytest.raises(NotImplementedError, match="diff_step"):
        sv.least_squares(lambda x: x, np.ones(1), diff_step=1e-3)


def test_bad_jacobian_path_and_memory_limit_are_named():
    with pytest.raises(ValueError, match="jacobian must be one of .* got 'sparse'"):
        sv.minimize(lambda p: p, jnp.ones(1), jacobian="sparse")
    with pytest.raises(ValueError, match="memory_limit must be >= 1, got -5"):
        sv.minimize(lambda p: p, jnp.ones(1), memory_limit=-5)


def test_condition_points_as_nested_list_suggest_array():
    with pytest.raises(ValueError, match=r"got shapes \[\(\), \(\)\]; points is read as a "
                                         r"pytree of single numbers.*np\.asarray\(points\)"):
        sv.Condition("data", lambda p, x: p[0] - x[0], points=[[1.0], [2.0]])


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes need Python 3.11")
@pytest.mark.parametrize("batched", [False, True])
def test_trace_error_names_condition(batched):
    def interior(params, x):
        return params["a"] * x[..., 0] - 1.0

    def boundary(params, x):
        return params["a"] @ jnp.ones(5)  # params["a"] has 3 entries

    problem = sv.Problem([
        sv.Condition("interior", interior, points=np.linspace(0, 1, 5)[:, None]),
        sv.Condition("boundary", boundary, points=np.zeros((2, 1)), batched=batched),
    ])
    with pytest.raises(TypeError) as caught:
        sv.minimize(problem, {"a": jnp.ones(3)}, progress=False)
    notes = "\n".join(getattr(caught.value, "__notes__", []))
    assert "condition 'boundary'" in notes
    assert ("shapes [(2, 1)]" if batched else "shapes [(1,)]") in notes


@pytest.mark.parametrize("fun", [
    lambda b: b * (1 + 1j),  # traced by JAX
    lambda b: np.asarray(b) * (1 + 1j),  # plain numpy: finite differences
], ids=["jax", "numpy"])
def test_complex_residuals_are_rejected(fun):
    with pytest.raises(TypeError, match="real .*residuals, got dtype complex128"):
        sv.least_squares(fun, [5.0, 7.0])


@pytest.mark.parametrize("fun, dtype", [
    (lambda b: b > 0.5, "bool"),  # traced by JAX
    (lambda b: np.array(["a", "b"]), "<U1"),  # plain numpy
], ids=["jax-bool", "numpy-strings"])
def test_non_numeric_residuals_are_rejected(fun, dtype):
    with pytest.raises(TypeError, match=f"real .*residuals, got dtype {dtype}$"):
        sv.least_squares(fun, [5.0, 7.0])


def test_boolean_condition_is_rejected():
    problem = sv.Problem([sv.Condition("inside", lambda p, x: x[0] < p["r"],
                                       points=np.linspace(0.0, 1.0, 5)[:, None])])
    with pytest.raises(TypeError, match="condition 'inside' must return real .* got dtype bool$"):
        sv.minimize(problem, {"r": 0.5}, progress=False)


def test_numpy_residual_changing_length_is_an_error():
    t = np.linspace(0, 4, 20)
    y = 3.0 * np.exp(-0.7 * t)
    calls = [0]

    def fun(b):
        calls[0] += 1
        r = b[0] * np.exp(-b[1] * t) - y
        return r[:5] if calls[0] > 10 else r

    with pytest.raises(ValueError, match="fun returned 5 residuals, but 20 at x0") as caught:
        sv.least_squares(fun, [1.0, 0.1])
    assert caught.value.best_result.fun.shape == (20,)


def test_minimize_x_scale_is_checked_and_applied():
    def rosenbrock(params):
        a = params["a"]
        return jnp.array([a[0] - 1.0, 10.0 * (a[1] - a[0] ** 2)])

    start = {"a": jnp.array([-1.2, 1.0])}
    for x_scale in (1.0, [1.0, 2.0]):
        result = sv.minimize(rosenbrock, start, x_scale=x_scale, progress=False)
        np.testing.assert_allclose(result.x, [1.0, 1.0], rtol=1e-10)
    with pytest.raises(ValueError, match=r"of shape \(2,\), got \[1.0, 2.0, 3.0\]"):
        sv.minimize(rosenbrock, start, x_scale=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="finite and > 0.*got -1.0"):
        sv.minimize(rosenbrock, start, x_scale=-1.0)
    for bad in (True, {"a": jnp.ones(2)}, "2.0x"):
        with pytest.raises((TypeError, ValueError), match="x_scale must be 'auto', 'jac', 'none'"):
            sv.minimize(rosenbrock, start, x_scale=bad)


def test_condition_weight_array_is_named():
    with pytest.raises(TypeError, match=r"'data': weight must be one number, got array"):
        sv.Condition("data", lambda p, x: p[0] - x[0], points=np.ones((3, 1)),
                     weight=np.array([1.0, 2.0]))


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes need Python 3.11")
def test_one_dimensional_points_get_a_hint():
    problem = sv.Problem([
        sv.Condition("data", lambda p, x: p[0] * x[0] - 1.0, points=np.linspace(0, 1, 10)),
    ])
    with pytest.raises(IndexError) as caught:
        sv.minimize(problem, jnp.ones(1), progress=False)
    assert "pass points[:, None]" in "\n".join(caught.value.__notes__)


def test_pointwise_fn_may_return_a_list():
    x = np.linspace(0, 1, 10)
    problem = sv.Problem([
        sv.Condition("pair", lambda p, point: [p[0] * point[0] - 1.0, p[0] - 2.0],
                     points=x[:, None]),
    ])
    result = sv.minimize(problem, jnp.ones(1), progress=False)
    # Normal equation of sum (p x - 1)^2 + sum (p - 2)^2 over the 10 points.
    expected = (np.sum(x) + 2.0 * x.size) / (np.sum(x**2) + x.size)
    np.testing.assert_allclose(result.x, [expected], rtol=1e-12)


@pytest.mark.parametrize("fn", [
    lambda p, x: jnp.sum(p[0] * x),  # one residual for 10 points
    lambda p, x: p[0] * jnp.ones(3),  # three
])
def test_batched_residual_count_must_fit_points(fn):
    problem = sv.Problem([sv.Condition("data", fn, points=np.ones((10, 1)), batched=True)])
    with pytest.raises(ValueError, match=r"'data': batched fn returned (1 residual|3 residuals) "
                                         r"for 10 points"):
        sv.minimize(problem, jnp.ones(1), progress=False)


def test_condition_points_with_mismatched_rows_are_rejected():
    with pytest.raises(ValueError, match="same leading axis"):
        sv.Condition("data", lambda p, xy: p[0], points=(jnp.ones(3), jnp.ones(4)))
    with pytest.raises(ValueError, match="weight must be finite and >= 0"):
        sv.Condition("data", lambda p, x: p[0], points=jnp.ones(3), weight=-1.0)


def test_overflowing_start_cost_raises():
    def residual(x):
        return jnp.stack([1e160 * (x[0] - 1.0), x[1] - 1.0])

    with pytest.raises(ValueError, match=r"overflows float64 \(largest \|r\| = 1e\+160\)"):
        sv.least_squares(residual, [2.0, 3.0])


def test_float64_data_with_float32_params_warns():
    points = np.linspace(0.0, 1.0, 30)[:, None]  # float64

    def fit(params, x):
        return params["a"] * jnp.sin(params["w"] * x[0]) - jnp.sin(3.0 * x[0])

    problem = sv.Problem([sv.Condition("fit", fit, points=points)])
    params = {"a": np.float32(1.0), "w": np.float32(2.5)}
    with pytest.warns(RuntimeWarning, match="condition 'fit' .float64. returns wider floats "
                                            "than the float32 parameters"):
        sv.minimize(problem, params, progress=False)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # float32 points: no warning
        problem32 = sv.Problem([sv.Condition("fit", fit, points=points.astype(np.float32))])
        sv.minimize(problem32, params, progress=False)


def test_warnings_point_at_the_calling_line():
    # The same checks run at different depths under each entry point; every
    # warning must name the caller's file, not a module of svensolve.
    t = np.linspace(0.0, 1.0, 20)
    calls = {
        "least_squares": lambda: sv.least_squares(
            lambda b: b[0] * jnp.exp(-b[1] * t) - np.exp(-t), np.ones(2, np.float32)),
        "minimize": lambda: sv.minimize(
            sv.Problem([sv.Condition("fit", lambda p: p["a"] - 1.0),
                        sv.Condition("constant", lambda p: jnp.ones(2))]),
            {"a": 0.0}, progress=False),
        "curve_fit": lambda: sv.curve_fit(lambda x, a, b: (a + b) * x, t, 2.0 * t, p0=[1.0, 0.5]),
    }
    for name, call in calls.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        places = [(w.filename, w.lineno, str(w.message)[:60]) for w in caught]
        assert caught, name
        assert all(w.filename == __file__ for w in caught), (name, places)


def test_condition_inputs_that_are_no_numbers_are_named():
    points = np.linspace(0.0, 1.0, 5)[:, None]
    with pytest.raises(TypeError, match="condition 'c': points must be arrays of real numbers, "
                                        "got 'abc'"):
        sv.Condition("c", lambda p, x: p["a"] * x[0], points="abc")

    integers = sv.Problem([sv.Condition("c", lambda p, x: 1, points=points)])
    with pytest.raises(TypeError, match="condition 'c' must return real .* got dtype int"):
        sv.minimize(integers, {"a": 1.0}, progress=False)

    fit = sv.Problem([sv.Condition("c", lambda p, x: p["w"] * x[0], points=points)])
    with pytest.raises(TypeError, match=r"params\['name'\] is 'net' \(str\)"):
        sv.minimize(fit, {"w": 1.0, "name": "net"}, progress=False)


def test_numpy_residual_in_minimize_points_to_least_squares():
    with pytest.raises(TypeError) as caught:
        sv.minimize(lambda p: np.asarray(p) - 1.0, np.zeros(3), progress=False)
    notes = "\n".join(getattr(caught.value, "__notes__", []))
    assert "use svensolve.least_squares" in notes


def test_all_zero_weights_are_rejected():
    with pytest.raises(ValueError, match="every condition has weight 0 .'a', 'b'."):
        sv.Problem([sv.Condition("a", lambda p: p, weight=0.0),
                    sv.Condition("b", lambda p: p - 1.0, weight=0)])


def test_nonpositive_f_scale_is_rejected():
    with pytest.raises(ValueError, match="condition 'a': f_scale must be finite and > 0, got -1"):
        sv.Condition("a", lambda p: p, f_scale=-1.0)
