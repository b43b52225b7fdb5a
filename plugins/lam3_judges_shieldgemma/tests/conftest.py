"""A tiny ShieldGemma 2 (real classes and template, random weights) and test images, built once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def shieldgemma_dir(tmp_path_factory, offline_hf_env):
    from lam3_judges_shieldgemma.testing import build_tiny_shieldgemma2

    return build_tiny_shieldgemma2(tmp_path_factory.mktemp("shieldgemma2"))


@pytest.fixture(scope="session")
def images(tmp_path_factory, shared_data):
    """Image paths: two small PNGs, a FigStep typographic image, a corrupt file and a missing one."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("images")
    Image.new("RGB", (60, 40), (200, 10, 10)).save(folder / "red.png")
    Image.new("RGB", (30, 50), (10, 200, 10)).save(folder / "green.png")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    return {"red": str(folder / "red.png"), "green": str(folder / "green.png"),
            "figstep": str(shared_data / "figstep" / "images" / "query_ForbidQI_2_1_6.png"),
            "corrupt": str(folder / "corrupt.png"), "missing": str(folder / "missing.png")}
