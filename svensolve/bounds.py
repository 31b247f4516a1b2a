"""Box constraints lb <= x <= ub: validation, the active set and projection.

The solver keeps iterates feasible by projecting trial points onto the box
and takes its steps on the free parameters only: a parameter on a bound
whose gradient pushes it outwards is held there (its Jacobian column is set
to zero for the step), so a solution on a bound is reached exactly, not
approached asymptotically as through a change of variables.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Box(NamedTuple):
    """Lower and upper bounds, arrays of shape (p,) that may hold infinities."""

    lower: np.ndarray
    upper: np.ndarray


def make_box(bounds, x0: np.ndarray) -> Box | None:
    """Validate scipy-style ``bounds`` against ``x0``; None when they are all infinite.

    ``bounds`` is a pair ``(lb, ub)`` of scalars or arrays of shape (p,), or an
    object with ``lb`` and ``ub`` attributes such as ``scipy.optimize.Bounds``.
    """
    if hasattr(bounds, "lb") and hasattr(bounds, "ub"):
        bounds = (bounds.lb, bounds.ub)
    if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
        raise ValueError(f"bounds must be a pair (lb, ub) or scipy.optimize.Bounds, got {bounds!r}")
    size = x0.size
    lower = _as_vector(bounds[0], size, "lb")
    upper = _as_vector(bounds[1], size, "ub")
    if np.all(lower == -np.inf) and np.all(upper == np.inf):
        return None
    if np.any(lower >= upper):
        index = int(np.flatnonzero(lower >= upper)[0])
        raise ValueError(
            f"bounds: each lower bound must be below its upper bound, got lb[{index}] = "
            f"{lower[index]} and ub[{index}] = {upper[index]}"
        )
    outside = np.flatnonzero((x0 < lower) | (x0 > upper))
    if outside.size:
        index = int(outside[0])
        raise ValueError(
            f"x0 is infeasible: x0[{index}] = {x0[index]} is outside "
            f"[{lower[index]}, {upper[index]}]"
        )
    return Box(lower.astype(x0.dtype), upper.astype(x0.dtype))


def _as_vector(value, size: int, name: str) -> np.ndarray:
    vector = np.asarray(value, dtype=float)
    if vector.ndim == 0:
        vector = np.full(size, float(vector))
    if vector.shape != (size,) or np.any(np.isnan(vector)):
        raise ValueError(
            f"bounds: {name} must be a number or an array of shape ({size},) without NaN, "
            f"got {value!r}"
        )
    return vector


def active_mask(box: Box | None, x: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    """scipy's mask: -1 on a lower bound, 1 on an upper bound, 0 free.

    A parameter counts as active when it sits on a bound and the cost's
    gradient pushes it outwards, so that no descent step can move it inside.
    """
    mask = np.zeros(x.size, dtype=int)
    if box is None:
        return mask
    mask[(x <= box.lower) & (gradient > 0)] = -1
    mask[(x >= box.upper) & (gradient < 0)] = 1
    return mask


def project(box: Box | None, points: np.ndarray) -> np.ndarray:
    """Clip points (rows or one vector) onto the box."""
    if box is None:
        return points
    return np.clip(points, box.lower, box.upper)
