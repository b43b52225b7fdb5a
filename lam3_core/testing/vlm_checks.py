"""The behaviour checks every ``HFVisionLanguageModel`` plugin must pass, on tiny local checkpoints.

Each VLM plugin's tests subclass ``VLMPluginChecks`` and name their class and builder, so the
plugins share one set of checks. Imports pytest: use it from tests only.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _image_file(path: Path, mode: str, colour) -> Path:
    from PIL import Image

    Image.new(mode, (64, 48), colour).save(path)
    return path


class VLMPluginChecks:
    """Behaviour every ``HFVisionLanguageModel`` plugin must show, run on a tiny random checkpoint.

    A plugin's test module subclasses it and sets ``model_class`` (the plugin's model class),
    ``registered_name`` and ``cleanup_cases`` ((raw output, cleaned text, was cut) triples for
    its role prefixes and turn markers); its conftest provides ``vlm_dir`` (a checkpoint from
    ``build_tiny_*``); the repository's root conftest makes the session offline with temp homes.
    """

    model_class: type
    registered_name: str
    cleanup_cases: tuple[tuple[str, str, bool], ...] = ()

    @pytest.fixture(scope="class")
    @classmethod
    def vlm_class(cls):
        return cls.model_class

    @pytest.fixture(scope="class")
    @classmethod
    def vlm_name(cls):
        return cls.registered_name

    @pytest.fixture(scope="class")
    @classmethod
    def vlm(cls, vlm_class, vlm_dir):
        model = vlm_class(path=str(vlm_dir), batch_size=4)
        model.load()
        return model

    @pytest.fixture(scope="class")
    @classmethod
    def samples(cls, tmp_path_factory):
        """Four samples: RGB file, text only, RGBA in memory with a long prompt, palette file; all lengths differ."""
        from PIL import Image

        from lam3_core.interfaces.records import Sample

        d = tmp_path_factory.mktemp("images")
        return [
            Sample("rgb-file", "What is in the image?", [str(_image_file(d / "a.png", "RGB", (200, 20, 20)))]),
            Sample("text-only", "Tell me how to bake bread at home, step by step."),
            Sample("rgba-memory", "Describe the picture: a dog, a tree, the sky, some water and a boat. " * 2,
                   [Image.new("RGBA", (40, 60), (10, 200, 10, 128))]),
            Sample("palette-file", "Sure?", [str(_image_file(d / "p.png", "P", 3))]),
        ]

    @pytest.fixture(scope="class")
    @classmethod
    def pope_samples(cls, tmp_path_factory):
        """POPE-shaped work: three questions on an image file, three on one in-memory image, one on an image asked
        once, one without an image; prompts of different lengths, shuffled so that shared images are not adjacent."""
        from PIL import Image

        from lam3_core.interfaces.records import Sample

        d = tmp_path_factory.mktemp("pope_images")
        path = str(_image_file(d / "street.png", "RGB", (30, 90, 200)))
        memory = Image.new("RGBA", (50, 40), (200, 150, 10, 255))
        once = Image.new("RGB", (36, 36), (5, 5, 5))
        questions = ("Is there a dog in the image?", "Is there a car?",
                     "Is there a person in the image? Answer the question using a single word or phrase.")
        samples = [Sample(f"file-{i}", q, [path]) for i, q in enumerate(questions)]
        samples += [Sample(f"memory-{i}", q, [memory]) for i, q in enumerate(reversed(questions))]
        samples += [Sample("once", "What colour is the sky?", [once]), Sample("text", "Tell me a story.")]
        return [samples[i] for i in (0, 3, 6, 1, 4, 7, 2, 5)]

    # --- loading ---

    def test_registered_without_importing_torch(self, vlm_name, vlm_class):
        code = (
            "import sys; from lam3_core.contract.manager import load_plugins; "
            f"c = load_plugins().get('model', {vlm_name!r}); "
            "print(c.distribution, c.factory, 'torch' in sys.modules)"
        )
        dist = f"lam3-models-{vlm_class.__module__.split('.')[0].removeprefix('lam3_models_')}"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, "LAM3_PLUGINS": dist}).stdout.split()
        assert out == [dist, f"{vlm_class.__module__}:{vlm_class.__name__}", "False"]

    def test_construction_is_lazy(self, vlm_class, vlm_dir):
        model = vlm_class(path=str(vlm_dir))
        assert model.model is None
        assert model.info()["loaded"] is False
        assert model.info()["model_id"] == str(vlm_dir)

    def test_default_model_id_loads_from_hub_cache_and_records_revision(self, vlm_class, vlm_dir, tmp_path_factory):
        import shutil

        from lam3_core.kit.hf import hub_cache_dir

        cache = Path(hub_cache_dir())
        if not cache.is_relative_to(tmp_path_factory.getbasetemp()):
            pytest.skip(f"huggingface_hub was imported before the test env was set; {cache} is not a temp dir")
        commit = "0123456789abcdef0123456789abcdef01234567"
        repo = cache / f"models--{vlm_class.default_model_id.replace('/', '--')}"
        shutil.copytree(vlm_dir, repo / "snapshots" / commit)
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(commit)
        model = vlm_class()
        model.load()
        info = model.info()
        assert info["model_id"] == vlm_class.default_model_id
        assert info["resolved_revision"] == commit
        pinned = vlm_class(revision=commit)
        pinned.load()
        assert (pinned.info()["revision"], pinned.info()["resolved_revision"]) == (commit, commit)

    def test_missing_weights_offline_names_model_cache_and_fix(self, vlm_class):
        from lam3_core.interfaces.errors import UsageError
        from lam3_core.kit.hf import hub_cache_dir

        with pytest.raises(UsageError) as err:
            vlm_class(path="lam3-tests/no-such-model").load()
        message = str(err.value)
        assert "'lam3-tests/no-such-model'" in message
        assert hub_cache_dir() in message
        assert "hf download lam3-tests/no-such-model" in message

    def test_loader_gets_revision_offline_flag_attention_and_device_map(self, vlm_class, monkeypatch):
        import lam3_core.kit.hf

        calls = []

        def record(loader, model_id, **kwargs):
            calls.append((loader.__name__, model_id, kwargs))
            raise RuntimeError("stop after recording")

        monkeypatch.setattr(lam3_core.kit.hf, "from_pretrained", record)
        model = vlm_class(path="org/model", revision="v1", local_files_only=True, device_map="auto",
                          attn_implementation="eager", dtype="bf16")
        with pytest.raises(RuntimeError, match="stop after recording"):
            model.load()
        name, model_id, kwargs = calls[0]
        assert (name, model_id, kwargs) == ("AutoProcessor", "org/model", {"revision": "v1", "local_files_only": True})
        monkeypatch.setattr(lam3_core.kit.hf, "from_pretrained", lambda loader, *a, **kw: (
            object() if loader.__name__ == "AutoProcessor" else record(loader, *a, **kw)))
        with pytest.raises(RuntimeError, match="stop after recording"):
            model.load()
        name, model_id, kwargs = calls[1]
        assert name == "AutoModelForImageTextToText"
        assert kwargs == {"revision": "v1", "local_files_only": True, "dtype": __import__("torch").bfloat16,
                          "attn_implementation": "eager", "device_map": "auto"}

    def test_dtype_defaults_to_fp32_on_cpu_and_is_configurable(self, vlm, vlm_class, vlm_dir):
        assert vlm.info()["dtype"] == "float32"
        assert vlm.info()["device"] == "cpu"
        assert vlm.info()["attn_implementation"] == "sdpa"
        bf16 = vlm_class(path=str(vlm_dir), dtype="bf16")
        bf16.load()
        assert str(next(bf16.model.parameters()).dtype) == "torch.bfloat16"

    @pytest.mark.parametrize("quantization,layer", [("8bit", "Linear8bitLt"), ("4bit", "Linear4bit")])
    def test_bitsandbytes_quantization_on_cpu(self, vlm_class, vlm_dir, samples, quantization, layer):
        from lam3_core.interfaces.genconfig import GenConfig

        model = vlm_class(path=str(vlm_dir), quantization=quantization)
        try:
            model.load()
        except (ImportError, RuntimeError, ValueError) as exc:
            pytest.skip(f"bitsandbytes cannot {quantization}-quantise on this CPU: {type(exc).__name__}: {exc}")
        layers = {type(m).__name__ for m in model.model.modules()}
        assert layer in layers
        out = model.generate(samples[:2], GenConfig(max_new_tokens=3), trace=True)
        assert all(len(c.token_logprobs) <= 3 and all(math.isfinite(x) for x in c.token_logprobs) for c in out)
        assert model.info()["quantization"] == quantization

    # --- prompting and inputs ---

    def test_generate_returns_completions_in_input_order(self, vlm, samples):
        from lam3_core.interfaces.genconfig import GenConfig

        out = vlm.generate(samples, GenConfig(max_new_tokens=4))
        assert len(out) == len(samples)
        for sample, completion in zip(samples, out):
            assert sample.prompt.strip()[:20] in completion.prompt_sent
            assert completion.prompt_sent.count("<image>") == len(sample.images)
            assert isinstance(completion.text, str)
            assert completion.finish_reason in ("stop", "length")
            assert completion.token_logprobs is None

    def test_system_prompt_goes_through_the_chat_template(self, vlm_class, vlm_dir, samples):
        from lam3_core.interfaces.genconfig import GenConfig

        model = vlm_class(path=str(vlm_dir), system_prompt="Answer briefly.")
        (out,) = model.generate(samples[:1], GenConfig(max_new_tokens=2))
        assert out.prompt_sent.index("Answer briefly.") < out.prompt_sent.index(samples[0].prompt)
        assert model.info()["system_prompt"] == "Answer briefly."

    def test_missing_and_corrupt_images_are_usage_errors(self, vlm, tmp_path):
        from lam3_core.interfaces.errors import UsageError
        from lam3_core.interfaces.genconfig import GenConfig
        from lam3_core.interfaces.records import Sample

        corrupt = tmp_path / "corrupt.png"
        corrupt.write_bytes(b"this is not a png")
        for ref, words in ((tmp_path / "gone.jpg", "not found"), (corrupt, "cannot be read")):
            with pytest.raises(UsageError) as err:
                vlm.generate([Sample("s-img", "What is this?", [str(ref)])], GenConfig(max_new_tokens=2))
            assert "'s-img'" in str(err.value) and str(ref) in str(err.value) and words in str(err.value)

    def test_empty_prompt_with_image_generates_without_image_is_usage_error(self, vlm, samples):
        from lam3_core.interfaces.errors import UsageError
        from lam3_core.interfaces.genconfig import GenConfig
        from lam3_core.interfaces.records import Sample

        (out,) = vlm.generate([Sample("empty-img", "  ", samples[0].images)], GenConfig(max_new_tokens=3))
        assert out.prompt_sent.count("<image>") == 1
        assert out.finish_reason in ("stop", "length")
        with pytest.raises(UsageError, match="'empty-text'.*empty prompt and no image"):
            vlm.generate([samples[1], Sample("empty-text", "")], GenConfig(max_new_tokens=3))

    def test_output_cleanup_strips_roles_and_cuts_at_the_next_turn(self):
        from lam3_core.kit.hf_vlm import clean_response

        assert self.cleanup_cases
        for raw, expected, cut in self.cleanup_cases:
            assert clean_response(raw, self.model_class.role_prefixes, self.model_class.turn_markers) == (expected, cut)

    # --- batching ---

    def test_batched_greedy_equals_one_by_one(self, vlm, vlm_class, vlm_dir, samples):
        from lam3_core.interfaces.genconfig import GenConfig

        gen = GenConfig(max_new_tokens=8)
        single = vlm_class(path=str(vlm_dir), batch_size=1)
        batched = vlm.generate(samples, gen, trace=True)
        one_by_one = single.generate(samples, gen, trace=True)
        for a, b in zip(batched, one_by_one):
            assert a.info["token_ids"] == b.info["token_ids"]
            assert a.text == b.text
            assert a.token_logprobs == pytest.approx(b.token_logprobs, abs=1e-4)

    def test_out_of_memory_halves_the_batch_and_records_it(self, vlm_class, vlm_dir, samples, monkeypatch):
        import torch

        from lam3_core.interfaces.genconfig import GenConfig

        model = vlm_class(path=str(vlm_dir), batch_size=4)
        model.load()
        expected = model.generate(samples, GenConfig(max_new_tokens=4))
        real_generate = model.model.generate
        rows_seen = []

        def generate_or_oom(**kwargs):
            rows_seen.append(kwargs["input_ids"].shape[0])
            if kwargs["input_ids"].shape[0] > 1:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return real_generate(**kwargs)

        monkeypatch.setattr(model.model, "generate", generate_or_oom)
        out = model.generate(samples, GenConfig(max_new_tokens=4))
        assert [c.text for c in out] == [c.text for c in expected]
        assert rows_seen == [4, 2, 1, 1, 1, 1]
        assert model.info()["batch_backoffs"] == [{"from": 4, "to": 2}, {"from": 2, "to": 1}]

    # --- throughput paths give the plain path's answers ---

    @staticmethod
    def _greedy(model, samples, new_tokens=6):
        from lam3_core.interfaces.genconfig import GenConfig

        return model.generate(samples, GenConfig(max_new_tokens=new_tokens), trace=True)

    @staticmethod
    def _assert_same(answers, expected):
        for a, b in zip(answers, expected, strict=True):
            assert a.info["token_ids"] == b.info["token_ids"]
            assert a.text == b.text and a.prompt_sent == b.prompt_sent
            assert a.token_logprobs == pytest.approx(b.token_logprobs, abs=1e-4)

    def test_prefix_reuse_gives_the_plain_greedy_answers(self, vlm_class, vlm_dir, pope_samples):
        plain = self._greedy(vlm_class(path=str(vlm_dir), prefix_reuse=False), pope_samples)
        one_by_one = self._greedy(vlm_class(path=str(vlm_dir), batch_size=1), pope_samples)
        reused = vlm_class(path=str(vlm_dir))
        self._assert_same(self._greedy(reused, pope_samples), plain)
        self._assert_same(one_by_one, plain)
        paths = reused.info()["rows_by_path"]
        # 3 distinct images and the text-only sample: 4 prefixes for 8 rows; nothing went the plain way
        assert (paths["prefix_reuse"], paths["prefix_prefills"], paths.get("plain", 0)) == (8, 4, 0)
        split = vlm_class(path=str(vlm_dir), batch_size=2)  # groups cut across micro-batches
        self._assert_same(self._greedy(split, pope_samples), plain)
        assert split.info()["micro_batches"]["generate"]["rows"] == 2

    def test_without_the_cache_api_prefix_reuse_falls_back_to_the_plain_path(self, vlm_class, vlm_dir, pope_samples,
                                                                           monkeypatch, caplog):
        import lam3_core.kit.vlm_prefix

        monkeypatch.setattr(lam3_core.kit.vlm_prefix, "cache_api_problem", lambda model: "no DynamicCache here")
        model = vlm_class(path=str(vlm_dir))
        with caplog.at_level("INFO", logger="lam3"):
            answers = self._greedy(model, pope_samples)
        assert model.info()["prefix_reuse_unavailable"] == "no DynamicCache here"
        assert model.info()["rows_by_path"] == {"plain": len(pope_samples)}
        assert "no prefix reuse): no DynamicCache here" in caplog.text and "rows by path: plain 8" in caplog.text
        self._assert_same(answers, self._greedy(vlm_class(path=str(vlm_dir), prefix_reuse=False), pope_samples))

    def test_k_samples_share_one_prefill_and_do_not_depend_on_batching(self, vlm_class, vlm_dir, pope_samples):
        from lam3_core.interfaces.genconfig import GenConfig

        gen = GenConfig(max_new_tokens=5, seed=3)
        shared = vlm_class(path=str(vlm_dir), batch_size=24)
        drawn = shared.sample(pope_samples, 3, gen)
        # 4 prefixes (3 images, 1 text-only), each sample's question prefilled once for its 3 answers
        assert shared.info()["rows_by_path"] == {"prefix_reuse": 24, "prefix_prefills": 4, "question_prefills": 8}
        assert shared.info()["micro_batches"]["sample"]["answers_per_prompt"] == 3
        for other in (vlm_class(path=str(vlm_dir), prefix_reuse=False), vlm_class(path=str(vlm_dir), batch_size=1)):
            again = other.sample(pope_samples, 3, gen)
            for group, same in zip(drawn, again, strict=True):
                self._assert_same(group, same)
        assert len({tuple(c.info["token_ids"]) for group in drawn for c in group}) > len(pope_samples)

    def test_answer_and_samples_from_one_call_are_generate_and_sample(self, vlm_class, vlm_dir, pope_samples,
                                                                      monkeypatch):
        from lam3_core.interfaces.genconfig import GenConfig

        gen, sample_gen = GenConfig(max_new_tokens=5), GenConfig(max_new_tokens=5, do_sample=True, seed=3,
                                                                  temperature=0.8, top_p=0.9)
        apart = vlm_class(path=str(vlm_dir))
        expected = list(zip(apart.generate(pope_samples, gen, trace=True), apart.sample(pope_samples, 3, sample_gen)))
        for model in (vlm_class(path=str(vlm_dir)), vlm_class(path=str(vlm_dir), prefix_reuse=False),
                      vlm_class(path=str(vlm_dir), batch_size=5)):
            calls = []
            model.load()
            real_generate = model.model.generate
            monkeypatch.setattr(model.model, "generate",
                                lambda calls=calls, real=real_generate, **kw: calls.append(kw) or real(**kw))
            together = model.generate_with_samples(pope_samples, 3, gen, sample_gen)
            for (answer, drawn), (same_answer, same_drawn) in zip(together, expected, strict=True):
                self._assert_same([answer], [same_answer])
                self._assert_same(drawn, same_drawn)
            assert sum(kw["input_ids"].shape[0] for kw in calls) == 4 * len(pope_samples)  # k + 1 rows per prompt
        assert model.info()["micro_batches"]["generate_with_samples"]["answers_per_prompt"] == 4
        # other lengths decode apart: two calls, the same answers
        longer = vlm_class(path=str(vlm_dir))
        two_calls = longer.generate_with_samples(pope_samples[:2], 2, GenConfig(max_new_tokens=3), sample_gen)
        assert "generate_with_samples" not in longer.info()["micro_batches"]
        self._assert_same([a for a, _ in two_calls], apart.generate(pope_samples[:2], GenConfig(max_new_tokens=3),
                                                                    trace=True))

    def test_static_cache_gives_the_dynamic_answers(self, vlm_class, vlm_dir, pope_samples):
        from lam3_core.interfaces.genconfig import GenConfig

        for reuse in (False, True):
            dynamic = vlm_class(path=str(vlm_dir), prefix_reuse=reuse, decode_cache="dynamic")
            static = vlm_class(path=str(vlm_dir), prefix_reuse=reuse, decode_cache="static")
            self._assert_same(self._greedy(static, pope_samples, 8), self._greedy(dynamic, pope_samples, 8))
            assert static.info()["rows_by_path"]["static_decode"] == len(pope_samples)
            assert "static_decode" not in dynamic.info()["rows_by_path"]
        gen = GenConfig(max_new_tokens=4, seed=5)
        for group, same in zip(static.sample(pope_samples[:3], 2, gen), dynamic.sample(pope_samples[:3], 2, gen)):
            self._assert_same(group, same)

    def test_a_static_cache_is_reset_and_reused_across_micro_batches_of_one_shape(self, vlm_class, vlm_dir,
                                                                                 pope_samples, monkeypatch):
        import lam3_core.kit.vlm_prefix

        made = []
        real_new_cache = lam3_core.kit.vlm_prefix.new_cache
        monkeypatch.setattr(lam3_core.kit.vlm_prefix, "new_cache",
                            lambda model, tokens=None: made.append(tokens) or real_new_cache(model, tokens))
        from lam3_core.interfaces.records import Sample

        same = [s for s in pope_samples if s.prompt == pope_samples[0].prompt]  # one question on two images
        same += [Sample(f"{s.id}-again", s.prompt, s.images) for s in same]
        static = vlm_class(path=str(vlm_dir), decode_cache="static", prefix_reuse=False, batch_size=2)
        expected = self._greedy(vlm_class(path=str(vlm_dir), decode_cache="dynamic", batch_size=2), same)
        made.clear()
        self._assert_same(self._greedy(static, same), expected)
        assert len(made) == 1 and static.info()["rows_by_path"] == {"plain": 4, "static_decode": 4}

    def test_auto_decode_cache_stays_dynamic_on_the_cpu_where_compiled_is_refused(self, vlm_class, vlm_dir,
                                                                                  pope_samples):
        from lam3_core.interfaces.errors import UsageError
        from lam3_core.interfaces.genconfig import GenConfig

        auto = vlm_class(path=str(vlm_dir))
        auto.generate(pope_samples[:2], GenConfig(max_new_tokens=130, min_new_tokens=130))
        assert auto.info()["decode_cache"] == "auto" and auto.info()["rows_by_path"] == {"plain": 2}
        with pytest.raises(UsageError, match="decode_cache=compiled needs a CUDA GPU"):
            self._greedy(vlm_class(path=str(vlm_dir), decode_cache="compiled"), pope_samples[:1])

    def test_auto_decode_cache_on_a_gpu_compiles_long_answers_and_preallocates_short_ones(self, vlm_class, vlm_dir,
                                                                                          monkeypatch):
        import dataclasses

        import torch

        from lam3_core.interfaces.genconfig import GenConfig

        monkeypatch.setattr(vlm_class, "input_device", property(lambda self: torch.device("cuda")))
        auto = vlm_class(path=str(vlm_dir))
        short, long = GenConfig(max_new_tokens=8), GenConfig(max_new_tokens=256)
        assert (auto._decode_cache(short, False), auto._decode_cache(long, False)) == ("static", "compiled")
        assert auto._decode_cache(long, True) == "dynamic"  # raw traces decode eagerly
        auto.load_args = dataclasses.replace(auto.load_args, quantization="4bit")
        assert auto._decode_cache(long, False) == "static"
        auto.load_args = dataclasses.replace(auto.load_args, quantization=None, compile_layers=True)
        assert auto._decode_cache(long, False) == "static"  # compiled layers are not put inside compiled decoding
        auto.compiled_decode_failure = "RuntimeError: no graphs"
        assert auto._decode_cache(short, False) == "dynamic"

    def test_compiled_layers_give_the_eager_answers(self, vlm_class, vlm_dir, pope_samples):
        import torch
        from torch._dynamo.utils import counters

        from lam3_core.kit.compiled_layers import is_compiled, repeated_layers

        expected = self._greedy(vlm_class(path=str(vlm_dir), decode_cache="static"), pope_samples, 5)
        model = vlm_class(path=str(vlm_dir), decode_cache="static", compile_layers=True)
        torch._dynamo.reset()  # graphs compiled earlier in the process for these classes would be reused
        counters.clear()
        self._assert_same(self._greedy(model, pope_samples, 5), expected)
        layers = repeated_layers(model.model)
        assert len(layers) > 1 and all(is_compiled(layer) for layer in layers)
        # one graph per kind of call (image prefix, questions, one-token steps), shared by every layer
        assert 0 < counters["stats"]["unique_graphs"] <= 6
        assert model.info()["compile_layers"] is True and model.rows_by_path["static_decode"] == len(pope_samples)
        assert "compile_layers" not in vlm_class(path=str(vlm_dir)).info()  # off: the recorded settings as before

    @pytest.mark.parametrize(("args", "message"), [
        ({"decode_cache": "compiled"}, "decode_cache=compiled"),
        ({"quantization": "4bit"}, "quantization=4bit"),
        ({"compile_layers": "yes"}, "must be true or false"),
    ])
    def test_settings_compiled_layers_cannot_honour_are_refused(self, vlm_class, vlm_dir, args, message):
        from lam3_core.interfaces.errors import UsageError

        with pytest.raises(UsageError, match=message):
            vlm_class(path=str(vlm_dir), **{"compile_layers": True, **args})

    def test_prefetched_micro_batches_give_the_inline_answers(self, vlm_class, vlm_dir, pope_samples):
        inline = vlm_class(path=str(vlm_dir), batch_size=2, preprocess_workers=0)
        threaded = vlm_class(path=str(vlm_dir), batch_size=2, preprocess_workers=3)
        self._assert_same(self._greedy(threaded, pope_samples), self._greedy(inline, pope_samples))
        assert threaded.info()["preprocess_workers"] == 3

    def test_the_next_call_prepared_during_this_one_gives_its_own_answers(self, vlm_class, vlm_dir, pope_samples):
        from lam3_core.interfaces.genconfig import GenConfig

        first, second = pope_samples[:4], pope_samples[4:]
        expected = self._greedy(vlm_class(path=str(vlm_dir)), second)
        model = vlm_class(path=str(vlm_dir), preprocess_workers=2)
        model.prepare_next(second, GenConfig(max_new_tokens=6))
        self._greedy(model, first)
        prepared = model._ahead[1]
        self._assert_same(self._greedy(model, second), expected)
        assert prepared.done() and model.info()["prepared_during_previous_call"] == {"used": 1}
        # a call that asks for something else prepares its own inputs: the same answers
        model.prepare_next(second, GenConfig(max_new_tokens=6))
        self._greedy(model, first)
        self._assert_same(self._greedy(model, second[::-1][:3]), self._greedy(vlm_class(path=str(vlm_dir)),
                                                                               second[::-1][:3]))
        assert model.info()["prepared_during_previous_call"] == {"used": 1, "not used": 1}
        # the K samples' call too, where the greedy answer and the samples decode together
        sample_gen = GenConfig(max_new_tokens=6, do_sample=True, seed=5)
        together = vlm_class(path=str(vlm_dir)).generate_with_samples(second, 2, GenConfig(max_new_tokens=6),
                                                                       sample_gen)
        model.prepare_next(second, GenConfig(max_new_tokens=6), 2, sample_gen)
        self._greedy(model, first)
        for (answer, drawn), (same, same_drawn) in zip(
                model.generate_with_samples(second, 2, GenConfig(max_new_tokens=6), sample_gen), together, strict=True):
            self._assert_same([answer, *drawn], [same, *same_drawn])
        assert model.info()["prepared_during_previous_call"]["used"] == 2

    def test_each_distinct_image_is_processed_once_per_micro_batch(self, vlm_class, vlm_dir, pope_samples,
                                                                    monkeypatch):
        model = vlm_class(path=str(vlm_dir), preprocess_workers=0)
        model.load()
        image_processor = type(model.processor.image_processor)
        processed = []
        real_call = image_processor.__call__

        def counting(self, images, *args, **kwargs):
            processed.append(sum(len(unit) if isinstance(unit, list) else 1 for unit in images))
            return real_call(self, images, *args, **kwargs)

        monkeypatch.setattr(image_processor, "__call__", counting)
        self._greedy(model, pope_samples, 2)
        assert sum(processed) == 3  # three distinct images among 7 image prompts, in one micro-batch

    def test_batch_size_caps_the_micro_batches_and_defaults_to_the_devices_budget(self, vlm_class, vlm_dir,
                                                                                   pope_samples):
        from lam3_core.interfaces.errors import UsageError

        default = vlm_class(path=str(vlm_dir), prefix_reuse=False)
        capped = vlm_class(path=str(vlm_dir), batch_size=3, prefix_reuse=False)
        rows = []
        for model in (default, capped):
            real_generate = model.load() or model.model.generate
            model.model.generate = lambda real=real_generate, **kw: rows.append(kw["input_ids"].shape[0]) or real(**kw)
            self._greedy(model, pope_samples, 2)
        assert rows == [8, 3, 3, 2]
        assert default.info()["batch_size"] is None
        assert default.info()["micro_batches"]["generate"] == {
            "rows": 8, "source": "default for a device without a free-memory figure", "answers_per_prompt": 1,
            "prompts_per_micro_batch": 8}
        assert capped.info()["micro_batches"]["generate"]["rows"] == 3
        assert capped.info()["micro_batches"]["generate"]["source"] == "batch_size"
        for bad in ({"decode_cache": "fast"}, {"preprocess_workers": -1}, {"batch_size": 0}):
            with pytest.raises(UsageError, match=f"{self.registered_name}.{next(iter(bad))}"):
                vlm_class(path=str(vlm_dir), **bad)

    # --- generation config ---

    def test_generation_kwargs_are_explicit(self, vlm, samples, monkeypatch):
        from lam3_core.interfaces.genconfig import GenConfig

        seen = []
        real_generate = vlm.model.generate
        monkeypatch.setattr(vlm.model, "generate", lambda **kw: seen.append(kw) or real_generate(**kw))
        vlm.generate(samples[:1], GenConfig(max_new_tokens=3, repetition_penalty=1.3))
        vlm.sample(samples[:1], 2, GenConfig(max_new_tokens=3, temperature=0.7, top_p=0.9))
        greedy, sampled = seen
        assert greedy["do_sample"] is False and greedy["repetition_penalty"] == 1.3
        assert "logits_processor" not in greedy and "output_logits" not in greedy
        for kwargs in (greedy, sampled):
            assert not {"temperature", "top_p", "top_k", "num_return_sequences"} & set(kwargs)
            assert set(vlm._stop_ids) <= set(kwargs["eos_token_id"])
        # transformers decodes greedily; the seeded sampler draws from gen's warped distribution, K rows per prompt
        assert sampled["do_sample"] is False and sampled["input_ids"].shape[0] == 2
        assert [type(p).__name__ for p in sampled["logits_processor"]] == [
            "TemperatureLogitsWarper", "TopPLogitsWarper", "SeededRowSampler"]

    def test_checkpoint_sampling_defaults_never_apply(self, vlm, samples, monkeypatch):
        from lam3_core.interfaces.genconfig import GenConfig

        monkeypatch.setattr(vlm.model.generation_config, "top_k", 1)
        (group,) = vlm.sample(samples[:1], 6, GenConfig(max_new_tokens=6, seed=0))
        assert len({tuple(c.info["token_ids"]) for c in group}) > 1

    def test_max_and_min_new_tokens_are_honoured(self, vlm, samples, monkeypatch):
        from lam3_core.interfaces.genconfig import GenConfig

        out = vlm.generate(samples, GenConfig(max_new_tokens=3), trace=True)
        assert all(len(c.tokens) <= 3 for c in out)
        first_tokens = {c.info["token_ids"][0] for c in out}
        monkeypatch.setattr(vlm, "_stop_ids", sorted(first_tokens))
        stopped = vlm.generate(samples, GenConfig(max_new_tokens=3), trace=True)
        assert all(len(c.tokens) == 1 and c.finish_reason == "stop" for c in stopped)
        forced = vlm.generate(samples, GenConfig(max_new_tokens=5, min_new_tokens=5), trace=True)
        assert all(len(c.tokens) == 5 and c.info["token_ids"][0] not in first_tokens for c in forced)

    def test_seed_makes_sampling_reproducible(self, vlm, samples):
        from lam3_core.interfaces.genconfig import GenConfig

        def draw(seed):
            return [[c.info["token_ids"] for c in group] for group in vlm.sample(
                samples[:2], 3, GenConfig(max_new_tokens=6, seed=seed))]

        assert draw(11) == draw(11)
        assert draw(11) != draw(12)

    # --- traces and K-sampling ---

    def test_trace_gives_finite_logprobs_of_the_generated_tokens(self, vlm, samples):
        from lam3_core.interfaces.genconfig import GenConfig

        for c in vlm.generate(samples, GenConfig(max_new_tokens=6), trace=True):
            assert 1 <= len(c.token_logprobs) == len(c.tokens) == len(c.info["token_ids"]) <= 6
            assert all(math.isfinite(x) and x <= 0 for x in c.token_logprobs)

    def test_logprobs_end_at_the_first_stop_token_within_a_batch(self, vlm, samples, monkeypatch):
        from lam3_core.interfaces.genconfig import GenConfig

        gen = GenConfig(max_new_tokens=8)
        free = vlm.generate(samples, gen, trace=True)
        stop = free[0].info["token_ids"][2]
        monkeypatch.setattr(vlm, "_stop_ids", [stop])
        cut = vlm.generate(samples, gen, trace=True)
        for a, b in zip(free, cut):
            ids = a.info["token_ids"]
            n = ids.index(stop) + 1 if stop in ids else len(ids)
            assert b.info["token_ids"] == ids[:n]
            assert b.token_logprobs == pytest.approx(a.token_logprobs[:n], abs=1e-4)
            assert b.finish_reason == ("stop" if stop in ids else "length")
        assert len(cut[0].tokens) == 3 and any(len(c.tokens) > 3 for c in cut)

    def test_trace_attentions_and_hidden_states(self, vlm_class, vlm_dir, samples):
        import torch

        from lam3_core.interfaces.genconfig import GenConfig

        model = vlm_class(path=str(vlm_dir), trace_attentions=True, trace_hidden_states=True)
        out = model.generate(samples, GenConfig(max_new_tokens=4), trace=True)
        plain = model.generate(samples, GenConfig(max_new_tokens=4))
        assert all(c.trace is None for c in plain)
        cfg = model.model.config.get_text_config()
        prompt_lengths = [len(model.encode([s])[0]["input_ids"][0]) for s in samples]
        for c, n in zip(out, prompt_lengths):
            t = len(c.tokens)
            assert c.trace["hidden_states"].shape == (cfg.num_hidden_layers + 1, t, cfg.hidden_size)
            att = c.trace["attentions"]
            assert att.shape == (cfg.num_hidden_layers, cfg.num_attention_heads, t, n + t - 1)
            assert torch.allclose(att.sum(-1), torch.ones(att.shape[:-1]), atol=1e-4)
        assert model.info()["attn_implementation"] == "eager"

    def test_token_logprobs_are_nan_after_each_rows_length(self):
        import torch

        from lam3_core.kit.hf_vlm import generated_lengths, token_logprobs

        tokens = torch.tensor([[5, 2, 0, 0], [7, 6, 5, 4]])
        lengths = generated_lengths(tokens, [2, 9])
        assert lengths.tolist() == [2, 4]
        logits = [torch.randn(2, 10) for _ in range(4)]
        lp = token_logprobs(logits, tokens, lengths)
        expected = torch.stack([torch.log_softmax(x, -1)[[0, 1], tokens[:, t]] for t, x in enumerate(logits)], 1)
        assert torch.allclose(lp[1], expected[1]) and torch.allclose(lp[0, :2], expected[0, :2])
        assert torch.isnan(lp[0, 2:]).all()

    def test_k_samples_are_grouped_by_prompt(self, vlm, samples):
        from lam3_core.interfaces.genconfig import GenConfig

        greedy = vlm.generate(samples, GenConfig(max_new_tokens=5), trace=True)
        near_greedy = vlm.sample(samples, 2, GenConfig(max_new_tokens=5, temperature=1e-4, seed=0))
        for single, group in zip(greedy, near_greedy):
            assert [c.info["token_ids"] for c in group] == [single.info["token_ids"]] * 2

    def test_sample_k_responses_per_prompt_with_logprobs(self, vlm, samples):
        from lam3_core.interfaces.genconfig import GenConfig

        groups = vlm.sample(samples, 3, GenConfig(max_new_tokens=5, seed=1))
        assert [len(g) for g in groups] == [3, 3, 3, 3]
        for sample, group in zip(samples, groups):
            assert {c.prompt_sent for c in group} == {group[0].prompt_sent}
            assert sample.prompt.strip()[:20] in group[0].prompt_sent
            for c in group:
                assert 1 <= len(c.token_logprobs) == len(c.tokens) <= 5
                assert all(math.isfinite(x) and x <= 0 for x in c.token_logprobs)

    # --- gradients ---

    def test_target_loss_gives_pixel_gradients(self, vlm, samples):
        import torch

        from lam3_core.interfaces.errors import UsageError

        loss, pixels = vlm.target_loss(samples[0], "Sure, here is how")
        loss.backward()
        assert loss.ndim == 0 and torch.isfinite(loss)
        assert pixels.shape == vlm.preprocess(samples[0])["pixel_values"].shape
        assert torch.isfinite(pixels.grad).all() and pixels.grad.abs().sum() > 0
        step = (pixels.detach() - 0.5 * pixels.grad.sign()).requires_grad_(True)
        loss2, same = vlm.target_loss(samples[0], "Sure, here is how", pixel_values=step)
        assert same is step and loss2.item() != loss.item()
        with pytest.raises(UsageError, match="'text-only' has no image"):
            vlm.target_loss(samples[1], "Sure")

    def test_image_normalization_matches_the_processor(self, vlm, samples):
        mean, std = vlm.image_normalization()
        assert len(mean) == len(std) == 3 and all(s > 0 for s in std)

    # --- end to end ---

    def test_lam3_eval_end_to_end(self, vlm_name, vlm_dir, tmp_path):
        from lam3_core.testing import run_lam3

        out = tmp_path / "run"
        result = run_lam3([
            "eval", "--model", vlm_name, "--model-arg", f"path={vlm_dir}", "--model-arg", "batch_size=2",
            "--judge", "refusal", "--dataset", "mini", "--limit", "3", "--gen", "max_new_tokens=6", "--out", out,
        ])
        assert result.exit_code == 0, result.output
        assert len(result.generations) == 3
        assert all(g["error"] is None and g["prompt_sent"] for g in result.generations)
        assert {v["judge"] for v in result.verdicts} == {"refusal"} and len(result.verdicts) == 3
        info = result.meta["model"]["info"]
        assert info["model_id"] == str(vlm_dir) and info["loaded"] is True
        assert info["micro_batches"]["generate"]["rows"] == 2 and info["batch_size"] == 2
