"""Warnings attributed to the caller's own line, outside svensolve.

A fixed ``stacklevel`` fits one call path only: the same check runs under
`minimize`, `least_squares` and `curve_fit` at different depths. Walking the
stack to the first frame outside the package points every warning at the
line of the caller's script that made the call.
"""

from __future__ import annotations

import os
import sys
import warnings

_PACKAGE_DIRECTORY = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn(message: str, category: type[Warning] = RuntimeWarning) -> None:
    """Issue ``message`` as a ``category`` warning at the first caller outside svensolve."""
    level = 2  # the function that called warn
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
        _PACKAGE_DIRECTORY
    ):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
