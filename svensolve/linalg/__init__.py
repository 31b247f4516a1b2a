"""Truncated SVD factors of the residual Jacobian.

Every path returns `Factors(u, s, v)` with ``J ~= u @ diag(s) @ v.T``, the
singular values in decreasing order; the step is formed from these factors and
the pseudo-inverse is never built.
"""

from svensolve.linalg.dense import Factors, randomized_svd, thin_svd, truncated_svd

__all__ = ["Factors", "randomized_svd", "thin_svd", "truncated_svd"]
