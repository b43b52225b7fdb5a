"""Tiny random LLaVA-1.5 and Idefics2 checkpoints, built offline with the real transformers classes.

Each builder saves a model and its processor to a directory with the real transformers
classes and the real chat templates, so plugins load it exactly as they load the published
checkpoint (``from_pretrained(dir, local_files_only=True)``). The processors take real-size
images when asked (336 px for LLaVA, 980 px for Idefics2), which the GPU benchmark uses
with the published architectures. Imports transformers when building: use it from tests and
benchmarks only.
"""

from __future__ import annotations

from pathlib import Path

from lam3_core.testing.tinymodels import DEFAULT_CORPUS, build_bpe_tokenizer

# Verbatim copies of the published chat templates (llava-hf/llava-1.5-7b-hf, HuggingFaceM4/idefics2-8b).
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}{% endfor %}"
    "{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)
IDEFICS2_CHAT_TEMPLATE = (
    "{% for message in messages %}{{message['role'].capitalize()}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
IDEFICS2_SPECIALS = ("<fake_token_around_image>", "<end_of_utterance>")
_CORPUS = (*DEFAULT_CORPUS, "User: Assistant: System: USER: ASSISTANT: <end_of_utterance>")


def _image_processor_class(name: str):
    """The PIL image processor (no torchvision needed) where this transformers has one."""
    import transformers

    return getattr(transformers, f"{name}Pil", None) or getattr(transformers, name)


def llava_processor(image_size: int = 28, patch_size: int = 14, tokenizer=None):
    """A ``LlavaProcessor`` with the real llava-1.5 template and CLIP preprocessing at ``image_size``."""
    from transformers import LlavaProcessor

    tok = tokenizer or build_bpe_tokenizer(corpus=_CORPUS, chat_template=LLAVA_CHAT_TEMPLATE)
    image_processor = _image_processor_class("CLIPImageProcessor")(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    return LlavaProcessor(
        image_processor=image_processor, tokenizer=tok, patch_size=patch_size,
        vision_feature_select_strategy="default", num_additional_image_tokens=1, chat_template=LLAVA_CHAT_TEMPLATE,
    )


def idefics2_processor(longest_edge: int = 56, shortest_edge: int = 28, image_seq_len: int = 4, tokenizer=None):
    """An ``Idefics2Processor`` with the real idefics2-8b template; image splitting off."""
    from transformers import Idefics2Processor

    tok = tokenizer or build_bpe_tokenizer(
        corpus=_CORPUS, specials=IDEFICS2_SPECIALS, chat_template=IDEFICS2_CHAT_TEMPLATE
    )
    image_processor = _image_processor_class("Idefics2ImageProcessor")(
        size={"shortest_edge": shortest_edge, "longest_edge": longest_edge}, do_image_splitting=False
    )
    return Idefics2Processor(
        image_processor=image_processor, tokenizer=tok, image_seq_len=image_seq_len,
        chat_template=IDEFICS2_CHAT_TEMPLATE,
    )


def _generation_config(tok):
    """Only ``</s>`` as EOS, as in the published checkpoints: plugins must add their own stop tokens."""
    from transformers import GenerationConfig

    return GenerationConfig(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)


def tiny_llava_config(tok, hidden: int = 64, image_size: int = 28, patch_size: int = 14):
    """A 2-layer LLaVA config whose vocabulary and special ids match ``tok``."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    return LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2, num_attention_heads=2,
            image_size=image_size, patch_size=patch_size, projection_dim=hidden,
        ),
        text_config=LlamaConfig(
            vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512, pad_token_id=tok.pad_token_id,
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        ),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        image_seq_length=(image_size // patch_size) ** 2,
        vision_feature_select_strategy="default", vision_feature_layer=-2,
    )


def tiny_idefics2_config(tok, image_token_id: int, hidden: int = 64, image_size: int = 56, latents: int = 4):
    """A 2-layer Idefics2 config (Mistral text model) whose vocabulary and special ids match ``tok``."""
    from transformers import Idefics2Config, MistralConfig

    return Idefics2Config(
        vision_config=dict(hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2, num_attention_heads=2,
                           image_size=image_size, patch_size=14),
        perceiver_config=dict(hidden_size=hidden, resampler_n_latents=latents, resampler_depth=1, resampler_n_heads=2,
                              resampler_head_dim=hidden // 2, num_key_value_heads=1),
        text_config=MistralConfig(
            vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512, pad_token_id=tok.pad_token_id,
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        ),
        image_token_id=image_token_id,
    )


def build_tiny_llava(directory: str | Path, seed: int = 0, hidden: int = 64) -> Path:
    """Save a tiny random ``LlavaForConditionalGeneration`` and its processor to ``directory``."""
    import torch
    from transformers import LlavaForConditionalGeneration

    directory = Path(directory)
    processor = llava_processor()
    tok = processor.tokenizer
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(tiny_llava_config(tok, hidden=hidden)).eval()
    model.generation_config = _generation_config(tok)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def build_tiny_idefics2(directory: str | Path, seed: int = 0, hidden: int = 64) -> Path:
    """Save a tiny random ``Idefics2ForConditionalGeneration`` and its processor to ``directory``."""
    import torch
    from transformers import Idefics2ForConditionalGeneration

    directory = Path(directory)
    processor = idefics2_processor()
    tok = processor.tokenizer
    torch.manual_seed(seed)
    model = Idefics2ForConditionalGeneration(tiny_idefics2_config(tok, processor.image_token_id, hidden=hidden)).eval()
    model.generation_config = _generation_config(tok)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory
