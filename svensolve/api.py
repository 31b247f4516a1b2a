"""Front doors: `minimize` for pytrees and Problems, `least_squares` as scipy's drop-in."""

from __future__ import annotations

import logging
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from svensolve import evaluate
from svensolve.bounds import make_box, make_params_box
from svensolve.memory import parse_memory_limit
from svensolve.options import make_options
from svensolve.problem import Problem
from svensolve.result import Result
from svensolve.solve import solve

logger = logging.getLogger(__name__)



def minimize(
    residuals: Problem | Callable,
    params,
    method: str = "sven",
    rank: int | None = None,
    rtol: float | None = None,
    lr: float = 1.0,
    control: str = "auto",
    jacobian: str = "auto",
    max_iter: int | None = 1000,
    time_limit: float | None = None,
    callback: Callable | None = None,
    progress: bool | None = None,
    ftol: float | None = 1e-15,
    xtol: float | None = 1e-8,
    gtol: float | None = 1e-8,
    max_nfev: int | None = None,
    svd: str = "auto",
    x_scale: str = "auto",
    seed: int = 0,
    verbose: int = 0,
    bounds=None,
    loss: str | Callable = "linear",
    f_scale: float = 1.0,
    checkpoint: str | None = None,
    checkpoint_every: int | None = None,
    resume: str | None = None,
    memory_limit: int | float | str | None = None,
    resample: bool = False,
    param_fraction: float = 1.0,
    param_sampling: str = "entries",
) -> Result:
    """Minimize ``0.5 * ||r(params)||^2`` by Sven steps.

    Each step is ``-lr * V_k f(s) U_k^T r`` from the truncated SVD of the
    residual Jacobian J = U diag(s) V^T, keeping the ``rank`` largest singular
    values above ``rtol * s_max``; the step control chooses the damping or
    step length.

    Parameters
    ----------
    residuals : Problem or callable
        A `Problem`, or ``residuals(params)`` returning an array or a pytree
        of arrays (used unscaled, so the cost is scipy's).
    params : pytree of float arrays
        Start point: an array, or nested dicts, lists and tuples of arrays.
        float64 unless every leaf is float32.
    method : {"sven"}
    rank : int, optional
        Number of singular directions kept (k in the Sven paper, arXiv
        2604.01279); all by default.
    rtol : float, optional
        Singular values below ``rtol * s_max`` are dropped. Default: rounding
        level ``eps * max(n, p)`` when there are at least as many residuals as
        parameters, else ``max(1e-7, 10 * eps * max(n, p))``: 1e-7 in float64,
        near 1e-3 for a float32 PINN of 1,000 parameters. The line search on a
        dense J then also tries cutoffs 100, 10,000, ... times smaller, down
        to ``eps * max(n, p)``, at each step (see docs/solver.md; measured on
        the 2D Poisson PINN). A given rtol is the only cutoff.
    lr : float
        Step length of the ``"fixed"`` control (the paper's learning rate),
        and the longest length the line search tries first. The trust
        region ignores it and warns.
    control : {"auto", "trust-region", "line-search", "fixed"}
        How far to step; see `svensolve.control`. "auto" takes the trust
        region when n >= p (fits) and the grid line search when n < p
        (PINNs), the faster of the two on each kind in our measurements.
    jacobian : {"auto", "dense", "streamed", "gram", "matrix-free"}
        How J is formed. "dense" builds it whole; "streamed" builds and uses
        a block of rows at a time (pointwise conditions are split by
        points); "gram" is the streamed path factored through J J^T;
        "matrix-free" uses only JVPs and VJPs. "auto" takes "dense" while J
        and its working copies fit in ``memory_limit``, else "streamed", or
        "matrix-free" when a condition that cannot be split by points is
        too large. The choice and its reason are logged and stored in
        ``Result.jacobian_method``.
    memory_limit : int, float or str, optional
        Memory the Jacobian path may use: a number of bytes, or text with a
        unit such as ``"6GiB"``, ``"512MiB"`` or ``"2.5GB"``. KiB, MiB, GiB
        and TiB are powers of 1024, KB, MB, GB and TB powers of 1000, and
        case does not matter. By default half of the memory available at the
        start. A limit below what the rank-k factors and one row of J need
        raises ValueError.
    resample : bool
        Stochastic mode: before every iteration, conditions with a
        ``sampler`` draw fresh points (key ``fold_in(PRNGKey(seed), nit)``).
        The step control compares costs on the iteration's own sample, so
        every control works; the Sven paper uses ``control="fixed"`` with a
        learning rate ``lr``. The termination tests are off, so a budget
        (``max_iter``, ``time_limit``) ends the solve, and the result is the
        last iterate with its cost on the Problem's own points.
    param_fraction : float
        The Sven paper's memory option: each factorisation uses a random
        fraction of the parameters (drawn from ``seed`` and the iteration),
        and the step moves only those. On the dense path the SVD is of the
        chosen columns only; on the other paths the rest are masked. The
        ftol and xtol tests are off when the fraction is below 1.
    param_sampling : {"entries", "leaves"}
        Draw single parameters, or whole leaves of the params pytree (the
        weight matrix or bias of one layer, say).
    max_iter, max_nfev : int, optional
        Budgets of iterations (accepted or rejected steps) and of residual
        evaluations (a hard limit that counts every trial point).
    time_limit : float, optional
        Wall-clock budget in seconds, checked after each iteration. When it
        runs out just after a step is accepted, the solve ends without
        factoring J at the new point, so the overrun is at most one batch of
        trial residuals and one Jacobian.
    callback : callable, optional
        ``callback(iterate)`` after each iteration with a `svensolve.solve.Iterate`;
        returning True or raising StopIteration stops the solve.
    progress : bool, optional
        Show a progress bar; by default only when stderr is a terminal.
    ftol, xtol, gtol : float or None
        Termination tolerances with scipy's names (None switches a test
        off); values below the dtype's eps are raised to it. ftol bounds the
        relative cost reduction that the undamped Gauss-Newton step
        predicts; xtol bounds that step per parameter,
        ``|dx_i| <= xtol * (xtol + |x_i|)``; gtol bounds the largest cosine
        between r and a column of J, as scipy's "lm" method does. The
        default ftol is 1e-15 (scipy: 1e-8), because a cost converged to
        8 digits leaves parameters with only about 4 to 6, so by default
        xtol and gtol decide.
    svd : {"auto", "exact", "randomized", "single-pass", "krylov", "gram"}
        Factorisation of J. On the dense path "auto" is randomized when
        rank < min(n, p) / 4, else exact. On the streamed path "auto" is
        "gram" when the Gram matrix fits and no small rank is given, else
        "randomized"; "exact" means "gram" there, since J is never whole.
        "single-pass" is the randomized range finder without power
        iterations: on the streamed path it builds each row block of J once
        per step instead of twice, for a less accurate subspace.
    x_scale : {"auto", "jac", "none"}, float or array_like of shape (p,)
        "jac" scales each parameter by its Jacobian column norm (the running
        maximum, as MINPACK does), so the step does not depend on parameter
        units; "none" keeps the plain minimum-norm step. "auto" scales when
        there are at least as many residuals as parameters (data fits) and
        not otherwise (PINNs, where the minimum-norm step is the Sven update).
        Positive numbers are fixed characteristic scales, as in
        `least_squares`: one for all parameters, or one per entry in the
        order of ``jax.flatten_util.ravel_pytree(params)``.
    seed : int
        Seed of randomized factorisations.
    verbose : int
        0 silent, 1 a summary at the end, 2 one line per iteration.
    loss : {"linear", "soft_l1", "huber", "cauchy", "arctan"} or callable
        Robust loss with scipy's definitions, applied to every residual:
        the cost becomes ``0.5 * f_scale^2 * sum rho((r / f_scale)^2)`` and
        the step rescales residuals and Jacobian rows so it stays a
        least-squares step. A callable returns rho, rho' and rho'' of z as
        an array of shape (3, m). A `Condition` can set its own ``loss`` and
        ``f_scale``, which then replace these for its block.
    f_scale : float
        Residuals below ``f_scale`` count as inliers of the robust loss.
    bounds : None, pair (lower, upper), or scipy.optimize.Bounds
        Box constraints ``lower <= params <= upper``, elementwise. In a pair,
        ``lower`` and ``upper`` are each None (unbounded), a scalar for every
        parameter, or a pytree with the structure of ``params``. The leaves
        of such a pytree broadcast to the shapes of the parameter leaves, and
        a None leaf or +-inf leaves that side unbounded. For
        ``params = {"a": a, "w": w}``, ``bounds=({"a": 0.0, "w": None}, 1.0)``
        keeps ``0 <= a <= 1`` and ``w <= 1``. A ``scipy.optimize.Bounds``
        applies to the flattened vector, in the order of
        ``jax.flatten_util.ravel_pytree(params)``, with scalars or arrays of
        that vector's length. Each lower bound must be strictly below its
        upper bound. ``params`` may lie on a bound, but a start outside the
        bounds is a ValueError, as in `least_squares`. The solver treats
        bounds as `least_squares` does: it projects trial points onto the box
        and holds active parameters on their bound. ``result.active_mask``
        refers to the flattened vector.
    checkpoint : str, optional
        Path of an .npz file that receives the current point, the best point,
        the step control's state, the counters and the history when the
        solve ends (also on Ctrl-C, time limit or a failing callback) and,
        with ``checkpoint_every=N``, every N iterations. Each write goes to a
        temporary file that is then renamed, so a killed run leaves the last
        complete checkpoint.
    resume : str, optional
        Continue from a checkpoint. ``params`` gives the structure (and must
        have the same size); the values come from the file. With the same
        options, the resumed run reaches the same iterates as an
        uninterrupted one, bit for bit on the same machine. The counters
        continue too: ``max_iter``, ``max_nfev`` and ``time_limit`` count from
        the original start, so raise them to go further. A Problem whose
        residual at the saved point differs from the saved residual (the
        problem changed) raises ValueError.

    Returns
    -------
    Result
        ``params`` is the best point in the shape of the input; the other
        fields are described in `svensolve.result.Result`.
    """
    _check_method(method)
    params = _as_float_pytree(params)
    x_scale = _column_scaling(x_scale, sum(np.size(leaf) for leaf in jax.tree.leaves(params)))
    box = make_params_box(bounds, params)
    memory_limit = parse_memory_limit(memory_limit)
    options = make_options(
        rank=rank, rtol=rtol, lr=lr, control=control, svd=svd, ftol=ftol, xtol=xtol,
        gtol=gtol, max_nfev=max_nfev, max_iter=max_iter, time_limit=time_limit,
        callback=callback, progress=progress, verbose=verbose, seed=seed, x_scale=x_scale,
        checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume,
        loss=loss, f_scale=f_scale, box=box, jacobian=jacobian, memory_limit=memory_limit,
        resample=resample, param_fraction=param_fraction,
        param_leaves=_parameter_leaves(params, param_sampling),
    )
    if not isinstance(residuals, Problem):
        if not callable(residuals):
            raise TypeError(
                f"residuals must be a Problem or a callable, got {type(residuals).__name__}"
            )
        residuals = Problem.from_function(residuals)
    if resample and not residuals.resamplable:
        names = [c.name for c in residuals.conditions]
        raise ValueError(f"resample=True needs a condition with a sampler; none of {names} has one")
    evaluator, x0, unravel = evaluate.from_problem(
        residuals, params, jacobian, rank=rank, svd=svd, memory_limit=memory_limit
    )
    if verbose >= 1:
        print(f"Jacobian: {evaluator.choice.method} ({evaluator.choice.svd}); "
              f"{evaluator.choice.reason}")
    result = solve(evaluator, x0, options)
    result.params = unravel(jnp.asarray(result.x))
    _report(result, verbose)
    return result


def least_squares(
    fun: Callable,
    x0,
    jac=None,
    bounds=(-np.inf, np.inf),
    method: str = "sven",
    ftol: float | None = 1e-15,
    xtol: float | None = 1e-8,
    gtol: float | None = 1e-8,
    x_scale="auto",
    loss: str | Callable = "linear",
    f_scale: float = 1.0,
    diff_step=None,
    max_nfev: int | None = None,
    verbose: int = 0,
    args=(),
    kwargs=None,
    *,
    rank: int | None = None,
    rtol: float | None = None,
    lr: float = 1.0,
    control: str = "auto",
    max_iter: int | None = None,
    time_limit: float | None = None,
    callback: Callable | None = None,
    progress: bool | None = None,
    svd: str = "auto",
    seed: int = 0,
    checkpoint: str | None = None,
    checkpoint_every: int | None = None,
    resume: str | None = None,
) -> Result:
    """Solve ``min 0.5 * sum(fun(x)**2)`` with scipy.optimize.least_squares' interface.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args, **kwargs)`` returning a 1-D array of residuals.
        Written with ``jax.numpy``, it is compiled and differentiated
        exactly; written with plain numpy, J comes from finite differences.
    x0 : array_like, shape (p,)
        Start point; integers are converted to float64, float32 is kept.
    jac : {None, "2-point", "3-point"} or callable
        None uses JAX automatic differentiation when JAX can trace and
        differentiate ``fun``, else "2-point" (as scipy's default). A
        callable returns the (n, p) Jacobian.
    ftol, xtol, gtol, max_nfev, verbose, args, kwargs
        As in scipy. ``max_nfev`` counts every residual evaluation, not those
        spent on finite differences (None: ``max(1000, 100 * p)``; scipy's
        ``100 * p`` stops NIST Bennett5 short of 6 digits).
    x_scale : {"auto", "jac", "none"} or array_like of shape (p,)
        As in `minimize`, or scipy's characteristic scale of each parameter:
        the step is taken in the variables ``x / x_scale``; 1.0 means "none".
        The default is "auto" (scipy: 1.0), which scales columns for fits
        with n >= p.
    loss, f_scale
        As in scipy and `minimize`: "linear", "soft_l1", "huber", "cauchy",
        "arctan" or a callable.
    bounds : pair (lb, ub) or scipy.optimize.Bounds
        Box constraints with scipy's meaning: scalars or arrays of shape
        (p,), +-inf for none; ``x0`` may lie on a bound. Iterates are
        projected onto the box, and a parameter on a bound whose gradient
        points outwards is held there, so a solution on a bound is exact.
        ``res.active_mask`` is -1, 0 or 1 as in scipy.
    diff_step
        Only scipy's default (None) is accepted so far.
    method : {"sven"}
    rank, rtol, lr, control, max_iter, time_limit, callback, progress, svd, seed
        As in `minimize`.
    checkpoint, checkpoint_every, resume
        As in `minimize`.

    Returns
    -------
    Result
        With scipy's fields ``x, cost, fun, jac, grad, optimality, nfev,
        njev, nit, status, message, success``.
    """
    kwargs = {} if kwargs is None else dict(kwargs)
    _check_method(method)
    if diff_step is not None:
        raise NotImplementedError(f"diff_step is not supported yet, got {diff_step!r}")
    x0 = _as_float_vector(x0)
    box = make_box(bounds, x0)
    if max_nfev is None:
        max_nfev = max(1000, 100 * x0.size)
    options = make_options(
        rank=rank, rtol=rtol, lr=lr, control=control, svd=svd, ftol=ftol, xtol=xtol,
        gtol=gtol, max_nfev=max_nfev, max_iter=max_iter, time_limit=time_limit,
        callback=callback, progress=progress, verbose=verbose, seed=seed,
        x_scale=_column_scaling(x_scale, x0.size), checkpoint=checkpoint,
        checkpoint_every=checkpoint_every, resume=resume, loss=loss, f_scale=f_scale, box=box,
    )

    def bound_fun(x):
        return fun(x, *args, **kwargs)

    bound_jac = jac
    if callable(jac):
        # As in scipy, jac takes the same extra arguments as fun.
        def bound_jac(x):
            return jac(x, *args, **kwargs)

    evaluator = _least_squares_evaluator(bound_fun, x0, bound_jac, verbose)
    result = solve(evaluator, x0, options)
    _report(result, verbose)
    return result


def _least_squares_evaluator(fun, x0, jac, verbose):
    """Autodiff evaluator when ``fun`` traces with JAX, else numpy with ``jac``."""
    if jac is not None and jac not in evaluate.FINITE_DIFFERENCES and not callable(jac):
        raise ValueError(f"jac must be None, '2-point', '3-point' or a callable, got {jac!r}")
    if jac is None:

        def traced_fun(x):
            return jnp.asarray(fun(x))  # a list or tuple of numbers is an array too

        shape, reason = _traced_shape(fun, traced_fun, x0)
        failed_step = "traced"
        if reason is None:
            _check_vector_output(shape)
            problem = Problem.from_function(traced_fun, "fun")
            reason = _jacobian_failure(problem, x0)
            failed_step = "differentiated"
        if reason is None:
            evaluator, _, _ = evaluate.from_problem(problem, x0)
            return evaluator
        message = f"fun cannot be {failed_step} by JAX ({reason}); using 2-point finite differences"
        logger.info(message)
        if verbose >= 1:
            print(message)
        jac = "2-point"
    output = fun(x0.copy())
    start_value = np.asarray(output)
    if start_value.dtype == object:
        # numpy makes None or a dict a 0-d object array, later read as NaN.
        raise _not_an_array(output)
    if start_value.dtype.kind not in "fiuc":  # complex gets its own error later
        raise TypeError(
            f"fun must return real numbers as residuals, got dtype {start_value.dtype}"
        )
    _check_vector_output(start_value.shape)
    return evaluate.from_numpy_function(fun, jac, start_value.size, start=(x0, start_value))


def _traced_shape(fun, traced_fun, x0) -> tuple:
    """Return the shape of ``traced_fun(x0)`` and None, or None and why JAX cannot trace ``fun``.

    ``traced_fun`` is ``fun`` with its output made an array. A ``fun`` that
    traces but returns no array (None, a dict) raises TypeError.
    """
    x0 = jnp.asarray(x0)
    try:
        return jax.eval_shape(traced_fun, x0).shape, None
    except Exception as error:  # noqa: BLE001 (any failure means: use numpy)
        reason = _error_summary(error)
    try:
        output = jax.eval_shape(fun, x0)
    except Exception:  # noqa: BLE001 (fun itself does not trace: use numpy)
        return None, reason
    raise _not_an_array(output)


def _jacobian_failure(problem: Problem, x0) -> str | None:
    """Return why JAX cannot build the Jacobian of a traceable fun, or None when it can.

    A fun may trace but not differentiate: a ``jax.custom_vjp`` function has
    no forward mode, a ``lax.while_loop`` no reverse mode, and
    ``jax.pure_callback`` neither. Checking costs one more trace, no compilation.
    """
    try:
        jax.eval_shape(problem.jacobian, jnp.asarray(x0))
    except Exception as error:  # noqa: BLE001 (any failure means: use finite differences)
        return _error_summary(error)
    return None


def _error_summary(error: Exception) -> str:
    """Return the error's type and the first line of its message."""
    text = str(error)
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"


def _not_an_array(output) -> TypeError:
    """Return the error for a fun whose output (None, a dict) is no array of residuals."""
    return TypeError(
        f"fun must return a 1-D array of residuals, got {type(output).__name__}: {output!r:.200}"
    )


def _check_vector_output(shape) -> None:
    if len(shape) > 1:
        raise ValueError(f"fun must return at most a 1-D array, got shape {shape}")


def _parameter_leaves(params, sampling: str):
    """(start, stop) of each leaf in the flat vector for "leaves", None for "entries"."""
    if sampling == "entries":
        return None
    if sampling != "leaves":
        raise ValueError(f"param_sampling must be 'entries' or 'leaves', got {sampling!r}")
    bounds, start = [], 0
    for leaf in jax.tree.leaves(params):
        size = int(np.size(leaf))
        bounds.append((start, start + size))
        start += size
    return tuple(bounds)


def _check_method(method) -> None:
    if method != "sven":
        raise ValueError(f"method must be 'sven', got {method!r}")


def _column_scaling(x_scale, size: int):
    """Map scipy's ``x_scale`` to "auto", "jac", "none" or an array of per-parameter scales."""
    if isinstance(x_scale, str):
        if x_scale in ("auto", "jac", "none"):
            return x_scale
        raise ValueError(
            f"x_scale must be 'auto', 'jac', 'none' or positive numbers, got {x_scale!r}"
        )
    invalid = TypeError(
        f"x_scale must be 'auto', 'jac', 'none', a positive number or an array of shape "
        f"({size},) in the order of jax.flatten_util.ravel_pytree(params), got {x_scale!r}"
    )
    if isinstance(x_scale, (bool, np.bool_, dict)):
        raise invalid
    try:
        scales = np.asarray(x_scale, dtype=float)
    except (TypeError, ValueError):
        raise invalid from None
    if scales.ndim == 0:
        scales = np.full(size, float(scales))
    if scales.shape != (size,) or not np.all(np.isfinite(scales)) or np.any(scales <= 0):
        raise ValueError(
            f"x_scale must be finite and > 0, a scalar or of shape ({size},), got {x_scale!r}"
        )
    if np.all(scales == 1.0):
        return "none"
    return scales


def _as_float_vector(x0) -> np.ndarray:
    """x0 as a 1-D float array: scipy's rules, float32 kept, complex rejected."""
    x0 = np.atleast_1d(np.asarray(x0))
    if np.iscomplexobj(x0):
        raise ValueError(f"x0 must be real, got dtype {x0.dtype}")
    if x0.ndim != 1:
        raise ValueError(f"x0 must have at most 1 dimension, got shape {x0.shape}")
    if x0.size == 0:
        raise ValueError("x0 must have at least one entry, got an empty array")
    if x0.dtype != np.float32:
        x0 = x0.astype(np.float64)
    if not np.all(np.isfinite(x0)):
        raise ValueError(f"x0 must be finite, got {x0}")
    return x0.copy()


def _as_float_pytree(params):
    """Leaves as float jax arrays; integer, complex or non-finite leaves are errors."""
    leaves_with_path = jax.tree_util.tree_flatten_with_path(params)[0]
    if not leaves_with_path:
        raise ValueError("params has no arrays: nothing to optimise")
    for path, leaf in leaves_with_path:
        name = "params" + jax.tree_util.keystr(path)
        kind = np.asarray(leaf).dtype.kind
        if kind not in "biufc":  # jnp.asarray fails on strings with a message about JAX types
            raise TypeError(
                f"{name} is {leaf!r:.80} ({type(leaf).__name__}); parameters must be float "
                "arrays, so keep other values out of params (in a closure, for example)"
            )
        dtype = jnp.asarray(leaf).dtype
        if jnp.issubdtype(dtype, jnp.complexfloating):
            raise TypeError(
                f"{name} is complex ({dtype}); svensolve solves real problems, "
                "so split it into real and imaginary parts"
            )
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"{name} has dtype {dtype}; parameters must be float arrays")
        values = np.asarray(leaf)
        if values.ndim == 0 and not np.isfinite(values):
            raise ValueError(f"{name} is {values}; the start must be finite")
        bad = np.argwhere(~np.isfinite(values))
        if bad.size:
            index = tuple(int(i) for i in bad[0])
            raise ValueError(
                f"{name} has {len(bad)} non-finite values, the first {values[index]} at index "
                f"{index}; the start must be finite"
            )
    return jax.tree.map(jnp.asarray, params)


def _report(result: Result, verbose: int) -> None:
    if verbose >= 1:
        print(
            f"{result.message} Function evaluations {result.nfev}, "
            f"final cost {result.cost:.4e}, first-order optimality {result.optimality:.2e}."
        )
