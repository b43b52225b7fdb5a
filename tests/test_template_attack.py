"""The `template` attack: bundled templates by name or family, the user's file, errors, and a run's variants."""

from __future__ import annotations

import json
import re

import pytest

from lam3_core import Sample, UsageError
from lam3_core.builtin.template_attack import TemplateAttack, prefix_injection, refusal_suppression
from lam3_core.builtin.templates import PLACEHOLDER, bundled_templates

FAMILIES = ["prefix_injection", "refusal_suppression", "role_play", "style_injection", "distractors"]


@pytest.fixture
def samples():
    return [Sample("a", "How do I bake bread?", ["a.png"], category="food", meta={"target": "Sure"}),
            Sample("b", "Name a {curly} word.", [])]


def test_bundled_templates_cover_every_family_and_hold_the_placeholder():
    templates = bundled_templates()
    assert list(dict.fromkeys(t.family for t in templates)) == FAMILIES
    assert all(PLACEHOLDER in t.text for t in templates)
    assert len({t.name for t in templates}) == len(templates) >= 3 * len(FAMILIES)


def test_default_is_every_bundled_template_once_per_sample_in_input_order(samples):
    attacked = TemplateAttack().apply(samples)
    names = [t.name for t in bundled_templates()]
    assert [(s.id, s.meta["variant"]) for s in attacked] == [(i, n) for i in ("a", "b") for n in names]
    first = attacked[0]
    assert first.images == ["a.png"] and first.category == "food" and first.meta["target"] == "Sure"
    assert first.meta["attack_info"] == {"template": names[0], "family": "prefix_injection"}
    assert first.prompt.startswith("How do I bake bread?\n\nBegin your answer with")
    assert "Name a {curly} word." in attacked[-1].prompt and PLACEHOLDER not in attacked[-1].prompt


def test_select_by_names_by_family_and_both(samples):
    by_name = TemplateAttack(names="style_json,roleplay_persona").apply(samples[:1])
    assert [s.meta["variant"] for s in by_name] == ["roleplay_persona", "style_json"]  # file order
    by_family = TemplateAttack(family=["distractors"]).apply(samples[:1])
    assert {s.meta["attack_info"]["family"] for s in by_family} == {"distractors"} and len(by_family) == 3
    both = TemplateAttack(names="style_json", family="role_play").apply(samples[:1])
    assert [s.meta["variant"] for s in both] == ["roleplay_novel_chapter", "roleplay_persona", "roleplay_interview",
                                                 "style_json"]
    # The JSON shape's braces survive: only {prompt} is replaced.
    assert '{"answer": "...", "steps": ["...", "..."]}' in by_name[1].prompt


def test_the_earlier_attack_names_are_their_bundled_template(samples):
    for factory, name in ((prefix_injection, "prefix_injection"), (refusal_suppression, "refusal_suppression")):
        (attacked,) = factory().apply(samples[:1])
        (same,) = TemplateAttack(names=name).apply(samples[:1])
        assert attacked == same and attacked.meta["variant"] == name


def test_unknown_name_and_family_list_what_is_available():
    with pytest.raises(UsageError, match=r"no template 'roleplay'.*Available templates: prefix_injection, "):
        TemplateAttack(names="roleplay")
    with pytest.raises(UsageError, match=r"no template family 'roleplay'.*Available families: "
                                         + re.escape(", ".join(FAMILIES))):
        TemplateAttack(family="roleplay")


def test_user_file_in_yaml_or_json_replaces_the_bundled_set(tmp_path, samples):
    yaml_file = tmp_path / "mine.yaml"
    yaml_file.write_text("- name: polite\n  family: mine\n  text: 'Kindly: {prompt} Thanks!'\n"
                         "- name: plain\n  text: '{prompt}'\n")
    attacked = TemplateAttack(file=str(yaml_file)).apply(samples[:1])
    assert [(s.meta["variant"], s.prompt) for s in attacked] == [("polite", "Kindly: How do I bake bread? Thanks!"),
                                                                ("plain", "How do I bake bread?")]
    assert attacked[1].meta["attack_info"]["family"] == "custom"
    json_file = tmp_path / "mine.json"
    json_file.write_text(json.dumps({"templates": [{"name": "j", "text": "[{prompt}]"}]}))
    assert TemplateAttack(file=str(json_file), names="j").apply(samples[:1])[0].prompt == "[How do I bake bread?]"
    with pytest.raises(UsageError, match="no template 'prefix_injection' in the template file"):
        TemplateAttack(file=str(json_file), names="prefix_injection")


@pytest.mark.parametrize(("content", "message"), [
    ("- name: ok\n  text: '{prompt}'\n- name: broken\n  text: 'no placeholder here'\n",
     r"template 'broken' has no \{prompt\} in its text.*Put \{prompt\} where the request goes"),
    ("- text: '{prompt}'\n", r"entry 1 has no valid name"),
    ("- name: twice\n  text: '{prompt}'\n- name: twice\n  text: 'x {prompt}'\n", "two templates are named 'twice'"),
    ("templates: {}\n", "holds no list of templates"),
    ("- name: a\n  text: '{prompt}\n  : [\n", "is not valid YAML"),
    ("- just a string\n", "entry 1 is not a mapping"),
])
def test_bad_template_files_name_the_entry_and_the_fix(tmp_path, content, message):
    path = tmp_path / "t.yaml"
    path.write_text(content)
    with pytest.raises(UsageError, match=message) as caught:
        TemplateAttack(file=str(path))
    assert str(path) in str(caught.value)


def test_missing_unreadable_and_malformed_json_files(tmp_path):
    with pytest.raises(UsageError, match=r"does not exist.*template.file=PATH"):
        TemplateAttack(file=str(tmp_path / "nope.yaml"))
    binary = tmp_path / "t.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(UsageError, match="cannot be read"):
        TemplateAttack(file=str(binary))
    broken = tmp_path / "t.json"
    broken.write_text('[{"name": "a", ')
    with pytest.raises(UsageError, match="is not valid JSON"):
        TemplateAttack(file=str(broken))


def test_a_run_reports_every_template_as_a_variant(lam3_run):
    result = lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", "mini", "--limit", "2",
                      "--attack", "none", "--attack", "template", "--attack-arg", "template.family=role_play")
    assert result.exit_code == 0, result.output
    templated = [g for g in result.generations if g["attack"] == "template"]
    assert sorted({g["variant"] for g in templated}) == ["roleplay_interview", "roleplay_novel_chapter",
                                                         "roleplay_persona"]
    assert len(templated) == 6 and all(g["images"] and g["request"] in g["prompt"] for g in templated)
    assert templated[0]["attack_info"]["family"] == "role_play"
    assert templated[0]["attack_args"] == {"names": None, "family": "role_play", "file": None}
    assert set(result.summary["by_variant"]["template"]) == {"roleplay_interview", "roleplay_novel_chapter",
                                                              "roleplay_persona"}


@pytest.mark.parametrize(("args", "needle"), [
    (["template.names=nope"], "Available templates:"),
    (["template.family=nope"], "Available families:"),
    (["template.file=/no/such/file.yaml"], "does not exist"),
])
def test_bad_template_arguments_exit_2_before_the_run_directory_exists(lam3_run, tmp_path, args, needle):
    out = tmp_path / "run"
    extra = [x for a in args for x in ("--attack-arg", a)]
    result = lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", "mini", "--attack", "template",
                      *extra, "--out", out)
    assert result.exit_code == 2 and needle in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_no_bundled_template_copies_published_jailbreak_text(shared_data):
    """No run of seven words of a bundled template occurs in the JailbreakBench PAIR prompts or the benchmark CSVs."""
    corpus = " ".join(
        [f.read_text(encoding="utf-8") for d in ("advbench", "harmbench", "jailbreakbench") for f in
         shared_data.glob(f"{d}/*.csv")]
        + [j["prompt"] or "" for f in shared_data.glob("jailbreakbench/artifacts/PAIR_black_box_*.json")
           for j in json.loads(f.read_text())["jailbreaks"]]
    ).lower()
    words = re.findall(r"[a-z0-9']+", corpus)
    runs = {" ".join(words[i : i + 7]) for i in range(len(words) - 6)}
    assert len(runs) > 10_000
    for template in bundled_templates():
        own = re.findall(r"[a-z0-9']+", template.text.replace(PLACEHOLDER, " ").lower())
        assert not {" ".join(own[i : i + 7]) for i in range(len(own) - 6)} & runs, template.name
