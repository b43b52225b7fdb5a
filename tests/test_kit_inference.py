"""kit.inference: every lam3 forward pass runs without autograd and without cuDNN attention (docs/performance.md)."""

from pathlib import Path

import pytest
import torch

from lam3_core.kit.inference import inference

ROOT = Path(__file__).resolve().parents[1]


def test_inference_turns_off_autograd_and_cudnn_attention_and_restores_both():
    before = (torch.backends.cuda.flash_sdp_enabled(), torch.backends.cuda.mem_efficient_sdp_enabled(),
              torch.backends.cuda.math_sdp_enabled(), torch.backends.cuda.cudnn_sdp_enabled())
    with inference():
        assert torch.is_inference_mode_enabled()
        assert not torch.backends.cuda.cudnn_sdp_enabled()
        assert torch.backends.cuda.flash_sdp_enabled() and torch.backends.cuda.mem_efficient_sdp_enabled()
        assert torch.backends.cuda.math_sdp_enabled()
    assert not torch.is_inference_mode_enabled()
    assert (torch.backends.cuda.flash_sdp_enabled(), torch.backends.cuda.mem_efficient_sdp_enabled(),
            torch.backends.cuda.math_sdp_enabled(), torch.backends.cuda.cudnn_sdp_enabled()) == before


def test_fixed_shapes_keep_cudnn_attention():
    with inference(cudnn_attention=True):
        assert torch.is_inference_mode_enabled() and torch.backends.cuda.cudnn_sdp_enabled()


def test_inference_restores_the_flags_when_the_forward_pass_fails():
    cudnn = torch.backends.cuda.cudnn_sdp_enabled()
    with pytest.raises(RuntimeError), inference():
        raise RuntimeError("out of memory")
    assert torch.backends.cuda.cudnn_sdp_enabled() == cudnn


def test_attention_is_unchanged_on_the_cpu():
    q, k, v = (torch.randn(2, 4, 7, 8, generator=torch.Generator().manual_seed(i)) for i in range(3))
    mask = torch.ones(2, 1, 7, 7, dtype=torch.bool).tril()
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    with inference():
        got = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.equal(got, expected)


def test_no_lam3_forward_pass_bypasses_inference():
    """Models and judges (core and plugins) use ``kit.inference.inference``, not a bare ``torch.inference_mode``."""
    sources = [*ROOT.glob("lam3_core/**/*.py"), *ROOT.glob("plugins/*/lam3_*/**/*.py")]
    bare = [str(p.relative_to(ROOT)) for p in sources
            if "torch.inference_mode(" in p.read_text() and p.name != "inference.py" and "testing" not in p.parts
            and p.name != "testing.py"]
    assert bare == []
