"""Jacobians known through their products, never held as an n x p array.

A `JacobianOperator` stands for ``diag(a) J diag(b)`` at one point, where J is
the residual Jacobian and ``a``, ``b`` are row and column scales (a robust
loss rescales rows, bounds and column scaling rescale columns). Subclasses
provide the products; the functions at the bottom of this module accept a
dense numpy Jacobian or an operator, so the solver loop has one code path.
"""

from __future__ import annotations

import abc
import copy

import numpy as np

from svensolve.step import column_norms as matrix_column_norms


class JacobianOperator(abc.ABC):
    """The products ``J @ W`` and ``J.T @ C`` of a scaled Jacobian.

    Parameters
    ----------
    shape : (int, int)
        ``(n, p)``: residuals by parameters.
    dtype : numpy dtype
        Dtype of the products (the problem's dtype).
    """

    #: Name of the path that built the operator, as `jacobian=` takes it.
    method = "operator"

    def __init__(self, shape: tuple[int, int], dtype):
        self.shape = tuple(int(size) for size in shape)
        self.dtype = np.dtype(dtype)
        self.row_scale: np.ndarray | None = None
        self.column_scale: np.ndarray | None = None
        # Largest singular value seen by the last factorisation, kept for the
        # gradient test of operators whose column norms are not available.
        self.spectral_norm: float | None = None

    def __repr__(self):
        n, p = self.shape
        return f"{type(self).__name__}(n={n}, p={p}, dtype={self.dtype})"

    @property
    def T(self):  # noqa: N802 (numpy's name for the transpose)
        raise TypeError(
            f"{type(self).__name__} is not a matrix; use rmatmat for J.T @ C "
            "or solve with jacobian='dense' to get the matrix"
        )

    @abc.abstractmethod
    def matmat(self, block: np.ndarray) -> np.ndarray:
        """Return ``diag(a) J diag(b) @ block`` for a (p, m) block."""

    @abc.abstractmethod
    def rmatmat(self, block: np.ndarray) -> np.ndarray:
        """Return ``(diag(a) J diag(b)).T @ block`` for an (n, m) block."""

    def normal_matmat(self, block: np.ndarray) -> np.ndarray:
        """Return ``J.T @ (J @ block)`` for a (p, m) block, with the scales applied.

        Paths that build rows override this to form both products in one pass.
        """
        return self.rmatmat(self.matmat(block))

    def range_and_normal_matmat(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``J @ block`` and ``J.T @ (J @ block)`` for a (p, m) block, scales applied.

        Paths that build rows override this to form both products in one pass.
        """
        product = self.matmat(block)
        return product, self.rmatmat(product)

    def column_norms(self) -> np.ndarray:
        """Euclidean norm of each column; subclasses that cannot afford it raise."""
        raise NotImplementedError(f"{type(self).__name__} does not compute column norms")

    def first_nonfinite_row(self) -> tuple[int, float] | None:
        """Return the row index and value of the first non-finite entry of J, or None.

        None also means that the path cannot look at rows one by one.
        """
        return None

    def expect_residual(self, residual: np.ndarray) -> None:
        """Announce that ``rmatvec(residual)`` follows.

        A path that streams rows computes it during its next pass; the others ignore this.
        """
        return None

    def matvec(self, vector: np.ndarray) -> np.ndarray:
        """Return ``J @ vector`` with the scales applied."""
        return self.matmat(vector[:, None])[:, 0]

    def rmatvec(self, vector: np.ndarray) -> np.ndarray:
        """Return ``J.T @ vector`` with the scales applied."""
        return self.rmatmat(vector[:, None])[:, 0]

    def scaled(self, rows=None, columns=None) -> JacobianOperator:
        """Return a copy whose rows and columns are multiplied by ``rows`` and ``columns``."""
        other = copy.copy(self)
        if rows is not None:
            rows = np.asarray(rows, dtype=self.dtype)
            other.row_scale = rows if self.row_scale is None else self.row_scale * rows
        if columns is not None:
            columns = np.asarray(columns, dtype=self.dtype)
            other.column_scale = (
                columns if self.column_scale is None else self.column_scale * columns
            )
        other.spectral_norm = None
        return other

    def _scale_input(self, block: np.ndarray) -> np.ndarray:
        return block if self.column_scale is None else block * self.column_scale[:, None]

    def _scale_output(self, block: np.ndarray) -> np.ndarray:
        return block if self.row_scale is None else block * self.row_scale[:, None]

    def _scale_transposed_input(self, block: np.ndarray) -> np.ndarray:
        return block if self.row_scale is None else block * self.row_scale[:, None]

    def _scale_transposed_output(self, block: np.ndarray) -> np.ndarray:
        return block if self.column_scale is None else block * self.column_scale[:, None]


class ImplicitRightFactor:
    """``V = diag(d) J^T U diag(1/s)``, applied to vectors without forming it.

    The Gram path finds U and s from the n x n matrix J J^T; forming V would
    take as much memory as J itself, while the step needs only ``V @ w``,
    which is one product with J^T.
    """

    def __init__(self, operator: JacobianOperator, u: np.ndarray, s: np.ndarray,
                 column_factor: np.ndarray | None = None, sign: float = 1.0):
        self.operator = operator
        self.u = u
        self.s = s
        self.column_factor = column_factor
        self.sign = sign
        self.shape = (operator.shape[1], s.shape[0])
        self.dtype = operator.dtype

    def __matmul__(self, weights):
        weights = np.asarray(weights)
        safe = np.where(self.s > 0, self.s, 1.0)
        inverse = np.where(self.s > 0, 1.0 / safe, 0.0)
        if weights.ndim == 1:
            product = self.operator.rmatvec(self.u @ (inverse * weights))
            column_factor = self.column_factor
        else:
            product = self.operator.rmatmat(self.u @ (inverse[:, None] * weights))
            column_factor = None if self.column_factor is None else self.column_factor[:, None]
        if column_factor is not None:
            product = product * column_factor
        return self.sign * product

    def __neg__(self):
        return ImplicitRightFactor(self.operator, self.u, self.s, self.column_factor, -self.sign)

    def __truediv__(self, divisor):
        divisor = np.asarray(divisor)
        if divisor.ndim == 2:  # a column of per-parameter divisors, as in v / d[:, None]
            divisor = divisor[:, 0]
        factor = 1.0 / divisor
        if self.column_factor is not None:
            factor = factor * self.column_factor
        return ImplicitRightFactor(self.operator, self.u, self.s, factor, self.sign)


def is_operator(jacobian) -> bool:
    """Return whether ``jacobian`` is an operator rather than an array."""
    return isinstance(jacobian, JacobianOperator)


def scale_rows(jacobian, weights):
    """Return ``diag(weights) @ jacobian`` for an array or an operator."""
    if is_operator(jacobian):
        return jacobian.scaled(rows=weights)
    return jacobian * weights[:, None]


def scale_columns(jacobian, weights):
    """Return ``jacobian @ diag(weights)`` for an array or an operator."""
    if is_operator(jacobian):
        return jacobian.scaled(columns=weights)
    return jacobian * weights


def transpose_times(jacobian, vector: np.ndarray) -> np.ndarray:
    """Return ``J.T @ vector`` for an array or an operator."""
    if is_operator(jacobian):
        return jacobian.rmatvec(vector)
    return jacobian.T @ vector


def times(jacobian, block: np.ndarray) -> np.ndarray:
    """Return ``J @ block`` for an array or an operator; ``block`` is (p,) or (p, m)."""
    if not is_operator(jacobian):
        return jacobian @ block
    if block.ndim == 1:
        return jacobian.matvec(block)
    return jacobian.matmat(block)


def column_norms(jacobian) -> np.ndarray | None:
    """Column norms of J, or None for an operator that cannot afford them."""
    if not is_operator(jacobian):
        return matrix_column_norms(jacobian)
    try:
        return jacobian.column_norms()
    except NotImplementedError:
        return None


def largest_column_projection(jacobian, residual: np.ndarray) -> float:
    """Largest ``|J_i^T r| / ||J_i||`` over the columns of J; zero columns give 0.

    Divided by ``||r||`` this is scipy's "lm" gtol measure, the largest
    cosine between r and a column. For an operator without column norms,
    ``||J^T r|| / ||J||_2`` takes its place, with ``||J||_2`` the largest
    singular value from the last factorisation: like the cosine it does not
    change when all residuals are rescaled, but it is a different number.
    """
    gradient = transpose_times(jacobian, residual)
    norms = column_norms(jacobian)
    if norms is None:
        spectral_norm = jacobian.spectral_norm
        if not spectral_norm:
            return float("inf")
        return float(np.linalg.norm(gradient) / spectral_norm)
    norms = np.where(norms == 0, 1.0, norms)
    return float(np.max(np.abs(gradient) / norms))
