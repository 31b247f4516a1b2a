"""Blocks of rows of a Problem's Jacobian, for the streamed path.

A pointwise condition is split by points. Each block contains the per-point
gradients of a fixed number of points, so one compiled function serves every
block. The last block is padded by repeating its final point, and the padded
rows are dropped. A condition that is batched or has no points cannot be
split and is built whole, as the dense path builds it.
"""

from __future__ import annotations

import math

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

from svensolve.linalg.streamed import RowChunk
from svensolve.problem import Block, Condition, Problem, _pointwise_jacobian

# Largest part of a block, in bytes, whose per-point gradients one step of
# the build's loop computes on the CPU. XLA's CPU threads get their buffers
# from glibc's malloc, which maps a buffer above its mmap threshold (at most
# 32 MiB) afresh on every allocation, so a block built in one piece
# page-faults its whole size on every build. On a 20,000 x 91,501 PINN
# Jacobian a block of 366 rows took 0.137 s and 69,000 page faults in one
# piece, and 0.075 s and none in parts of 11 rows (8 MiB) or 22 rows. Parts
# of 33 rows (24 MiB) faulted again.
PART_BYTES = 8 * 2**20


def _flatten(tree):
    return ravel_pytree(tree)[0]


def part_rows(row_bytes: int, on_host: bool):
    """Rows per part of a streamed block's build, or None to build it in one piece.

    On an accelerator the whole block is built at once: its allocator keeps
    its memory, and a loop would only serialise the work.
    """
    return max(1, PART_BYTES // row_bytes) if on_host else None


def is_pointwise(condition: Condition) -> bool:
    """Return whether the condition's rows can be built a few points at a time."""
    return condition.points is not None and not condition.batched


def largest_whole_block(problem: Problem, blocks) -> int:
    """Rows of the largest condition that the streamed path must build whole."""
    sizes = [
        block.stop - block.start
        for condition, block in zip(problem.conditions, blocks, strict=True)
        if not is_pointwise(condition)
    ]
    return max(sizes, default=0)


class RowPlan:
    """Compiled row builders of a Problem, cut into blocks for any set of points.

    The builders take the points as an argument, so new collocation points
    (a resampling solve) give new blocks without compiling again.
    """

    def __init__(self, problem: Problem, blocks, unravel, chunk_rows: int, part_rows=None):
        self.parts = []
        for condition, block in zip(problem.conditions, blocks, strict=True):
            if is_pointwise(condition):
                self.parts.append(
                    _PointwisePart(condition, block, unravel, chunk_rows, part_rows)
                )
            else:
                self.parts.append(_WholePart(condition, block, unravel))

    def chunks(self, points) -> list[RowChunk]:
        """Cover the rows of J in order, for ``points`` as `Problem.points` returns them."""
        chunks = []
        for part, condition_points in zip(self.parts, points, strict=True):
            chunks.extend(part.chunks(condition_points))
        return chunks


class _WholePart:
    """A condition built whole, as the dense path builds it."""

    def __init__(self, condition: Condition, block: Block, unravel):
        self.block = block

        def build(x, points):
            return condition.jacobian(unravel(x), _flatten, points)

        self.build = jax.jit(build)

    def chunks(self, points):
        def build_chunk(x, spare=None):
            return self.build(x, points)

        return [RowChunk(self.block.start, self.block.stop, build_chunk)]


class _PointwisePart:
    """A pointwise condition, split into blocks of ``points_per_chunk`` points.

    Each block is built in ``part_count`` parts of ``part_points`` points,
    so that no buffer of a build is much larger than a part (see `PART_BYTES`).
    """

    def __init__(self, condition: Condition, block: Block, unravel, chunk_rows: int,
                 part_rows=None):
        self.block = block
        self.count = condition.count
        self.rows_per_point = rows_per_point = (block.stop - block.start) // self.count
        points = max(1, min(self.count, chunk_rows // rows_per_point))
        max_part_points = points if part_rows is None else max(1, part_rows // rows_per_point)
        self.part_count = part_count = math.ceil(points / max_part_points)
        self.part_points = part_points = math.ceil(points / part_count)
        # Up to part_count - 1 points more than requested, so all parts have one shape.
        self.points_per_chunk = part_count * part_points

        def build(x, points):
            jacobian = _pointwise_jacobian(condition.fn, unravel(x), points, _flatten)
            return condition.scale * jacobian

        self.build = jax.jit(build)

        def build_part(number, spare, x, points):
            first = number * part_points
            part = jax.tree.map(
                lambda leaf: jax.lax.dynamic_slice_in_dim(leaf, first, part_points), points
            )
            return jax.lax.dynamic_update_slice(
                spare, build(x, part), (first * rows_per_point, 0)
            )

        def build_into(spare, x, points):
            if part_count == 1:
                return build_part(0, spare, x, points)
            return jax.lax.fori_loop(
                0, part_count, lambda number, block: build_part(number, block, x, points), spare
            )

        # XLA writes the block into the donated spare's memory instead of
        # mapping fresh pages: half the page faults of a build.
        self.build_into = jax.jit(build_into, donate_argnums=0)
        self.block_type = None  # shape and dtype of a built block, once one is built

    def chunks(self, points):
        chunks = []
        size = self.points_per_chunk
        for first in range(0, self.count, size):
            last = min(first + size, self.count)
            # The last block is padded by repeating its final point, so every
            # block has the compiled shape; the padded rows are dropped.
            index = np.minimum(np.arange(first, first + size), self.count - 1)
            chunk_points = jax.tree.map(lambda leaf, index=index: leaf[index], points)
            rows = (last - first) * self.rows_per_point
            start = self.block.start + first * self.rows_per_point
            chunks.append(RowChunk(start, start + rows, self._builder(chunk_points, rows)))
        return chunks

    def _builder(self, chunk_points, rows):
        padded = rows < self.points_per_chunk * self.rows_per_point

        def build_chunk(x, spare=None):
            if self._fits(spare):
                values = self.build_into(spare, x, chunk_points)
            else:
                values = self.build(x, chunk_points)
                self.block_type = (values.shape, values.dtype)
            return values[:rows] if padded else values

        return build_chunk

    def _fits(self, spare) -> bool:
        """Return whether ``spare`` can be donated to hold a block of this part."""
        if spare is None or self.block_type is None or spare.is_deleted():
            return False
        return (spare.shape, spare.dtype) == self.block_type
