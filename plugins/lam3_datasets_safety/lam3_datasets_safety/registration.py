"""Registers the safety-benchmark datasets. Light: each loader module is imported only when its dataset is used."""

from lam3_core import hookimpl


@hookimpl
def lam3_register_datasets(registry):
    registry.add(
        "advbench",
        "lam3_datasets_safety.advbench:load_advbench",
        "AdvBench harmful behaviours (520; path=harmful_behaviors.csv), with each GCG target in meta.",
    )
    registry.add(
        "harmbench",
        "lam3_datasets_safety.harmbench:load_harmbench",
        "HarmBench text behaviours (split=all|val|test: 400/80/320; path=FOLDER or CSV); context strings in meta.",
    )
    registry.add(
        "harmbench_multimodal",
        "lam3_datasets_safety.harmbench:load_harmbench_multimodal",
        "HarmBench multimodal behaviours (110) with their images (images=DIR, or images=none for text only).",
    )
    registry.add(
        "jailbreakbench",
        "lam3_datasets_safety.jailbreakbench:load_jailbreakbench",
        "JBB-Behaviors: 100 harmful and 100 benign twin requests (path=FOLDER, split=all|harmful|benign).",
    )
    registry.add(
        "safebench",
        "lam3_datasets_safety.safebench:load_safebench",
        "FigStep's SafeBench questions (split=full|tiny: 500/50); FigStep statement and image path in meta.",
    )
    registry.add(
        "mm_safetybench",
        "lam3_datasets_safety.mm_safetybench:load_mm_safetybench",
        "MM-SafetyBench questions (1,680; tiny=true: 168) with key phrases and, with images=DIR, image paths in meta.",
    )
