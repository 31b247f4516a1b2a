"""Micro-batching: fewer Jacobian rows by merging residuals of groups of points.

It trades the accuracy of the model for memory. The points of a
condition are split into groups of ``size``, and each group contributes one
residual, the root mean square of its members. J then has ``count / size``
rows for the condition in place of ``count``. The cost is unchanged:

    sum over groups of (w / sqrt(count / size))^2 * (sum r_i^2 / size)
        = (w^2 / count) * sum r_i^2

but the step only sees each group's norm, so it is a coarser model of the
same cost (Gauss-Newton on the group norms).
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp

from svensolve.problem import Condition, check_sampled_points


def micro_batch(condition: Condition, size: int) -> Condition:
    """Return ``condition`` with its points merged into groups of ``size``.

    Raises ValueError when the condition has no points or its point count is
    not a multiple of ``size``. The grouped condition's sampler raises
    ValueError in the same case, and on points that `Problem.sample` rejects.
    """
    if not isinstance(condition, Condition):
        raise TypeError(f"micro_batch takes a Condition, got {type(condition).__name__}")
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"micro_batch size must be an integer >= 1, got {size!r}")
    if condition.points is None:
        raise ValueError(f"condition {condition.name!r} has no points to micro-batch")
    size = int(size)
    count = condition.count
    if count % size:
        raise ValueError(
            f"condition {condition.name!r} has {count} points, not a multiple of the "
            f"micro-batch size {size}"
        )
    fn, batched = condition.fn, condition.batched

    def group_residual(params, group):
        if batched:
            values = fn(params, group)
        else:
            values = jax.vmap(fn, in_axes=(None, 0))(params, group)
        return _root_mean_square(jnp.reshape(values, (-1,)), size)

    sampler = None
    if condition.sampler is not None:
        original, name = condition.sampler, condition.name

        def sampler(key):
            # Checked before grouping, so errors show the indices the sampler returned.
            points = jax.tree.map(jnp.asarray, original(key))
            check_sampled_points(name, points)
            _check_group_count(name, points, size, count)
            return _group(points, size)

    return Condition(
        condition.name,
        group_residual,
        points=_group(condition.points, size),
        weight=condition.weight,
        loss=condition.loss,
        f_scale=condition.f_scale,
        sampler=sampler,
    )


def _check_group_count(name: str, points, size: int, count: int) -> None:
    """Raise ValueError unless every leaf of sampled ``points`` has a multiple of ``size`` rows."""
    for leaf in jax.tree.leaves(points):
        rows = leaf.shape[0] if leaf.ndim else None
        if rows is None or rows % size:
            seen = f"{rows} points" if rows is not None else "a scalar in points"
            raise ValueError(
                f"condition {name!r}: sampler returned {seen}, not a multiple of the "
                f"micro-batch size {size}; return {count} points, as many as the condition has"
            )


def _group(points, size: int):
    """Reshape every leaf from (count, ...) to (count / size, size, ...)."""
    return jax.tree.map(lambda leaf: jnp.reshape(leaf, (-1, size, *leaf.shape[1:])), points)


def _root_mean_square(values, size: int):
    """``sqrt(sum values^2 / size)`` with a zero (not NaN) gradient at zero."""
    total = jnp.sum(values * values) / size
    positive = total > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, total, 1.0)), 0.0)
