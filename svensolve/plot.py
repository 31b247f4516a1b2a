"""Figures of a solve: the field or curves, the pointwise error and the convergence history."""

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


def plot_field_solution(path, points, values, errors, history, metric_trace=None, title="",
                        axes_names=("x", "y")):
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
    axes_names : (str, str)
        Names of the two point coordinates, such as ("x", "t").
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
        axis.set_xlabel(axes_names[0])
        axis.set_ylabel(axes_names[1])
        figure.colorbar(image, ax=axis)

    _convergence_panel(axes[2], history, metric_trace)
    _save(plt, figure, path, title)


def plot_curve_solution(path, times, values, exact, history, metric_trace=None, title="",
                        data=None, axis_name="t", components=None):
    """Save a two-panel figure of a solve whose solution is a function of one variable.

    Parameters
    ----------
    times : array (m, 1) or (m,)
        The points of the test grid, such as the times of an ODE solution.
    values, exact : arrays (m,) or (m, k)
        The fitted solution and the reference at ``times``, one column per component.
    history : dict
        ``Result.history``; its ``time`` and ``cost`` are drawn.
    metric_trace : list of (time, value), optional
        A metric (such as the relative L2 error) against time, drawn beside the cost.
    data : tuple (times, values), optional
        Observations that the solve fitted, drawn as markers.
    axis_name : str
        Name of the variable on the horizontal axis.
    components : sequence of str, optional
        Names of the solution components for the legend; by default 0, 1, ...
    """
    plt = _pyplot()
    times = np.reshape(np.asarray(times), -1)
    values = np.reshape(np.asarray(values), (times.size, -1))
    exact = np.reshape(np.asarray(exact), (times.size, -1))
    if data is not None:
        data_times = np.reshape(np.asarray(data[0]), -1)
        data_values = np.reshape(np.asarray(data[1]), (data_times.size, -1))
    if components is None:
        components = [str(index) for index in range(values.shape[1])]
    if len(components) != values.shape[1]:
        raise ValueError(f"components must name the {values.shape[1]} solution components, "
                         f"got {list(components)!r}")
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    for component, name in enumerate(components):
        line = axes[0].plot(times, values[:, component], label=f"fit {name}")[0]
        axes[0].plot(times, exact[:, component], "--", color=line.get_color(), alpha=0.7,
                     label=f"reference {name}")
        if data is not None:
            axes[0].plot(data_times, data_values[:, component], ".", color=line.get_color(),
                         markersize=4)
    axes[0].set_xlabel(axis_name)
    axes[0].set_title("solution (dashed: reference, dots: data)" if data is not None
                      else "solution (dashed: reference)")
    axes[0].legend(fontsize="small")
    _convergence_panel(axes[1], history, metric_trace)
    _save(plt, figure, path, title)


def _convergence_panel(axis, history, metric_trace):
    axis.semilogy(history["time"], history["cost"], label="cost")
    if metric_trace:
        times, metric = zip(*metric_trace, strict=True)
        axis.semilogy(times, metric, label="relative L2 error")
    axis.set_xlabel("time (s)")
    axis.set_title("convergence")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()


def _save(plt, figure, path, title):
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
