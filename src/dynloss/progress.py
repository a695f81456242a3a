"""Progress callbacks of long jobs: units done, rate and ETA in one log line (no JAX)."""
from __future__ import annotations

import logging
import math
from typing import Callable

log = logging.getLogger("dynloss")

#: ``progress(done, total, elapsed_s)``, called by a job after every chunk of work
ProgressFn = Callable[[int, int, float], None]


def format_eta(seconds: float) -> str:
    """``h:mm:ss`` of a duration in seconds (``?`` when it is not finite)."""
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{s:02d}"


def progress_logger(n_runs: int, label: str = "", emit: Callable[[str], None] | None = None,
                    min_interval: float = 2.0, unit: str = "step",
                    rate_text: Callable[[float], str] | None = None) -> ProgressFn:
    """A progress callback that logs ``unit``s done, the rate and the ETA (at most every
    ``min_interval`` seconds, and always at the end). ``rate_text(units_per_s)`` words the rate;
    the default is run-steps/s."""
    emit = emit or log.info
    rate_text = rate_text or (lambda rate: f"{rate * n_runs:,.0f} run-steps/s")
    last = [-math.inf]

    def report(done: int, total: int, elapsed: float) -> None:
        if done < total and elapsed - last[0] < min_interval:
            return
        last[0] = elapsed
        rate = done / elapsed if elapsed > 0 else float("nan")
        eta = (total - done) / rate if rate and rate > 0 else float("inf")
        emit(f"{label}{unit} {done}/{total} ({100.0 * done / total:.0f}%)  {rate_text(rate)}  "
             f"elapsed {format_eta(elapsed)}  ETA {format_eta(eta)}")

    return report
