"""Tiny random LLaVA-1.5 and Idefics2 checkpoints (real classes and chat templates), built once per session, offline."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lam3_core import Sample


@pytest.fixture(scope="session")
def tiny_llava(tmp_path_factory, offline_hf_env):
    from lam3_core.testing.tinyvlm import build_tiny_llava

    return build_tiny_llava(tmp_path_factory.mktemp("tiny_llava"))


@pytest.fixture(scope="session")
def tiny_idefics2(tmp_path_factory, offline_hf_env):
    pytest.importorskip("lam3_models_idefics2")
    from lam3_core.testing.tinyvlm import build_tiny_idefics2

    return build_tiny_idefics2(tmp_path_factory.mktemp("tiny_idefics2"))


@pytest.fixture(scope="session")
def llava(tiny_llava):
    from lam3_models_llava.model import LlavaModel

    model = LlavaModel(path=str(tiny_llava))
    model.load()
    return model


@pytest.fixture(scope="session")
def idefics2(tiny_idefics2):
    from lam3_models_idefics2.model import Idefics2Model

    model = Idefics2Model(path=str(tiny_idefics2))
    model.load()
    return model


def noise_image(seed: int, height: int = 40, width: int = 50) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.fixture
def image_samples():
    """Three samples with noise images of different sizes and prompts of different lengths; one has a target."""
    return [
        Sample("s0", "What is this?", [noise_image(0)], meta={"target": "Sure, here is how"}),
        Sample("s1", "Describe the picture in great detail, please, and say what it is for.", [noise_image(1, 60, 30)]),
        Sample("s2", "Hi", [noise_image(2, 33, 33)]),
    ]
