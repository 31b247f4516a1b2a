"""scipy.optimize.curve_fit's interface on top of `svensolve.least_squares`.

The model ``f(xdata, *params)`` may be written with numpy or with
jax.numpy. `least_squares` differentiates a jax.numpy model exactly and a
numpy one by finite differences. The covariance comes from
`Result.covariance`, so a rank-deficient Jacobian gives finite values and a
warning that names the non-identifiable directions.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.scipy.linalg
import numpy as np
import scipy.linalg

from svensolve.api import least_squares
from svensolve.bounds import feasible_start

METHODS = (None, "sven")
NAN_POLICIES = (None, "raise", "omit")


def curve_fit(
    f: Callable,
    xdata,
    ydata,
    p0=None,
    sigma=None,
    absolute_sigma: bool = False,
    check_finite: bool | None = None,
    bounds=(-np.inf, np.inf),
    method: str | None = None,
    jac=None,
    *,
    full_output: bool = False,
    nan_policy: str | None = None,
    **kwargs,
):
    """Fit ``f(xdata, *params)`` to ``ydata`` by nonlinear least squares.

    Minimizes the sum of squares of ``(f(xdata, *params) - ydata) / sigma``
    with `svensolve.least_squares`, with the arguments and results of
    ``scipy.optimize.curve_fit`` (scipy 1.17).

    Parameters
    ----------
    f : callable
        ``f(xdata, *params)`` returning one model value per entry of `ydata`,
        written with numpy or jax.numpy.
    xdata : array_like or object
        Passed to `f` unchanged, except that a list, tuple or ndarray is
        converted to a float64 array, as in scipy. Its shape is not checked,
        because only the model output must match `ydata`.
    ydata : array_like, shape (n,)
        Observations, converted to float64.
    p0 : array_like, shape (p,), optional
        Start point. Default: ones, one per positional parameter of `f` after
        the first (found by `inspect`, so ``f(x, *b)`` needs `p0`). With
        `bounds`, as in scipy, the middle of each finite interval, 1 inside a
        one-sided bound, and 1 for a free parameter.
    sigma : None, scalar, array of shape (n,) or (n, n)
        Standard deviations of `ydata` (scalar or 1-D), so the residuals are
        divided by them. A 2-D `sigma` is the covariance matrix of `ydata`:
        the residuals are whitened with its Cholesky factor ``L``
        (``sigma = L L^T``) by solving ``L w = f - y``, as scipy does.
    absolute_sigma : bool
        True when `sigma` contains the true standard deviations, so `pcov`
        is not scaled by the reduced chi-square.
    check_finite : bool, optional
        Raise ValueError if `ydata` or an array `xdata` contains NaN or inf.
        Default: True unless `nan_policy` is given (scipy 1.17's rule).
    bounds : 2-tuple or `scipy.optimize.Bounds`
        Box constraints on the parameters, passed to `least_squares`.
    method : {None, "sven"}
        Both select the Sven solver.
    jac : callable, str or None
        ``jac(xdata, *params)`` returning the (n, p) Jacobian of `f` (it is
        divided by `sigma` here), or a finite-difference scheme
        ("2-point", "3-point") for `least_squares`. None differentiates a
        jax.numpy `f` exactly and a numpy `f` by 2-point differences.
    full_output : bool
        Also return `infodict`, `mesg` and `ier`.
    nan_policy : {None, "raise", "omit"}
        Used when `check_finite` is False: "raise" rejects NaN in the data and
        "omit" drops the observations that contain NaN, in `xdata`'s last axis
        (scipy's layout) and in `ydata`, with their entries of `sigma`.
    **kwargs
        Passed to `svensolve.least_squares` (for example ``max_nfev``,
        ``xtol``, ``rank``). scipy's ``maxfev`` is renamed to ``max_nfev``.

    Returns
    -------
    popt : np.ndarray, shape (p,)
        Best-fit parameters.
    pcov : np.ndarray, shape (p, p)
        Covariance of `popt` from `Result.covariance`: the inverse of
        ``J^T J`` of the whitened residuals, scaled by the reduced
        chi-square unless `absolute_sigma`. It is finite, also for a
        rank-deficient Jacobian, and for n <= p it is left unscaled.
    infodict : dict
        With `full_output`: ``nfev`` (residual evaluations, without those
        spent on finite differences) and ``fvec`` (the whitened residuals
        at `popt`).
    mesg : str
        With `full_output`: the solver's message.
    ier : int
        With `full_output`: the solver's status; 1 to 4 mean convergence.

    Raises
    ------
    ValueError
        For invalid data, `sigma`, `p0`, `method` or `nan_policy`; the
        message names the argument and the value seen.
    RuntimeError
        "Optimal parameters not found: ..." when the solve does not converge.

    Warns
    -----
    OptimizeWarning
        When a parameter direction is not identifiable or n <= p (see
        `Result.covariance`).
    """
    _check_method(method)
    if "args" in kwargs:
        raise ValueError("'args' is not a supported keyword argument; bind extra arguments in f")
    _rename_maxfev(kwargs)

    default_start = p0 is None
    p0, names = _start_point(f, p0)
    if default_start and bounds is not None:
        p0 = feasible_start(bounds, p0.size)
    check_finite = nan_policy is None if check_finite is None else check_finite
    xdata, ydata, sigma = _prepare_data(xdata, ydata, sigma, check_finite, nan_policy)
    whitening = _whitening(sigma, ydata.size)
    _check_model_output(f, xdata, ydata, p0)

    residual = _residual_function(f, xdata, ydata, whitening)
    result = least_squares(
        residual, p0, jac=_residual_jacobian(jac, xdata, whitening), bounds=bounds, **kwargs
    )
    if not result.success:
        raise RuntimeError(f"Optimal parameters not found: {result.message}")

    popt = np.array(result.x, dtype=np.float64)
    pcov = result.covariance(absolute_sigma, names=names)
    if not full_output:
        return popt, pcov
    infodict = {"nfev": result.nfev, "fvec": np.asarray(result.fun)}
    return popt, pcov, infodict, result.message, int(result.status)


def _check_method(method) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be None or 'sven', got {method!r}")


def _rename_maxfev(kwargs: dict) -> None:
    """scipy's curve_fit takes leastsq's ``maxfev``; least_squares calls it ``max_nfev``."""
    if "maxfev" not in kwargs:
        return
    if "max_nfev" in kwargs:
        raise ValueError("give either maxfev or max_nfev, not both")
    kwargs["max_nfev"] = kwargs.pop("maxfev")


def _start_point(f: Callable, p0) -> tuple[np.ndarray, list[str] | None]:
    """p0 as float64 (ones by default) and the parameter names from f's signature, if any."""
    names = _signature_names(f)
    if p0 is None:
        if names is None:
            raise ValueError(
                "cannot determine the number of fit parameters from f's signature "
                "(it needs positional parameters after xdata, not *args); pass p0"
            )
        return np.ones(len(names)), names

    p0 = np.atleast_1d(np.asarray(p0))
    if np.iscomplexobj(p0) or p0.ndim != 1:
        raise ValueError(f"p0 must be a real 1-D array, got {p0!r}")
    if names is not None and len(names) != p0.size:
        names = None
    return p0.astype(np.float64), names


def _signature_names(f: Callable) -> list[str] | None:
    """Names of f's positional parameters after the first, or None when there are none."""
    try:
        parameters = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    positional = [p.name for p in parameters if p.kind in kinds]
    return positional[1:] or None


def _prepare_data(xdata, ydata, sigma, check_finite: bool, nan_policy):
    """Convert the data as scipy does, check it, and drop NaN observations for "omit"."""
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be None, 'raise' or 'omit', got {nan_policy!r}")
    ydata = np.atleast_1d(np.asarray(ydata, dtype=np.float64))
    if ydata.ndim != 1:
        raise ValueError(f"ydata must be 1-D, got shape {ydata.shape}")
    if ydata.size == 0:
        raise ValueError("ydata must not be empty")
    # Like scipy, only arrays are converted: any other xdata goes to f as it is.
    if isinstance(xdata, list | tuple | np.ndarray):
        xdata = np.asarray(xdata, dtype=np.float64)

    if check_finite:
        _check_finite("ydata", ydata)
        if isinstance(xdata, np.ndarray):
            _check_finite("xdata", xdata)
    elif nan_policy is not None:
        xdata, ydata, sigma = _apply_nan_policy(xdata, ydata, sigma, nan_policy)
    return xdata, ydata, sigma


def _check_finite(name: str, values: np.ndarray) -> None:
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        first = tuple(int(i) for i in np.unravel_index(bad[0], values.shape))
        position = first[0] if len(first) == 1 else first
        raise ValueError(
            f"{name} must be finite when check_finite is True: {bad.size} non-finite "
            f"value(s), the first at index {position} is {values[first]}; remove them or "
            "pass check_finite=False with nan_policy='omit'"
        )


def _apply_nan_policy(xdata, ydata: np.ndarray, sigma, nan_policy: str):
    has_nan = np.isnan(ydata)
    if isinstance(xdata, np.ndarray) and xdata.ndim > 0:
        if xdata.shape[-1] != ydata.size:
            raise ValueError(
                f"nan_policy needs observations along xdata's last axis: xdata has shape "
                f"{xdata.shape}, but ydata has {ydata.size} values"
            )
        has_nan = has_nan | np.isnan(xdata).any(axis=tuple(range(xdata.ndim - 1)))
    if not has_nan.any():
        return xdata, ydata, sigma
    if nan_policy == "raise":
        raise ValueError(
            f"xdata or ydata contains NaN in {int(has_nan.sum())} observation(s), "
            "and nan_policy is 'raise'"
        )

    keep = ~has_nan
    if isinstance(xdata, np.ndarray) and xdata.ndim > 0:
        xdata = xdata[..., keep]
    if sigma is not None:
        sigma = np.asarray(sigma)
        if sigma.ndim == 1 and sigma.size == ydata.size:
            sigma = sigma[keep]
        elif sigma.ndim == 2 and sigma.shape == (ydata.size, ydata.size):
            sigma = sigma[np.ix_(keep, keep)]
    return xdata, ydata[keep], sigma


@dataclass(frozen=True)
class _Whitening:
    """Division by standard deviations (``scale``) or a triangular solve with ``cholesky``."""

    scale: np.ndarray | None = None
    cholesky: np.ndarray | None = None

    def apply(self, values):
        """Whiten a residual vector or the rows of a Jacobian, in numpy or under JAX."""
        if self.scale is not None:
            scale = self.scale if np.ndim(values) == 1 else self.scale[:, None]
            return values * scale
        if self.cholesky is None:
            return values
        # A traced jax.numpy model needs JAX's solver; a numpy one uses scipy's.
        if isinstance(values, jax.Array):
            return jax.scipy.linalg.solve_triangular(self.cholesky, values, lower=True)
        return scipy.linalg.solve_triangular(self.cholesky, values, lower=True)


def _whitening(sigma, n: int) -> _Whitening:
    """Check sigma and build the transform of the residuals that makes them unit-variance."""
    if sigma is None:
        return _Whitening()
    sigma = np.asarray(sigma, dtype=np.float64)
    if sigma.size == 1 or sigma.shape == (n,):
        if not np.all(np.isfinite(sigma)) or np.any(sigma <= 0):
            raise ValueError(
                f"sigma must hold finite standard deviations > 0, got min {np.min(sigma)} "
                f"and max {np.max(sigma)}"
            )
        # scipy multiplies by 1 / sigma; the same operation keeps results identical.
        return _Whitening(scale=np.broadcast_to(1.0 / sigma.ravel(), (n,)).copy())
    if sigma.shape == (n, n):
        return _Whitening(cholesky=_cholesky_factor(sigma))
    raise ValueError(
        f"sigma must be a scalar, a 1-D array of length {n} (standard deviations) or an "
        f"({n}, {n}) covariance matrix, matching ydata; got shape {sigma.shape}"
    )


def _cholesky_factor(covariance: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(covariance)):
        raise ValueError("sigma, a covariance matrix, must be finite")
    try:
        return scipy.linalg.cholesky(covariance, lower=True)
    except np.linalg.LinAlgError as error:
        raise ValueError(
            f"sigma, a covariance matrix, must be positive definite; the Cholesky "
            f"factorization failed: {error}"
        ) from error


def _check_model_output(f: Callable, xdata, ydata: np.ndarray, p0: np.ndarray) -> None:
    """Evaluate f once at p0, so a length mismatch is reported with both shapes.

    As in scipy, an output that broadcasts against ydata (a constant model
    returning a scalar) is accepted.
    """
    shape = np.shape(f(xdata, *p0))
    try:
        fits = np.broadcast_shapes(shape, ydata.shape) == ydata.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"f(xdata, *p0) returned shape {shape}, but ydata has shape {ydata.shape} "
            f"(xdata has shape {np.shape(xdata)}); f must return one value per entry of "
            "ydata, so check that xdata and ydata belong together"
        )


def _residual_function(f: Callable, xdata, ydata: np.ndarray, whitening: _Whitening):
    def residual(params):
        return whitening.apply(f(xdata, *params) - ydata)

    return residual


def _residual_jacobian(jac, xdata, whitening: _Whitening):
    """Wrap a callable jac so it returns the whitened residual Jacobian; pass others unchanged."""
    if not callable(jac):
        return jac

    def residual_jacobian(params):
        return whitening.apply(np.asarray(jac(xdata, *params), dtype=np.float64))

    return residual_jacobian
