"""What every dataset of the plugin shares: registration, laziness, the Sample contract, and argument checks."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import lam3_datasets_safety
import pytest

from lam3_core import Sample, UsageError
from lam3_core.contract.manager import load_plugins

DATASETS = ("advbench", "harmbench", "harmbench_multimodal", "jailbreakbench", "safebench", "mm_safetybench")


def _args(shared_data):
    """Arguments that load each dataset from shared/data, and how many samples they give."""
    return {
        "advbench": ({"path": str(shared_data / "advbench" / "harmful_behaviors.csv")}, 520),
        "harmbench": ({"path": str(shared_data / "harmbench"), "split": "val"}, 80),
        "harmbench_multimodal": ({"path": str(shared_data / "harmbench"), "images": "none"}, 110),
        "jailbreakbench": ({"path": str(shared_data / "jailbreakbench")}, 200),
        "safebench": ({"path": str(shared_data / "figstep"), "split": "tiny"}, 50),
        "mm_safetybench": ({"path": str(shared_data / "mm_safetybench" / "processed_questions"), "tiny": True}, 168),
    }


def test_every_dataset_is_registered_with_a_one_line_description():
    plugins = load_plugins()
    for name in DATASETS:
        component = plugins.get("dataset", name)
        assert component.distribution == "lam3-datasets-safety"
        assert component.version == lam3_datasets_safety.__version__ == version("lam3-datasets-safety") == "0.1.0"
        assert isinstance(component.factory, str) and component.factory.startswith("lam3_datasets_safety.")
        assert component.description.strip() and "\n" not in component.description


def test_registration_imports_no_loader_and_no_heavy_library():
    code = (
        "import sys; from lam3_core.contract.manager import load_plugins; p = load_plugins(); "
        f"[p.get('dataset', n) for n in {DATASETS!r}]; "
        "print(sorted(m for m in sys.modules if m.startswith('lam3_datasets_safety')), "
        "[m for m in ('torch', 'transformers', 'PIL') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['lam3_datasets_safety', 'lam3_datasets_safety.registration'] []"


@pytest.mark.parametrize("name", DATASETS)
def test_the_sample_contract_through_the_registry(name, shared_data):
    args, count = _args(shared_data)[name]
    component = load_plugins().get("dataset", name)
    first, again = list(component.create(**args)), list(component.create(**args))
    assert len(first) == count
    assert all(isinstance(s, Sample) for s in first)
    assert [(s.id, s.prompt, s.category, s.harmful) for s in first] == [
        (s.id, s.prompt, s.category, s.harmful) for s in again
    ]  # deterministic order and stable ids
    assert len({s.id for s in first}) == count
    assert all(s.prompt.strip() and isinstance(s.harmful, bool) for s in first)
    assert all(set(s.meta["source"]) >= {"benchmark", "file"} for s in first)
    assert all(str(shared_data.resolve()) in s.meta["source"]["file"] for s in first)


@pytest.mark.parametrize("name", DATASETS)
def test_unknown_arguments_are_refused_with_the_accepted_ones(name):
    component = load_plugins().get("dataset", name)
    with pytest.raises(UsageError) as err:
        component.create(pathh="x")
    assert f"The {name} dataset does not take the argument(s) 'pathh'" in err.value.problem
    assert "It takes: path" in err.value.fix and "did you mean 'path'?" in err.value.fix


@pytest.mark.parametrize("name", DATASETS)
def test_no_path_says_where_the_files_come_from(name):
    with pytest.raises(UsageError) as err:
        load_plugins().get("dataset", name).create()
    assert f"The {name} dataset needs path=" in err.value.problem
    assert "https://" in err.value.fix and "--dataset-arg path=" in err.value.fix
