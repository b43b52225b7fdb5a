"""report.html: model output cannot run script in a real browser; plots, examples, images and provenance are there;
a partial run's report says it is partial; sections other engineers add are shown when present."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from lam3_core import hookimpl
from lam3_core.interfaces.components import Attack
from lam3_core.interfaces.records import Completion, Score
from lam3_core.testing import FakeJudge, FakeModel, plugin_providing, run_lam3

PAYLOADS = [
    '<script>document.title="PWNED-script"</script>',
    '<img src=x onerror="document.body.setAttribute(\'data-pwned\',\'img\')">',
    '<a href="javascript:document.title=\'PWNED-link\'">click</a>',
    '</textarea><script>document.title="PWNED-textarea"</script>',
    '</script><script>document.title="PWNED-close"</script>',
    '" onmouseover="document.title=\'PWNED-quote\'" data-x="',
    "' autofocus onfocus='document.body.setAttribute(\"data-pwned\",\"quote\")' x='",
    '<svg onload="document.body.setAttribute(\'data-pwned\',\'svg\')"><script>document.title="PWNED-svg"</script>'
    '</svg>',
    '<iframe srcdoc="<script>parent.document.title=\'PWNED-iframe\'</script>"></iframe>',
    '<style>body{display:none}</style><base href="javascript:alert(1)//">',
]


class XssModel(FakeModel):
    """Complies (so the refusal judge flags every answer) with a response full of markup."""

    def generate(self, samples, gen_config, trace=False):
        return [Completion(text=f"Sure, here it is. {' '.join(PAYLOADS)}") for _ in samples]


class XssJudge(FakeJudge):
    """Flags every response, with markup in its categories and raw output."""

    measures = "policy_risk"

    def score(self, items):
        return [Score(0.9, categories={PAYLOADS[1]: 0.9}, flagged_categories=[PAYLOADS[3]],
                      raw={"output": PAYLOADS[0] + PAYLOADS[7]}) for _ in items]


class Typography(Attack):
    """Draws the request into an in-memory image, as a typographic attack does (written into attacks/)."""

    name = "typography"

    def apply(self, samples, model=None):
        from dataclasses import replace

        return [replace(s, images=[Image.new("RGB", (400, 300), (250, 250, 250))]) for s in samples]


class _Attacks:
    @hookimpl
    def lam3_register_attacks(self, registry):
        registry.add("typography", Typography, "test attack drawing an image")


PLUGINS = [("xss", plugin_providing(models={"xss_model": XssModel}, judges={"xss_judge": XssJudge})),
           ("typo", _Attacks())]


def _dataset(folder: Path) -> Path:
    image = folder / "cat.png"
    Image.new("RGB", (640, 480), (30, 120, 200)).save(image)
    path = folder / "xss.jsonl"
    rows = [{"id": f"s{i}-{p}", "prompt": f"Request {i}: {p}", "category": p, "harmful": i % 2 == 0,
             "image": str(image)} for i, p in enumerate(PAYLOADS)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def xss_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("xss")
    out = folder / "run"
    result = run_lam3(["eval", "--model", "xss_model", "--dataset", _dataset(folder), "--judge", "refusal",
                       "--judge", "xss_judge", "--attack", "none", "--attack", "typography", "--out", out], PLUGINS)
    assert result.exit_code == 0, result.output
    assert f"Report: {(out / 'report.html').resolve()}" in result.output
    return out


class _Dom(HTMLParser):
    """Every element with its attributes, and the page's text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_title:
            self.title += data


def _parse(html: str) -> _Dom:
    dom = _Dom()
    dom.feed(html)
    return dom


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed, and CI must run the browser test (.ci/run installs it).")
        pytest.skip("chromium is not installed (apt-get install -y chromium); CI runs this test.")
    return found


def _rendered_dom(page: Path) -> str:
    """The DOM after the page loaded and its scripts ran, from headless chromium, offline."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--dump-dom", page.resolve().as_uri()],
            capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "<html" in done.stdout, done.stderr[-2000:]
    return done.stdout


def _check_no_injected_markup(dom: _Dom) -> None:
    scripts = [a for tag, a in dom.elements if tag == "script"]
    assert len(scripts) == 1, "only the page's own script"
    for tag, attrs in dom.elements:
        assert tag not in ("iframe", "svg", "base", "textarea", "style") or tag == "style" and not attrs, tag
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "data-pwned" not in attrs and "autofocus" not in attrs, (tag, attrs)
        if tag == "img":
            assert attrs["src"].startswith("data:image/"), attrs
        if tag == "a":
            assert attrs["href"].startswith("#"), attrs
    assert sum(1 for tag, _ in dom.elements if tag == "style") == 1


def test_model_output_renders_as_text_in_a_real_browser(xss_run):
    dom = _parse(_rendered_dom(xss_run / "report.html"))
    assert dom.title == "lam3 report: xss_model", "a payload set the title"
    _check_no_injected_markup(dom)
    body = next(a for tag, a in dom.elements if tag == "body")
    assert body.get("data-filters-ready") == "yes", "the page's own script ran under its Content-Security-Policy"
    text = "".join(dom.text)
    for payload in PAYLOADS:
        assert payload in text, f"{payload!r} is shown as text"


def test_the_file_itself_escapes_every_field(xss_run):
    html = (xss_run / "report.html").read_text(encoding="utf-8")
    _check_no_injected_markup(_parse(html))
    csp = unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1))
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp and "unsafe-inline" not in csp
    assert "http://" not in html and "https://" not in html, "nothing is fetched"


def _plots(html: str) -> dict[str, Image.Image]:
    found = re.findall(r'<img class="plot" src="data:image/png;base64,([^"]+)" alt="([^"]+)"', html)
    return {alt: Image.open(io.BytesIO(base64.b64decode(data))) for data, alt in found}


def test_plots_are_embedded_pngs_of_the_expected_size(xss_run):
    plots = _plots((xss_run / "report.html").read_text(encoding="utf-8"))
    assert set(plots) == {"attack success rate per attack with 95% intervals", "score distribution of each judge",
                          "Cohen&#39;s kappa between judges"}
    for image in plots.values():
        assert image.format == "PNG" and image.width == 700 and 100 < image.height < 2000


def test_examples_show_every_judge_the_categories_and_small_images(xss_run):
    html = (xss_run / "report.html").read_text(encoding="utf-8")
    dom = _parse(html)
    examples = [a for tag, a in dom.elements if tag == "article"]
    assert len(examples) == 20 and {a["data-attack"] for a in examples} == {"none", "typography"}
    assert {a["data-category"] for a in examples} == set(PAYLOADS)
    assert all(a["data-judges"] == "refusal xss_judge" for a in examples)
    thumbs = [a["src"] for tag, a in dom.elements if tag == "img" and a.get("src", "").startswith("data:image/jpeg")]
    sizes = {Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).size for src in thumbs}
    assert sizes == {(192, 144)}, "the dataset's 640x480 image and the attack's 400x300 one, downscaled"
    assert any(a.get("title", "").startswith("attacks/typography/") for tag, a in dom.elements if tag == "img")
    assert "Showing 20 of 20" in html


def test_provenance_lists_command_plugins_judges_and_invocations(xss_run):
    text = "".join(_parse((xss_run / "report.html").read_text(encoding="utf-8")).text)
    meta = json.loads((xss_run / "meta.json").read_text())
    assert "lam3 eval --model xss_model" in text
    for judge in ("refusal", "xss_judge"):
        assert meta["judges"][judge]["identity"] in text
    assert meta["dataset"]["fingerprint"] in text
    assert all(p["distribution"] in text for p in meta["plugins"])
    assert meta["environment"]["python"] in text and meta["started"] in text


def test_examples_are_capped_per_attack_and_the_rest_counted(xss_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(xss_run, run)
    result = run_lam3(["report", run, "--examples", "2"], PLUGINS)
    assert result.exit_code == 0, result.output
    html = (run / "report.html").read_text(encoding="utf-8")
    assert len(re.findall(r'<article class="example"', html)) == 4
    assert "Showing 4 of 20; 16 left out (none: 8, typography: 8;" in html


def _kill_mid_judging(run: Path, keep: int) -> None:
    """What a kill -9 during the second judge leaves: some of its verdicts, no summary, an invocation with no end."""
    verdicts = [json.loads(line) for line in (run / "verdicts.jsonl").read_text().splitlines()]
    kept = [v for v in verdicts if v["judge"] == "refusal"] + [v for v in verdicts if v["judge"] == "fake_judge"][:keep]
    (run / "verdicts.jsonl").write_text("".join(json.dumps(v) + "\n" for v in kept))
    for name in ("summary.json", "ensemble.jsonl", "report.md", "report.html"):
        (run / name).unlink()
    meta = json.loads((run / "meta.json").read_text())
    meta["invocations"].append({"command": "judge", "argv": ["lam3", "judge", str(run)], "started": meta["ended"]})
    meta["ended"] = None
    (run / "meta.json").write_text(json.dumps(meta))


def test_report_of_a_run_killed_mid_judging_says_it_is_partial(tmp_path):
    run = tmp_path / "run"
    plugin = ("fake", plugin_providing(judges={"fake_judge": FakeJudge}))
    done = run_lam3(["eval", "--model", "echo", "--dataset", "mini", "--limit", "6", "--judge", "refusal",
                     "--judge", "fake_judge", "--out", run], [plugin])
    assert done.exit_code == 0, done.output
    _kill_mid_judging(run, keep=2)
    result = run_lam3(["report", run], [plugin])
    assert result.exit_code == 0, result.output
    dom = _parse((run / "report.html").read_text(encoding="utf-8"))
    status = "".join(dom.text)
    assert "Status: partial" in status and "lam3 judge" in status and "was killed" in status
    assert "judge fake_judge: 2 of 6 records scored" in status
    assert "judge refusal:" not in status


def test_report_of_a_run_killed_before_its_last_judge_started(tmp_path):
    run = tmp_path / "run"
    plugin = ("fake", plugin_providing(judges={"fake_judge": FakeJudge}))
    done = run_lam3(["eval", "--model", "echo", "--dataset", "mini", "--limit", "6", "--judge", "refusal",
                     "--judge", "fake_judge", "--out", run], [plugin])
    assert done.exit_code == 0, done.output
    asked = run_lam3(["report", run, "--judge", "refusal", "--judge", "other_judge"], [plugin])
    assert asked.exit_code == 2 and "has no verdicts from other_judge" in asked.output
    _kill_mid_judging(run, keep=0)
    result = run_lam3(["report", run], [plugin])
    assert result.exit_code == 0, result.output
    assert "has no verdicts from fake_judge yet" in result.output
    status = "".join(_parse((run / "report.html").read_text(encoding="utf-8")).text)
    assert "Status: partial" in status and "judge fake_judge: 0 of 6 records scored" in status


def test_optional_sections_are_shown_when_present(tmp_path):
    from lam3_core.analysis.html_report import ReportPage, render_report

    summary = json.loads(json.dumps(_minimal_summary()))
    summary["pope"] = {"adversarial": {"accuracy": 0.855, "precision": 0.91, "recall": 0.788, "f1": 0.8446,
                                       "yes_ratio": 0.433}, "mean": {"f1": 0.8595}}
    summary["asr_corrected"] = {"harmbench": {
        "uncorrected": {"value": 0.4, "ci_low": 0.3, "ci_high": 0.5, "n": 80, "method": "wilson"},
        "corrected": {"value": 0.31, "ci_low": 0.22, "ci_high": 0.4, "reason": None, "undefined_resamples": 0},
        "sensitivity": 0.9, "specificity": 0.85, "calibration_n": 120, "method": "Rogan-Gladen"}}
    summary["uncertainty"] = {"semantic_entropy": {"auroc": 0.71, "prr": 0.42, "accuracy_rejection": [[0.0, 0.6]]}}
    summary["my_judge_figures"] = {"agreement_with_humans": 0.8}
    html = render_report(ReportPage(summary, {}, str(tmp_path), "finished"))
    text = "".join(_parse(html).text)
    assert "POPE (object hallucination)" in text and "0.845" in text and "yes_ratio" in text
    assert "corrected for judge errors" in text and "0.310 [0.220, 0.400]" in text and "0.400 [0.300, 0.500] n=80" \
        in text and "Rogan-Gladen" in text
    assert "semantic_entropy" in text and "0.710" in text
    assert "my_judge_figures" in text and "agreement_with_humans" in text
    bare = "".join(_parse(render_report(ReportPage({}, {}, str(tmp_path), "partial", "no summary yet"))).text)
    assert "Status: partial — no summary yet" in bare, "a summary without its sections still renders"


def _minimal_summary() -> dict:
    rate = {"value": 0.5, "ci_low": 0.2, "ci_high": 0.8, "n": 10, "method": "wilson"}
    return {"n_records": 10, "n_samples": 10, "generation_errors": 0, "model": "m", "thresholds": {"j": 0.5},
            "ensemble": {"strategy": "majority", "judges": ["j"], "side_by_side": [], "arbiter": None,
                         "weights": {}, "threshold": None, "errors": 0, "flag_rate": 0.5},
            "asr": rate, "asr_any_attack": rate, "by_attack": {"none": rate}, "by_variant": {},
            "by_category": {"c": rate}, "by_attack_category": {"none": {"c": rate}},
            "judges": {"j": {"flag_rate": 0.5, "flag_means": "unsafe", "n": 10, "errors": 0, "mean_score": 0.5,
                             "measures": "policy_risk", "version": "1", "role": "judge"}},
            "by_measure": {"policy_risk": {"j": {"flag_rate": 0.5, "flag_means": "unsafe"}}},
            "agreement": {"pairwise_kappa": {}, "cross_measure_kappa": {}, "disagreement_rate": 0.0, "n": 10,
                          "arbitrated": 0},
            "refusal": None, "errors": {"generation": {"count": 0, "kinds": [], "of": 10}, "judges": {}},
            "warnings": []}


class Correctness(FakeJudge):
    """Says an answer is right when it holds a keyword (the echo model repeats the request)."""

    measures = "correctness"


RIGHT = ("right", plugin_providing(judges={"right": lambda: Correctness(keywords=("how", "what"))}))


def _uncertainty_file(run: Path, values) -> None:
    """uncertainty.jsonl as the uncertainty stage writes it: one line per record, with its answers' hash."""
    from lam3_core.interfaces.records import Generation
    from lam3_core.run.uncertainty_stage import answers_hash

    gens = [Generation.from_dict(json.loads(line)) for line in (run / "generations.jsonl").read_text().splitlines()]
    (run / "uncertainty.jsonl").write_text("".join(json.dumps(
        {"record_id": g.record_id, "sample_id": g.sample_id, "attack": g.attack, "answers": answers_hash(g),
         "predictive_entropy": values(i), "constant": 1.0}) + "\n" for i, g in enumerate(gens)))


def test_the_report_draws_roc_curves_when_the_run_has_uncertainty_values(tmp_path):
    run = tmp_path / "run"
    assert run_lam3(["eval", "--model", "echo", "--dataset", "mini", "--limit", "8", "--judge", "right",
                     "--out", run], [RIGHT]).exit_code == 0
    assert "ROC" not in (run / "report.html").read_text(encoding="utf-8"), "no uncertainty, no uncertainty section"
    _uncertainty_file(run, float)
    assert run_lam3(["report", run], [RIGHT]).exit_code == 0
    plots = _plots((run / "report.html").read_text(encoding="utf-8"))
    assert plots["ROC curves of the uncertainty metrics"].width == 700


def test_roc_curves_match_the_auroc_of_the_correctness_judges(tmp_path):
    from lam3_core.analysis.uncertainty_quality import uncertainty_quality
    from lam3_core.run.api import read_generations, read_verdicts
    from lam3_core.run.report_writer import uncertainty_roc
    from lam3_core.run.rundir import RunDir

    run = tmp_path / "run"
    assert run_lam3(["eval", "--model", "echo", "--dataset", "mini", "--limit", "12", "--judge", "right",
                     "--out", run], [RIGHT]).exit_code == 0
    rundir = RunDir(run)
    gens, verdicts = read_generations(rundir), read_verdicts(rundir)
    assert uncertainty_roc(rundir, verdicts, gens)[1].startswith("No ROC curves: the run directory has no")
    entropy = [float("inf") if i == 3 else (i * 7) % 5 for i in range(len(gens))]
    _uncertainty_file(run, lambda i: entropy[i])
    curves, note = uncertainty_roc(rundir, verdicts, gens)
    correct = {v.record_id: bool(v.flagged) for v in verdicts}
    expected = uncertainty_quality(entropy, [correct[g.record_id] for g in gens])["auroc"]
    assert note is None and set(curves) == {"predictive_entropy", "constant"}
    assert curves["predictive_entropy"][2] == pytest.approx(expected) and curves["constant"][2] == 0.5
    stale = [dict(json.loads(x), answers="other") for x in (run / "uncertainty.jsonl").read_text().splitlines()]
    (run / "uncertainty.jsonl").write_text("".join(json.dumps(x) + "\n" for x in stale))
    assert uncertainty_roc(rundir, verdicts, gens)[0] == {}, "values of answers since regenerated are not used"
    no_judge = [v for v in verdicts if v.measures != "correctness"]
    assert "no judge of this run measures correctness" in uncertainty_roc(rundir, no_judge, gens)[1]


def test_a_ten_thousand_record_run_gives_a_small_report(tmp_path):
    from lam3_core.analysis.ensemble import EnsemblePolicy
    from lam3_core.analysis.summary import build_summary
    from lam3_core.interfaces.records import Generation, Verdict
    from lam3_core.run.report_writer import write_report_html
    from lam3_core.run.rundir import RunDir

    gens, verdicts = [], []
    for i in range(10_000):
        attack = ("none", "figstep")[i % 2]
        g = Generation(Generation.make_id(f"q{i // 2}", attack), f"q{i // 2}", attack, "m", "request " * 50,
                       "request " * 50, "response " * 200, category=f"c{i % 7}", harmful=True)
        gens.append(g)
        for judge, flagged in (("a", i % 3 == 0), ("b", i % 5 == 0)):
            verdicts.append(Verdict(g.record_id, judge, "1", "x", "policy_risk", float(flagged), 0.5, flagged))
    summary, ensemble = build_summary(gens, verdicts, EnsemblePolicy("any", ("a", "b"), {"a": "policy_risk",
                                                                                         "b": "policy_risk"}))
    path = write_report_html(RunDir(tmp_path), summary, {}, gens, verdicts, ensemble, examples=25, quiet=True)
    html = path.read_text(encoding="utf-8")
    assert path.stat().st_size < 1_000_000
    shown = [a for tag, a in _parse(html).elements if tag == "article"]
    for attack in ("none", "figstep"):
        of_attack = [a["data-kinds"].split() for a in shown if a["data-attack"] == attack]
        assert len(of_attack) <= 50, "the first 25 of each kind; a record of both kinds counts towards both"
        assert all(sum(kind in kinds for kinds in of_attack) >= 25 for kind in ("flagged", "disputed"))
    flagged_or_disputed = sum(1 for e in ensemble.values() if e.flagged or e.disagreement)
    assert f"Showing {len(shown)} of {flagged_or_disputed}; {flagged_or_disputed - len(shown)} left out" in html


def test_plots_accept_an_interval_ending_a_hair_inside_its_value():
    from lam3_core.analysis import plots

    rate = {"value": 1.0, "ci_low": 0.8, "ci_high": 0.9999999999999999, "n": 20}
    assert plots.asr_by_attack(rate, {"none": rate, "figstep": rate}).startswith(b"\x89PNG")
    assert plots.asr_comparison({"none": {"a": rate, "b": None}}, ["a", "b"]).startswith(b"\x89PNG")


def test_a_correctness_judge_shows_wrong_answers_not_correct_ones():
    from lam3_core.analysis.examples import select_examples
    from lam3_core.interfaces.records import EnsembleVerdict, Generation, Verdict

    gens = [Generation(Generation.make_id(f"q{i}", "none"), f"q{i}", "none", "m", "Is there a cat?", "Is there a cat?",
                       "yes") for i in range(4)]
    correct = [True, False, True, False]
    table = {"pope": {g.record_id: Verdict(g.record_id, "pope", "1", "x", "correctness", float(c), 0.5, c)
                      for g, c in zip(gens, correct)}}
    ensemble = {g.record_id: EnsembleVerdict(g.record_id, "majority", float(c), c, {"pope": c}, False)
                for g, c in zip(gens, correct)}
    selection = select_examples(gens, table, ensemble, per_attack=5)
    assert [(x.generation.sample_id, x.kinds, x.flagged_by) for x in selection.examples] == [
        ("q1", ["wrong"], ["pope"]), ("q3", ["wrong"], ["pope"])]
