"""A Jacobian streamed by blocks of rows: each block is built, used and dropped.

Peak memory is one block (``rows x p``) plus the product being accumulated,
never the n x p matrix. Each pass over the blocks costs about as much as one
dense Jacobian evaluation. Products run at ``Precision.HIGHEST`` so that a
float32 problem on an accelerator does not get TF32 matrix products, whose
rounding can make ``J J^T`` indefinite.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from svensolve.linalg.operator import JacobianOperator

HIGHEST = jax.lax.Precision.HIGHEST


class RowChunk(NamedTuple):
    """Rows ``start:stop`` of J; ``build(x)`` returns them as a device array."""

    start: int
    stop: int
    build: Callable[[jax.Array], jax.Array]


class StreamedJacobian(JacobianOperator):
    """J at ``x``, available one block of rows at a time.

    Parameters
    ----------
    x : array (p,)
        The point.
    chunks : sequence of RowChunk
        Blocks that cover rows ``0:n`` in order.
    panel_rows : int
        Rows held at once while the Gram matrix ``J J^T`` is accumulated;
        more rows mean fewer passes (about ``n / panel_rows`` of them).
    """

    method = "streamed"

    def __init__(self, x, chunks, p: int, panel_rows: int):
        n = chunks[-1].stop
        super().__init__((n, p), np.asarray(x).dtype)
        self.x = jnp.asarray(x)
        self.chunks = tuple(chunks)
        self.panel_rows = max(int(panel_rows), 1)
        self.passes = 0  # row blocks built so far, counted in whole passes over J
        # Column sums of squares and J^T r are accumulated during the first pass
        # of any product, since building the rows, not using them, is the cost.
        self._squares = None
        self._expected_residual = None
        self._gradient = None
        # The last block built is kept, and the next pass runs the other way and
        # starts with it. This saves one build per pass, so a J that fits in
        # one block is built once. Memory stays within the one-block bound.
        self._last_block = None
        self._reverse = False

    def scaled(self, rows=None, columns=None):
        other = super().scaled(rows, columns)
        other._last_block = None  # its rows carry this operator's row scale
        if rows is not None:
            other._squares = other._expected_residual = other._gradient = None
        return other

    def expect_residual(self, residual: np.ndarray) -> None:
        """Compute ``J^T residual`` during the next pass, for a later `rmatvec`."""
        self._expected_residual = np.asarray(residual, dtype=self.dtype)
        self._gradient = None

    def _stream(self):
        """Yield ``(chunk, rows)``, gathering column squares and J^T r on the first pass."""
        gather_squares = self._squares is None
        residual = self._expected_residual if self._gradient is None else None
        squares = jnp.zeros(self.shape[1], dtype=self.dtype) if gather_squares else None
        gradient = None if residual is None else jnp.zeros(self.shape[1], dtype=self.dtype)
        order = self.chunks[::-1] if self._reverse else self.chunks
        self._reverse = not self._reverse
        for chunk in order:
            rows = self._block_rows(chunk)
            if gather_squares:
                squares = squares + jnp.sum(rows * rows, axis=0)
            if residual is not None:
                part = jnp.asarray(residual[chunk.start : chunk.stop])
                gradient = gradient + jnp.matmul(part, rows, precision=HIGHEST)
            yield chunk, rows
        self.passes += 1
        if gather_squares:
            self._squares = np.asarray(squares)
        if residual is not None:
            self._gradient = np.asarray(gradient)

    def rmatvec(self, vector):
        expected = self._expected_residual
        if expected is not None and np.array_equal(vector, expected):
            if self._gradient is None:
                for _ in self._stream():
                    pass
            return self._scale_transposed_output(self._gradient[:, None])[:, 0]
        return super().rmatvec(vector)

    def _block_rows(self, chunk: RowChunk) -> jax.Array:
        """Return the rows of the chunk, reusing the last block built if it is this chunk."""
        if self._last_block is not None and self._last_block[0] is chunk:
            return self._last_block[1]
        self._last_block = None  # free the old block before building the next one
        rows = self._rows(chunk)
        self._last_block = (chunk, rows)
        return rows

    def _rows(self, chunk: RowChunk) -> jax.Array:
        """Rows of the chunk with the row scale applied (column scale excluded)."""
        rows = chunk.build(self.x)
        if self.row_scale is not None:
            rows = rows * jnp.asarray(self.row_scale[chunk.start : chunk.stop])[:, None]
        return rows

    def _column_factor(self):
        return None if self.column_scale is None else jnp.asarray(self.column_scale)

    def matmat(self, block):
        block = jnp.asarray(self._scale_input(np.asarray(block, dtype=self.dtype)))
        product = np.empty((self.shape[0], block.shape[1]), dtype=self.dtype)
        for chunk, rows in self._stream():
            # The rows carry the row scale.
            product[chunk.start : chunk.stop] = np.asarray(
                jnp.matmul(rows, block, precision=HIGHEST)
            )
        return product

    def rmatmat(self, block):
        block = np.asarray(block, dtype=self.dtype)
        total = jnp.zeros((self.shape[1], block.shape[1]), dtype=self.dtype)
        for chunk, rows in self._stream():
            part = jnp.asarray(block[chunk.start : chunk.stop])
            total = total + jnp.matmul(rows.T, part, precision=HIGHEST)
        return self._scale_transposed_output(np.asarray(total))

    def normal_matmat(self, block):
        block = jnp.asarray(self._scale_input(np.asarray(block, dtype=self.dtype)))
        total = jnp.zeros((self.shape[1], block.shape[1]), dtype=self.dtype)
        for _, rows in self._stream():
            # Both products from the same rows, so the pass builds them once.
            product = jnp.matmul(rows, block, precision=HIGHEST)
            total = total + jnp.matmul(rows.T, product, precision=HIGHEST)
        return self._scale_transposed_output(np.asarray(total))

    def range_and_normal_matmat(self, block):
        block = jnp.asarray(self._scale_input(np.asarray(block, dtype=self.dtype)))
        product = np.empty((self.shape[0], block.shape[1]), dtype=self.dtype)
        total = jnp.zeros((self.shape[1], block.shape[1]), dtype=self.dtype)
        for chunk, rows in self._stream():
            rows_product = jnp.matmul(rows, block, precision=HIGHEST)
            product[chunk.start : chunk.stop] = np.asarray(rows_product)
            total = total + jnp.matmul(rows.T, rows_product, precision=HIGHEST)
        return product, self._scale_transposed_output(np.asarray(total))

    def column_norms(self):
        if self._squares is None:
            for _ in self._stream():
                pass
        norms = np.sqrt(self._squares)
        return self._scale_transposed_output(norms[:, None])[:, 0]

    def gram_matrix(self):
        """``J J^T`` (n <= p) or ``J^T J`` (n > p), accumulated in float64.

        Float64 even for a float32 problem: squaring J doubles the exponent
        range of its entries, and a float32 Gram matrix at rtol 1e-6 gives
        steps with errors of tens of percent.
        """
        n, p = self.shape
        if n > p:
            return self._normal_matrix()
        gram = np.empty((n, n), dtype=np.float64)
        weights = self._column_factor()
        if weights is not None:
            weights = weights.astype(jnp.float64)
        for panel in _panels(self.chunks, self.panel_rows):
            held = jnp.concatenate([self._rows(chunk) for chunk in panel]).astype(jnp.float64)
            # (J diag(b)) (J diag(b))^T: the held rows carry b^2, streamed rows none.
            held_scaled = held if weights is None else held * weights
            held_right = held if weights is None else held_scaled * weights
            start, stop = panel[0].start, panel[-1].stop
            gram[start:stop, start:stop] = np.asarray(
                jnp.matmul(held_scaled, held_scaled.T, precision=HIGHEST)
            )
            for chunk in self.chunks:
                if chunk.start < stop:
                    continue
                rows = self._rows(chunk).astype(jnp.float64)
                block = np.asarray(jnp.matmul(held_right, rows.T, precision=HIGHEST))
                gram[start:stop, chunk.start : chunk.stop] = block
                gram[chunk.start : chunk.stop, start:stop] = block.T
            self.passes += 1
        return gram

    def _normal_matrix(self):
        p = self.shape[1]
        normal = jnp.zeros((p, p), dtype=jnp.float64)
        for _, rows in self._stream():
            rows = rows.astype(jnp.float64)
            normal = normal + jnp.matmul(rows.T, rows, precision=HIGHEST)
        normal = np.asarray(normal)
        if self.column_scale is not None:
            normal = normal * np.outer(self.column_scale, self.column_scale)
        return normal


def _panels(chunks, panel_rows: int):
    """Consecutive groups of chunks with at most ``panel_rows`` rows (at least one chunk)."""
    panel, rows = [], 0
    for chunk in chunks:
        size = chunk.stop - chunk.start
        if panel and rows + size > panel_rows:
            yield panel
            panel, rows = [], 0
        panel.append(chunk)
        rows += size
    if panel:
        yield panel
