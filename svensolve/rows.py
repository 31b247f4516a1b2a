"""Blocks of rows of a Problem's Jacobian, for the streamed path.

A pointwise condition is split by points: each block holds the per-point
gradients of a fixed number of points, so one compiled function serves every
block (the last block is padded by repeating its final point, and the padded
rows are dropped). A condition that is batched or has no points cannot be
split and is built whole, as the dense path builds it.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

from svensolve.linalg.streamed import RowChunk
from svensolve.problem import Block, Condition, Problem, _pointwise_jacobian


def _flatten(tree):
    return ravel_pytree(tree)[0]


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


def row_chunks(problem: Problem, blocks, unravel, chunk_rows: int) -> list[RowChunk]:
    """Cover the rows of J in order with blocks of about ``chunk_rows`` rows."""
    chunks = []
    for condition, block in zip(problem.conditions, blocks, strict=True):
        if is_pointwise(condition):
            chunks.extend(_pointwise_chunks(condition, block, unravel, chunk_rows))
            continue

        def build_whole(x, condition=condition):
            return condition.jacobian(unravel(x), _flatten)

        chunks.append(RowChunk(block.start, block.stop, jax.jit(build_whole)))
    return chunks


def _pointwise_chunks(condition: Condition, block: Block, unravel, chunk_rows: int):
    count = condition.count
    rows_per_point = (block.stop - block.start) // count
    points_per_chunk = max(1, min(count, chunk_rows // rows_per_point))

    @jax.jit
    def build(x, points):
        return condition.scale * _pointwise_jacobian(condition.fn, unravel(x), points, _flatten)

    chunks = []
    for first in range(0, count, points_per_chunk):
        last = min(first + points_per_chunk, count)
        index = np.minimum(np.arange(first, first + points_per_chunk), count - 1)
        points = jax.tree.map(lambda leaf, index=index: leaf[index], condition.points)
        rows = (last - first) * rows_per_point

        def build_chunk(x, points=points, rows=rows, padded=last - first < points_per_chunk):
            values = build(x, points)
            return values[:rows] if padded else values

        start = block.start + first * rows_per_point
        chunks.append(RowChunk(start, start + rows, build_chunk))
    return chunks
