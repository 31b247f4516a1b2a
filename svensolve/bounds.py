"""Box constraints lb <= x <= ub: validation, the active set and projection.

The solver keeps iterates feasible by projecting trial points onto the box
and takes its steps on the free parameters only: a parameter on a bound
whose gradient pushes it outwards is held there (its Jacobian column is set
to zero for the step), so a solution on a bound is reached exactly, not
approached asymptotically as through a change of variables.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np
from jax.flatten_util import ravel_pytree


class Box(NamedTuple):
    """Lower and upper bounds, arrays of shape (p,) that may hold infinities."""

    lower: np.ndarray
    upper: np.ndarray


def make_box(bounds, x0: np.ndarray) -> Box | None:
    """Validate scipy-style ``bounds`` against ``x0``; None when they are all infinite.

    ``bounds`` is a pair ``(lb, ub)`` of scalars or arrays of shape (p,), or an
    object with ``lb`` and ``ub`` attributes such as ``scipy.optimize.Bounds``.
    """
    lower, upper = _bound_vectors(bounds, x0.size)
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


def feasible_start(bounds, size: int) -> np.ndarray:
    """Return a start inside scipy-style ``bounds``, as scipy's curve_fit picks one.

    Each parameter starts at the middle of a finite interval, 1 inside a
    bound that is finite on one side only, and at 1 when it is free.
    """
    lower, upper = _bound_vectors(bounds, size)
    start = np.ones(size)
    both = np.isfinite(lower) & np.isfinite(upper)
    only_lower = np.isfinite(lower) & ~np.isfinite(upper)
    only_upper = ~np.isfinite(lower) & np.isfinite(upper)
    start[both] = 0.5 * (lower[both] + upper[both])
    start[only_lower] = lower[only_lower] + 1.0
    start[only_upper] = upper[only_upper] - 1.0
    return start


def _bound_vectors(bounds, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (lb, ub) as arrays of shape (size,) from a pair or ``scipy.optimize.Bounds``."""
    if hasattr(bounds, "lb") and hasattr(bounds, "ub"):
        bounds = (bounds.lb, bounds.ub)
    if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
        raise ValueError(f"bounds must be a pair (lb, ub) or scipy.optimize.Bounds, got {bounds!r}")
    return _as_vector(bounds[0], size, "lb"), _as_vector(bounds[1], size, "ub")


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


def make_params_box(bounds, params) -> Box | None:
    """Validate `minimize`'s ``bounds`` against pytree ``params`` and flatten them to a Box.

    ``bounds`` is None, scipy.optimize.Bounds on the flattened parameter
    vector (the order of ``jax.flatten_util.ravel_pytree``), or a pair
    ``(lower, upper)``. Each of ``lower`` and ``upper`` is None, a scalar for
    every parameter, or a pytree with the structure of ``params``. The leaves
    of such a pytree broadcast to the shapes of the parameter leaves, and a
    None leaf or +-inf means unbounded. Errors name ``bounds`` and the
    parameter, as ``params['w'][1, 0]``. Returns None when every bound is
    infinite.
    """
    if bounds is None:
        return None
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    x0 = np.asarray(ravel_pytree(params)[0])
    if hasattr(bounds, "lb") and hasattr(bounds, "ub"):
        lower = _as_vector(_scalar_if_single(bounds.lb), x0.size, "lb")
        upper = _as_vector(_scalar_if_single(bounds.ub), x0.size, "ub")
    elif isinstance(bounds, (tuple, list)) and len(bounds) == 2:
        lower = _flatten_bound(bounds[0], "lower", -np.inf, params)
        upper = _flatten_bound(bounds[1], "upper", np.inf, params)
    else:
        raise ValueError(
            "bounds must be None, a pair (lower, upper) of scalars or pytrees shaped like "
            f"params, or scipy.optimize.Bounds on the flattened params; got {bounds!r}"
        )

    crossed = np.flatnonzero(lower >= upper)
    if crossed.size:
        index = int(crossed[0])
        raise ValueError(
            f"bounds: each lower bound must be below its upper bound, got lower = "
            f"{lower[index]} and upper = {upper[index]} for {_element_name(leaves, index)} "
            "(to hold a parameter fixed, make it a constant of the residual function)"
        )
    outside = np.flatnonzero((x0 < lower) | (x0 > upper))
    if outside.size:
        index = int(outside[0])
        raise ValueError(
            f"params is infeasible: {_element_name(leaves, index)} = {x0[index]} is outside "
            f"the bounds [{lower[index]}, {upper[index]}]; start inside them or on a bound"
        )
    return make_box((lower, upper), x0)


def _scalar_if_single(value):
    """``Bounds(0, 1)`` stores arrays of shape (1,), which apply to every parameter."""
    array = np.asarray(value)
    return array.reshape(()) if array.size == 1 else value


def _flatten_bound(bound, side: str, unbounded: float, params) -> np.ndarray:
    """Flatten one side of a pair of bounds to a vector in ``ravel_pytree`` order."""
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    shared = bound is None or _is_scalar(bound)
    if shared:
        bound_leaves = [bound] * len(leaves)
    else:
        bound_leaves = _leaves_matching_params(bound, side, params)

    pieces = []
    for (path, leaf), value in zip(leaves, bound_leaves, strict=True):
        shape = np.shape(leaf)
        if value is None:
            pieces.append(np.full(shape, unbounded).ravel())
            continue
        name = side if shared else f"{side}{jax.tree_util.keystr(path)}"
        try:
            array = np.asarray(value, dtype=float)
        except (TypeError, ValueError) as error:
            raise ValueError(f"bounds: {name} must be numbers or None, got {value!r}") from error
        if np.any(np.isnan(array)):
            raise ValueError(f"bounds: {name} contains NaN; use -inf, inf or None for no bound")
        try:
            pieces.append(np.broadcast_to(array, shape).ravel())
        except ValueError as error:
            raise ValueError(
                f"bounds: {name} has shape {array.shape}, which does not broadcast to the "
                f"shape {shape} of params{jax.tree_util.keystr(path)}"
            ) from error
    return np.concatenate(pieces)


def _is_scalar(bound) -> bool:
    is_leaf = jax.tree_util.treedef_is_leaf(jax.tree_util.tree_structure(bound))
    return is_leaf and np.ndim(bound) == 0


def _leaves_matching_params(bound, side: str, params) -> list:
    """Return the entries of ``bound`` at the leaf positions of ``params``, in their order."""
    try:
        return jax.tree_util.tree_structure(params).flatten_up_to(bound)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"bounds: {side} must be None, a scalar or a pytree with the structure of params; "
            f"{_structure_difference(bound, side, params, error)}"
        ) from error


def _structure_difference(bound, side: str, params, error: Exception) -> str:
    """Name the first parameter leaf without a bound and the first bound entry without a leaf."""
    param_paths = [jax.tree_util.keystr(path) for path, _ in
                   jax.tree_util.tree_flatten_with_path(params)[0]]
    bound_paths = [jax.tree_util.keystr(path) for path, _ in
                   jax.tree_util.tree_flatten_with_path(bound, is_leaf=lambda v: v is None)[0]]
    # A bound entry may be deeper than its parameter leaf (a list of numbers for an array).
    missing = [p for p in param_paths if not any(b.startswith(p) for b in bound_paths)]
    extra = [b for b in bound_paths if not any(b.startswith(p) for p in param_paths)]
    differences = []
    if missing:
        differences.append(f"params{missing[0]} has no entry in {side} (use None for no bound)")
    if extra:
        differences.append(f"{side}{extra[0]} matches no leaf of params")
    if not differences:
        differences.append(f"use the container types of params ({error})")
    return "; ".join(differences)


def _element_name(leaves, index: int) -> str:
    """Name entry ``index`` of the flat params by its leaf path, as ``params['w'][1, 0] (x[4])``."""
    start = 0
    for path, leaf in leaves:
        shape = np.shape(leaf)
        size = int(np.prod(shape, dtype=int))
        if index < start + size:
            name = "params" + jax.tree_util.keystr(path)
            if shape:
                position = np.unravel_index(index - start, shape)
                name += "[" + ", ".join(str(int(i)) for i in position) + "]"
            return f"{name} (x[{index}])"
        start += size
    raise IndexError(f"entry {index} is beyond the {start} parameters")


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
