"""A Jacobian touched only through batched JVPs and VJPs of the residual function.

This is the path for residual functions that cannot be split by rows (a
plain ``fun(params)``): memory stays at O((n + p) m) for a product with m
columns. Columns are mapped in batches with `jax.lax.map`, because one vmap
over all columns keeps every tangent in memory at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from svensolve.linalg.operator import JacobianOperator

# Columns pushed through the linearised residual together.
DEFAULT_BATCH_SIZE = 4


class Products(NamedTuple):
    """Compiled ``(x, W, data) -> J(x) @ W`` and ``(x, C, data) -> J(x).T @ C``."""

    jvp: Callable
    vjp: Callable


def compile_products(residual: Callable, batch_size: int = DEFAULT_BATCH_SIZE) -> Products:
    """Jit the two block products of ``residual: (x, data) -> r`` at any point x.

    ``data`` (collocation points, say) is passed through and not differentiated.
    """

    def jvp_block(x, block, data):
        _, push_forward = jax.linearize(lambda x: residual(x, data), x)
        images = jax.lax.map(push_forward, block.T, batch_size=batch_size)
        return images.T

    def vjp_block(x, block, data):
        _, pull_back = jax.vjp(lambda x: residual(x, data), x)
        images = jax.lax.map(lambda column: pull_back(column)[0], block.T, batch_size=batch_size)
        return images.T

    return Products(jax.jit(jvp_block), jax.jit(vjp_block))


class MatrixFreeJacobian(JacobianOperator):
    """J at ``x`` through `Products`; column norms are not computed (p JVPs)."""

    method = "matrix-free"

    def __init__(self, x, n: int, products: Products, data=None):
        super().__init__((n, np.size(x)), np.asarray(x).dtype)
        self.x = jnp.asarray(x)
        self.products = products
        self.data = data

    def matmat(self, block):
        block = self._scale_input(np.asarray(block, dtype=self.dtype))
        # Full-precision matrix products inside the residual as well: TF32
        # rounding would make the sketch, and so the singular values, noisy.
        with jax.default_matmul_precision("highest"):
            product = self.products.jvp(self.x, jnp.asarray(block), self.data)
        return self._scale_output(np.asarray(product))

    def rmatmat(self, block):
        block = self._scale_transposed_input(np.asarray(block, dtype=self.dtype))
        with jax.default_matmul_precision("highest"):
            product = self.products.vjp(self.x, jnp.asarray(block), self.data)
        return self._scale_transposed_output(np.asarray(product))
