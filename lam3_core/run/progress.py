"""Progress of a stage: a bar on a terminal, and a steady line in lam3.log for runs nobody watches.

Off a terminal (nohup, SLURM) there is no bar, but lam3.log gets a line every
``LAM3_PROGRESS_SECONDS`` (default 30) with the records done, the rate and the time left,
and one when the stage ends. ``--quiet`` hides the bar; the log lines stay.
"""

from __future__ import annotations

import logging
import os
import sys
import time

log = logging.getLogger("lam3")


def duration_text(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Progress:
    """Counts one stage's records; use as a context manager around the stage's loop."""

    def __init__(self, total: int, stage: str, quiet: bool = False, unit: str = "records"):
        from tqdm import tqdm

        self.total, self.stage, self.unit = total, stage, unit
        self.done = 0
        self.started = self.last_line = time.monotonic()
        self.interval = float(os.environ.get("LAM3_PROGRESS_SECONDS", "30"))
        self.bar = tqdm(total=total, desc=stage, unit=unit[:-1] if unit.endswith("s") else unit, file=sys.stderr,
                        disable=True if quiet else None, leave=False)

    def __enter__(self) -> Progress:
        log.info("%s: %d %s to do", self.stage, self.total, self.unit)
        return self

    def update(self, n: int) -> None:
        self.done += n
        self.bar.update(n)
        now = time.monotonic()
        if now - self.last_line >= self.interval and self.done < self.total:
            self.last_line = now
            elapsed = now - self.started
            rate = self.done / elapsed if elapsed > 0 else 0.0
            left = (self.total - self.done) / rate if rate > 0 else float("nan")
            log.info("%s: %d/%d %s, %.2f/s, about %s left", self.stage, self.done, self.total, self.unit, rate,
                     duration_text(left) if left == left else "unknown")

    def __exit__(self, *exc) -> None:
        self.bar.close()
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        log.info("%s: %d/%d %s in %s (%.2f/s)", self.stage, self.done, self.total, self.unit, duration_text(elapsed),
                 rate)
