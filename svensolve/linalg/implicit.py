"""Truncated SVD of a Jacobian known through products: sketches and the Gram matrix.

Three methods, each returning `Factors` with ``J ~= u @ diag(s) @ v.T``:

- ``"randomized"``: the Halko-Martinsson-Tropp range finder with power
  iterations. Cost: ``2 + 2 q`` passes over J (q power iterations), each a
  product with ``rank + oversampling`` columns, or 2 passes for q = 1 when
  rtol allows (`_two_pass_factors`).
- ``"single-pass"``: the range finder without power iterations, with both
  products it needs, ``Y = J Omega`` and ``J^T Y``, formed in one pass
  (`single_pass_factors`).
- ``"krylov"``: randomized block Krylov. It makes the same passes, but it keeps
  every block of the power sequence in the basis instead of only the last, so
  the leading singular values come out more accurately for the same work.
- ``"gram"``: an eigendecomposition of the smaller Gram matrix (``J J^T``
  when n <= p, ``J^T J`` otherwise). It gives the whole spectrum, but squaring
  J loses the singular values below about ``sqrt(eps) * s_max`` to rounding.
  The other factor is left implicit, so that memory stays at one n x n (or
  p x p) matrix: applying it costs one product with J.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from svensolve.linalg.dense import Factors
from svensolve.linalg.operator import ImplicitRightFactor, JacobianOperator
from svensolve.linalg.threads import one_thread_if_small
from svensolve.step import column_norms

OPERATOR_METHODS = ("randomized", "single-pass", "krylov", "gram")


class ArrayOperator(JacobianOperator):
    """A dense array seen as an operator, so that every method also runs on it."""

    method = "dense"

    def __init__(self, matrix):
        matrix = np.asarray(matrix)
        super().__init__(matrix.shape, matrix.dtype)
        self.matrix = matrix

    def _scaled_matrix(self):
        matrix = self.matrix
        if self.row_scale is not None:
            matrix = matrix * self.row_scale[:, None]
        if self.column_scale is not None:
            matrix = matrix * self.column_scale
        return matrix

    def matmat(self, block):
        return self._scaled_matrix() @ block

    def rmatmat(self, block):
        return self._scaled_matrix().T @ block

    def column_norms(self):
        return column_norms(self._scaled_matrix())

    def gram_matrix(self):
        matrix = self._scaled_matrix()
        n, p = matrix.shape
        return matrix @ matrix.T if n <= p else matrix.T @ matrix


class ImplicitLeftFactor:
    """``U = J V diag(1/s)``, of which the step needs only ``U.T @ r``."""

    def __init__(self, operator: JacobianOperator, v: np.ndarray, s: np.ndarray):
        self.operator = operator
        self.v = v
        self.s = s
        self.shape = (operator.shape[0], s.shape[0])
        self.dtype = operator.dtype

    @property
    def T(self):  # noqa: N802 (numpy's name for the transpose)
        return _TransposedLeftFactor(self)


class _TransposedLeftFactor:
    def __init__(self, left: ImplicitLeftFactor):
        self.left = left

    def __matmul__(self, residual):
        left = self.left
        safe = np.where(left.s > 0, left.s, 1.0)
        projected = left.v.T @ left.operator.rmatvec(np.asarray(residual))
        return np.where(left.s > 0, projected / safe, 0.0)


def sketch_width(rank: int, shape, oversampling: int) -> int:
    """Number of test vectors: ``rank + oversampling``, at most min(n, p)."""
    return max(1, min(rank + oversampling, *shape))


def randomized_factors(operator: JacobianOperator, rank: int, oversampling: int = 10,
                       power_iterations: int = 1, seed: int = 0,
                       two_pass: bool = False) -> Factors:
    """Leading ``rank`` singular triplets from products with J and J^T.

    A QR factorisation follows every product, so that the singular values
    below ``eps^(1/(2q+1)) * s_max`` are not lost to rounding in the powers.
    With ``two_pass`` and one power iteration, ``J^T J Omega`` is formed in
    one pass without the QR in between (see `_two_pass_factors`).
    """
    n, p = operator.shape
    width = sketch_width(rank, operator.shape, oversampling)
    rng = np.random.default_rng(seed)
    test = rng.standard_normal((p, width)).astype(operator.dtype)
    if two_pass and power_iterations == 1:
        return _two_pass_factors(operator, test, rank)
    basis = _orthonormal(operator.matmat(test))
    for _ in range(power_iterations):
        basis = _orthonormal(operator.rmatmat(basis))
        basis = _orthonormal(operator.matmat(basis))
    return _factors_from_basis(operator, basis, rank)


def _two_pass_factors(operator: JacobianOperator, test: np.ndarray, rank: int) -> Factors:
    """Factors from ``Q = orth(J^T J Omega)`` and the SVD of ``J Q``: two passes over J.

    The subspace is the one of one power iteration, but without the QR after
    ``J Omega`` the directions with s below about ``sqrt(eps) * s_max`` are
    lost to rounding, so callers use it only when rtol cuts them anyway. On
    a streamed J each pass builds every row block, so this halves the cost.
    """
    basis = _orthonormal(operator.normal_matmat(test))  # (p, width)
    projected = operator.matmat(basis)  # J Q = W S Vt, so J ~= W S (Q Vt^T)^T
    with one_thread_if_small(*projected.shape):
        left, s, wt = scipy.linalg.svd(projected, full_matrices=False, check_finite=False)
    k = min(rank, s.size)
    operator.spectral_norm = float(s[0]) if s.size else 0.0
    return Factors(left[:, :k], s[:k], basis @ wt[:k].T)


def single_pass_factors(operator: JacobianOperator, rank: int, oversampling: int = 10,
                        seed: int = 0) -> Factors:
    """Leading ``rank`` singular triplets from one pass over J.

    With ``Y = J Omega = Q R``, the projection of J onto the range basis Q is
    ``Q^T J = (J^T Y R^{-1})^T``, and ``J^T Y`` is summed over row blocks in
    the same pass that forms Y. This is the range finder without power
    iterations, so its subspace is less accurate than `randomized_factors`'
    when the spectrum decays slowly, and ``R^{-1}`` amplifies rounding in the
    directions with s below about ``sqrt(eps) * s_max``: use it when rtol
    cuts those.
    """
    width = sketch_width(rank, operator.shape, oversampling)
    rng = np.random.default_rng(seed)
    test = rng.standard_normal((operator.shape[1], width)).astype(operator.dtype)
    product, normal = operator.range_and_normal_matmat(test)
    with one_thread_if_small(*product.shape):
        basis, triangle = np.linalg.qr(product)
        # R is singular when J has a lower rank than the sketch's width, and
        # R^{-1} would then turn rounding into directions. With R = W S Z^T
        # and Y = (Q W) S Z^T, the columns of Q W whose value in S is above
        # rounding span the range of Y, and J^T (Q W) = (J^T Y) Z S^{-1}.
        left, values, right_t = scipy.linalg.svd(triangle, check_finite=False)
    keep = values > _rank_tolerance(triangle.shape, np.max(values, initial=0.0), operator.dtype)
    projected = (normal @ right_t[keep].T) / values[keep]
    return _factors_from_projection(operator, basis @ left[:, keep], projected, rank)


def block_krylov_factors(operator: JacobianOperator, rank: int, oversampling: int = 10,
                         depth: int = 1, seed: int = 0) -> Factors:
    """Leading ``rank`` singular triplets from a block Krylov basis of depth ``depth``.

    The basis spans ``[Y, (J J^T) Y, ..., (J J^T)^depth Y]`` with ``Y = J Omega``;
    each new block is orthogonalised against the previous ones twice
    (classical Gram-Schmidt with reorthogonalisation).
    """
    width = sketch_width(rank, operator.shape, oversampling)
    rng = np.random.default_rng(seed)
    test = rng.standard_normal((operator.shape[1], width)).astype(operator.dtype)
    block = _orthonormal(operator.matmat(test))
    blocks = [block]
    for _ in range(depth):
        block = _orthonormal(operator.rmatmat(block))
        block = operator.matmat(block)
        basis = np.concatenate(blocks, axis=1)
        if basis.shape[1] + block.shape[1] > operator.shape[0]:
            break  # the basis already spans every residual direction
        block = _new_directions(block, basis)
        if block.shape[1] == 0:
            break  # J has no direction outside the basis
        blocks.append(block)
    return _factors_from_basis(operator, np.concatenate(blocks, axis=1), rank)


def _new_directions(block: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Return an orthonormal basis of the part of ``block`` outside the orthonormal ``basis``.

    When J has a lower rank than the basis is wide, what is left of the block
    after projection is rounding. Normalising it would give columns that are
    far from orthogonal to ``basis`` (0.08 on a fit with 5 zero columns of
    20). So only the directions above the rank tolerance of numpy's
    ``matrix_rank``, relative to the block before projection, are kept.
    """
    scale = np.linalg.norm(block, axis=0)
    for _ in range(2):  # classical Gram-Schmidt with reorthogonalisation
        block = block - basis @ (basis.T @ block)
    with one_thread_if_small(*block.shape):
        left, values, _ = scipy.linalg.svd(block, full_matrices=False, check_finite=False)
    keep = values > _rank_tolerance(block.shape, np.max(scale, initial=0.0), block.dtype)
    directions = left[:, keep]
    return _orthonormal(directions - basis @ (basis.T @ directions))


def _rank_tolerance(shape, largest: float, dtype) -> float:
    """Return numpy's ``matrix_rank`` tolerance, ``max(shape) * eps * largest``.

    ``largest`` is the largest singular value, or a bound on it.
    """
    return max(shape) * np.finfo(dtype).eps * float(largest)


def gram_factors(operator: JacobianOperator, rank: int | None = None,
                 explicit_bytes: int | None = None) -> Factors:
    """Singular triplets from an eigendecomposition of the smaller Gram matrix.

    ``operator`` needs a ``gram_matrix()`` method returning ``J J^T`` when
    n <= p and ``J^T J`` otherwise. The Gram matrix is symmetrised before the
    eigendecomposition, since blocked accumulation leaves it asymmetric in
    the last bits. The other factor is formed by one product with J when it
    takes at most ``explicit_bytes`` (None: always), so later steps cost no
    pass over J; otherwise it stays implicit.
    """
    n, p = operator.shape
    # Kept in the Gram matrix's own dtype (float64 on the streamed path), so
    # the eigendecomposition does not lose what the accumulation kept.
    gram = np.asarray(operator.gram_matrix())
    gram = 0.5 * (gram + gram.T)
    with one_thread_if_small(*gram.shape):
        eigenvalues, eigenvectors = scipy.linalg.eigh(gram, check_finite=False)
    order = np.argsort(eigenvalues)[::-1]
    keep = order if rank is None else order[:rank]
    s = np.sqrt(np.maximum(eigenvalues[keep], 0.0))
    vectors = eigenvectors[:, keep]
    operator.spectral_norm = float(s[0]) if s.size else 0.0
    explicit = explicit_bytes is None or max(n, p) * s.size * operator.dtype.itemsize <= (
        explicit_bytes
    )
    if n <= p:
        right = ImplicitRightFactor(operator, vectors, s)
        if explicit:
            right = right @ np.eye(s.size, dtype=operator.dtype)
        return Factors(vectors, s, right)
    if explicit:
        safe = np.where(s > 0, s, 1.0)
        left = np.where(s > 0, operator.matmat(vectors) / safe, 0.0)
        return Factors(left, s, vectors)
    return Factors(ImplicitLeftFactor(operator, vectors, s), s, vectors)


def operator_factors(operator: JacobianOperator, rank: int | None, method: str,
                     seed: int = 0, explicit_bytes: int | None = None,
                     rtol: float = 0.0) -> Factors:
    """Factors of ``operator`` by ``method``; ``rank`` None keeps all for "gram".

    The randomized method takes two passes instead of four when ``rtol``
    cuts every singular value that the shorter scheme loses to rounding.
    """
    if method == "gram":
        return gram_factors(operator, rank, explicit_bytes)
    if rank is None:
        raise ValueError(f"svd={method!r} needs a rank; got rank=None")
    if method == "randomized":
        two_pass = rtol >= np.sqrt(np.finfo(operator.dtype).eps)
        return randomized_factors(operator, rank, seed=seed, two_pass=two_pass)
    if method == "single-pass":
        return single_pass_factors(operator, rank, seed=seed)
    if method == "krylov":
        return block_krylov_factors(operator, rank, seed=seed)
    raise ValueError(f"svd must be one of {OPERATOR_METHODS} for an operator, got {method!r}")


def _orthonormal(block: np.ndarray) -> np.ndarray:
    with one_thread_if_small(*block.shape):
        basis, _ = np.linalg.qr(block)
    return basis


def _factors_from_basis(operator: JacobianOperator, basis: np.ndarray, rank: int) -> Factors:
    """Project J onto the orthonormal ``basis`` of its range and factor the small matrix.

    With ``B = Q^T J`` (computed as ``(J^T Q)^T``) and ``B = W S V^T``,
    ``J ~= (Q W) S V^T``.
    """
    return _factors_from_projection(operator, basis, operator.rmatmat(basis), rank)


def _factors_from_projection(operator: JacobianOperator, basis: np.ndarray,
                             projected: np.ndarray, rank: int) -> Factors:
    """Factor ``B = Q^T J`` from ``projected = B^T`` (p, width): ``J ~= (Q W) S V^T``."""
    with one_thread_if_small(*projected.shape):
        v, s, wt = scipy.linalg.svd(projected, full_matrices=False, check_finite=False)
    k = min(rank, s.size)
    operator.spectral_norm = float(s[0]) if s.size else 0.0
    return Factors(basis @ wt[:k].T, s[:k], v[:, :k])
