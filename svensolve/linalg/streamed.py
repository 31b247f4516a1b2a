"""A Jacobian streamed by blocks of rows: each block is built, used and dropped.

Peak memory is one block (``rows x p``) plus the product being accumulated,
never the n x p matrix. Each pass over the blocks costs about as much as one
dense Jacobian evaluation. The products with each block run where the block
was built (see `block_products`): with numpy's BLAS on the CPU, compiled at
full precision on an accelerator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from svensolve.linalg.block_products import kernels_for
from svensolve.linalg.operator import JacobianOperator


class RowChunk(NamedTuple):
    """Rows ``start:stop`` of J, which ``build(x, spare=None)`` returns as a device array.

    ``spare`` is an array that no one reads any more. The builder may donate
    it to XLA, which then writes the new block into its memory.
    """

    start: int
    stop: int
    build: Callable[..., jax.Array]


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
        self.kernels = kernels_for(self.x)
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
        # The block built before the last one, whose buffer the next build may
        # reuse: XLA maps fresh memory for each new block, and on a 20,000 x
        # 91,501 Jacobian the page faults took about a third of a pass.
        self._spare = None

    def scaled(self, rows=None, columns=None):
        other = super().scaled(rows, columns)
        other._last_block = None  # its rows carry this operator's row scale
        other._spare = None  # a buffer donated twice would be read after deletion
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
        kernels, p = self.kernels, self.shape[1]
        squares = kernels.zeros(p, self.dtype) if gather_squares else None
        gradient = None if residual is None else kernels.zeros(p, self.dtype)
        order = self.chunks[::-1] if self._reverse else self.chunks
        self._reverse = not self._reverse
        for chunk in order:
            rows = self._block_rows(chunk)
            if gather_squares or residual is not None:
                part = None if residual is None else residual[chunk.start : chunk.stop]
                squares, gradient = kernels.add_sums(rows, squares, gradient, part)
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
        # The caller may still hold the last block, but not the one before it.
        spare, self._spare = self._spare, None
        if self._last_block is not None:
            self._spare = self._last_block[2]
        self._last_block = None
        built = chunk.build(self.x, spare)
        rows = self._scale_rows(chunk, self.kernels.asarray(built))
        self._last_block = (chunk, rows, built)
        return rows

    def _rows(self, chunk: RowChunk) -> jax.Array:
        """Rows of the chunk with the row scale applied (column scale excluded)."""
        return self._scale_rows(chunk, self.kernels.asarray(chunk.build(self.x)))

    def _scale_rows(self, chunk: RowChunk, rows):
        if self.row_scale is not None:
            scale = self.row_scale[chunk.start : chunk.stop, None].astype(self.dtype)
            rows = rows * self.kernels.asarray(scale)
        return rows

    def first_nonfinite_row(self):
        # One more pass, made only when the start check has found J^T r non-finite.
        for chunk in self.chunks:
            rows = np.asarray(self._rows(chunk))
            bad = np.argwhere(~np.isfinite(rows))
            if bad.size:
                local, column = (int(i) for i in bad[0])
                return chunk.start + local, float(rows[local, column])
        return None

    def _input_block(self, block):
        """Return the (p, m) block with the column scale applied, as the kernels' array type."""
        return self.kernels.asarray(self._scale_input(np.asarray(block, dtype=self.dtype)))

    def matmat(self, block):
        block = self._input_block(block)
        product = np.empty((self.shape[0], block.shape[1]), dtype=self.dtype)
        for chunk, rows in self._stream():
            # The rows carry the row scale.
            product[chunk.start : chunk.stop] = np.asarray(self.kernels.matmul(rows, block))
        return product

    def rmatmat(self, block):
        block = np.asarray(block, dtype=self.dtype)
        total = self.kernels.new_total(self.shape[1], block.shape[1], self.dtype)
        for chunk, rows in self._stream():
            part = self.kernels.asarray(block[chunk.start : chunk.stop])
            total = self.kernels.add_transposed(total, rows, part)
        return self._scale_transposed_output(self.kernels.finish_total(total))

    def normal_matmat(self, block):
        # Both products from the same rows, so the pass builds them once.
        return self.range_and_normal_matmat(block, keep_range=False)[1]

    def range_and_normal_matmat(self, block, keep_range=True):
        block = self._input_block(block)
        product = np.empty((self.shape[0], block.shape[1]), dtype=self.dtype)
        total = self.kernels.new_total(self.shape[1], block.shape[1], self.dtype)
        for chunk, rows in self._stream():
            rows_product, total = self.kernels.add_range_and_normal(total, rows, block)
            if keep_range:
                product[chunk.start : chunk.stop] = np.asarray(rows_product)
        total = self._scale_transposed_output(self.kernels.finish_total(total))
        return product, total

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
        kernels, xp = self.kernels, self.kernels.xp
        weights = None
        if self.column_scale is not None:
            weights = kernels.asarray(self.column_scale.astype(np.float64))
        for panel in _panels(self.chunks, self.panel_rows):
            held = _float64(xp.concatenate([self._rows(chunk) for chunk in panel]))
            # (J diag(b)) (J diag(b))^T: the held rows carry b^2, streamed rows none.
            held_scaled = held if weights is None else held * weights
            held_right = held if weights is None else held_scaled * weights
            start, stop = panel[0].start, panel[-1].stop
            gram[start:stop, start:stop] = np.asarray(kernels.matmul(held_scaled, held_scaled.T))
            for chunk in self.chunks:
                if chunk.start < stop:
                    continue
                rows = _float64(self._rows(chunk))
                block = np.asarray(kernels.matmul(held_right, rows.T))
                gram[start:stop, chunk.start : chunk.stop] = block
                gram[chunk.start : chunk.stop, start:stop] = block.T
            self.passes += 1
        return gram

    def _normal_matrix(self):
        p = self.shape[1]
        normal = self.kernels.new_total(p, p, np.float64)
        for _, rows in self._stream():
            rows = _float64(rows)
            normal = self.kernels.add_transposed(normal, rows, rows)
        normal = self.kernels.finish_total(normal)
        if self.column_scale is not None:
            normal = normal * np.outer(self.column_scale, self.column_scale)
        return normal


def _float64(rows):
    """Return the rows in float64, without a copy when they already are."""
    return rows if rows.dtype == np.float64 else rows.astype(np.float64)


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
