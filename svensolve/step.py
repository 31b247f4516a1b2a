"""The Sven step: a filtered pseudo-inverse of the Jacobian applied to the residual.

With factors J ~= U diag(s) V^T and c = U^T r, the step is

    delta = -lr * V (f(s) * c)

where the filter f keeps the ``rank`` largest singular values above
``rtol * s_max`` and is ``s / (s^2 + damping)`` on them. With ``damping = 0``
this is the minimum-norm Gauss-Newton step on the leading singular subspace
(the Sven update); with ``damping > 0`` it is the Levenberg-Marquardt step
restricted to that subspace.

The functions take numpy or jax arrays and return the same kind, so the
Python driver runs them on host arrays and the jitted driver traces them.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Direction(NamedTuple):
    """A step and the quadratic model's view of it."""

    step: np.ndarray
    predicted_reduction: float
    rank: int


def array_namespace(*arrays):
    """jax.numpy if any argument is a jax array or tracer, else numpy."""
    if any(isinstance(a, jax.Array) for a in arrays):
        return jnp
    return np


def filter_factors(singular_values, rank, rtol, damping):
    """Filter values f(s): ``s / (s^2 + damping)`` on kept values, 0 on the rest.

    A value is kept when it is among the first ``rank`` (the values are
    sorted in decreasing order) and above ``rtol * s[0]``.
    """
    xp = array_namespace(singular_values)
    s = singular_values
    index = xp.arange(s.shape[0])
    keep = (index < rank) & (s > rtol * s[0]) & (s > 0)
    safe = xp.where(keep, s, 1.0)
    return xp.where(keep, safe / (safe * safe + damping), 0.0), keep


def sven_direction(factors, residual, lr=1.0, rank=None, rtol=0.0, damping=0.0) -> Direction:
    """Step ``-lr * V f(s) U^T r`` and the reduction of 0.5 ||r + J delta||^2 it predicts.

    The model residual along the kept subspace becomes ``c * (1 - lr s f(s))``
    with ``c = U^T r``; the part of r outside the range of U is unchanged, so
    the predicted reduction is ``0.5 sum c^2 (1 - (1 - lr s f)^2)``.
    """
    u, s, v = factors
    xp = array_namespace(u, s, v, residual)
    if rank is None:
        rank = s.shape[0]
    coefficients = u.T @ residual
    filtered, keep = filter_factors(s, rank, rtol, damping)
    # Control state may be float64 while the problem is float32; keep the
    # problem's dtype so a float32 solve stays float32.
    # -(V w), not (-V) w, which would negate a copy of the whole p x k matrix V.
    step = (-(v @ (lr * filtered * coefficients))).astype(residual.dtype)
    shrink = 1.0 - lr * s * filtered
    predicted = 0.5 * xp.sum(coefficients**2 * (1.0 - shrink**2))
    return Direction(step, predicted, xp.sum(keep))


def ladder_directions(factors, residual, rank, cutoffs) -> Direction:
    """Compute the undamped steps of several cutoffs at once, as rows, with reductions and ranks.

    ``c = U^T r`` is computed once, and the m steps come from one product of
    V with a k x m matrix instead of m matrix-vector products.
    """
    u, s, v = factors
    xp = array_namespace(u, s, v, residual)
    if rank is None:
        rank = s.shape[0]
    coefficients = u.T @ residual
    filters = [filter_factors(s, rank, cutoff, 0.0) for cutoff in cutoffs]
    filtered = xp.stack([f for f, _ in filters])  # (m, k)
    steps = -((v @ (filtered * coefficients).T).T).astype(residual.dtype)
    shrink = 1.0 - s * filtered
    predicted = 0.5 * xp.sum(coefficients**2 * (1.0 - shrink**2), axis=1)
    ranks = xp.stack([xp.sum(keep) for _, keep in filters])
    return Direction(steps, predicted, ranks)


def largest_column_projection(jacobian, residual):
    """Largest |J_i^T r| / ||J_i|| over the columns of J; zero columns give 0.

    Divided by ||r|| this is scipy's "lm" gtol measure, the largest cosine
    between r and a column, which does not change when residuals or
    parameters are rescaled.
    """
    xp = array_namespace(jacobian, residual)
    norms = column_norms(jacobian)
    norms = xp.where(norms == 0, 1.0, norms)
    return xp.max(xp.abs(jacobian.T @ residual) / norms)


def column_norms(matrix):
    """Return the 2-norms of the columns of ``matrix``, without overflow.

    Squaring an entry above about 1e154 overflows float64, and a column norm
    of inf made the gradient test pass at any point. Each column is divided
    by its largest entry first.
    """
    xp = array_namespace(matrix)
    largest = xp.max(xp.abs(matrix), axis=0, initial=0.0)
    divisor = xp.where((largest > 0) & xp.isfinite(largest), largest, 1.0)
    return divisor * xp.linalg.norm(matrix / divisor, axis=0)
