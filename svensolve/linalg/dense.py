"""Truncated SVD of a dense Jacobian held in memory: exact thin and randomized."""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
import scipy.linalg

from svensolve.linalg.threads import one_thread_if_small

logger = logging.getLogger(__name__)

# Below this ratio of rank to min(n, p) the randomized range finder does less
# work than a full thin SVD (measured on 1,020 x 1,185 Jacobians: rank 128
# costs about a third of LAPACK's gesdd).
RANDOMIZED_MAX_FRACTION = 0.25


class Factors(NamedTuple):
    """Singular triplets of a Jacobian: ``J ~= u @ diag(s) @ v.T``.

    ``u`` is (n, k), ``s`` is (k,) in decreasing order, ``v`` is (p, k).
    """

    u: np.ndarray
    s: np.ndarray
    v: np.ndarray


def thin_svd(jacobian) -> Factors:
    """Exact thin SVD with LAPACK's divide and conquer driver.

    gesdd is several times faster than gesvd on PINN-sized matrices, but it
    can fail to converge on rare inputs; gesvd is the fallback.
    """
    jacobian = np.asarray(jacobian)
    with one_thread_if_small(*jacobian.shape):
        try:
            u, s, vt = scipy.linalg.svd(
                jacobian, full_matrices=False, check_finite=False, lapack_driver="gesdd"
            )
        except np.linalg.LinAlgError:
            logger.info("gesdd did not converge; retrying with gesvd")
            u, s, vt = scipy.linalg.svd(
                jacobian, full_matrices=False, check_finite=False, lapack_driver="gesvd"
            )
    return Factors(u, s, vt.T)


def randomized_svd(
    jacobian, rank: int, oversampling: int = 10, power_iterations: int = 2, seed: int = 0
) -> Factors:
    """Leading ``rank`` singular triplets by the Halko-Martinsson-Tropp range finder.

    A Gaussian test matrix of ``rank + oversampling`` columns samples the range
    of J; each power iteration multiplies by J J^T to sharpen the spectrum, with
    a QR between products so that small singular values are not lost to
    rounding. The SVD of the small projected matrix gives the factors.
    """
    jacobian = np.asarray(jacobian)
    n, p = jacobian.shape
    width = min(rank + oversampling, n, p)
    rng = np.random.default_rng(seed)
    sample = jacobian @ rng.standard_normal((p, width)).astype(jacobian.dtype)
    with one_thread_if_small(max(n, p), width):
        basis, _ = np.linalg.qr(sample)
        for _ in range(power_iterations):
            basis, _ = np.linalg.qr(jacobian.T @ basis)
            basis, _ = np.linalg.qr(jacobian @ basis)
        small = basis.T @ jacobian
        u_small, s, vt = scipy.linalg.svd(small, full_matrices=False, check_finite=False)
    k = min(rank, s.size)
    return Factors(basis @ u_small[:, :k], s[:k], vt[:k].T)


def truncated_svd(
    jacobian, rank: int | None = None, method: str = "auto", seed: int = 0
) -> Factors:
    """Compute the ``rank`` largest singular triplets of a dense Jacobian.

    Parameters
    ----------
    jacobian : array (n, p)
    rank : int, optional
        Number of triplets to keep; all ``min(n, p)`` when None.
    method : {"auto", "exact", "randomized"}
        "auto" uses the randomized range finder when ``rank`` is below
        `RANDOMIZED_MAX_FRACTION` of ``min(n, p)``, else the exact thin SVD.
    seed : int
        Seed of the randomized test matrix.
    """
    n, p = np.shape(jacobian)
    full = min(n, p)
    if rank is None or rank >= full:
        rank = full
    if method == "auto":
        method = "randomized" if rank < RANDOMIZED_MAX_FRACTION * full else "exact"
    if method == "randomized":
        return randomized_svd(jacobian, rank, seed=seed)
    if method != "exact":
        raise ValueError(f"method must be 'auto', 'exact' or 'randomized', got {method!r}")
    u, s, v = thin_svd(jacobian)
    return Factors(u[:, :rank], s[:rank], v[:, :rank])
