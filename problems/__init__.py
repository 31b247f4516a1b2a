"""Reference problems: each module builds a Problem, a start and the metric papers report."""

from problems import heat1d, heat_inverse, kovasznay, nist, poisson2d, poisson5d

# Problems that `svensolve run NAME` accepts, by name.
REGISTRY = {
    module.NAME: module for module in (poisson2d, poisson5d, heat1d, kovasznay, heat_inverse)
}
REGISTRY["nist"] = nist


def describe(name: str) -> str:
    """One-line description of a registered problem."""
    if name == "nist":
        return "NIST StRD nonlinear regression: 27 certified problems x 2 starts"
    return REGISTRY[name].DESCRIPTION
