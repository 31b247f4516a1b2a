"""Figures of a solve: the field, its pointwise error and the convergence history."""

from __future__ import annotations

import numpy as np


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(
            "plotting needs matplotlib: pip install 'svensolve[plot]'"
        ) from error
    return plt


def plot_field_solution(path, points, values, errors, history, metric_trace=None, title=""):
    """Save a three-panel figure of a 2D field solve to ``path``.

    Parameters
    ----------
    points : array (m, 2)
        Points of a square test grid, row-major, as from ``meshgrid``.
    values, errors : arrays (m,)
        Solution and pointwise absolute error at ``points``.
    history : dict
        ``Result.history``; its ``time`` and ``cost`` are drawn.
    metric_trace : list of (time, value), optional
        A metric (such as the relative L2 error) against time, drawn beside the cost.
    """
    plt = _pyplot()
    side = int(round(np.sqrt(len(points))))
    extent = [points[:, 0].min(), points[:, 0].max(), points[:, 1].min(), points[:, 1].max()]
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.4))

    for axis, data, label in (
        (axes[0], values, "solution"),
        (axes[1], np.abs(errors), "|error|"),
    ):
        image = axis.imshow(
            np.reshape(data, (side, side)).T, origin="lower", extent=extent, cmap="viridis"
        )
        axis.set_title(label)
        axis.set_xlabel("x")
        axis.set_ylabel("y")
        figure.colorbar(image, ax=axis)

    axes[2].semilogy(history["time"], history["cost"], label="cost")
    if metric_trace:
        times, metric = zip(*metric_trace, strict=True)
        axes[2].semilogy(times, metric, label="relative L2 error")
    axes[2].set_xlabel("time (s)")
    axes[2].set_title("convergence")
    axes[2].grid(True, which="both", alpha=0.3)
    axes[2].legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
