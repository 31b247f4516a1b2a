"""Load the 27 NIST StRD nonlinear regression problems with their models and certified values.

The data files are the NIST Statistical Reference Datasets (StRD) for
nonlinear regression, one ``.dat`` file per problem in ``data/nist_strd``.
Each model function takes the parameter
vector ``b``, the predictor ``x`` and an array namespace ``xp``, so the same
code runs with ``numpy`` and traces under ``jax.jit`` and ``jax.grad`` with
``jax.numpy``.
"""

from __future__ import annotations

import functools
import pathlib
import re
from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

DATA_DIR = pathlib.Path(__file__).parent / "data" / "nist_strd"

# NIST's own listing order: lower, then average, then higher difficulty.
NAMES = (
    # lower difficulty
    "Misra1a",
    "Chwirut2",
    "Chwirut1",
    "Lanczos3",
    "Gauss1",
    "Gauss2",
    "DanWood",
    "Misra1b",
    # average difficulty
    "Kirby2",
    "Hahn1",
    "Nelson",
    "MGH17",
    "Lanczos1",
    "Lanczos2",
    "Gauss3",
    "Misra1c",
    "Misra1d",
    "Roszman1",
    "ENSO",
    # higher difficulty
    "MGH09",
    "Thurber",
    "BoxBOD",
    "Rat42",
    "MGH10",
    "Eckerle4",
    "Rat43",
    "Bennett5",
)

DIFFICULTIES = ("lower", "average", "higher")

# LRE values are capped here, so an exact match reports 15 digits instead of infinity.
MAX_LRE = 15.0


@dataclass(frozen=True, eq=False)
class NistProblem:
    """One NIST StRD nonlinear regression problem with its certified results.

    Attributes
    ----------
    name : str
        Dataset name as NIST spells it, e.g. ``"Misra1a"``.
    difficulty : str
        NIST's difficulty level: ``"lower"``, ``"average"`` or ``"higher"``.
    x : np.ndarray
        Predictor values, float64 of shape ``(n,)``. Nelson has two predictors,
        so its ``x`` has shape ``(n, 2)`` with columns ``x1`` and ``x2``.
    y : np.ndarray
        Response that the model predicts, float64 of shape ``(n,)``. For Nelson
        this is ``log(y)`` of the file's data, because NIST states that model
        and its certified residual sum of squares for ``log[y]``.
    starts : tuple of np.ndarray
        NIST's two starting points, "Start 1" and "Start 2".
    certified_params : np.ndarray
        Certified parameter estimates ``b1 .. bp``.
    certified_stderr : np.ndarray
        Certified standard deviations of the parameter estimates.
    certified_rss : float
        Certified residual sum of squares.
    residual_std : float
        Certified residual standard deviation, ``sqrt(rss / dof)``.
    dof : int
        Degrees of freedom, ``n - p``. This equals the file's "Degrees of
        Freedom" line for every problem except Rat43 (see `_parse_file`).
    model : Callable
        Model function ``model(b, x, xp=jax.numpy)`` returning predictions of ``y``.
    description : str
        Model formula as written in the file without the error term, e.g.
        ``"y = b1*(1-exp[-b2*x])"``.

    Notes
    -----
    Instances returned by `load` are cached and shared, so their arrays are
    read-only. Copy an array before changing it.
    """

    name: str
    difficulty: str
    x: np.ndarray
    y: np.ndarray
    starts: tuple[np.ndarray, np.ndarray]
    certified_params: np.ndarray
    certified_stderr: np.ndarray
    certified_rss: float
    residual_std: float
    dof: int
    model: Callable
    description: str

    def residual(self, b, xp=jnp):
        """Compute the residual vector ``model(b, x) - y``.

        Parameters
        ----------
        b : array_like
            Parameter vector of length `n_params`.
        xp : module, optional
            Array namespace, ``numpy`` or ``jax.numpy`` (default). With
            ``jax.numpy`` the result can be traced by ``jax.jit`` and ``jax.grad``.

        Returns
        -------
        array
            Residuals of shape ``(n_observations,)``.
        """
        return self.model(b, self.x, xp) - self.y

    @property
    def n_observations(self) -> int:
        """Number of observations ``n``."""
        return int(self.y.shape[0])

    @property
    def n_params(self) -> int:
        """Number of model parameters ``p``."""
        return int(self.certified_params.shape[0])


# ---------------------------------------------------------------------------
# Model functions. Each one follows the formula in its data file, and the
# file's b1, b2, ... are b[0], b[1], ... here.
# ---------------------------------------------------------------------------


def misra1a(b, x, xp=jnp):
    """Misra1a: ``y = b1*(1-exp[-b2*x])``."""
    b1, b2 = b
    return b1 * (1 - xp.exp(-b2 * x))


def chwirut2(b, x, xp=jnp):
    """Chwirut2: ``y = exp(-b1*x)/(b2+b3*x)``."""
    b1, b2, b3 = b
    return xp.exp(-b1 * x) / (b2 + b3 * x)


def chwirut1(b, x, xp=jnp):
    """Chwirut1: ``y = exp[-b1*x]/(b2+b3*x)``, the same form as Chwirut2."""
    return chwirut2(b, x, xp)


def lanczos3(b, x, xp=jnp):
    """Lanczos3: ``y = b1*exp(-b2*x) + b3*exp(-b4*x) + b5*exp(-b6*x)``, data to 5 digits."""
    b1, b2, b3, b4, b5, b6 = b
    return b1 * xp.exp(-b2 * x) + b3 * xp.exp(-b4 * x) + b5 * xp.exp(-b6 * x)


def gauss1(b, x, xp=jnp):
    """Gauss1: an exponential baseline plus two well-separated Gaussian peaks.

    ``y = b1*exp(-b2*x) + b3*exp(-(x-b4)**2 / b5**2) + b6*exp(-(x-b7)**2 / b8**2)``.
    """
    b1, b2, b3, b4, b5, b6, b7, b8 = b
    decay = b1 * xp.exp(-b2 * x)
    first_peak = b3 * xp.exp(-((x - b4) ** 2) / b5**2)
    second_peak = b6 * xp.exp(-((x - b7) ** 2) / b8**2)
    return decay + first_peak + second_peak


def gauss2(b, x, xp=jnp):
    """Gauss2: the same form as Gauss1, with two slightly blended peaks."""
    return gauss1(b, x, xp)


def danwood(b, x, xp=jnp):
    """DanWood: ``y = b1*x**b2``."""
    b1, b2 = b
    return b1 * x**b2


def misra1b(b, x, xp=jnp):
    """Misra1b: ``y = b1 * (1-(1+b2*x/2)**(-2))``."""
    b1, b2 = b
    return b1 * (1 - (1 + b2 * x / 2) ** (-2))


def kirby2(b, x, xp=jnp):
    """Kirby2: ``y = (b1 + b2*x + b3*x**2) / (1 + b4*x + b5*x**2)``."""
    b1, b2, b3, b4, b5 = b
    return (b1 + b2 * x + b3 * x**2) / (1 + b4 * x + b5 * x**2)


def hahn1(b, x, xp=jnp):
    """Hahn1: ``y = (b1+b2*x+b3*x**2+b4*x**3) / (1+b5*x+b6*x**2+b7*x**3)``."""
    b1, b2, b3, b4, b5, b6, b7 = b
    numerator = b1 + b2 * x + b3 * x**2 + b4 * x**3
    denominator = 1 + b5 * x + b6 * x**2 + b7 * x**3
    return numerator / denominator


def nelson(b, x, xp=jnp):
    """Nelson: ``log[y] = b1 - b2*x1 * exp[-b3*x2]``.

    The function returns the prediction of ``log(y)``. The predictor ``x`` has
    shape ``(n, 2)`` with columns ``x1`` (time) and ``x2`` (temperature).
    """
    b1, b2, b3 = b
    x1 = x[:, 0]
    x2 = x[:, 1]
    return b1 - b2 * x1 * xp.exp(-b3 * x2)


def mgh17(b, x, xp=jnp):
    """MGH17: ``y = b1 + b2*exp[-x*b4] + b3*exp[-x*b5]``."""
    b1, b2, b3, b4, b5 = b
    return b1 + b2 * xp.exp(-x * b4) + b3 * xp.exp(-x * b5)


def lanczos1(b, x, xp=jnp):
    """Lanczos1: the same form as Lanczos3, with data generated to 14 digits."""
    return lanczos3(b, x, xp)


def lanczos2(b, x, xp=jnp):
    """Lanczos2: the same form as Lanczos3, with data generated to 6 digits."""
    return lanczos3(b, x, xp)


def gauss3(b, x, xp=jnp):
    """Gauss3: the same form as Gauss1, with two strongly blended peaks."""
    return gauss1(b, x, xp)


def misra1c(b, x, xp=jnp):
    """Misra1c: ``y = b1 * (1-(1+2*b2*x)**(-.5))``."""
    b1, b2 = b
    return b1 * (1 - (1 + 2 * b2 * x) ** (-0.5))


def misra1d(b, x, xp=jnp):
    """Misra1d: ``y = b1*b2*x*((1+b2*x)**(-1))``."""
    b1, b2 = b
    return b1 * b2 * x * ((1 + b2 * x) ** (-1))


def roszman1(b, x, xp=jnp):
    """Roszman1: ``y = b1 - b2*x - arctan[b3/(x-b4)]/pi``."""
    b1, b2, b3, b4 = b
    return b1 - b2 * x - xp.arctan(b3 / (x - b4)) / xp.pi


def enso(b, x, xp=jnp):
    """ENSO: a constant plus an annual cycle and two cycles of fitted period (months).

    ``y = b1 + b2*cos(2*pi*x/12) + b3*sin(2*pi*x/12) + b5*cos(2*pi*x/b4)
    + b6*sin(2*pi*x/b4) + b8*cos(2*pi*x/b7) + b9*sin(2*pi*x/b7)``.
    """
    b1, b2, b3, b4, b5, b6, b7, b8, b9 = b
    annual = 2 * xp.pi * x / 12
    cycle_b4 = 2 * xp.pi * x / b4
    cycle_b7 = 2 * xp.pi * x / b7
    return (
        b1
        + b2 * xp.cos(annual)
        + b3 * xp.sin(annual)
        + b5 * xp.cos(cycle_b4)
        + b6 * xp.sin(cycle_b4)
        + b8 * xp.cos(cycle_b7)
        + b9 * xp.sin(cycle_b7)
    )


def mgh09(b, x, xp=jnp):
    """MGH09: ``y = b1*(x**2+x*b2) / (x**2+x*b3+b4)``."""
    b1, b2, b3, b4 = b
    return b1 * (x**2 + x * b2) / (x**2 + x * b3 + b4)


def thurber(b, x, xp=jnp):
    """Thurber: the same rational cubic-over-cubic form as Hahn1."""
    return hahn1(b, x, xp)


def boxbod(b, x, xp=jnp):
    """BoxBOD: ``y = b1*(1-exp[-b2*x])``, the same form as Misra1a."""
    return misra1a(b, x, xp)


def rat42(b, x, xp=jnp):
    """Rat42: ``y = b1 / (1+exp[b2-b3*x])``."""
    b1, b2, b3 = b
    return b1 / (1 + xp.exp(b2 - b3 * x))


def mgh10(b, x, xp=jnp):
    """MGH10: ``y = b1 * exp[b2/(x+b3)]``."""
    b1, b2, b3 = b
    return b1 * xp.exp(b2 / (x + b3))


def eckerle4(b, x, xp=jnp):
    """Eckerle4: ``y = (b1/b2) * exp[-0.5*((x-b3)/b2)**2]``."""
    b1, b2, b3 = b
    return (b1 / b2) * xp.exp(-0.5 * ((x - b3) / b2) ** 2)


def rat43(b, x, xp=jnp):
    """Rat43: ``y = b1 / ((1+exp[b2-b3*x])**(1/b4))``."""
    b1, b2, b3, b4 = b
    return b1 / (1 + xp.exp(b2 - b3 * x)) ** (1 / b4)


def bennett5(b, x, xp=jnp):
    """Bennett5: ``y = b1 * (b2+x)**(-1/b3)``."""
    b1, b2, b3 = b
    return b1 * (b2 + x) ** (-1 / b3)


MODELS: dict[str, Callable] = {
    "Misra1a": misra1a,
    "Chwirut2": chwirut2,
    "Chwirut1": chwirut1,
    "Lanczos3": lanczos3,
    "Gauss1": gauss1,
    "Gauss2": gauss2,
    "DanWood": danwood,
    "Misra1b": misra1b,
    "Kirby2": kirby2,
    "Hahn1": hahn1,
    "Nelson": nelson,
    "MGH17": mgh17,
    "Lanczos1": lanczos1,
    "Lanczos2": lanczos2,
    "Gauss3": gauss3,
    "Misra1c": misra1c,
    "Misra1d": misra1d,
    "Roszman1": roszman1,
    "ENSO": enso,
    "MGH09": mgh09,
    "Thurber": thurber,
    "BoxBOD": boxbod,
    "Rat42": rat42,
    "MGH10": mgh10,
    "Eckerle4": eckerle4,
    "Rat43": rat43,
    "Bennett5": bennett5,
}


# ---------------------------------------------------------------------------
# Parsing of the .dat files. The parser relies on the text markers, not on
# the line numbers in the "File Format" header.
# ---------------------------------------------------------------------------

_DIFFICULTY_RE = re.compile(r"^\s*(Lower|Average|Higher) Level of Difficulty", re.MULTILINE)
_PARAM_ROW_RE = re.compile(
    r"^\s*b(\d+)\s*=\s*(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$",
    re.MULTILINE,
)
_FORMULA_START_RE = re.compile(r"^\s*(log\[y\]|y)\s*=")
_ERROR_TERM_RE = re.compile(r"\s*\+\s*e\s*$")


def _read_number(text: str, label: str, path: pathlib.Path) -> str:
    """Return the token after ``label:`` in the summary block of a data file."""
    match = re.search(rf"^{re.escape(label)}:\s*(\S+)\s*$", text, re.MULTILINE)
    if match is None:
        raise ValueError(f"{path}: missing the line '{label}:'")
    return match.group(1)


def _parse_difficulty(text: str, path: pathlib.Path) -> str:
    match = _DIFFICULTY_RE.search(text)
    if match is None:
        raise ValueError(f"{path}: missing the line '... Level of Difficulty'")
    return match.group(1).lower()


def _parse_description(lines: list[str], path: pathlib.Path) -> str:
    """Join the model formula lines and drop the trailing error term ``+ e``.

    The formula starts at the first line of the form ``y = ...`` or
    ``log[y] = ...``, which skips Roszman1's ``pi = ...`` definition, and runs
    to the next blank line.
    """
    start = next((i for i, line in enumerate(lines) if _FORMULA_START_RE.match(line)), None)
    if start is None:
        raise ValueError(f"{path}: missing the model formula line 'y = ...'")

    formula_lines = []
    for line in lines[start:]:
        if not line.strip():
            break
        formula_lines.append(line.strip())

    formula = " ".join(" ".join(formula_lines).split())
    return _ERROR_TERM_RE.sub("", formula)


def _parse_parameters(text: str, path: pathlib.Path) -> np.ndarray:
    """Return the parameter table as rows ``[start1, start2, certified, stderr]``."""
    rows = _PARAM_ROW_RE.findall(text)
    if not rows:
        raise ValueError(f"{path}: missing the parameter rows 'b1 = ...'")

    indices = [int(row[0]) for row in rows]
    if indices != list(range(1, len(rows) + 1)):
        raise ValueError(f"{path}: parameter rows are not b1 .. b{len(rows)} in order: {indices}")

    return np.array([[float(value) for value in row[1:]] for row in rows], dtype=np.float64)


def _parse_data(lines: list[str], path: pathlib.Path) -> tuple[list[str], np.ndarray]:
    """Return the column names and the data rows that follow ``Data: y x ...``.

    The header block also has a ``Data:`` line, which describes the response
    and starts with a count, so only a ``Data:`` line followed by ``y`` counts.
    """
    start = next(
        (i for i, line in enumerate(lines) if re.match(r"^Data:\s+y\b", line)),
        None,
    )
    if start is None:
        raise ValueError(f"{path}: missing the data header line 'Data: y x'")

    columns = lines[start].split()[1:]
    rows = []
    for line_number, line in enumerate(lines[start + 1 :], start=start + 2):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != len(columns):
            raise ValueError(
                f"{path}:{line_number}: expected {len(columns)} values "
                f"({' '.join(columns)}), found {len(fields)}: {line.strip()!r}"
            )
        rows.append([float(field) for field in fields])

    return columns, np.array(rows, dtype=np.float64)


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _parse_file(name: str, path: pathlib.Path) -> NistProblem:
    text = path.read_text(encoding="ascii")
    lines = text.splitlines()

    parameters = _parse_parameters(text, path)
    _, data = _parse_data(lines, path)

    n_expected = int(_read_number(text, "Number of Observations", path))
    if data.shape[0] != n_expected:
        raise ValueError(
            f"{path}: found {data.shape[0]} data rows, "
            f"but the header gives {n_expected} observations"
        )

    description = _parse_description(lines, path)
    y = data[:, 0]
    # Nelson's file lists the raw response, but its model and certified
    # residual sum of squares are for log(y).
    if description.startswith("log[y]"):
        y = np.log(y)
    x = data[:, 1] if data.shape[1] == 2 else data[:, 1:]

    # NOTE: Rat43.dat states 9 degrees of freedom, but it has 15 observations
    # and 4 parameters, and its residual standard deviation equals
    # sqrt(RSS / 11). The line is a typo in NIST's file, so dof is n - p.
    dof = data.shape[0] - parameters.shape[0]
    file_dof = int(_read_number(text, "Degrees of Freedom", path))
    if file_dof != dof and name != "Rat43":
        raise ValueError(
            f"{path}: the header gives {file_dof} degrees of freedom, "
            f"but n - p = {data.shape[0]} - {parameters.shape[0]} = {dof}"
        )

    return NistProblem(
        name=name,
        difficulty=_parse_difficulty(text, path),
        x=_read_only(np.ascontiguousarray(x)),
        y=_read_only(np.ascontiguousarray(y)),
        starts=(
            _read_only(parameters[:, 0].copy()),
            _read_only(parameters[:, 1].copy()),
        ),
        certified_params=_read_only(parameters[:, 2].copy()),
        certified_stderr=_read_only(parameters[:, 3].copy()),
        certified_rss=float(_read_number(text, "Residual Sum of Squares", path)),
        residual_std=float(_read_number(text, "Residual Standard Deviation", path)),
        dof=dof,
        model=MODELS[name],
        description=description,
    )


# ---------------------------------------------------------------------------
# Public loaders and the accuracy measure.
# ---------------------------------------------------------------------------


def load(name: str) -> NistProblem:
    """Load one NIST StRD problem by name.

    Parameters
    ----------
    name : str
        Dataset name as NIST spells it, one of `NAMES`, e.g. ``"Misra1a"``.

    Returns
    -------
    NistProblem
        The parsed problem. Repeated calls return the same cached instance.

    Raises
    ------
    ValueError
        If `name` is not one of `NAMES`, or if the data file is malformed.
    """
    if name not in MODELS:
        raise ValueError(f"unknown NIST StRD problem {name!r}. Valid names are: {', '.join(NAMES)}")
    return _load_cached(name)


@functools.cache
def _load_cached(name: str) -> NistProblem:
    return _parse_file(name, DATA_DIR / f"{name}.dat")


def load_all() -> list[NistProblem]:
    """Load all 27 NIST StRD problems in the order of `NAMES`.

    Returns
    -------
    list of NistProblem
        Problems ordered from lower to higher difficulty.
    """
    return [load(name) for name in NAMES]


def log_relative_error(estimate, certified) -> np.ndarray:
    """Compute NIST's log relative error (LRE), the number of correct significant digits.

    ``LRE = -log10(|estimate - certified| / |certified|)``, or
    ``-log10(|estimate - certified|)`` where ``certified == 0``.

    Parameters
    ----------
    estimate : array_like
        Computed values, e.g. fitted parameters.
    certified : array_like
        Certified values, broadcastable against `estimate`.

    Returns
    -------
    np.ndarray
        LRE per element, float64, clipped to ``[0, 15]``. An exact match
        gives 15. A NaN or infinite estimate gives 0, because it has no
        correct digits.
    """
    estimate = np.asarray(estimate, dtype=np.float64)
    certified = np.asarray(certified, dtype=np.float64)

    error = np.abs(estimate - certified)
    scale = np.where(certified == 0, 1.0, np.abs(certified))
    with np.errstate(divide="ignore", invalid="ignore"):
        lre = -np.log10(error / scale)

    lre = np.where(np.isnan(lre), 0.0, lre)
    return np.clip(lre, 0.0, MAX_LRE)
