"""The result of a solve: scipy's OptimizeResult fields plus history and diagnostics."""

from __future__ import annotations

import enum
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult


class Status(enum.IntEnum):
    """Why a solve stopped. Positive values are convergence, as in scipy."""

    MAX_NFEV = 0
    GTOL = 1
    FTOL = 2
    XTOL = 3
    FTOL_XTOL = 4
    MAX_ITER = -2
    TIME_LIMIT = -3
    INTERRUPTED = -4
    CALLBACK = -5
    NO_PROGRESS = -6
    ZERO_JACOBIAN = -7
    PLATEAU = -8


MESSAGES = {
    Status.MAX_NFEV: "The maximum number of function evaluations is exceeded.",
    Status.GTOL: "`gtol` termination condition is satisfied.",
    Status.FTOL: "`ftol` termination condition is satisfied.",
    Status.XTOL: "`xtol` termination condition is satisfied.",
    Status.FTOL_XTOL: "Both `ftol` and `xtol` termination conditions are satisfied.",
    Status.MAX_ITER: "The maximum number of iterations is reached.",
    Status.TIME_LIMIT: "The time limit is reached.",
    Status.INTERRUPTED: "Interrupted by the user (KeyboardInterrupt); the best point is returned.",
    Status.CALLBACK: "The callback stopped the solve; the best point is returned.",
    Status.NO_PROGRESS: (
        "No progress possible: no trial step lowers the cost, but the convergence "
        "tests do not hold (a plateau, a non-finite region or too coarse a tolerance)."
    ),
    Status.ZERO_JACOBIAN: "The Jacobian is zero at the returned point: no direction to follow.",
    Status.PLATEAU: (
        "Stuck on a plateau: the step is converged on the kept singular directions, but "
        "the gradient test fails along a direction cut by rtol or rank (a parameter whose "
        "Jacobian column vanishes here, as when an exponential underflows)."
    ),
}

HISTORY_FIELDS = ("cost", "time", "rank", "damping", "step_length", "gain_ratio", "nfev")


class Result(OptimizeResult):
    """Outcome of `svensolve.minimize` or `svensolve.least_squares`.

    Fields shared with ``scipy.optimize.least_squares``: ``x`` (the best point,
    flat for `least_squares`), ``cost`` (``0.5 * sum(fun**2)``), ``fun``,
    ``jac``, ``grad`` (``J^T fun``), ``optimality`` (``max |grad|``), ``nfev``,
    ``njev``, ``nit``, ``status``, ``message``, ``success``.

    svensolve adds ``params`` (the best point in the caller's pytree),
    ``history`` (a dict of per-iteration arrays: ``cost``, ``time`` in
    seconds since the start, ``rank`` used, ``damping``, ``step_length``,
    ``gain_ratio``, ``nfev``, and per-condition costs under
    ``"cost:<name>"``), ``singular_values`` (of the last Jacobian),
    ``condition_costs`` (a dict name -> cost at ``x``) and ``time`` (seconds).
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


def history_arrays(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Turn per-iteration dicts into one array per field."""
    if not rows:
        return {}
    return {key: np.asarray([row[key] for row in rows]) for key in rows[0]}
