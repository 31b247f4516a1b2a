"""Property tests on linear residuals, where numpy's lstsq gives the exact solution.

Every residual here is linear, r(x) = A x - b, so `numpy.linalg.lstsq` gives
the minimum-norm least-squares solution x*. The matrices are Gaussian and
drawn from a seed that hypothesis chooses, so a failing example is rebuilt
from its kind, seed and column scales alone.

Each tolerance adds two parts. Rounding follows least-squares perturbation
theory for a backward-stable solver, driven by the condition number of A,
with a safety factor (ROUNDING_FACTOR). The termination allowance is what
the test that ``result.status`` reports guarantees (docs/solver.md), because
the tests fire at a point before a step. With e = x - x*:

- gtol: every cosine ``|a_j^T r| / (||a_j|| ||r||)`` is at most gtol. With
  B = A D^-1 the matrix with unit columns, ``B^T r = B^T (A e)``, and A e lies
  in the range of B, so ``||A e|| <= sqrt(p) * gtol * ||r|| / s_min(B)``.
- ftol: the Gauss-Newton step predicts a cost reduction of at most
  ``ftol * cost``, which for a linear residual is ``0.5 ||A e||^2``.
- xtol: the Gauss-Newton step, -e for a linear residual, satisfies
  ``|e_i| <= xtol * (xtol + |x_i|)``.

A solve from zero moves only along right singular vectors, so e lies in the
row space of A and ``||e|| <= ||A e|| / s_min(A)``. Once a test holds, the
solver tries that Gauss-Newton step, which lands on x*, and keeps it unless
the cost rises by more than its estimate of rounding. The tests named
``..._to_rounding`` check that this brings x to rounding level.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from jax.flatten_util import ravel_pytree

import svensolve as sv

FLOAT64_EPS = float(np.finfo(np.float64).eps)
FLOAT32_EPS = float(np.finfo(np.float32).eps)
# Defaults of minimize and least_squares. The solver raises each one to the
# eps of the problem's dtype when it is smaller.
GTOL = 1e-8
XTOL = 1e-8
FTOL = 1e-15
# Multiple of eps * dimension that the rounding bounds allow. Measured with
# x_scale="none" over 40 seeds of each kind in SHAPES, the largest error was
# 0.51 times the bound without this factor.
ROUNDING_FACTOR = 10.0

# (rows, cols, rank). A handful of shapes, because every solve compiles.
SHAPES = {
    "tall": (12, 5, 5),
    "wide": (5, 12, 5),
    "square": (6, 6, 6),
    "single-column": (8, 1, 1),
    "single-row": (1, 6, 1),
    "tall-rank-deficient": (12, 6, 3),
    "wide-rank-deficient": (6, 12, 3),
}
ALL_KINDS = tuple(SHAPES)
# Kinds whose columns get scales between 1e-6 and 1e6.
SCALED_KINDS = ("tall", "wide", "square")

PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# -- linear systems and their lstsq reference ----------------------------------------------


@dataclasses.dataclass(frozen=True)
class LinearSystem:
    """The recipe of one ``A x - b`` problem.

    ``kind`` names a shape in SHAPES, ``seed`` seeds numpy's generator, and
    ``log10_scales`` multiplies the columns. With ``residual_scale`` set, b is
    A times a Gaussian x plus that much Gaussian noise, so the least-squares
    residual is small; otherwise b is Gaussian.
    """

    kind: str
    seed: int
    log10_scales: tuple[float, ...] = ()
    residual_scale: float | None = None

    @functools.cached_property
    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The matrix A and the right-hand side b.

        A rank-deficient kind is the product of two thin Gaussian factors.
        """
        rows, cols, rank = SHAPES[self.kind]
        rng = np.random.default_rng(self.seed)
        if rank < min(rows, cols):
            matrix = rng.standard_normal((rows, rank)) @ rng.standard_normal((rank, cols))
        else:
            matrix = rng.standard_normal((rows, cols))
        rhs = rng.standard_normal(rows)
        if self.residual_scale is not None:
            rhs = matrix @ rng.standard_normal(cols) + self.residual_scale * rhs
        if self.log10_scales:
            matrix = matrix * 10.0 ** np.asarray(self.log10_scales)
        return matrix, rhs


seeds = st.integers(0, 2**32 - 1)


@st.composite
def well_scaled_systems(draw, kinds=ALL_KINDS):
    return LinearSystem(draw(st.sampled_from(kinds)), draw(seeds))


@st.composite
def small_residual_systems(draw, kinds=("tall", "square", "single-column")):
    scale = draw(st.sampled_from((1e-2, 1e-4)))
    return LinearSystem(draw(st.sampled_from(kinds)), draw(seeds), residual_scale=scale)


@st.composite
def graded_systems(draw):
    """Column scales from 1e-6 to 1e6 with no gap wider than 1e4 between neighbours.

    The exponents are a clipped walk with steps of at most 4, so sorting them
    leaves no gap wider than 4 either.
    """
    kind = draw(st.sampled_from(SCALED_KINDS))
    cols = SHAPES[kind][1]
    start = draw(st.floats(-6.0, 6.0))
    steps = draw(st.lists(st.floats(-4.0, 4.0), min_size=cols - 1, max_size=cols - 1))
    exponents = np.clip(start + np.cumsum([0.0, *steps]), -6.0, 6.0)
    return LinearSystem(kind, draw(seeds), tuple(float(e) for e in exponents))


@st.composite
def two_scale_systems(draw, kinds=SCALED_KINDS):
    """Columns scaled by 1e6 or 1e-6, at least one of each, so the scales are 12 decades apart."""
    kind = draw(st.sampled_from(kinds))
    cols = SHAPES[kind][1]
    signs = draw(st.lists(st.sampled_from((1.0, -1.0)), min_size=cols, max_size=cols))
    signs[0], signs[-1] = 1.0, -1.0
    return LinearSystem(kind, draw(seeds), tuple(6.0 * sign for sign in signs))


def solver_cutoff(rows: int, cols: int) -> float:
    """The smallest relative singular-value cutoff the solver's default steps use.

    For rows >= cols that is the default ``rtol``, numpy's ``eps * max(n, p)``.
    For rows < cols the line search's ladder of cutoffs runs from 1e-7 down to
    the same value, and on a linear system the full step at the smallest one
    removes the most cost, so it is taken (docs/solver.md).
    """
    return FLOAT64_EPS * max(rows, cols)


@dataclasses.dataclass(frozen=True)
class Reference:
    """lstsq's solution and the quantities that set the tolerances."""

    x: np.ndarray
    cost: float
    singular_values: np.ndarray  # of A, those above the cutoff
    s_min_unit_columns: float  # smallest kept singular value of A with unit columns
    column_norms: np.ndarray
    rhs_norm: float

    @property
    def residual_norm(self) -> float:
        return float(np.sqrt(2.0 * self.cost))

    @property
    def condition_number(self) -> float:
        return float(self.singular_values[0] / self.singular_values[-1])


def lstsq_reference(matrix: np.ndarray, rhs: np.ndarray) -> Reference:
    """Minimum-norm least-squares solution with the solver's smallest default cutoff.

    That cutoff is numpy's ``rcond=None``, eps * max(n, p) (`solver_cutoff`).
    """
    rows, cols = matrix.shape
    cutoff = solver_cutoff(rows, cols)
    x = np.linalg.lstsq(matrix, rhs, rcond=None)[0]
    residual = matrix @ x - rhs
    singular_values = np.linalg.svd(matrix, compute_uv=False)
    above_cutoff = singular_values[singular_values > cutoff * singular_values[0]]
    column_norms = np.linalg.norm(matrix, axis=0)
    unit_columns = np.linalg.svd(matrix / column_norms, compute_uv=False)
    return Reference(
        x=x,
        cost=0.5 * float(residual @ residual),
        singular_values=above_cutoff,
        s_min_unit_columns=float(unit_columns[above_cutoff.size - 1]),
        column_norms=column_norms,
        rhs_norm=float(np.linalg.norm(rhs)),
    )


def rounding_error_bound(reference: Reference, dimension: int, eps: float = FLOAT64_EPS):
    """Bound on ``||x - x*||`` from rounding, for lstsq and the solver alike.

    Least-squares perturbation theory for a backward-stable solver gives
    ``||dx|| <~ eps * cond * (||x*|| + cond * ||r*|| / s_max)``.
    """
    cond = reference.condition_number
    s_max = reference.singular_values[0]
    size = np.linalg.norm(reference.x) + cond * reference.residual_norm / s_max
    return float(ROUNDING_FACTOR * dimension * eps * cond * size)


def cost_rounding_bound(x: np.ndarray, cost: float, reference: Reference, dimension: int):
    """Bound on ``|cost - cost*|`` from rounding.

    Evaluating r = A x - b errs by at most ``gamma * (sum_j ||a_j|| |x_j| + ||b||)``
    with gamma a small multiple of eps, which moves the cost to first order. A
    backward-stable solution moves ``||A (x - x*)||`` by about
    ``gamma * s_max * (||x|| + ||r*|| / s_min)``, which moves it to second order.
    """
    gamma = ROUNDING_FACTOR * dimension * FLOAT64_EPS
    x = np.asarray(x, dtype=np.float64)
    evaluation = gamma * (reference.column_norms @ np.abs(x) + reference.rhs_norm)
    s_max, s_min = reference.singular_values[0], reference.singular_values[-1]
    backward = gamma * s_max * (np.linalg.norm(x) + reference.residual_norm / s_min)
    residual_norm = np.sqrt(2.0 * max(cost, reference.cost))
    return float(residual_norm * evaluation + evaluation**2 + 0.5 * backward**2)


@dataclasses.dataclass(frozen=True)
class Allowance:
    """Bounds on ``||e||`` and ``||A e||``, e = x - x*, from the termination tests that held."""

    error: float
    residual_change: float


def termination_allowance(result, reference: Reference, eps: float) -> Allowance:
    """Allowance of the termination test that ``result.status`` reports.

    A status without a convergence claim gets none. PLATEAU means that ftol
    or xtol held on the kept subspace, so it gets the larger of the two.
    """
    gtol, xtol, ftol = max(GTOL, eps), max(XTOL, eps), max(FTOL, eps)
    x = np.asarray(result.x, dtype=np.float64)
    residual_norm = np.sqrt(2.0 * result.cost)
    s_max, s_min = reference.singular_values[0], reference.singular_values[-1]

    gtol_change = np.sqrt(x.size) * gtol * residual_norm / reference.s_min_unit_columns
    ftol_change = np.sqrt(2.0 * ftol * result.cost)
    xtol_error = np.linalg.norm(xtol * (xtol + np.abs(x)))
    by_gtol = Allowance(gtol_change / s_min, gtol_change)
    by_ftol = Allowance(ftol_change / s_min, ftol_change)
    by_xtol = Allowance(xtol_error, s_max * xtol_error)
    by_status = {
        sv.Status.GTOL: by_gtol,
        sv.Status.FTOL: by_ftol,
        sv.Status.XTOL: by_xtol,
        sv.Status.FTOL_XTOL: min(by_ftol, by_xtol, key=lambda allowance: allowance.error),
        sv.Status.PLATEAU: Allowance(
            max(by_ftol.error, by_xtol.error),
            max(by_ftol.residual_change, by_xtol.residual_change),
        ),
    }
    return by_status.get(sv.Status(int(result.status)), Allowance(0.0, 0.0))


def x_tolerance(result, reference: Reference, dimension: int, eps: float = FLOAT64_EPS):
    """Bound on ``||x - x*||``: rounding plus the termination allowance."""
    rounding = rounding_error_bound(reference, dimension, eps)
    return rounding + termination_allowance(result, reference, eps).error


def cost_tolerance(result, reference: Reference, dimension: int) -> float:
    """Bound on ``|cost - cost*|``: rounding plus the termination allowance."""
    allowance = termination_allowance(result, reference, FLOAT64_EPS)
    rounding = cost_rounding_bound(result.x, result.cost, reference, dimension)
    return rounding + 0.5 * allowance.residual_change**2


def describe(result, reference: Reference) -> str:
    error = np.linalg.norm(np.asarray(result.x, dtype=np.float64) - reference.x)
    return (
        f"status {int(result.status)} ({result.message}) |x - x*| = {error:.3e}, "
        f"|x*| = {np.linalg.norm(reference.x):.3e}, cond(A) = {reference.condition_number:.3e}, "
        f"cost {result.cost!r}, lstsq cost {reference.cost!r}"
    )


def solve_linear(system: LinearSystem, **options):
    matrix, rhs = system.arrays
    return sv.least_squares(lambda x: matrix @ x - rhs, np.zeros(matrix.shape[1]), **options)


def check_unscaled_solve_matches_lstsq(system: LinearSystem) -> None:
    """Solve with x_scale="none" and compare x and the cost with lstsq's."""
    matrix, rhs = system.arrays
    reference = lstsq_reference(matrix, rhs)
    dimension = max(matrix.shape)

    result = solve_linear(system, x_scale="none")

    error = np.linalg.norm(result.x - reference.x)
    assert error <= x_tolerance(result, reference, dimension), describe(result, reference)
    excess = result.cost - reference.cost
    assert excess <= cost_tolerance(result, reference, dimension), describe(result, reference)


def check_unscaled_solve_reaches_rounding(system: LinearSystem) -> None:
    """Solve with x_scale="none" and check x against lstsq with the rounding bound alone."""
    matrix, rhs = system.arrays
    reference = lstsq_reference(matrix, rhs)

    result = solve_linear(system, x_scale="none")

    error = np.linalg.norm(result.x - reference.x)
    bound = rounding_error_bound(reference, max(matrix.shape))
    assert error <= bound, describe(result, reference)


# -- least_squares on A x - b against lstsq ------------------------------------------------


@PROPERTY_SETTINGS
@given(well_scaled_systems() | small_residual_systems())
def test_unscaled_fit_matches_lstsq_minimum_norm(system):
    check_unscaled_solve_matches_lstsq(system)


@PROPERTY_SETTINGS
@given(well_scaled_systems())
@example(LinearSystem("single-column", 7))
def test_linear_fit_matches_lstsq_to_rounding(system):
    # A Gaussian b leaves a residual comparable to b, so the cost's rounding
    # hides no step that matters. The explicit example reached only 10 digits
    # while the final step was kept only when it lowered the cost.
    check_unscaled_solve_reaches_rounding(system)


@PROPERTY_SETTINGS
@given(small_residual_systems())
@example(LinearSystem("single-column", 10, residual_scale=1e-2))
def test_small_residual_fit_matches_lstsq_to_rounding(system):
    check_unscaled_solve_reaches_rounding(system)


@PROPERTY_SETTINGS
@given(graded_systems())
def test_graded_columns_fit_matches_lstsq(system):
    check_unscaled_solve_matches_lstsq(system)


@PROPERTY_SETTINGS
@given(two_scale_systems(kinds=("tall", "square")))
@example(LinearSystem("tall", 0, (6.0, 6.0, -6.0, -6.0, -6.0)))
def test_two_scale_columns_fit_matches_lstsq(system):
    check_unscaled_solve_matches_lstsq(system)


@PROPERTY_SETTINGS
@given(well_scaled_systems() | graded_systems() | two_scale_systems())
def test_default_scaling_reaches_lstsq_cost(system):
    # With column scaling the solver finds the minimum-norm solution in scaled
    # coordinates, which differs from lstsq's when A is rank deficient, so
    # only the cost is compared.
    matrix, rhs = system.arrays
    reference = lstsq_reference(matrix, rhs)

    result = solve_linear(system)

    tolerance = cost_tolerance(result, reference, max(matrix.shape))
    assert result.cost - reference.cost <= tolerance, describe(result, reference)
    assert reference.cost - result.cost <= tolerance, describe(result, reference)


@PROPERTY_SETTINGS
@given(well_scaled_systems() | small_residual_systems())
def test_linear_fit_reports_success(system):
    result = solve_linear(system, x_scale="none")

    assert result.success, f"status {int(result.status)}: {result.message}"


# -- minimize keeps the parameter pytree ---------------------------------------------------

LEAF_SHAPES = ((), (1,), (3,), (2, 2))


def parameter_trees(dtypes):
    """Nested lists, tuples and dicts (with None leaves) of zero arrays of the given dtypes."""
    arrays = st.builds(np.zeros, st.sampled_from(LEAF_SHAPES), st.sampled_from(dtypes))
    return st.recursive(
        arrays | st.none(),
        lambda children: (
            st.lists(children, max_size=3)
            | st.lists(children, max_size=3).map(tuple)
            | st.dictionaries(st.sampled_from(("a", "b", "c")), children, max_size=3)
        ),
        max_leaves=6,
    ).filter(lambda tree: len(jax.tree.leaves(tree)) > 0)


def leaf_dtypes(tree) -> set[np.dtype]:
    return {np.dtype(leaf.dtype) for leaf in jax.tree.leaves(tree)}


def parameter_count(tree) -> int:
    return ravel_pytree(tree)[0].size


def flat_leaves(tree) -> jax.Array:
    """All leaves raveled and concatenated in `jax.tree.leaves` order, as ravel_pytree does."""
    return jnp.concatenate([jnp.ravel(leaf) for leaf in jax.tree.leaves(tree)])


def check_pytree_solution(params, extra_rows: int, seed: int, check_values: bool = True):
    """Fit ``A @ leaves - b`` with ``size + extra_rows`` rows and check the returned pytree.

    The structure, shapes and dtypes are always checked, the values against
    lstsq only with ``check_values``.
    """
    size = parameter_count(params)
    rows = max(1, size + extra_rows)
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((rows, size))
    rhs = rng.standard_normal(rows)
    reference = lstsq_reference(matrix, rhs)
    # A float32 leaf rounds the residual's input and the returned leaf to float32.
    eps = FLOAT32_EPS if np.dtype(np.float32) in leaf_dtypes(params) else FLOAT64_EPS

    def residual(tree):
        flat = flat_leaves(tree)
        return jnp.asarray(matrix, flat.dtype) @ flat - jnp.asarray(rhs, flat.dtype)

    result = sv.minimize(residual, params)

    assert jax.tree.structure(result.params) == jax.tree.structure(params)
    for got, start in zip(jax.tree.leaves(result.params), jax.tree.leaves(params), strict=True):
        assert got.shape == start.shape
        assert got.dtype == start.dtype
    if not check_values:
        return
    values = np.asarray(flat_leaves(result.params), dtype=np.float64)
    error = np.linalg.norm(values - reference.x)
    assert error <= x_tolerance(result, reference, rows, eps), describe(result, reference)


float64_or_mixed_trees = parameter_trees((np.float64, np.float32)).filter(
    lambda tree: np.dtype(np.float64) in leaf_dtypes(tree)
)
float32_trees = parameter_trees((np.float32,))


@PROPERTY_SETTINGS
@given(float64_or_mixed_trees, st.integers(-2, 3), seeds)
@example(np.zeros(3), 1, 4_132_661_787)  # stops on gtol 1.2e-10 from x*, inside the allowance
def test_float64_pytree_keeps_dtypes_and_solution(params, extra_rows, seed):
    check_pytree_solution(params, extra_rows, seed)


@PROPERTY_SETTINGS
@given(float32_trees.filter(lambda tree: parameter_count(tree) >= 2), st.integers(-2, -1), seeds)
def test_float32_wide_pytree_keeps_dtypes_and_solution(params, extra_rows, seed):
    check_pytree_solution(params, extra_rows, seed)


@PROPERTY_SETTINGS
@given(float32_trees, st.integers(0, 3), seeds)
def test_float32_tall_pytree_keeps_dtypes(params, extra_rows, seed):
    # The values are checked in test_float32_fit_matches_lstsq.
    check_pytree_solution(params, extra_rows, seed, check_values=False)


@PROPERTY_SETTINGS
@given(well_scaled_systems(("tall", "square", "single-column")))
@example(LinearSystem("single-column", 36))
def test_float32_fit_matches_lstsq(system):
    matrix, rhs = system.arrays
    reference = lstsq_reference(matrix, rhs)
    dimension = max(matrix.shape)

    def residual(x):
        return jnp.asarray(matrix, x.dtype) @ x - jnp.asarray(rhs, x.dtype)

    result = sv.least_squares(residual, np.zeros(matrix.shape[1], np.float32))

    assert result.x.dtype == np.float32
    error = np.linalg.norm(result.x.astype(np.float64) - reference.x)
    tolerance = x_tolerance(result, reference, dimension, FLOAT32_EPS)
    assert error <= tolerance, describe(result, reference)


# -- a Problem of linear data conditions ---------------------------------------------------

PARAMS = {"slope": jnp.zeros(2), "offset": jnp.zeros(())}
PARAMETER_COUNT = 3


def theta(params) -> jax.Array:
    """The parameters as one vector, in ravel_pytree order (dict keys sorted)."""
    return jnp.concatenate([params["offset"][None], params["slope"]])


@dataclasses.dataclass(frozen=True)
class DataBlock:
    """Rows ``design @ theta - target`` of one condition; ``pointwise`` gives it points."""

    name: str
    design: np.ndarray
    target: np.ndarray
    weight: float
    pointwise: bool

    def condition(self) -> sv.Condition:
        design, target = self.design, self.target
        if self.pointwise:
            return sv.Condition(
                self.name,
                lambda params, point: point[0] @ theta(params) - point[1],
                points=(design, target),
                weight=self.weight,
            )
        return sv.Condition(
            self.name, lambda params: design @ theta(params) - target, weight=self.weight
        )

    @property
    def scale(self) -> float:
        """docs/solver.md: weight / sqrt(count) with points, the weight alone without."""
        if self.pointwise:
            return self.weight / np.sqrt(self.target.size)
        return self.weight


@dataclasses.dataclass(frozen=True)
class ConditionSet:
    """Recipe of linear data conditions: rows, weight and points flag per block, and an order."""

    seed: int
    rows: tuple[int, ...]
    weights: tuple[float, ...]
    pointwise: tuple[bool, ...]
    order: tuple[int, ...]

    @functools.cached_property
    def blocks(self) -> list[DataBlock]:
        rng = np.random.default_rng(self.seed)
        blocks = []
        specs = zip(self.rows, self.weights, self.pointwise, strict=True)
        for index, (rows, weight, pointwise) in enumerate(specs):
            design = rng.standard_normal((rows, PARAMETER_COUNT))
            target = rng.standard_normal(rows)
            blocks.append(DataBlock(f"data{index}", design, target, weight, pointwise))
        return blocks

    def problem(self, order) -> sv.Problem:
        return sv.Problem([self.blocks[index].condition() for index in order])

    def weighted_lstsq(self) -> tuple[Reference, np.ndarray]:
        """lstsq on the blocks stacked as the solver stacks them, each times its scale."""
        matrix = np.concatenate([block.scale * block.design for block in self.blocks])
        rhs = np.concatenate([block.scale * block.target for block in self.blocks])
        return lstsq_reference(matrix, rhs), matrix


@st.composite
def condition_sets(draw):
    count = draw(st.integers(2, 4))
    rows = st.lists(st.sampled_from((1, 2, 3, 5)), min_size=count, max_size=count)
    weights = st.lists(st.floats(0.1, 10.0), min_size=count, max_size=count)
    flags = st.lists(st.booleans(), min_size=count, max_size=count)
    return ConditionSet(
        seed=draw(seeds),
        rows=tuple(draw(rows)),
        weights=tuple(draw(weights)),
        pointwise=tuple(draw(flags)),
        order=tuple(draw(st.permutations(range(count)))),
    )


@PROPERTY_SETTINGS
@given(condition_sets())
def test_condition_order_and_weights_match_lstsq(conditions):
    reference, matrix = conditions.weighted_lstsq()
    assume(reference.singular_values.size == PARAMETER_COUNT)  # a unique minimizer

    listed = sv.minimize(conditions.problem(range(len(conditions.rows))), PARAMS)
    reordered = sv.minimize(conditions.problem(conditions.order), PARAMS)

    np.testing.assert_allclose(reordered.x, listed.x, rtol=1e-8, atol=1e-8)
    rows = matrix.shape[0]
    listed_tolerance = x_tolerance(listed, reference, rows)
    reordered_tolerance = x_tolerance(reordered, reference, rows)
    assert np.linalg.norm(listed.x - reference.x) <= listed_tolerance, describe(listed, reference)
    assert np.linalg.norm(reordered.x - reference.x) <= reordered_tolerance, describe(
        reordered, reference
    )

    assert set(reordered.condition_costs) == {block.name for block in conditions.blocks}
    gamma = ROUNDING_FACTOR * rows * FLOAT64_EPS
    for block in conditions.blocks:
        block_residual = block.scale * (block.design @ reordered.x - block.target)
        expected = 0.5 * float(block_residual @ block_residual)
        terms = block.scale * (np.abs(block.design) @ np.abs(reordered.x) + np.abs(block.target))
        rounding = gamma * np.linalg.norm(terms)
        cost_rounding = np.linalg.norm(block_residual) * rounding + rounding**2
        got = reordered.condition_costs[block.name]
        assert abs(got - expected) <= cost_rounding, (block.name, got, expected)
