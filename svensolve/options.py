"""Solver settings and their validation, shared by both front doors."""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from svensolve.control import CONTROLS
from svensolve.loss import RobustLoss
from svensolve.memory import JACOBIAN_PATHS

SVD_METHODS = ("auto", "exact", "randomized", "single-pass", "krylov", "gram")
X_SCALES = ("auto", "jac", "none")


@dataclasses.dataclass(frozen=True)
class Options:
    """Settings of one solve; build it with `make_options`, which validates them."""

    rank: int | None = None
    rtol: float | None = None
    lr: float = 1.0
    control: str = "auto"
    svd: str = "auto"
    x_scale: str | np.ndarray = "auto"
    ftol: float | None = 1e-15
    xtol: float | None = 1e-8
    gtol: float | None = 1e-8
    max_nfev: int | None = None
    max_iter: int | None = None
    time_limit: float | None = None
    callback: Callable | None = None
    progress: bool | None = None
    verbose: int = 0
    seed: int = 0
    checkpoint: str | None = None
    checkpoint_every: int | None = None
    resume: str | None = None
    loss: str | Callable = "linear"
    f_scale: float = 1.0
    box: Any = None
    jacobian: str = "auto"
    memory_limit: int | None = None
    resample: bool = False
    param_fraction: float = 1.0
    # (start, stop) of each parameter leaf in x, when whole leaves are sampled.
    param_leaves: tuple | None = None


def make_options(**settings) -> Options:
    """Validate settings and return `Options`; each error names the argument and value."""
    options = Options(**settings)
    _check_int("rank", options.rank, minimum=1, optional=True)
    _check_int("max_nfev", options.max_nfev, minimum=1, optional=True)
    _check_int("max_iter", options.max_iter, minimum=0, optional=True)
    _check_int("verbose", options.verbose, minimum=0)
    _check_int("seed", options.seed, minimum=0)
    _check_int("checkpoint_every", options.checkpoint_every, minimum=1, optional=True)
    if options.checkpoint_every is not None and options.checkpoint is None:
        raise ValueError("checkpoint_every needs a checkpoint path, got checkpoint=None")
    if options.checkpoint is not None:
        _check_checkpoint_path(options.checkpoint)
    _check_real("f_scale", options.f_scale, "finite and > 0", lambda v: 0 < v < math.inf)
    RobustLoss(options.loss, options.f_scale)  # raises on an unknown loss
    if options.rtol is not None:
        _check_real("rtol", options.rtol, "in [0, 1)", lambda v: 0 <= v < 1)
    _check_real("lr", options.lr, "finite and > 0", lambda v: 0 < v < math.inf)
    for name in ("ftol", "xtol", "gtol"):
        value = getattr(options, name)
        if value is not None:
            _check_real(name, value, "finite and >= 0, or None", lambda v: 0 <= v < math.inf)
    if options.time_limit is not None:
        _check_real("time_limit", options.time_limit, "> 0 seconds", lambda v: v > 0)
    if options.control not in ("auto", *CONTROLS):
        raise ValueError(f"control must be 'auto' or one of {CONTROLS}, got {options.control!r}")
    if isinstance(options.x_scale, str) and options.x_scale not in X_SCALES:
        raise ValueError(f"x_scale must be one of {X_SCALES}, got {options.x_scale!r}")
    if options.jacobian not in JACOBIAN_PATHS:
        raise ValueError(f"jacobian must be one of {JACOBIAN_PATHS}, got {options.jacobian!r}")
    _check_int("memory_limit", options.memory_limit, minimum=1, optional=True)
    if options.svd not in SVD_METHODS:
        raise ValueError(f"svd must be one of {SVD_METHODS}, got {options.svd!r}")
    if options.callback is not None and not callable(options.callback):
        raise TypeError(f"callback must be callable or None, got {type(options.callback)}")
    _check_real("param_fraction", options.param_fraction, "in (0, 1]", lambda v: 0 < v <= 1)
    if options.resample not in (True, False):
        raise TypeError(f"resample must be True or False, got {options.resample!r}")
    if options.progress not in (None, True, False):
        raise TypeError(f"progress must be True, False or None, got {options.progress!r}")
    return options


def _check_checkpoint_path(path) -> None:
    """Fail before the solve, not after it, on a checkpoint path that cannot be written."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ValueError(f"checkpoint must be a file path, got the directory {str(path)!r}")
    if not directory.is_dir():
        raise ValueError(f"checkpoint: directory {str(directory)!r} does not exist")
    if not os.access(directory, os.W_OK):
        raise ValueError(f"checkpoint: directory {str(directory)!r} is not writable")


def _check_int(name, value, minimum, optional=False):
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def _check_real(name, value, accepted, test):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number {accepted}, got {value!r}")
    if not test(float(value)):
        raise ValueError(f"{name} must be {accepted}, got {value!r}")
