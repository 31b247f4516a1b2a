"""Reference problems: each module builds a Problem, a start and the metric papers report."""

from problems import (
    allen_cahn,
    burgers,
    convection,
    heat1d,
    heat_inverse,
    kovasznay,
    lotka_volterra,
    nist,
    poisson2d,
    poisson5d,
    reaction,
    wave,
)

# Problems that `svensolve run NAME` accepts, by name.
REGISTRY = {
    module.NAME: module
    for module in (
        poisson2d,
        poisson5d,
        heat1d,
        kovasznay,
        heat_inverse,
        convection,
        reaction,
        wave,
        burgers,
        allen_cahn,
        lotka_volterra,
    )
}
REGISTRY["nist"] = nist


def describe(name: str) -> str:
    """One-line description of a registered problem."""
    if name == "nist":
        return "NIST StRD nonlinear regression: 27 certified problems x 2 starts"
    return REGISTRY[name].DESCRIPTION
