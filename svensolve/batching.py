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

from svensolve.problem import Condition


def micro_batch(condition: Condition, size: int) -> Condition:
    """Return ``condition`` with its points merged into groups of ``size``.

    Raises ValueError when the condition has no points or its point count is
    not a multiple of ``size``.
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
        original = condition.sampler

        def sampler(key):
            return _group(original(key), size)

    return Condition(
        condition.name,
        group_residual,
        points=_group(condition.points, size),
        weight=condition.weight,
        loss=condition.loss,
        f_scale=condition.f_scale,
        sampler=sampler,
    )


def _group(points, size: int):
    """Reshape every leaf from (count, ...) to (count / size, size, ...)."""
    return jax.tree.map(lambda leaf: jnp.reshape(leaf, (-1, size, *leaf.shape[1:])), points)


def _root_mean_square(values, size: int):
    """``sqrt(sum values^2 / size)`` with a zero (not NaN) gradient at zero."""
    total = jnp.sum(values * values) / size
    positive = total > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, total, 1.0)), 0.0)
