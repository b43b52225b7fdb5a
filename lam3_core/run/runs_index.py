"""The run directories under a folder and the state of each: finished, partial, failed or running (``lam3 runs``).

A run's state comes from its meta.json invocations and its files, never from guessing:
the last command that did work (eval, generate or judge) decides. It is *running* while
another process holds the run's lock, *failed* when that command failed, *partial* when it
was killed or interrupted (or never recorded an end) or when there is no summary.json yet
(generated, not judged), and *finished* otherwise. Reading a run creates and changes nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from lam3_core.run.progress import duration_text
from lam3_core.run.rundir import ATTACKS, FILES

WORK_COMMANDS = ("eval", "generate", "judge")


@dataclass(frozen=True)
class RunState:
    """``status`` (finished, partial, failed, running; unreadable for a broken meta.json) and, unless finished,
    why."""

    status: str
    reason: str = ""


def run_state(meta: dict, has_summary: bool, running: bool = False, current: str | None = None) -> RunState:
    """The state of a run from its meta.json. ``current`` names the command writing this meta right now (its
    own invocation, the last one, has no end yet): a working command that got this far has done its work."""
    if running:
        return RunState("running", "another lam3 process is writing to it (its lock is held)")
    invocations = list(meta.get("invocations") or [])
    if current is not None and invocations:
        invocations.pop()
        if current in WORK_COMMANDS:
            return RunState("finished")
    work = [i for i in invocations if i.get("command") in WORK_COMMANDS]
    if not work:
        return RunState("partial", "no eval, generate or judge has run in it")
    last = work[-1]
    command, status = last.get("command"), last.get("status")
    if status is None and last.get("ended") is None:
        return RunState("partial", f"lam3 {command} (started {last.get('started')}) never recorded its end: "
                                   "killed, or the machine stopped")
    if status in ("killed", "interrupted"):
        return RunState("partial", f"lam3 {command} (started {last.get('started')}) was {status}")
    if status == "failed":
        return RunState("failed", f"lam3 {command} failed: {last.get('error') or 'no error recorded'}")
    if not has_summary:
        reason = "generated, not judged yet" if command == "generate" else f"no {FILES['summary']}"
        return RunState("partial", reason)
    return RunState("finished")


def lock_held(path: Path) -> bool:
    """Whether another process holds the run's lock (the lock file is opened read-only: nothing is created)."""
    lock = path / ".lock"
    if not lock.is_file():
        return False
    with open(lock) as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


def _seconds(invocation: dict) -> float | None:
    try:
        ended, started = datetime.fromisoformat(invocation["ended"]), datetime.fromisoformat(invocation["started"])
        return (ended - started).total_seconds()
    except (KeyError, TypeError, ValueError):
        return None


def _count_lines(path: Path) -> int:
    if not path.is_file():
        return 0
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


@dataclass(frozen=True)
class RunEntry:
    """One line of ``lam3 runs``. ``duration_s`` adds up the invocations that recorded their end."""

    path: str
    status: str
    reason: str
    model: str | None
    dataset: str | None
    attacks: list[str]
    judges: list[str]
    records: int
    asr: dict | None
    duration_s: float | None
    started: str | None
    ended: str | None

    def to_dict(self) -> dict:
        return asdict(self)


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def describe_run(path: str | Path) -> RunEntry:
    """What ``lam3 runs`` shows about the run directory at ``path``."""
    path = Path(path).resolve()
    meta = _read_json(path / FILES["meta"])
    summary = _read_json(path / FILES["summary"]) if (path / FILES["summary"]).is_file() else None
    if meta is None:
        return RunEntry(str(path), "unreadable", f"{FILES['meta']} is not a JSON object", None, None, [], [], 0,
                        None, None, None, None)
    state = run_state(meta, summary is not None, lock_held(path))
    config = meta.get("config") or {}
    model = meta.get("model") or {}
    info = model.get("info") or {}
    durations = [d for d in map(_seconds, meta.get("invocations") or []) if d is not None]
    return RunEntry(
        path=str(path),
        status=state.status,
        reason=state.reason,
        model=info.get("model_id") or model.get("name") or config.get("model"),
        dataset=(meta.get("dataset") or {}).get("name") or config.get("dataset"),
        attacks=sorted(meta.get("attacks") or config.get("attacks") or ["none"]),
        judges=sorted(meta.get("judges") or config.get("judges") or []),
        records=summary["n_records"] if summary and "n_records" in summary else
        _count_lines(path / FILES["generations"]),
        asr=(summary or {}).get("asr"),
        duration_s=sum(durations) if durations else None,
        started=meta.get("started"),
        ended=meta.get("ended"),
    )


def find_runs(root: str | Path) -> list[Path]:
    """Every run directory (one holding meta.json) under ``root``, itself included, sorted; ``attacks/`` folders
    and hidden folders are not searched."""
    root = Path(root)
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if d != ATTACKS and not d.startswith("."))
        if FILES["meta"] in files:
            found.append(Path(folder))
    return sorted(found)


def format_runs(entries: list[RunEntry], root: Path) -> str:
    """The table ``lam3 runs`` prints, and the next useful command."""
    if not entries:
        return f"No lam3 run directories under {root}.\nNext: lam3 eval ... --out DIR"
    header = ["status", "model", "dataset", "attacks", "judges", "records", "ASR", "duration", "path"]
    rows = [[e.status, e.model or "?", e.dataset or "?", ",".join(e.attacks), ",".join(e.judges) or "-",
             str(e.records), "n/a" if not e.asr or e.asr.get("value") is None else f"{e.asr['value']:.3f}",
             duration_text(e.duration_s) if e.duration_s is not None else "?", e.path] for e in entries]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1] for row in [header, *rows]]
    notes = [f"{e.path}: {e.status}: {e.reason.splitlines()[0][:200]}" for e in entries if e.reason]
    unfinished = next((e for e in entries if e.status in ("partial", "failed")), None)
    follow = (f"Next: rerun the command that made {unfinished.path} to resume it (see its meta.json), or "
              f"lam3 report {unfinished.path}" if unfinished else f"Next: lam3 report {entries[0].path}")
    return "\n".join([*lines, *([""] + notes if notes else []), "", follow])
