"""Error metrics that PINN papers report, shared by the problem modules."""

import numpy as np


def relative_l2(predicted, expected) -> float:
    """Relative L2 error ``||predicted - expected||_2 / ||expected||_2`` over all entries."""
    predicted = np.asarray(predicted)
    expected = np.asarray(expected)
    return float(np.linalg.norm(predicted - expected) / np.linalg.norm(expected))
