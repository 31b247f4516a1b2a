"""Robust loss functions with scipy.optimize.least_squares' definitions.

A loss rho turns the cost into ``0.5 * f_scale^2 * sum rho((r / f_scale)^2)``.
The solver keeps taking least-squares steps by rescaling the residual and
the Jacobian rows, as scipy 1.17's least_squares does. With
z = (r / f_scale)^2 and w = rho'(z) + 2 z rho''(z), the rows of J are
multiplied by sqrt(w) and r by rho'(z) / sqrt(w).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from svensolve.linalg.operator import scale_rows

LOSSES = ("linear", "soft_l1", "huber", "cauchy", "arctan")


def _soft_l1(z):
    t = 1.0 + z
    return 2.0 * (np.sqrt(t) - 1.0), t**-0.5, -0.5 * t**-1.5


def _huber(z):
    inside = z <= 1.0
    safe = np.where(inside, 1.0, z)
    rho = np.where(inside, z, 2.0 * np.sqrt(safe) - 1.0)
    rho1 = np.where(inside, 1.0, safe**-0.5)
    rho2 = np.where(inside, 0.0, -0.5 * safe**-1.5)
    return rho, rho1, rho2


def _cauchy(z):
    t = 1.0 + z
    return np.log1p(z), 1.0 / t, -1.0 / t**2


def _arctan(z):
    t = 1.0 + z**2
    return np.arctan(z), 1.0 / t, -2.0 * z / t**2


_FUNCTIONS = {"soft_l1": _soft_l1, "huber": _huber, "cauchy": _cauchy, "arctan": _arctan}


class RobustLoss:
    """A loss and its scale: the robust cost and the rescaled least-squares problem.

    Parameters
    ----------
    loss : str or callable
        One of `LOSSES`, or ``loss(z)`` returning an array of shape (3, m)
        with rho, rho' and rho'' at z, as scipy accepts.
    f_scale : float
        Residuals below ``f_scale`` count as inliers.
    """

    def __init__(self, loss: str | Callable, f_scale: float = 1.0):
        if isinstance(loss, str) and loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES} or a callable, got {loss!r}")
        if not isinstance(loss, str) and not callable(loss):
            raise TypeError(f"loss must be a string or a callable, got {type(loss).__name__}")
        if not np.isfinite(f_scale) or f_scale <= 0:
            raise ValueError(f"f_scale must be finite and > 0, got {f_scale!r}")
        self.loss = loss
        self.f_scale = float(f_scale)
        self.is_linear = loss == "linear"

    def _rho(self, residual):
        z = (residual / self.f_scale) ** 2
        if callable(self.loss):
            values = np.asarray(self.loss(z), dtype=residual.dtype)
            if values.shape != (3, residual.size):
                raise ValueError(
                    f"loss callable must return shape (3, {residual.size}), got {values.shape}"
                )
            return z, values[0], values[1], values[2]
        return (z, *_FUNCTIONS[self.loss](z))

    def cost(self, residual: np.ndarray) -> float:
        """``0.5 * f_scale^2 * sum rho(z)``, or ``0.5 ||r||^2`` for the linear loss.

        Every cost in a solve goes through here, summed one way: a resumed run
        recomputes the cost of its start point, and a batch sum (einsum over
        trial rows) can differ from a dot product in the last bit.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            if self.is_linear:
                return 0.5 * float(residual @ residual)
            _, rho, _, _ = self._rho(residual)
            return 0.5 * self.f_scale**2 * float(np.sum(rho))

    def scale(self, residual: np.ndarray, jacobian):
        """Residual and Jacobian (array or operator) of the problem that the step solves."""
        residual, weights = self.row_weights(residual)
        if weights is None:
            return residual, jacobian
        return residual, scale_rows(jacobian, weights)

    def row_weights(self, residual: np.ndarray):
        """Rescaled residual and the row weights of J, None for the linear loss."""
        if self.is_linear:
            return residual, None
        z, _, rho1, rho2 = self._rho(residual)
        weight = rho1 + 2.0 * rho2 * z
        # A non-positive weight (the loss is concave there) would flip the
        # model; the floor keeps such rows nearly out of the step.
        weight = np.sqrt(np.maximum(weight, np.finfo(residual.dtype).eps))
        return residual * (rho1 / weight), weight


LINEAR = RobustLoss("linear")


class BlockLoss:
    """Robust losses applied block by block, with `RobustLoss`'s interface.

    Parameters
    ----------
    blocks : sequence of svensolve.problem.Block
        Positions of the conditions; a block whose ``loss`` is None takes
        ``default``.
    default : RobustLoss
        The solve's own loss.
    """

    def __init__(self, blocks, default: RobustLoss):
        self.parts = []
        for block in blocks:
            loss = default if block.loss is None else RobustLoss(block.loss, block.f_scale)
            self.parts.append((slice(block.start, block.stop), loss))
        self.is_linear = all(loss.is_linear for _, loss in self.parts)

    def cost(self, residual: np.ndarray) -> float:
        """Sum of the blocks' costs."""
        if self.is_linear:
            return LINEAR.cost(residual)  # one dot product, as every linear cost
        return sum(loss.cost(residual[part]) for part, loss in self.parts)

    def scale(self, residual: np.ndarray, jacobian):
        """Residual and Jacobian (array or operator) with each block rescaled by its loss."""
        if self.is_linear:
            return residual, jacobian
        pieces = [loss.row_weights(residual[part]) for part, loss in self.parts]
        weights = [np.ones_like(r) if w is None else w for r, w in pieces]
        return (
            np.concatenate([r for r, _ in pieces]),
            scale_rows(jacobian, np.concatenate(weights)),
        )
