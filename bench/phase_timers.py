"""Where one instrumented run of lam3's path spends its time: named phases timed between CUDA synchronisations.

The benchmarks' figures come from uninstrumented runs; one more run with these timers says what
bounds them. Each phase is a function of lam3 (or of transformers under it), wrapped for the
length of the run; the GPU is synchronised before and after each call, so a phase's time is its
own work. The synchronisations take away the overlap of CPU and GPU work that the uninstrumented
runs have, so the instrumented run is somewhat slower. A call made inside another phase counts
for the outer one, unless its phase is ``inner``: then it is counted on its own and taken out of
the outer one. What no phase covers is the rest: reading the inputs, records, files, threads.
Only calls on the main thread are timed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import torch

EACH_UP_TO = 8
"""A phase of at most this many calls reports each call's time too (which micro-batch waited)."""


def _synced() -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter()


class PhaseTimers:
    """Wrap functions with ``wrap`` inside ``with PhaseTimers() as timers:``; the originals come back at the end."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: Counter = Counter()
        self.each: dict[str, list[float]] = defaultdict(list)
        self._open: list[float] = []  # per phase being timed: the time of the inner phases inside it
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, attribute: str, label: str | Callable[..., str], inner: bool = False) -> None:
        """Time calls of ``owner.attribute`` (a class's method or an object's bound method) as ``label`` (or
        ``label(*args, **kwargs)``)."""
        original = getattr(owner, attribute)
        saved = vars(owner).get(attribute)
        main = threading.main_thread()

        def timed(*args, **kwargs):
            if threading.current_thread() is not main or (self._open and not inner):
                return original(*args, **kwargs)
            name = label(*args, **kwargs) if callable(label) else label
            self._open.append(0.0)
            start = _synced()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = _synced() - start
                own = elapsed - self._open.pop()
                self.seconds[name] += own
                self.calls[name] += 1
                self.each[name].append(own)
                if self._open:
                    self._open[-1] += elapsed

        setattr(owner, attribute, timed)
        self._undo.append(lambda: setattr(owner, attribute, saved) if saved is not None else delattr(owner, attribute))

    def report(self, total_seconds: float) -> dict:
        """Seconds and calls per phase (each call's seconds when there are at most ``EACH_UP_TO``), the instrumented
        run's total and the rest no phase covers."""
        phases = {name: {"seconds": round(s, 4), "calls": self.calls[name],
                         **({"each_s": [round(e, 4) for e in self.each[name]]}
                            if self.calls[name] <= EACH_UP_TO else {})}
                  for name, s in sorted(self.seconds.items(), key=lambda kv: -kv[1])}
        return {"phases": phases, "instrumented_total_s": round(total_seconds, 4),
                "rest_s": round(total_seconds - sum(self.seconds.values()), 4)}

    def __enter__(self) -> PhaseTimers:
        return self

    def __exit__(self, *exc) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


def print_phases(say: Callable[[str], None], title: str, report: dict) -> None:
    say(f"  {title} (one instrumented run, {report['instrumented_total_s']:.3f} s):")
    for name, phase in report["phases"].items():
        each = f": {', '.join(f'{e:.3f}' for e in phase['each_s'])}" if "each_s" in phase else ""
        say(f"    {name:58} {phase['seconds']:8.3f} s  ({phase['calls']} calls{each})")
    say(f"    {'the rest (pipeline, records, files, threads)':58} {report['rest_s']:8.3f} s")
