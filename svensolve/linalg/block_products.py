"""Products with one block of Jacobian rows, on the host or on an accelerator.

The streamed path builds a block of rows, uses it for a few products and
drops it. How those products run decides much of a pass's time:

- On the CPU, JAX's arrays are numpy arrays without a copy, and numpy's BLAS
  ran the products of a 91 x 91,501 block with a 91,501 x 74 sketch in 45 ms,
  against 79 ms compiled by XLA. XLA's column sum of the squared block took
  60 ms against numpy's 5 ms. The transposed product is formed as
  ``(part^T rows)^T``, whose output BLAS writes in rows: 20 ms against 33 ms.
- On an accelerator the block stays there, and the products run compiled at
  ``Precision.HIGHEST``: TF32 matrix products would round a float32 J J^T
  until it is indefinite.

`kernels_for` returns the set that fits where the rows live. Both sets have
the same methods, and `finish_total` turns either's accumulated transposed
product into a numpy array of shape (p, m).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

HIGHEST = jax.lax.Precision.HIGHEST


class HostKernels:
    """Products of numpy row blocks with numpy's BLAS.

    Transposed products are accumulated as ``(m, p)`` arrays and transposed
    at the end.
    """

    xp = np
    # A CPU jax array's buffer is shared with numpy, not copied.
    asarray = staticmethod(np.asarray)

    @staticmethod
    def matmul(a, b):
        return a @ b

    @staticmethod
    def add_sums(rows, squares, gradient, part):
        """Add the column sums of squares and ``part^T rows`` of a block to the sums not None."""
        if squares is not None:
            squares = squares + np.einsum("ij,ij->j", rows, rows)
        if gradient is not None:
            gradient = gradient + part @ rows
        return squares, gradient

    @staticmethod
    def zeros(shape, dtype):
        return np.zeros(shape, dtype=dtype)

    @staticmethod
    def new_total(p, m, dtype):
        return np.zeros((m, p), dtype=dtype)

    @staticmethod
    def add_transposed(total, rows, part):
        total += part.T @ rows
        return total

    @staticmethod
    def add_range_and_normal(total, rows, block):
        product = rows @ block
        total += product.T @ rows
        return product, total

    @staticmethod
    def finish_total(total):
        return np.ascontiguousarray(total.T)


class DeviceKernels:
    """Compiled products of row blocks held on an accelerator, at full precision."""

    xp = jnp
    asarray = staticmethod(jnp.asarray)

    @staticmethod
    def matmul(a, b):
        return jnp.matmul(a, b, precision=HIGHEST)

    @staticmethod
    @jax.jit
    def add_sums(rows, squares, gradient, part):
        """Add the column sums of squares and ``part^T rows`` of a block to the sums not None."""
        if squares is not None:
            squares = squares + jnp.sum(rows * rows, axis=0)
        if gradient is not None:
            gradient = gradient + jnp.matmul(part, rows, precision=HIGHEST)
        return squares, gradient

    @staticmethod
    def zeros(shape, dtype):
        return jnp.zeros(shape, dtype=dtype)

    @staticmethod
    def new_total(p, m, dtype):
        return jnp.zeros((p, m), dtype=dtype)

    @staticmethod
    @jax.jit
    def add_transposed(total, rows, part):
        # Contracts over the rows without a transposed copy of the block.
        return total + jnp.matmul(rows.T, part, precision=HIGHEST)

    @staticmethod
    @jax.jit
    def add_range_and_normal(total, rows, block):
        product = jnp.matmul(rows, block, precision=HIGHEST)
        return product, total + jnp.matmul(rows.T, product, precision=HIGHEST)

    @staticmethod
    def finish_total(total):
        return np.asarray(total)


def kernels_for(x) -> type:
    """Return the kernels for rows built at ``x``: HostKernels if x is on the CPU."""
    on_host = all(device.platform == "cpu" for device in jnp.asarray(x).devices())
    return HostKernels if on_host else DeviceKernels
