"""The ``replay`` model: serves answers generated elsewhere, keyed by sample id.

``--model-arg path=answers.jsonl`` (or .csv) with ``id_field`` (default "id") and
``text_field`` (default "response"). A sample with no answer in the file gets an error
record, never an empty answer that judges would score as harmless.
"""

from __future__ import annotations

from pathlib import Path

from lam3_core.interfaces.components import Model
from lam3_core.interfaces.errors import UsageError
from lam3_core.interfaces.records import Completion
from lam3_core.kit.tabular import read_rows, require_column


class ReplayModel(Model):
    name = "replay"
    reads_images = False  # the answers exist already: a run needs no image files

    def __init__(self, path: str | None = None, id_field: str = "id", text_field: str = "response"):
        if not path:
            raise UsageError("The replay model needs a file of answers.", "Pass --model-arg path=answers.jsonl")
        self.path = Path(path).expanduser()
        rows = read_rows(self.path)
        require_column(self.path, rows, id_field, "--model-arg id_field=COLUMN")
        require_column(self.path, rows, text_field, "--model-arg text_field=COLUMN")
        self.answers: dict[str, str] = {}
        for lineno, row in rows:
            key = str(row.get(id_field))
            if key in self.answers:
                raise UsageError(f"{self.path}:{lineno}: duplicate id {key!r}.", "Each sample id must appear once.")
            text = row.get(text_field)
            self.answers[key] = "" if text is None else str(text)
        self.id_field, self.text_field = id_field, text_field

    def generate(self, samples, gen_config, trace=False):
        return [
            Completion(text=self.answers[s.id], finish_reason="replayed")
            if s.id in self.answers
            else Completion(text="", error=f"no answer for sample id {s.id!r} in {self.path}")
            for s in samples
        ]

    def info(self):
        return {
            "path": str(self.path),
            "answers": len(self.answers),
            "id_field": self.id_field,
            "text_field": self.text_field,
        }
