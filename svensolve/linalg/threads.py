"""One BLAS thread for small factorisations.

After JAX has run on the CPU, its thread pool and OpenBLAS's threads compete
for the same cores, and a small LAPACK call then waits on threads it barely
uses. Measured on a 2-core machine between Jacobian passes of the 2D Poisson
PINN: the QR of a 1,185 x 74 sketch took 12 ms with OpenBLAS's 2 threads and
1.6 ms with one, and a rank-64 randomized direction 166 ms against 37 ms.
Large factorisations still gain from threads (a 2,000 x 2,320 SVD: 1.8 s
with 2 threads, 3.1 s with one; inside a solve of that PINN, the SVD of its
1,020 x 1,185 Jacobian made an iteration take 0.29 s with 2 threads and 0.34 s
with one), so only small ones are limited.
"""

from __future__ import annotations

from contextlib import nullcontext

from threadpoolctl import ThreadpoolController

# Matrices with at most this many entries are factored on one BLAS thread.
SMALL_ENTRIES = 2**18

_controller = None


def one_thread_if_small(*shape: int):
    """Context manager: BLAS and LAPACK on one thread for a matrix of this shape."""
    entries = 1
    for size in shape:
        entries *= int(size)
    if entries > SMALL_ENTRIES:
        return nullcontext()
    global _controller
    if _controller is None:
        # Created at first use, after numpy and scipy have loaded their BLAS.
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")
