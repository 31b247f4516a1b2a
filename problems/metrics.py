"""Error metrics that PINN papers report, shared by the problem modules."""

import numpy as np


def relative_l2(predicted, expected) -> float:
    """Relative L2 error ``||predicted - expected||_2 / ||expected||_2`` over all entries."""
    predicted = np.asarray(predicted)
    expected = np.asarray(expected)
    return float(np.linalg.norm(predicted - expected) / np.linalg.norm(expected))


class ExactSolutionError:
    """Mixin giving `relative_l2_error` to a problem case with an exact solution.

    The case provides ``solution(params, points)``, ``exact(points)`` and
    ``test_grid()``.
    """

    def relative_l2_error(self, params) -> float:
        """Return ||u_net - u||_2 / ||u||_2 over the points of ``test_grid()``."""
        points = self.test_grid()
        return relative_l2(self.solution(params, points), self.exact(points))
