"""Tiny Llama Guard checkpoints (real chat templates, tiny LlamaForCausalLM), built once per session, offline."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def guard2_dir(tmp_path_factory, offline_hf_env):
    from lam3_judges_llamaguard.testing import build_tiny_guard

    return build_tiny_guard(tmp_path_factory.mktemp("guard2"), version=2)


@pytest.fixture(scope="session")
def guard3_dir(tmp_path_factory, offline_hf_env):
    from lam3_judges_llamaguard.testing import build_tiny_guard

    return build_tiny_guard(tmp_path_factory.mktemp("guard3"), version=3)


@pytest.fixture(scope="session")
def scripted_guard_dir(tmp_path_factory, offline_hf_env):
    """Answers every Llama Guard 2 prompt with exactly 'unsafe\\nS1,S10'."""
    from lam3_judges_llamaguard.testing import build_tiny_guard

    return build_tiny_guard(tmp_path_factory.mktemp("guard_scripted"), version=2, script="unsafe\nS1,S10")


@pytest.fixture(scope="session")
def guard3v_dir(tmp_path_factory, offline_hf_env):
    """A tiny random Llama Guard 3 Vision: MllamaForConditionalGeneration + MllamaProcessor, 28 px tiles."""
    from lam3_judges_llamaguard.testing import build_tiny_vision_guard

    return build_tiny_vision_guard(tmp_path_factory.mktemp("guard3v"), "3-vision")


@pytest.fixture(scope="session")
def guard4_dir(tmp_path_factory, offline_hf_env):
    """A tiny random Llama Guard 4: a dense Llama4ForConditionalGeneration and its tokenizer, 56 px tiles."""
    from lam3_judges_llamaguard.testing import build_tiny_vision_guard

    return build_tiny_vision_guard(tmp_path_factory.mktemp("guard4"), "4")


@pytest.fixture(scope="session")
def scripted_vision_dirs(tmp_path_factory, offline_hf_env):
    """Tiny vision guards ("3-vision", "4") that answer every prompt with exactly 'unsafe\\nS1,S10'."""
    from lam3_judges_llamaguard.testing import build_tiny_vision_guard

    return {version: build_tiny_vision_guard(tmp_path_factory.mktemp("scripted"), version, script="unsafe\nS1,S10")
            for version in ("3-vision", "4")}


@pytest.fixture(scope="session")
def vision_judge():
    """``vision_judge(version, path, **args)``: a LlamaGuardJudge on a tiny vision guard folder.

    Llama Guard 4's processor cannot be loaded by AutoProcessor without torchvision (no CPU
    build here), so its judge gets the real Llama4Processor with a single-tile stand-in image
    processor through ``_load``, the hook a benchmark uses to hand in its own model.
    """
    from lam3_judges_llamaguard.judge import LlamaGuardJudge
    from lam3_judges_llamaguard.testing import load_tiny_llama_guard_4

    def make(version: str, path, **args) -> LlamaGuardJudge:
        judge = LlamaGuardJudge(version=version, path=str(path), **args)
        if version == "4":
            judge._load = lambda: load_tiny_llama_guard_4(path)
        return judge

    return make


@pytest.fixture(scope="session")
def images(tmp_path_factory, shared_data):
    """Image paths: two small PNGs of different sizes, a FigStep typographic image, and a corrupt file."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("images")
    Image.new("RGB", (60, 40), (200, 10, 10)).save(folder / "red.png")
    Image.new("RGB", (30, 50), (10, 200, 10)).save(folder / "green.png")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    return {"red": str(folder / "red.png"), "green": str(folder / "green.png"),
            "figstep": str(shared_data / "figstep" / "images" / "query_ForbidQI_1_1_6.png"),
            "corrupt": str(folder / "corrupt.png"), "missing": str(folder / "missing.png")}
