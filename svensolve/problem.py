"""Assemble named residual conditions into one residual vector and its Jacobian.

A `Condition` is one block of residuals: a PDE residual at interior collocation
points, a boundary condition, a data misfit. A `Problem` stacks the blocks into
one flat residual vector r(params), scales block i by weight_i / sqrt(count_i)
so that the cost 0.5 * ||r||^2 is a weighted mean square, and builds the dense
Jacobian with respect to the flattened parameters the cheap way: for a
pointwise condition the rows are `vmap` over points of the gradient of one
point's scalar residual, which costs a few gradient evaluations instead of the
n reverse passes of `jax.jacrev`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from svensolve import user_warnings
from svensolve.linalg.operator import is_operator
from svensolve.loss import RobustLoss

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Condition:
    """One named block of residuals.

    Parameters
    ----------
    name : str
        Name used in reports, per-condition costs and error messages.
    fn : callable
        With ``points`` and ``batched=False``: ``fn(params, point)`` returns the
        residual (a scalar or a small array) at one point and is vmapped over
        the leading axis of ``points``. With ``batched=True``:
        ``fn(params, points)`` returns the residuals of all points, with the
        points along the leading axis. Without ``points``: ``fn(params)``
        returns an array or pytree of arrays.
    points : array or pytree of arrays, optional
        Collocation or data points, stacked along the leading axis. A tuple
        such as ``(x_obs, y_obs)`` is passed to ``fn`` one row of each at a
        time.
    weight : float
        The block is multiplied by ``weight / sqrt(count)``, where ``count`` is
        the number of points; a block without points is multiplied by
        ``weight`` alone, so a plain residual function keeps scipy's cost.
    batched : bool
        Whether ``fn`` takes all points at once.
    loss : str or callable, optional
        Robust loss of this block ("soft_l1", "huber", "cauchy", "arctan",
        "linear" or a callable, as in `svensolve.minimize`), so that a data
        condition can be robust while a PDE condition stays quadratic. None
        takes the solve's ``loss``.
    f_scale : float
        Residuals of this block below ``f_scale`` (after the weight scaling)
        count as inliers of its loss.
    sampler : callable, optional
        ``sampler(key) -> points`` draws a fresh set of points of the same
        shapes from a ``jax.random`` key; a solve with ``resample=True``
        calls it before every iteration. Without ``points`` the first set is
        ``sampler(jax.random.PRNGKey(0))``. Sampled points must be finite
        and keep the dtypes of the first set, else a ValueError names the
        condition.
    """

    name: str
    fn: Callable
    points: Any = None
    weight: float = 1.0
    batched: bool = False
    loss: str | Callable | None = None
    f_scale: float = 1.0
    sampler: Callable | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"Condition name must be a non-empty string, got {self.name!r}")
        if not callable(self.fn):
            raise TypeError(f"condition {self.name!r}: fn must be callable, got {type(self.fn)}")
        if isinstance(self.weight, (str, bytes, bool)):
            raise TypeError(
                f"condition {self.name!r}: weight must be a number, got {self.weight!r}"
            )
        try:
            weight = float(self.weight)
        except (TypeError, ValueError):
            raise TypeError(
                f"condition {self.name!r}: weight must be one number, got {self.weight!r}; "
                "for a weight per residual, multiply the residuals in fn"
            ) from None
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(
                f"condition {self.name!r}: weight must be finite and >= 0, got {self.weight!r}"
            )
        if self.loss is not None:
            RobustLoss(self.loss, self.f_scale)  # raises on an unknown loss or bad f_scale
        elif not (math.isfinite(self.f_scale) and self.f_scale > 0):
            raise ValueError(
                f"condition {self.name!r}: f_scale must be finite and > 0, got {self.f_scale!r}"
            )
        if self.sampler is not None and not callable(self.sampler):
            raise TypeError(
                f"condition {self.name!r}: sampler must be callable, got {type(self.sampler)}"
            )
        if self.sampler is not None and self.points is None:
            drawn = jax.tree.map(jnp.asarray, self.sampler(jax.random.PRNGKey(0)))
            check_sampled_points(self.name, drawn)
            object.__setattr__(self, "points", drawn)
        if self.batched and self.points is None:
            raise ValueError(f"condition {self.name!r}: batched=True needs points")
        if self.points is not None:
            for leaf in jax.tree.leaves(self.points):
                dtype = np.asarray(leaf).dtype
                if dtype.kind not in "biuf":
                    raise TypeError(
                        f"condition {self.name!r}: points must be arrays of real numbers, "
                        f"got {leaf!r:.80} with dtype {dtype}"
                    )
            object.__setattr__(self, "points", jax.tree.map(jnp.asarray, self.points))
            self.count  # noqa: B018 (validates the leading axes)
            if not getattr(self.fn, "_returns_array", False):
                object.__setattr__(self, "fn", _returning_array(self.fn))

    @property
    def count(self) -> int | None:
        """Number of points, or None for a condition without points."""
        if self.points is None:
            return None
        leaves = jax.tree.leaves(self.points)
        if not leaves:
            raise ValueError(f"condition {self.name!r}: points is an empty pytree")
        counts = {leaf.shape[0] if leaf.ndim else None for leaf in leaves}
        if None in counts or len(counts) != 1:
            shapes = [leaf.shape for leaf in leaves]
            hint = ""
            if all(shape == () for shape in shapes):
                # A nested list of numbers is a pytree whose leaves are single numbers.
                hint = ("; points is read as a pytree of single numbers, so pass a list of "
                        "numbers as an array: points=np.asarray(points)")
            raise ValueError(
                f"condition {self.name!r}: every array in points needs the same leading "
                f"axis (the points); got shapes {shapes[:4]}{' ...' if len(shapes) > 4 else ''}"
                f"{hint}"
            )
        count = counts.pop()
        if count == 0:
            raise ValueError(f"condition {self.name!r}: points has no rows")
        return count

    @property
    def scale(self) -> float:
        """Factor applied to every residual of the block."""
        if self.points is None:
            return float(self.weight)
        return float(self.weight) / math.sqrt(self.count)

    def raw_residual(self, params, points=None) -> jax.Array:
        """Unscaled residuals of the block, flattened to 1-D.

        ``points`` replaces the condition's own points (same shapes), so that
        compiled functions can take the points as an argument.
        """
        if self.points is None:
            values, _ = ravel_pytree(self.fn(params))
            return values
        points = self.points if points is None else points
        if self.batched:
            values = self.fn(params, points)
        else:
            values = jax.vmap(self.fn, in_axes=(None, 0))(params, points)
        return jnp.reshape(values, (-1,))

    def residual(self, params, points=None) -> jax.Array:
        """Scaled residuals of the block."""
        return self.scale * self.raw_residual(params, points)

    def jacobian(self, params, flatten: Callable, points=None) -> jax.Array:
        """Dense Jacobian of the scaled block, with columns ordered by `flatten`."""
        points = self.points if points is None else points
        if self.points is not None and not self.batched:
            return self.scale * _pointwise_jacobian(self.fn, params, points, flatten)
        x, unravel = ravel_pytree(params)

        def flat_block(x):
            return self.residual(unravel(x), points)

        rows = jax.eval_shape(flat_block, x).shape[0]
        # Forward mode costs one pass per parameter, reverse one per residual.
        jac = jax.jacfwd(flat_block) if rows >= x.shape[0] else jax.jacrev(flat_block)
        return jac(x)


def _returning_array(fn: Callable) -> Callable:
    """Wrap ``fn(params, points)`` so that a list or tuple of residuals becomes one array."""

    @functools.wraps(fn)
    def wrapped(params, points):
        return jnp.asarray(fn(params, points))

    wrapped._returns_array = True
    return wrapped


def check_sampled_points(name: str, points, expected=None) -> None:
    """Raise ValueError, naming condition ``name``, on bad points from a sampler.

    Floating-point leaves must be finite. With ``expected`` (the condition's
    current points), each leaf must keep its dtype, since every compiled
    function is specialised to it. Integer points (indices into a data set)
    are allowed. Only a count and an index come back from the device, so the
    check costs no copy of the points.
    """
    leaves = jax.tree_util.tree_flatten_with_path(points)[0]
    expected_leaves = None if expected is None else jax.tree.leaves(expected)
    for number, (path, leaf) in enumerate(leaves):
        where = "points" + jax.tree_util.keystr(path)
        if expected_leaves is not None and number < len(expected_leaves):
            dtype = jnp.result_type(expected_leaves[number])
            if leaf.dtype != dtype:
                raise ValueError(
                    f"condition {name!r}: sampler returned {where} of dtype {leaf.dtype}, "
                    f"expected {dtype} as in the condition's points; cast them with "
                    f".astype({dtype.name!r})"
                )
        if not jnp.issubdtype(leaf.dtype, jnp.inexact):
            continue
        nonfinite = ~jnp.isfinite(jnp.ravel(leaf))
        count = int(jnp.count_nonzero(nonfinite))
        if count:
            first = int(jnp.argmax(nonfinite))
            index = np.unravel_index(first, leaf.shape)
            index = int(index[0]) if len(index) == 1 else tuple(int(i) for i in index)
            entries = "entry" if count == 1 else "entries"
            raise ValueError(
                f"condition {name!r}: sampler returned {where} with {count} non-finite "
                f"{entries}; the first is {jnp.ravel(leaf)[first]} at index {index}. "
                "Samplers must return finite points."
            )


def _pointwise_jacobian(fn, params, points, flatten) -> jax.Array:
    """Rows of d fn(params, point) / d params for every point, one vmap of grad."""

    def point_rows(point):
        out_shape = jax.eval_shape(fn, params, point).shape
        if out_shape == ():
            grads = jax.grad(fn)(params, point)
            return flatten(grads)[None, :]
        # A few outputs per point: one reverse pass each.
        grads = jax.jacrev(fn)(params, point)
        size = math.prod(out_shape)
        leaves = [jnp.reshape(g, (size, -1)) for g in jax.tree.leaves(grads)]
        return jnp.concatenate(leaves, axis=1)

    rows = jax.vmap(point_rows)(points)
    return jnp.reshape(rows, (-1, rows.shape[-1]))


@dataclasses.dataclass(frozen=True)
class Block:
    """Position of one condition's residuals in the flat residual vector, and its loss."""

    name: str
    start: int
    stop: int
    count: int | None
    loss: str | Callable | None = None
    f_scale: float = 1.0


class Problem:
    """A list of conditions stacked into one residual vector.

    Parameters
    ----------
    conditions : sequence of Condition
        The residual blocks, in the order they appear in the residual vector.
        Names must be unique.
    """

    def __init__(self, conditions: Sequence[Condition]):
        if isinstance(conditions, Condition):
            conditions = [conditions]
        conditions = list(conditions)
        if not conditions:
            raise ValueError("Problem needs at least one Condition, got an empty list")
        for item in conditions:
            if not isinstance(item, Condition):
                raise TypeError(f"Problem takes Condition objects, got {type(item).__name__}")
        names = [c.name for c in conditions]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"condition names must be unique, repeated: {duplicates}")
        if all(float(c.weight) == 0 for c in conditions):
            raise ValueError(
                f"every condition has weight 0 ({', '.join(map(repr, names))}), so the cost is "
                "0 for any params and there is nothing to solve"
            )
        self.conditions = tuple(conditions)
        # Compiled evaluators by parameter structure, filled by svensolve.evaluate.
        self.compiled = {}

    def __repr__(self):
        parts = ", ".join(
            f"{c.name}({c.count} points)" if c.count else c.name for c in self.conditions
        )
        return f"Problem([{parts}])"

    @classmethod
    def from_function(cls, fn: Callable, name: str = "residual") -> Problem:
        """Wrap a plain ``fn(params) -> array or pytree`` as a one-block problem."""
        return cls([Condition(name, fn)])

    def residual(self, params, points=None) -> jax.Array:
        """Flat residual vector: the scaled blocks, concatenated.

        ``points``, one entry per condition as `points` returns them, replaces
        the conditions' own points.
        """
        points = self.points() if points is None else points
        return jnp.concatenate(
            [c.residual(params, at) for c, at in zip(self.conditions, points, strict=True)]
        )

    def jacobian(self, params, points=None) -> jax.Array:
        """Dense Jacobian of `residual` with columns in ``ravel_pytree(params)`` order."""

        def flatten(tree):
            return ravel_pytree(tree)[0]

        points = self.points() if points is None else points
        return jnp.concatenate(
            [c.jacobian(params, flatten, at) for c, at in zip(self.conditions, points, strict=True)]
        )

    def points(self) -> tuple:
        """Return each condition's points, in order (None for a condition without points)."""
        return tuple(c.points for c in self.conditions)

    @property
    def resamplable(self) -> bool:
        """Whether any condition has a sampler."""
        return any(c.sampler is not None for c in self.conditions)

    def sample(self, key) -> tuple:
        """Fresh points from each condition's sampler; the others keep theirs.

        Raises ValueError, naming the condition, when a sampler returns
        non-finite points, or points whose dtypes or shapes differ from the
        condition's, since every compiled function is specialised to them.
        """
        keys = jax.random.split(key, len(self.conditions))
        points = []
        for condition, condition_key in zip(self.conditions, keys, strict=True):
            if condition.sampler is None:
                points.append(condition.points)
                continue
            drawn = jax.tree.map(jnp.asarray, condition.sampler(condition_key))
            check_sampled_points(condition.name, drawn, condition.points)
            expected = jax.tree.map(jnp.shape, condition.points)
            if jax.tree.map(jnp.shape, drawn) != expected:
                raise ValueError(
                    f"condition {condition.name!r}: sampler returned points of shapes "
                    f"{jax.tree.map(jnp.shape, drawn)}, expected {expected}"
                )
            points.append(drawn)
        return tuple(points)

    def blocks(self, params) -> tuple[Block, ...]:
        """Position of each condition in the residual vector, found without evaluating.

        Warns when a condition's residuals are wider floats than the parameters.
        """
        blocks, start, wider = [], 0, []
        param_dtype = np.dtype(jnp.result_type(*jax.tree.leaves(params)))
        for c in self.conditions:
            try:
                # The raw residual, because scaling would turn booleans into floats.
                shape = jax.eval_shape(c.raw_residual, params)
            except Exception as error:
                _name_condition(error, c)
                raise
            if not jnp.issubdtype(shape.dtype, jnp.floating):
                hint = ""
                if jnp.issubdtype(shape.dtype, jnp.complexfloating):
                    hint = ("; for complex values return the real and imaginary parts as "
                            "separate residuals, e.g. jnp.concatenate([z.real, z.imag])")
                raise TypeError(
                    f"condition {c.name!r} must return real floating-point residuals, got "
                    f"dtype {shape.dtype}{hint}"
                )
            size = shape.shape[0]
            if c.batched and size % c.count:
                raise ValueError(
                    f"condition {c.name!r}: batched fn returned {size} residual"
                    f"{'' if size == 1 else 's'} for {c.count} points; it must return the "
                    "same number of residuals for each point"
                )
            blocks.append(Block(c.name, start, start + size, c.count, c.loss, c.f_scale))
            start += size
            if np.dtype(shape.dtype).itemsize > param_dtype.itemsize:
                wider.append(f"{c.name!r} ({np.dtype(shape.dtype)})")
        if wider:
            single = len(wider) == 1
            user_warnings.warn(
                f"{'condition' if single else 'conditions'} {', '.join(wider)} "
                f"{'returns' if single else 'return'} wider floats than the {param_dtype} "
                f"parameters ({'its' if single else 'their'} points or data are wider), so the "
                f"solve mixes the two precisions, with tolerances set for {param_dtype}. Cast "
                f"the points and data to {param_dtype}, or the parameters to the wider type"
            )
        return tuple(blocks)

    def check_start(self, blocks, residual, jacobian) -> None:
        """Raise if the start is non-finite; warn about conditions that ignore params.

        ``residual`` and ``jacobian`` are the flat values at the start and
        ``blocks`` comes from `blocks`, so the check costs no extra evaluation.
        The error names the condition, the first bad point and its value,
        since a NaN residual at the start is almost always a bug in that
        condition.
        """
        residual = np.asarray(residual)
        for condition, block in zip(self.conditions, blocks, strict=True):
            values = residual[block.start : block.stop]
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                raise ValueError(_nonfinite_message(condition, values, bad[0], "residual"))
        if is_operator(jacobian):
            _check_operator_start(jacobian, residual, self.conditions, blocks)
            return
        jacobian = np.asarray(jacobian)
        for condition, block in zip(self.conditions, blocks, strict=True):
            rows = jacobian[block.start : block.stop]
            bad = np.flatnonzero(~np.all(np.isfinite(rows), axis=1))
            if bad.size:
                raise ValueError(_nonfinite_message(condition, rows[:, 0], bad[0], "Jacobian"))
            if condition.scale != 0 and not np.any(rows):
                user_warnings.warn(
                    f"condition {condition.name!r} does not depend on the parameters at the "
                    "start (its Jacobian rows are zero); check that its residuals use the "
                    "parameters"
                )


def _check_operator_start(jacobian, residual, conditions, blocks) -> None:
    """Raise if ``J^T r`` is non-finite, naming the condition and point where the path allows.

    A streamed J is then searched block by block for the first bad row. The
    matrix-free path has no rows, so its error names an entry of ``J^T r``.
    The passes run on copies, so the solve's operator starts its passes as it
    would at any other iterate. A resumed solve then sums its products in the
    same order as the uninterrupted one, and ends at the same bits.
    """
    gradient = copy.copy(jacobian).rmatvec(residual)
    bad = np.flatnonzero(~np.isfinite(gradient))
    if not bad.size:
        return
    found = copy.copy(jacobian).first_nonfinite_row()
    if found is not None:
        row, value = found
        for condition, block in zip(conditions, blocks, strict=True):
            if block.start <= row < block.stop:
                values = np.zeros(block.stop - block.start)
                values[row - block.start] = value
                raise ValueError(
                    _nonfinite_message(condition, values, row - block.start, "Jacobian")
                )
    raise ValueError(
        f"the Jacobian ({jacobian.method} path) has non-finite entries at the start: "
        f"entry {bad[0]} of J^T r is {gradient[bad[0]]}; solve a smaller copy with "
        "jacobian='dense' to find the condition and point"
    )


def _name_condition(error: Exception, condition: Condition) -> None:
    """Add a note to ``error`` that names the condition whose fn failed to trace.

    JAX's shape and type errors name no condition, and with several
    conditions the traceback alone rarely shows which one failed.
    """
    if f"condition {condition.name!r}" in str(error):
        return
    where = f"svensolve: raised while tracing condition {condition.name!r}"
    if condition.points is not None:
        leaves = jax.tree.leaves(condition.points)
        if condition.batched:
            shapes, kind = [leaf.shape for leaf in leaves], "all points at once"
        else:
            shapes, kind = [leaf.shape[1:] for leaf in leaves], "one point at a time"
        where += f" (fn called with {kind}, shapes {shapes})"
        if not condition.batched and () in shapes:
            where += ("; a 1-D points array makes each point a single number, so for an fn "
                      "that reads x[0] pass points[:, None]")
    if isinstance(error, jax.errors.TracerArrayConversionError):
        where += ("; fn must be written with jax.numpy, as JAX traces it. For a residual "
                  "function in plain numpy, use svensolve.least_squares, which falls back "
                  "to finite differences")
    if hasattr(error, "add_note"):
        error.add_note(where)
    else:  # Python 3.10 has no exception notes.
        logger.error("%s: %s", where, error)


def _nonfinite_message(condition, values, index, what) -> str:
    value = values[index]
    if condition.points is None:
        return (
            f"condition {condition.name!r} has a non-finite {what} at the start: "
            f"entry {index} is {value}"
        )
    per_point = values.size // condition.count
    point_index = int(index) // max(per_point, 1)
    point = jax.tree.map(lambda leaf: np.asarray(leaf[point_index]), condition.points)
    return (
        f"condition {condition.name!r} has a non-finite {what} ({value}) at the start, "
        f"first at point {point_index}: {point}"
    )
