"""The offline recipe: a released-style checkpoint (hub name in model_type) fails offline until localised."""

from __future__ import annotations

import shutil

import pytest
from lam3_judges_detoxify import offline
from lam3_judges_detoxify.judge import DetoxifyJudge

from lam3_core import JudgeItem, UsageError

ITEMS = [JudgeItem("q", "you are an idiot"), JudgeItem("q", "have a great day")]


def _scores(checkpoint) -> list[float]:
    return [s.score for s in DetoxifyJudge(checkpoint=str(checkpoint)).score(ITEMS)]


def test_a_hub_named_checkpoint_fails_offline_with_the_recipe(hub_named_checkpoint):
    with pytest.raises(UsageError, match=r"could not load checkpoint .* without a download.*offline localise CKPT"):
        DetoxifyJudge(checkpoint=str(hub_named_checkpoint)).score(ITEMS)


def test_localise_points_model_type_at_a_local_folder(hub_named_checkpoint, tmp_path, capsys):
    import torch

    base = hub_named_checkpoint.parent / "base"
    out = tmp_path / "original-local.ckpt"
    offline.main(["localise", str(hub_named_checkpoint), str(base), "--out", str(out)])
    assert f"--judge-arg detoxify.checkpoint={out}" in capsys.readouterr().out
    assert torch.load(out, weights_only=False)["config"]["arch"]["args"]["model_type"] == str(base.resolve())
    scores = _scores(out)
    assert all(0.0 <= s <= 1.0 for s in scores) and scores[0] != scores[1]
    with pytest.raises(FileNotFoundError, match="holds no config.json"):
        offline.localise_checkpoint(hub_named_checkpoint, tmp_path)


def test_fetch_downloads_the_checkpoint_and_base_files_then_localises(hub_named_checkpoint, tmp_path, monkeypatch):
    """Both downloads are replaced by local copies; what fetch does with them is real."""
    import huggingface_hub
    import torch
    from detoxify.detoxify import MODEL_URLS

    calls = []

    def download_url_to_file(url, dst, *args, **kwargs):
        calls.append(url)
        shutil.copy(hub_named_checkpoint, dst)

    def snapshot_download(repo_id, local_dir, allow_patterns):
        calls.append(repo_id)
        assert "config.json" in allow_patterns and "vocab.txt" in allow_patterns
        shutil.copytree(hub_named_checkpoint.parent / "base", local_dir, ignore=shutil.ignore_patterns("*.safetensors"))

    monkeypatch.setattr(torch.hub, "download_url_to_file", download_url_to_file)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    local = offline.fetch("original", tmp_path / "detoxify")
    assert calls == [MODEL_URLS["original"], "bert-base-uncased"]
    assert local == tmp_path / "detoxify" / "original-local.ckpt"
    assert sorted(p.name for p in local.parent.iterdir()) == ["bert-base-uncased", "original-local.ckpt"]
    assert _scores(local) == pytest.approx(_scores(offline.localise_checkpoint(
        hub_named_checkpoint, hub_named_checkpoint.parent / "base", tmp_path / "reference.ckpt")))
