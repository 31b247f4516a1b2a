"""Reference problems: each module builds a Problem, a start and the metric papers report."""

from problems import nist, poisson2d

# Problems that `svensolve run NAME` knows, with one-line descriptions.
REGISTRY = {
    poisson2d.NAME: poisson2d,
    "nist": nist,
}


def describe(name: str) -> str:
    """One-line description of a registered problem."""
    if name == "nist":
        return "NIST StRD nonlinear regression: 27 certified problems x 2 starts"
    return REGISTRY[name].DESCRIPTION
