"""Curve fitting with the scipy drop-ins on a certified NIST data set (Misra1a).

Run: python examples/nist_curve_fit.py
Prints the fit report and the digits agreeing with NIST's certified values.
"""

import jax.numpy as jnp
import numpy as np

import svensolve as sv
from problems import nist

data = nist.load("Misra1a")  # y = b1 * (1 - exp(-b2 * x))


def residuals(b):
    return b[0] * (1.0 - jnp.exp(-b[1] * data.x)) - data.y


result = sv.least_squares(residuals, data.starts[0])
print(result.report(names=["b1", "b2"]))


def model(x, b1, b2):
    return b1 * (1.0 - jnp.exp(-b2 * x))


popt, pcov = sv.curve_fit(model, data.x, data.y, p0=data.starts[0])
stderr = np.sqrt(np.diag(pcov))
print("certified digits, values:   ", nist.log_relative_error(popt, data.certified_params))
print("certified digits, std. dev.:", nist.log_relative_error(stderr, data.certified_stderr))
