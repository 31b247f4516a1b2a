"""Progress display of a running solve: a tqdm bar or scipy-style iteration lines."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


class ProgressReporter:
    """Shows the best cost as iterations go by.

    Parameters
    ----------
    progress : bool or None
        Show a tqdm bar. None shows it only when stderr is a terminal, so
        logs of batch jobs stay clean.
    verbose : int
        2 prints one line per iteration (as scipy's ``verbose=2``); the bar is
        then off, since the two would interleave.
    time_limit : float or None
        When given, the bar counts seconds towards it instead of iterations.
    max_iter : int or None
        The total of a bar that counts iterations.
    """

    def __init__(self, progress: bool | None, verbose: int, time_limit: float | None,
                 max_iter: int | None = None):
        self.verbose = verbose
        if progress is None:
            progress = sys.stderr.isatty()
        self.bar = None
        if progress and verbose < 2:
            unit = "s" if time_limit else "it"
            total = time_limit if time_limit else max_iter
            self.bar = tqdm(total=total, unit=unit, desc="svensolve", leave=False)
        self.time_limit = time_limit
        self.last_time = 0.0
        if verbose >= 2:
            print(f"{'Iteration':>9} {'Cost':>14} {'Accepted':>8} {'Rank':>6} "
                  f"{'Damping':>10} {'Step':>10} {'Time (s)':>9}")

    def update(self, nit: int, best_cost: float, row: dict) -> None:
        """Show iteration ``nit``; ``row`` is the history entry just recorded."""
        if self.bar is not None:
            # Set before the update, whose refresh then shows this iteration's cost.
            self.bar.set_postfix(cost=f"{best_cost:.3e}", rank=row["rank"], refresh=False)
            if self.time_limit:
                self.bar.update(min(row["time"], self.time_limit) - self.last_time)
                self.last_time = min(row["time"], self.time_limit)
            else:
                self.bar.update(1)
        if self.verbose >= 2:
            print(
                f"{nit:>9d} {row['cost']:>14.6e} {str(row['accepted']):>8} {row['rank']:>6d} "
                f"{row['damping']:>10.2e} {row['step_length']:>10.2e} {row['time']:>9.3f}"
            )

    def polish(self, cost: float, accepted: bool) -> None:
        """Show the final undamped step, which the table's iterations do not include."""
        if self.verbose >= 2:
            print(f"{'polish':>9} {cost:>14.6e} {str(accepted):>8}")

    def resume_at(self, nit: int) -> None:
        """Start an iteration bar at ``nit``, the iterations of the run being resumed."""
        if self.bar is not None and not self.time_limit:
            self.bar.update(nit)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
