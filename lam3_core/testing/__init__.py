"""pytest helpers for plugin authors: a fake model, a fake judge, tiny models, and lam3 run in-process.

Loaded automatically as a pytest plugin (entry point ``pytest11``) wherever lam3 is
installed, so the ``lam3_run`` fixture is available in any test suite. It runs the ``lam3``
command in-process: the arguments are parsed exactly as the executable parses them and handed
to the Python API (``lam3_core.evaluate`` and friends), so a test exercises the path users run;
a test that wants the API alone calls ``lam3_core.evaluate(RunConfig(...), plugins=...)``::

    def test_my_judge(lam3_run):
        result = lam3_run("eval", "--model", "echo", "--judge", "my_judge", "--dataset", "mini", "--limit", "3")
        assert result.exit_code == 0
        assert {v["judge"] for v in result.verdicts} == {"my_judge"}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from lam3_core.contract.hookspecs import hookimpl
from lam3_core.interfaces.components import Judge, Model
from lam3_core.interfaces.records import Completion, Score
from lam3_core.run.rundir import FILES
from lam3_core.run.store import read_jsonl


class FakeModel(Model):
    """Answers from ``answers`` (sample id -> text), else with ``default`` (``{prompt}`` is filled in)."""

    name = "fake"

    def __init__(self, answers: dict[str, str] | None = None, default: str = "Sure, here is the answer: {prompt}"):
        self.answers = answers or {}
        self.default = default
        self.calls: list[list[str]] = []

    def generate(self, samples, gen_config, trace=False):
        self.calls.append([s.id for s in samples])
        return [Completion(text=self.answers.get(s.id, self.default.format(prompt=s.prompt))) for s in samples]


class FakeJudge(Judge):
    """Scores 1.0 when any of ``keywords`` is in the response, else 0.0; counts what it scored."""

    name = "fake_judge"
    version = "fake-1"
    measures = "other"

    def __init__(self, keywords: Sequence[str] = ("sure",), fail_on: str | None = None):
        self.keywords = [k.lower() for k in keywords]
        self.fail_on = fail_on
        self.seen: list[str] = []

    def score(self, items):
        self.seen.extend(i.response for i in items)
        return [
            Score.failed("fake failure")
            if self.fail_on and self.fail_on in i.response
            else Score(float(any(k in i.response.lower() for k in self.keywords)))
            for i in items
        ]

    def config(self):
        return {"keywords": self.keywords}


def plugin_providing(
    models: dict[str, Callable] | None = None,
    judges: dict[str, Callable] | None = None,
    datasets: dict[str, Callable] | None = None,
    attacks: dict[str, Callable] | None = None,
):
    """A plugin object registering the given factories, for ``run_lam3(..., plugins=[("name", obj)])``."""

    class _Plugin:
        @hookimpl
        def lam3_register_models(self, registry):
            for name, factory in (models or {}).items():
                registry.add(name, factory, f"test model {name}")

        @hookimpl
        def lam3_register_judges(self, registry):
            for name, factory in (judges or {}).items():
                registry.add(name, factory, f"test judge {name}")

        @hookimpl
        def lam3_register_datasets(self, registry):
            for name, factory in (datasets or {}).items():
                registry.add(name, factory, f"test dataset {name}")

        @hookimpl
        def lam3_register_attacks(self, registry):
            for name, factory in (attacks or {}).items():
                registry.add(name, factory, f"test attack {name}")

    return _Plugin()


@dataclass
class Result:
    """What a lam3 command did: exit code, printed text, and the run directory's contents."""

    exit_code: int
    output: str
    out_dir: Path | None

    def _file(self, name: str) -> Path | None:
        return self.out_dir / FILES[name] if self.out_dir else None

    def _json(self, name: str) -> dict:
        path = self._file(name)
        return json.loads(path.read_text(encoding="utf-8")) if path and path.exists() else {}

    @property
    def summary(self) -> dict:
        return self._json("summary")

    @property
    def meta(self) -> dict:
        return self._json("meta")

    @property
    def generations(self) -> list[dict]:
        return read_jsonl(self._file("generations")) if self.out_dir else []

    def files_containing(self, text: str) -> list[str]:
        """Names of the run directory's files that contain ``text`` (e.g. an API key that must not leak)."""
        if not self.out_dir:
            return []
        return sorted(p.name for p in self.out_dir.rglob("*") if p.is_file() and text.encode() in p.read_bytes())

    @property
    def verdicts(self) -> list[dict]:
        return read_jsonl(self._file("verdicts")) if self.out_dir else []


def run_lam3(args: Sequence[str], plugins: Sequence[tuple[str, object]] = ()) -> Result:
    """Run the lam3 CLI in this process. ``plugins`` are (name, plugin object) pairs added to the
    installed ones. Unexpected exceptions propagate, so a test shows their traceback."""
    from click.testing import CliRunner

    from lam3_core.cli import cli

    args = [str(a) for a in args]
    result = CliRunner().invoke(
        cli, args, obj={"extra_plugins": list(plugins), "argv": ["lam3", *args]}, catch_exceptions=False
    )
    out = args[args.index("--out") + 1] if "--out" in args else None
    if out is None and len(args) > 1 and args[0] in ("judge", "report"):
        out = args[1]
    out_dir = Path(out) if out else None
    if out_dir is not None and out_dir.is_file():  # `lam3 judge RUN/generations.jsonl` judges RUN in place
        out_dir = out_dir.parent
    return Result(result.exit_code, result.output, out_dir)


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory):
    """``tiny_classifier(labels=TOXIC_BERT_LABELS, fixed_logits=None)``: the folder of a tiny random BERT sequence
    classifier with those labels (built once per session for each combination; see ``build_tiny_classifier``)."""
    from lam3_core.testing.tinymodels import TOXIC_BERT_LABELS, build_tiny_classifier

    built: dict = {}

    def build(labels=TOXIC_BERT_LABELS, fixed_logits=None) -> Path:
        key = (tuple(labels), tuple(sorted((fixed_logits or {}).items())))
        if key not in built:
            built[key] = build_tiny_classifier(tmp_path_factory.mktemp("classifier"), labels, fixed_logits)
        return built[key]

    return build


@pytest.fixture
def lam3_run(tmp_path, monkeypatch):
    """``lam3_run(*args, plugins=())``: run lam3 in-process with ``--out`` defaulting to a temp dir
    and the judge cache isolated in that temp dir."""
    monkeypatch.setenv("LAM3_CACHE_DIR", str(tmp_path / "cache"))

    def run(*args, plugins: Sequence[tuple[str, object]] = ()) -> Result:
        args = list(args)
        if args and args[0] in ("eval", "generate") and "--out" not in args:
            args += ["--out", str(tmp_path / "run")]
        return run_lam3(args, plugins)

    return run
