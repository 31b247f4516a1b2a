"""svensolve: nonlinear least squares for science by Sven (Singular Value dEsceNt).

Importing svensolve turns on JAX's float64 mode, since the solver needs
float64 to reach the accuracy its users expect; float32 inputs stay float32.
"""

import jax

jax.config.update("jax_enable_x64", True)

from svensolve.api import least_squares, minimize  # noqa: E402
from svensolve.batching import micro_batch  # noqa: E402
from svensolve.fit import curve_fit  # noqa: E402
from svensolve.problem import Condition, Problem  # noqa: E402
from svensolve.result import Result, Status  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Condition",
    "Problem",
    "Result",
    "Status",
    "curve_fit",
    "least_squares",
    "micro_batch",
    "minimize",
]
