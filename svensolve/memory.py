"""The choice of Jacobian path from the problem's size and a memory limit.

The paths, as ``jacobian=`` names them:

- ``"dense"``: J built whole (the fastest while it fits).
- ``"streamed"``: J built and used one block of rows at a time.
- ``"matrix-free"``: J touched only through JVPs and VJPs.
- ``"gram"``: the streamed path factored through the Gram matrix J J^T.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import re
from fractions import Fraction
from typing import NamedTuple

from svensolve import user_warnings

logger = logging.getLogger(__name__)

JACOBIAN_PATHS = ("auto", "dense", "streamed", "gram", "matrix-free")

# Copies of J that a dense solve has in memory at once: on the device, on the
# host, the column-scaled copy, and the SVD's input copy and U and V^T.
DENSE_COPIES = 6
# Default memory_limit: this fraction of the memory available at the start.
MEMORY_FRACTION = 0.5
# Rank used by the randomized paths when the caller gives none and the Gram
# matrix does not fit.
DEFAULT_OPERATOR_RANK = 64
# Target size of one streamed block of rows. Larger blocks make the matrix
# products faster, but the per-point gradients of a block are built at once.
# On a 20,000 x 91,501 PINN Jacobian a rank-64 single-pass direction took
# 34 s with blocks of 64 MiB, 28 s with 128 MiB and 25 s with 256 MiB.
CHUNK_BYTES = 256 * 2**20
# Largest exact SVD that svd="auto" computes at every iteration of the dense
# path, in estimated floating-point operations (4 m k^2 + 8 k^3 for an m x k
# Jacobian, m >= k): above it the dense path takes a randomized SVD of rank
# DEFAULT_OPERATOR_RANK. On a 2-core machine, 60 s of the 2D Poisson PINN with
# 3,360 residuals and 2,251 parameters (1.6e11 operations) reached an error
# of 0.46 in 15 exact iterations and 0.042 in 164 randomized ones. With 10,400
# x 6,801 (4.4e12) no exact iteration finished in 60 s, and randomized ones took
# 3.1 s. The PINNs of the benchmark suite need 1.2e10 to 2.0e10 and stay exact.
DENSE_EXACT_MAX_FLOPS = 5e10
# Bytes per unit of a memory_limit given as text, by lower-case unit name.
MEMORY_UNITS = {
    "b": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}
# A number (optional sign, decimals and exponent), optional spaces, then a unit of letters.
_MEMORY_SIZE = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)\s*")


class JacobianChoice(NamedTuple):
    """The chosen path, its factorisation, and why.

    ``svd`` is the factorisation method: for the operator paths one of
    "gram", "randomized" and "krylov". ``rank`` is the rank it keeps (None:
    all). ``chunk_rows`` is the number of rows per streamed block and
    ``panel_rows`` the number kept in memory while the Gram matrix is
    accumulated. ``memory_limit`` is the budget in bytes.
    """

    method: str
    svd: str
    rank: int | None
    reason: str
    chunk_rows: int
    panel_rows: int
    memory_limit: int


def available_memory() -> int:
    """Bytes of memory available now (Linux ``MemAvailable``, else free pages)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def default_memory_limit() -> int:
    """`MEMORY_FRACTION` of the memory available now, in bytes."""
    return int(MEMORY_FRACTION * available_memory())


def parse_memory_limit(value, default_unit: str | None = None) -> int | None:
    """Convert a ``memory_limit`` to whole bytes, rounding down, or return None for None.

    ``value`` is a number of bytes or text such as ``"6GiB"``, ``"512 MiB"``
    or ``"2.5GB"``. The units are case-insensitive: KiB, MiB, GiB and TiB are
    powers of 1024, and KB, MB, GB and TB powers of 1000. Text without a unit
    is in ``default_unit`` (the command line uses GiB); with None it raises,
    since ``"1.5"`` could mean bytes or gibibytes. Raises ValueError, naming
    memory_limit and the value, for a bool, unparsable text, an unknown or
    missing unit, less than 1 byte, or a float of bytes under 1024.
    """
    if value is None:
        return None
    plain = "bytes" if default_unit is None else default_unit
    if isinstance(value, str):
        size = _parse_memory_text(value, default_unit)
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError(f"memory_limit must be a finite number of {plain}, got {value!r}")
        if default_unit is None and not isinstance(value, numbers.Integral) and value < 1024:
            # No budget fits in a few bytes, so a float such as 1.5 most likely meant GiB.
            raise ValueError(
                f"memory_limit is a number of bytes, got {value!r}; for a size in other "
                f"units pass text such as '{value!r}GiB'"
            )
        size = math.floor(value)
    else:
        raise ValueError(
            f"memory_limit must be a number of {plain} or a size with a unit such as "
            f"'512MiB' or '6GiB', got {value!r}"
        )
    if size < 1:
        if isinstance(value, numbers.Integral):
            seen = f"{value!r} bytes"
        else:
            seen = f"{value!r}, which is {size} whole bytes"
        raise ValueError(
            f"memory_limit must be >= 1, got {seen}; give a positive size such as '512MiB'"
        )
    return size


def _parse_memory_text(text: str, default_unit: str | None) -> int:
    """Whole bytes of ``text``, a number and a unit from `MEMORY_UNITS` (or ``default_unit``)."""
    plain = "bytes" if default_unit is None else default_unit
    match = _MEMORY_SIZE.fullmatch(text)
    if match is None:
        raise ValueError(
            f"memory_limit must be a number of {plain} or a size with a unit such as "
            f"'512MiB' or '6GiB', got {text!r}"
        )
    number, unit = match.groups()
    if not unit and default_unit is None:
        raise ValueError(
            f"memory_limit text needs a unit, as in '{number}GiB' or '{number}MB', got "
            f"{text!r}; give a number, not text, for bytes"
        )
    unit = unit or default_unit
    if unit.lower() not in MEMORY_UNITS:
        raise ValueError(
            f"memory_limit has an unknown unit {unit!r} in {text!r}; use B, or KB, MB, GB, "
            "TB (powers of 1000), or KiB, MiB, GiB, TiB (powers of 1024)"
        )
    # Fraction keeps "2.3GB" exact, where a float product would round below 2.3e9.
    return math.floor(Fraction(number) * MEMORY_UNITS[unit.lower()])


def choose_jacobian(requested: str, n: int, p: int, itemsize: int, *, rank=None,
                    svd: str = "auto", memory_limit: int | None = None,
                    largest_whole_block: int = 0) -> JacobianChoice:
    """Resolve ``jacobian=`` and ``svd=`` for a problem with n residuals and p parameters.

    ``largest_whole_block`` is the row count of the largest condition that
    cannot be split by points, a batched condition or one without points.
    The streamed path builds such a block whole.
    """
    limit = default_memory_limit() if memory_limit is None else parse_memory_limit(memory_limit)
    dense_bytes = DENSE_COPIES * n * p * itemsize
    chunk_rows = max(1, min(CHUNK_BYTES, limit // 16) // (p * itemsize))
    panel_rows = max(chunk_rows, (limit // 4) // (p * itemsize))
    method, reason = _choose_path(requested, dense_bytes, limit, largest_whole_block * p * itemsize)
    if method in ("streamed", "gram"):
        reason = f"{reason}; {_block_text(chunk_rows, n, p * itemsize)}"
    if method == "dense":
        flops = exact_svd_flops(n, p)
        if svd == "auto" and rank is None and flops > DENSE_EXACT_MAX_FLOPS:
            svd, rank = "randomized", DEFAULT_OPERATOR_RANK
            reason = (f"{reason}; an exact SVD would take about {flops:.1e} floating-point "
                      f"operations per iteration, so a randomized SVD of rank {rank} "
                      "(svd='exact' keeps every singular value)")
        return JacobianChoice("dense", svd, rank, reason, chunk_rows, panel_rows, limit)
    svd, rank, svd_reason = _choose_factorisation(method, svd, rank, n, p, itemsize, limit)
    if svd != "gram":
        _check_factors_fit(n, p, rank, itemsize, limit)
    return JacobianChoice(
        "streamed" if method == "gram" else method, svd, rank, f"{reason}; {svd_reason}",
        chunk_rows, panel_rows, limit,
    )


def _choose_path(requested, dense_bytes, limit, whole_block_bytes):
    size = f"the dense Jacobian needs about {_binary_size(dense_bytes)} with working copies"
    budget = f"memory_limit {_binary_size(limit)}"
    if requested == "dense" and dense_bytes > limit:
        user_warnings.warn(
            f"jacobian='dense' requested, but {size}, over {budget}; the solve may run out "
            "of memory (jacobian='auto' would stream the rows)"
        )
    if requested != "auto":
        return requested, f"jacobian={requested!r} requested ({size})"
    if dense_bytes <= limit:
        return "dense", f"{size}, within {budget}"
    if whole_block_bytes * 4 <= limit:
        return "streamed", f"{size}, over {budget}: rows are streamed"
    return "matrix-free", (
        f"{size}, over {budget}, and a condition that cannot be split by points needs "
        f"{_binary_size(whole_block_bytes)}: J is used through JVPs and VJPs only"
    )


def _choose_factorisation(method, svd, rank, n, p, itemsize, limit):
    """Factorisation method and rank of an operator path."""
    small = min(n, p)
    # The Gram matrix is accumulated and factored in float64 even for a
    # float32 problem, so its size does not depend on itemsize.
    gram_bytes = 3 * small * small * 8
    gram_fits = gram_bytes <= limit // 2
    if method == "gram" and svd not in ("auto", "gram", "exact"):
        raise ValueError(
            f"jacobian='gram' factors through the Gram matrix, so svd must be 'auto', 'gram' "
            f"or 'exact', got {svd!r}; use jacobian='streamed' for svd={svd!r}"
        )
    if method == "gram" or svd in ("gram", "exact"):
        if method == "matrix-free":
            raise ValueError(
                f"svd={svd!r} needs the Gram matrix, which the matrix-free path does not form; "
                "use svd='randomized' or 'krylov', or jacobian='streamed'"
            )
        if not gram_fits:
            # jacobian='gram' takes no other factorisation, so its advice names the path too.
            path = "jacobian='streamed' with " if method == "gram" else ""
            raise ValueError(
                f"the Gram matrix ({small} x {small}) and its eigenvectors and working copy "
                f"need about {_binary_size(gram_bytes)} in float64, "
                f"over half of memory_limit {_binary_size(limit)}; use {path}a rank and "
                "svd='randomized' or 'krylov', or raise memory_limit"
            )
        return "gram", rank, "factored through the Gram matrix"
    if svd == "auto" and method == "streamed" and gram_fits and (rank is None or 4 * rank > small):
        return "gram", rank, "factored through the Gram matrix, which fits"
    chosen = "randomized" if svd == "auto" else svd
    if rank is None:
        rank = min(DEFAULT_OPERATOR_RANK, small)
        return chosen, rank, f"{chosen} SVD with the default rank {rank}"
    return chosen, rank, f"{chosen} SVD of rank {rank}"


def _check_factors_fit(n: int, p: int, rank: int, itemsize: int, limit: int) -> None:
    """Raise when the rank-k factors and one row of J alone exceed ``limit``.

    No block size can then keep the solve within the limit, so going on would
    silently break the user's budget.
    """
    need = ((n + p) * rank + p) * itemsize
    if need > limit:
        seen, needed = _binary_size(limit), _binary_size(need)
        if seen == needed:  # Rounded to 3 digits they would read the same.
            seen, needed = f"{limit:,} B", f"{need:,} B"
        raise ValueError(
            f"memory_limit {seen} is below the {needed} that "
            f"the rank-{rank} factors U ({n} x {rank}) and V ({p} x {rank}) and one row "
            f"of J need; raise memory_limit or lower the rank"
        )


def exact_svd_flops(n: int, p: int) -> float:
    """Estimate the floating-point operations of a thin SVD, with vectors, of an n x p matrix."""
    long, short = max(n, p), min(n, p)
    return 4.0 * long * short**2 + 8.0 * short**3


def _block_text(chunk_rows: int, n: int, row_bytes: int) -> str:
    """Describe the streamed blocks of J: their rows and size."""
    rows = min(chunk_rows, n)
    size = _binary_size(rows * row_bytes)
    rows_text = f"{rows:,} row" + ("" if rows == 1 else "s")
    if rows == n:
        return f"J in one block of {rows_text} ({size})"
    return f"blocks of about {rows_text} ({size})"


def _binary_size(size: int) -> str:
    """Return ``size`` bytes in the largest binary unit that keeps it at 1 or more."""
    for unit, power in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 2**power:
            return f"{size / 2**power:.3g} {unit}"
    return f"{size} B"
