"""The result of a solve: scipy's OptimizeResult fields plus history and diagnostics."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult, OptimizeWarning

from svensolve import user_warnings
from svensolve.linalg.operator import is_operator


class Status(enum.IntEnum):
    """Reason a solve stopped. Positive values are convergence, as in scipy."""

    MAX_NFEV = 0
    GTOL = 1
    FTOL = 2
    XTOL = 3
    FTOL_XTOL = 4
    ROUNDING = 5
    MAX_ITER = -2
    TIME_LIMIT = -3
    INTERRUPTED = -4
    CALLBACK = -5
    NO_PROGRESS = -6
    ZERO_JACOBIAN = -7
    PLATEAU = -8
    ERROR = -9


MESSAGES = {
    Status.MAX_NFEV: "The maximum number of function evaluations is exceeded.",
    Status.GTOL: "`gtol` termination condition is satisfied.",
    Status.FTOL: "`ftol` termination condition is satisfied.",
    Status.XTOL: "`xtol` termination condition is satisfied.",
    Status.FTOL_XTOL: "Both `ftol` and `xtol` termination conditions are satisfied.",
    Status.ROUNDING: (
        "The residual is at rounding level: no step lowers the cost, and its norm is "
        "below 1e4 * eps times the norm at the start, or it is rounding noise on every "
        "direction the SVD resolves."
    ),
    Status.MAX_ITER: "The maximum number of iterations is reached.",
    Status.TIME_LIMIT: "The time limit is reached.",
    Status.INTERRUPTED: "Interrupted by the user (KeyboardInterrupt); the best point is returned.",
    Status.CALLBACK: "The callback stopped the solve; the best point is returned.",
    Status.NO_PROGRESS: (
        "No progress possible: no trial step lowers the cost, but the convergence "
        "tests do not hold (a plateau, a non-finite region or too coarse a tolerance)."
    ),
    Status.ZERO_JACOBIAN: "The Jacobian is zero at the returned point: no direction to follow.",
    Status.ERROR: (
        "An evaluation raised an error during the solve; this is the best point before it."
    ),
    Status.PLATEAU: (
        "Converged only on the kept singular directions: the gradient test fails along a "
        "direction cut by rtol or rank (a plateau where a Jacobian column vanishes, as when "
        "an exponential underflows, a redundant parameter that duplicates another, or a rank "
        "or rtol that drops a direction the fit needs)."
    ),
}

HISTORY_FIELDS = (
    "cost", "time", "rank", "rtol", "damping", "step_length", "gain_ratio", "nfev", "accepted"
)


class Result(OptimizeResult):
    """Outcome of `svensolve.minimize` or `svensolve.least_squares`.

    Fields shared with ``scipy.optimize.least_squares``: ``x`` (the best point,
    flat for `least_squares`), ``cost`` (``0.5 * sum(fun**2)``), ``fun``,
    ``jac``, ``grad`` (``J^T fun``), ``optimality`` (``max |grad|``), ``nfev``,
    ``njev``, ``nit``, ``status``, ``message``, ``success``. With a robust
    loss, ``jac`` is scipy's modified Jacobian: J with each row scaled by
    ``sqrt(rho'(z) + 2 z rho''(z))``, so ``jac^T jac`` models the cost's
    Hessian and `covariance` matches scipy's ``curve_fit``.

    svensolve adds ``params`` (the best point in the caller's pytree),
    ``history`` (a dict of per-iteration arrays: ``cost``, ``time`` in
    seconds since the start, ``rank`` used, the cutoff ``rtol`` of the step,
    ``damping``, ``step_length`` (the length along the direction for the
    line search and the fixed control, a fraction that can fall far below
    1/128 as the grid moves down; for the trust region, the step's length in
    scaled variables), ``gain_ratio``, ``nfev``, ``accepted`` (whether the
    step was taken), and per-condition costs under
    ``"cost:<name>"``), ``singular_values`` (of the last Jacobian),
    ``condition_costs`` (a dict name -> cost at ``x``), ``time`` (seconds) and
    ``jacobian_method`` (the Jacobian path, its factorisation and why it was
    chosen). On the streamed and matrix-free paths ``jac`` is an operator
    with ``matmat`` and ``rmatmat`` products, not a matrix.
    """

    def __repr__(self):
        lines = [
            f"     message: {self.message}",
            f"     success: {self.success}",
            f"      status: {int(self.status)}",
            f"        cost: {self.cost:.6e}",
            f"  optimality: {self.optimality:.3e}",
            f"         nit: {self.nit}   nfev: {self.nfev}   njev: {self.njev}",
            f"        time: {self.time:.3f} s",
        ]
        costs = getattr(self, "condition_costs", None) or {}
        lines += [f"  cost[{name}]: {value:.6e}" for name, value in costs.items()]
        return "\n".join(lines)

    def covariance(self, absolute_sigma=False, rtol=None, *, names=None) -> np.ndarray:
        """Estimate the parameter covariance from the Jacobian at ``x``.

        With the SVD ``jac = U diag(s) V^T`` the covariance is
        ``V diag(1/s**2) V^T``, the inverse of ``J^T J``, times the residual
        variance ``2 * cost / (n - p)`` unless `absolute_sigma`. This is the
        linearised estimate that ``scipy.optimize.curve_fit`` returns.

        Parameters
        ----------
        absolute_sigma : bool
            True when the residuals are already divided by their true
            standard deviations, so the covariance is not rescaled (scipy's
            meaning).
        rtol : float, optional
            Singular values at or below ``rtol * s_max`` are not inverted.
            Default ``max(n, p) * eps``, the cutoff of scipy's curve_fit and
            of ``numpy.linalg.pinv(a, rtol=None)``.
        names : sequence of str, optional
            Parameter names for the warnings; default ``x[0]``, ``x[1]``, ...

        Returns
        -------
        np.ndarray, shape (p, p)
            float64 and finite. Directions with singular values at or below
            the cutoff are left out (zero variance along them), so the matrix
            is the inverse on the identifiable subspace.

        Warns
        -----
        OptimizeWarning
            A UserWarning, as in scipy. Raised when some direction is not
            identifiable, naming it as a combination of parameters such as
            ``b2 - 0.7 b3``. Also raised when n <= p and not
            `absolute_sigma`: the residual variance is then undefined, so the
            unscaled covariance is returned.
        """
        spectrum = self._spectrum(rtol)
        labels = _parameter_names(names, spectrum.p)
        if not spectrum.kept.all():
            message = _non_identifiable_message(spectrum, labels)
            user_warnings.warn(message, OptimizeWarning)
        scale, note = _variance_scale(spectrum.n, spectrum.p, self.cost, absolute_sigma)
        if note is not None:
            user_warnings.warn(note, OptimizeWarning)
        return scale * spectrum.inverse_gram()

    @property
    def stderr(self) -> np.ndarray:
        """Standard errors of ``x``: ``sqrt(diag(covariance()))``, with the default scaling."""
        return np.sqrt(np.diag(self.covariance()))

    def correlation(self, rtol=None) -> np.ndarray:
        """Compute the parameter correlation matrix ``cov_ij / (sd_i * sd_j)``.

        Parameters
        ----------
        rtol : float, optional
            Singular value cutoff, as in `covariance`.

        Returns
        -------
        np.ndarray, shape (p, p)
            NaN in the rows and columns of parameters with zero variance,
            which happens only when they lie entirely in a non-identifiable
            direction.
        """
        # The variance scale cancels here, so use the unscaled form, which
        # does not warn when n <= p.
        cov = self.covariance(absolute_sigma=True, rtol=rtol)
        sd = np.sqrt(np.diag(cov))
        with np.errstate(divide="ignore", invalid="ignore"):
            return cov / np.outer(sd, sd)

    def report(self, names=None) -> str:
        """Format the fit statistics, parameters with standard errors and correlations.

        Parameters
        ----------
        names : sequence of str, optional
            Parameter names; default ``x[0]``, ``x[1]``, ...

        Returns
        -------
        str
            Multi-line text. Uncertainties are scaled by the residual variance
            (``absolute_sigma=False``). Non-identifiable directions and an
            undefined residual variance are listed under "[[Warnings]]" instead
            of being raised as warnings.
        """
        x = np.ravel(np.asarray(self.x))
        labels = _parameter_names(names, x.size)
        lines = _status_lines(self)
        try:
            spectrum = self._spectrum(None)
        except ValueError as error:
            return "\n".join(lines + ["[[Warnings]]", f"    No uncertainties: {error}"])

        scale, note = _variance_scale(spectrum.n, spectrum.p, self.cost, False)
        cov = scale * spectrum.inverse_gram()
        lines += _statistics_lines(self.cost, spectrum)
        lines += _parameter_lines(x, cov, labels)
        lines += _correlation_lines(cov, labels)
        notes = [note] if note is not None else []
        if not spectrum.kept.all():
            notes.append(_non_identifiable_message(spectrum, labels))
        if notes:
            lines += ["[[Warnings]]"] + [f"    {text}" for text in notes]
        return "\n".join(lines)

    def _spectrum(self, rtol) -> _Spectrum:
        """SVD of ``jac`` with the singular value cutoff ``rtol * s_max``."""
        jac = _jacobian_matrix(self.get("jac"))
        n, p = jac.shape
        if rtol is None:
            rtol = max(n, p) * np.finfo(jac.dtype).eps
        elif not (np.isfinite(rtol) and rtol >= 0):
            raise ValueError(f"rtol must be a finite number >= 0, got {rtol!r}")
        # All p right singular vectors are needed, also when n < p, because
        # the ones beyond n span the null space.
        _, s, vt = np.linalg.svd(jac.astype(np.float64), full_matrices=n < p)
        s = np.concatenate([s, np.zeros(p - s.size)])
        return _Spectrum(s=s, vt=vt, cutoff=float(rtol * s[0]), n=n)


@dataclass(frozen=True)
class _Spectrum:
    """SVD of an (n, p) Jacobian: ``s`` padded with zeros to length p, all p rows of ``vt``."""

    s: np.ndarray
    vt: np.ndarray
    cutoff: float
    n: int

    @property
    def p(self) -> int:
        return self.s.size

    @property
    def kept(self) -> np.ndarray:
        """Mask of the singular values that are inverted (scipy keeps ``s > cutoff``)."""
        return self.s > self.cutoff

    def inverse_gram(self) -> np.ndarray:
        """``(J^T J)^+`` restricted to the kept directions."""
        vt = self.vt[self.kept]
        return (vt.T / self.s[self.kept] ** 2) @ vt


def _jacobian_matrix(jac) -> np.ndarray:
    """Convert ``jac`` to a finite 2-D float array; raise ValueError naming what is wrong."""
    if jac is None:
        raise ValueError("the result has no Jacobian (field 'jac'), so no uncertainties")
    if is_operator(jac):
        raise ValueError(
            f"the result's Jacobian is a {jac.method} operator of shape {jac.shape}, not a "
            "matrix, so no uncertainties; solve again from x with jacobian='dense' if J fits"
        )
    jac = np.asarray(jac)
    if jac.ndim != 2:
        raise ValueError(f"the Jacobian must be 2-D (n, p), got shape {jac.shape}")
    if not np.issubdtype(jac.dtype, np.floating):
        jac = jac.astype(np.float64)
    bad = int(np.size(jac) - np.count_nonzero(np.isfinite(jac)))
    if bad:
        raise ValueError(f"the Jacobian at x has {bad} non-finite entries")
    return jac


def _parameter_names(names, p: int) -> list[str]:
    if names is None:
        return [f"x[{i}]" for i in range(p)]
    names = [str(name) for name in names]
    if len(names) != p:
        raise ValueError(f"names must have one entry per parameter ({p}), got {len(names)}")
    return names


def _variance_scale(n: int, p: int, cost: float, absolute_sigma: bool) -> tuple[float, str | None]:
    """Factor that turns ``(J^T J)^+`` into the covariance, and a warning text or None."""
    if absolute_sigma:
        return 1.0, None
    if n <= p:
        return 1.0, (
            f"The residual variance 2 * cost / (n - p) is undefined for n = {n} residuals "
            f"and p = {p} parameters, so the covariance is not scaled by it: it assumes "
            "residuals with unit standard deviation, as absolute_sigma=True does."
        )
    return 2.0 * float(cost) / (n - p), None


def _non_identifiable_message(spectrum: _Spectrum, names: list[str], max_listed: int = 5) -> str:
    null_rows = spectrum.vt[~spectrum.kept]
    directions = [_format_direction(row, names) for row in null_rows[:max_listed]]
    if len(null_rows) > max_listed:
        directions.append(f"and {len(null_rows) - max_listed} more")
    return (
        f"{len(null_rows)} parameter direction(s) not identifiable: the Jacobian's singular "
        f"values there are at or below rtol * s_max = {spectrum.cutoff:.3g}, so the residuals "
        f"do not change along {'; '.join(directions)}. The covariance leaves these directions "
        "out, so it understates the uncertainty of the parameters in them."
    )


def _format_direction(vector: np.ndarray, names: list[str], terms: int = 4) -> str:
    """Write a direction as its largest components, e.g. ``b2 - 0.7 b3``, leading one set to 1."""
    magnitudes = np.abs(vector)
    # Components equal up to rounding lead in index order, so that rounding
    # in the SVD does not change the text.
    lead = int(np.argmax(magnitudes >= (1.0 - 1e-8) * magnitudes.max()))
    rest = [i for i in np.argsort(-magnitudes, kind="stable") if i != lead]
    order = [lead, *rest]
    coefficients = vector / vector[lead]
    # Components below 1% of the largest are rounding noise in the printed form.
    significant = [i for i in order if abs(coefficients[i]) >= 0.01]
    text = names[order[0]]
    for i in significant[1:terms]:
        magnitude = f"{abs(coefficients[i]):.2g}"
        factor = "" if magnitude == "1" else f"{magnitude} "
        text += f" {'-' if coefficients[i] < 0 else '+'} {factor}{names[i]}"
    if len(significant) > terms:
        text += " + ..."
    return text


def _status_lines(result: Result) -> list[str]:
    return [
        "[[Fit statistics]]",
        f"    status             = {int(result.status)}: {result.message}",
        f"    success            = {bool(result.success)}",
        f"    iterations         = {result.get('nit')}",
        f"    function evals     = {result.get('nfev')}",
        f"    Jacobian evals     = {result.get('njev')}",
    ]


def _statistics_lines(cost: float, spectrum: _Spectrum) -> list[str]:
    n, p = spectrum.n, spectrum.p
    chi_square = 2.0 * float(cost)
    reduced = f"{chi_square / (n - p):.6g}" if n > p else "undefined (n <= p)"
    s_min = spectrum.s[-1]
    condition = spectrum.s[0] / s_min if s_min > 0 else np.inf
    rank = int(np.count_nonzero(spectrum.kept))
    return [
        f"    data points        = {n}",
        f"    variables          = {p}",
        f"    cost               = {float(cost):.6g}",
        f"    chi-square         = {chi_square:.6g}",
        f"    reduced chi-square = {reduced}",
        f"    condition number   = {condition:.3g}   (of the Jacobian, s_max / s_min)",
        f"    effective rank     = {rank} of {p}   (singular values > {spectrum.cutoff:.3g})",
    ]


def _parameter_lines(x: np.ndarray, cov: np.ndarray, names: list[str]) -> list[str]:
    width = max(len("name"), *(len(name) for name in names))
    lines = [
        "[[Variables]]",
        f"    {'name':<{width}}  {'value':>17}  {'stderr':>12}  {'relative':>9}",
    ]
    for name, value, variance in zip(names, x, np.diag(cov), strict=True):
        stderr = np.sqrt(variance)
        relative = f"{100 * stderr / abs(value):.3g}%" if value != 0 else "n/a"
        lines.append(f"    {name:<{width}}  {value:>17.10g}  {stderr:>12.6g}  {relative:>9}")
    return lines


def _correlation_lines(cov: np.ndarray, names: list[str], threshold: float = 0.5) -> list[str]:
    sd = np.sqrt(np.diag(cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.outer(sd, sd)
    rows, cols = np.triu_indices(len(names), k=1)
    # NaN correlations (zero variance) fail the comparison and are left out.
    pairs = zip(rows, cols, strict=True)
    strong = [(corr[i, j], i, j) for i, j in pairs if abs(corr[i, j]) > threshold]
    strong.sort(key=lambda item: -abs(item[0]))
    lines = [f"[[Correlations]] (|c| > {threshold})"]
    lines += [f"    C({names[i]}, {names[j]}) = {c:+.4f}" for c, i, j in strong]
    if not strong:
        lines.append("    none")
    return lines


def history_arrays(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Turn per-iteration dicts into one array per field."""
    if not rows:
        return {key: np.array([]) for key in HISTORY_FIELDS}
    return {key: np.asarray([row[key] for row in rows]) for key in rows[0]}
