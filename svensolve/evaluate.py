"""Compiled residual and Jacobian functions on a flat parameter vector.

The solver loop works on a 1-D float array x and host (numpy) arrays. An
`Evaluator` hides where r(x) and J(x) come from: a `Problem` compiled with
`jax.jit` (automatic differentiation), or a plain numpy function with a
user Jacobian or finite differences, as scipy does.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

from svensolve import rows
from svensolve.linalg.block_products import HostKernels, kernels_for
from svensolve.linalg.matrix_free import MatrixFreeJacobian, compile_products
from svensolve.linalg.streamed import StreamedJacobian
from svensolve.memory import JacobianChoice, choose_jacobian
from svensolve.problem import Block, Problem

logger = logging.getLogger(__name__)

FINITE_DIFFERENCES = ("2-point", "3-point")


@dataclasses.dataclass(frozen=True)
class Evaluator:
    """r(x), batched r over trial points, and J(x), all on host arrays.

    ``jacobian_mode`` names how J is computed: "autodiff", "callable" (the
    user's ``jac``) or a finite-difference scheme ("2-point", "3-point").
    """

    residual: Callable[[np.ndarray], np.ndarray]
    trial_residuals: Callable[[np.ndarray], np.ndarray]
    jacobian: Callable[[np.ndarray], np.ndarray]
    blocks: tuple[Block, ...]
    jacobian_mode: str
    check_start: Callable[[np.ndarray, np.ndarray], None]
    choice: JacobianChoice | None = None
    # Replaces the collocation points (a tuple, one entry per condition; None
    # restores the Problem's own). None for evaluators without points.
    set_points: Callable | None = None
    # Draws points from the conditions' samplers for a jax.random key.
    sample_points: Callable | None = None


def from_problem(problem: Problem, params, jacobian: str = "auto", *, rank=None,
                 svd: str = "auto", memory_limit=None) -> tuple[Evaluator, np.ndarray, Callable]:
    """Compile a Problem's residual and Jacobian; return them, x0 and ``unravel``.

    ``jacobian``, ``rank``, ``svd`` and ``memory_limit`` choose the Jacobian
    path (see `svensolve.memory.choose_jacobian`); the choice is stored in
    the evaluator. The compiled functions are cached on the Problem per
    parameter structure and path, so a second solve of the same Problem (a
    warm-up, a restart, a sweep over starts) does not compile again.
    """
    x0, unravel = ravel_pytree(params)
    leaves, treedef = jax.tree.flatten(params)
    blocks = problem.blocks(params)
    n, p = blocks[-1].stop, x0.size
    choice = choose_jacobian(
        jacobian, n, p, np.dtype(x0.dtype).itemsize, rank=rank, svd=svd,
        memory_limit=memory_limit, largest_whole_block=rows.largest_whole_block(problem, blocks),
    )
    logger.info("Jacobian path %r: %s", choice.method, choice.reason)
    structure = tuple((np.shape(leaf), jax.numpy.result_type(leaf)) for leaf in leaves)
    # Only what changes the compiled code is in the key: the memory limit, which
    # follows the free memory at each call, must not force a new compilation.
    key = (treedef, structure, choice.method)
    part_rows = None
    if choice.method == "streamed":
        on_host = kernels_for(x0) is HostKernels
        part_rows = rows.part_rows(p * np.dtype(x0.dtype).itemsize, on_host)
        key += (choice.chunk_rows, part_rows)
    if key not in problem.compiled:
        problem.compiled[key] = _compile(problem, blocks, p, unravel, choice, part_rows)
    evaluator = dataclasses.replace(problem.compiled[key], choice=choice)
    evaluator.set_points(None)  # a cached evaluator may hold an earlier solve's sample
    return evaluator, np.asarray(x0), unravel


# Below this many Jacobian entries, r and J are compiled as one function and
# every evaluation returns both: the Jacobian at an accepted trial point is
# then already known, and the extra Jacobian work on rejected trial points is
# negligible at that size.
FUSED_MAX_ENTRIES = 100_000
# Trial points evaluated together by one vmap. On the 2D Poisson PINN (2-core
# CPU, jax 0.10.2) one vmap over 32 trials took 70 ms and over 8 took 4.4 ms.
# lax.map over the 32 in batches of 8 took 10.5 ms.
TRIAL_BATCH = 8


def _compile(problem: Problem, blocks, p: int, unravel, choice: JacobianChoice,
             part_rows=None) -> Evaluator:
    # The collocation points are an argument of every compiled function, so a
    # solve that resamples them reuses the compiled code.
    def residual(x, points):
        return problem.residual(unravel(x), points)

    def jacobian(x, points):
        return problem.jacobian(unravel(x), points)

    n = blocks[-1].stop
    state = {"points": problem.points()}
    if choice.method == "dense" and n * p <= FUSED_MAX_ENTRIES:
        return _fused_evaluator(problem, residual, jacobian, blocks, state)

    residual_jit = jax.jit(residual)
    batched_jit = jax.jit(
        lambda trials, points: jax.lax.map(
            lambda x: residual(x, points), trials, batch_size=TRIAL_BATCH
        )
    )
    if choice.method == "streamed":
        plan = rows.RowPlan(problem, blocks, unravel, choice.chunk_rows, part_rows)

        def jacobian_at(x):
            # NOTE: panel_rows comes from the first compilation's memory limit.
            return StreamedJacobian(x, plan.chunks(state["points"]), p, choice.panel_rows)

    elif choice.method == "matrix-free":
        products = compile_products(residual)

        def jacobian_at(x):
            return MatrixFreeJacobian(x, n, products, state["points"])

    else:
        jacobian_jit = jax.jit(jacobian)

        def jacobian_at(x):
            return np.asarray(jacobian_jit(x, state["points"]))

    def trial_residuals(trials):
        # One trial (trust region) reuses the residual's compiled code; the
        # batched version is compiled only when a grid of trials is needed.
        if trials.shape[0] == 1:
            return np.asarray(residual_jit(trials[0], state["points"]))[None, :]
        return np.asarray(batched_jit(trials, state["points"]))

    return Evaluator(
        residual=lambda x: np.asarray(residual_jit(x, state["points"])),
        trial_residuals=trial_residuals,
        jacobian=jacobian_at,
        blocks=blocks,
        jacobian_mode="autodiff",
        check_start=lambda r, jac: problem.check_start(blocks, r, jac),
        set_points=_points_setter(problem, state),
        sample_points=problem.sample,
    )


def _points_setter(problem: Problem, state: dict) -> Callable:
    def set_points(points=None):
        state["points"] = problem.points() if points is None else tuple(points)

    return set_points


def _fused_evaluator(problem, residual, jacobian, blocks, state) -> Evaluator:
    """Evaluator over one compiled ``x -> (r, J)``, remembering the last point.

    The solver requests J at the trial point it just accepted, so the memo
    turns that request into a lookup.
    """
    both = _jit_small(lambda x, points: (residual(x, points), jacobian(x, points)))
    memo = {}

    def evaluate(x):
        last = memo.get("x")
        same_points = memo.get("points") is state["points"]
        if last is None or last.shape != x.shape or not same_points or not np.array_equal(last, x):
            r, jac = both(x, state["points"])
            memo.update(x=np.array(x), r=np.asarray(r), jac=np.asarray(jac),
                        points=state["points"])
        return memo["r"], memo["jac"]

    def trial_residuals(trials):
        return np.stack([evaluate(trial)[0] for trial in trials])

    return Evaluator(
        residual=lambda x: evaluate(x)[0],
        trial_residuals=trial_residuals,
        jacobian=lambda x: evaluate(x)[1],
        blocks=blocks,
        jacobian_mode="autodiff",
        check_start=lambda r, jac: problem.check_start(blocks, r, jac),
        set_points=_points_setter(problem, state),
        sample_points=problem.sample,
    )


# Compile options for the small fused functions, where compiling costs more
# than all the calls of a solve. Compiling 10 NIST problems took 0.76 s by
# default, 0.67 s at backend optimisation level 0, and 0.30 s with XLA's CPU
# fusion emitters off too (2-core CPU, jax 0.10.2). The calls took as long on
# each setting. A 2-8-8-1 tanh PINN on 900 points compiled in 0.15 s, not 0.62 s.
SMALL_FUNCTION_OPTIONS = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}


def _jit_small(fn: Callable) -> Callable:
    """Return ``jax.jit(fn)`` with `SMALL_FUNCTION_OPTIONS`, or without them where XLA lacks one."""
    compiled = {"fn": jax.jit(fn, compiler_options=SMALL_FUNCTION_OPTIONS)}

    def call(*args):
        try:
            return compiled["fn"](*args)
        except Exception as error:
            # XLA versions differ in their debug options, and an unknown one
            # fails the first call. The options only change compile time.
            if "No such compile option" not in str(error) or compiled.get("plain"):
                raise
            logger.info("compiling without the options %s: %s", SMALL_FUNCTION_OPTIONS, error)
            compiled.update(fn=jax.jit(fn), plain=True)
            return compiled["fn"](*args)

    return call


def from_numpy_function(fun: Callable, jac, size: int, start=None) -> Evaluator:
    """Wrap ``fun(x) -> 1-D array`` written for numpy, with ``jac`` a callable or a scheme.

    ``start`` is ``(x0, fun(x0))`` when the caller has evaluated it already.
    The last value is kept, so the solve's first residual and the base of
    forward differences at x0 reuse it. ``fun`` may be an expensive
    simulation, and scipy's least_squares calls it once at x0 as well
    (counted with max_nfev=1: three calls for two parameters, one at x0).
    """
    last = {"x": None, "r": None}
    if start is not None:
        x0 = np.array(start[0], copy=True)
        last.update(x=x0, r=_numpy_residual(start[1], size, x0.dtype))

    def residual(x):
        if last["x"] is not None and last["x"].shape == x.shape and np.array_equal(last["x"], x):
            return last["r"].astype(x.dtype, copy=True)
        value = _numpy_residual(fun(x), size, x.dtype)
        last.update(x=np.array(x, copy=True), r=value)
        return value.copy()

    def trial_residuals(points):
        return np.stack([residual(point) for point in points])

    if callable(jac):

        def jacobian(x):
            value = jac(x)
            if hasattr(value, "toarray"):  # a scipy.sparse matrix
                raise TypeError(
                    f"jac returned a sparse matrix ({type(value).__name__}); svensolve "
                    "factors dense Jacobians, so return value.toarray()"
                )
            value = np.asarray(value, dtype=x.dtype)
            if value.shape != (size, x.size):
                raise ValueError(
                    f"jac returned an array of shape {value.shape}; expected (n, p) = "
                    f"({size}, {x.size}), one row per residual and one column per parameter"
                )
            return value

        mode = "callable"
    else:

        def jacobian(x):
            return finite_difference_jacobian(residual, x, jac)

        mode = jac
    blocks = (Block("residual", 0, size, None),)
    return Evaluator(residual, trial_residuals, jacobian, blocks, mode, check_finite_start)


def _numpy_residual(value, size: int, dtype) -> np.ndarray:
    """Return ``fun``'s value as a flat real array of ``size`` entries, or raise.

    A complex value would lose its imaginary part in the cast, and a length
    that changes mid-solve would silently change the problem being solved.
    """
    value = np.asarray(value)
    if np.iscomplexobj(value):
        raise TypeError(
            f"fun must return real residuals, got dtype {value.dtype}; for complex values "
            "return the real and imaginary parts as separate residuals"
        )
    value = value.astype(dtype, copy=False).reshape(-1)
    if value.size != size:
        raise ValueError(
            f"fun returned {value.size} residuals, but {size} at x0; the number of "
            "residuals must stay the same at every point"
        )
    return value


def check_finite_start(residual: np.ndarray, jacobian: np.ndarray) -> None:
    """Raise on a non-finite residual or Jacobian entry of ``fun`` at ``x0``."""
    for what, values in (("residual", residual), ("Jacobian", jacobian)):
        bad = np.argwhere(~np.isfinite(values))
        if bad.size:
            index = tuple(int(i) for i in bad[0])
            raise ValueError(
                f"fun gives a non-finite {what} at x0: entry {index} is {values[index]}; "
                "the solve needs a finite start"
            )


def finite_difference_jacobian(residual: Callable, x: np.ndarray, scheme: str) -> np.ndarray:
    """Forward ("2-point") or central ("3-point") differences, one column per parameter.

    The relative step is eps^(1/2) for forward and eps^(1/3) for central
    differences, which balance truncation and rounding error.
    """
    eps = np.finfo(x.dtype).eps
    power = 0.5 if scheme == "2-point" else 1.0 / 3.0
    steps = eps**power * np.maximum(1.0, np.abs(x))
    base = residual(x) if scheme == "2-point" else None
    columns = []
    for i, h in enumerate(steps):
        forward = x.copy()
        forward[i] += h
        h_exact = forward[i] - x[i]  # the step that floating point actually took
        if scheme == "2-point":
            columns.append((residual(forward) - base) / h_exact)
            continue
        backward = x.copy()
        backward[i] -= h
        columns.append((residual(forward) - residual(backward)) / (forward[i] - backward[i]))
    return np.stack(columns, axis=1)
