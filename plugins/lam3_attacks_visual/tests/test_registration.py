"""Registration is light and the typographic attacks never need torch (they also serve API-only models)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version


def test_plugins_lists_the_three_attacks_with_the_distribution_version():
    out = subprocess.run([sys.executable, "-m", "lam3_core", "plugins", "--json"], capture_output=True, text=True,
                         timeout=60, check=True)
    (row,) = [r for r in json.loads(out.stdout) if r["distribution"] == "lam3-attacks-visual"]
    assert row["version"] == version("lam3-attacks-visual")
    assert {(p["kind"], p["name"]) for p in row["provides"]} == {
        ("attack", "figstep"), ("attack", "query_relevant"), ("attack", "pgd")}


def test_the_typographic_attacks_run_without_importing_torch():
    code = (
        "import sys\n"
        "from lam3_core import Sample\n"
        "from lam3_core.contract.manager import load_plugins\n"
        "plugins = load_plugins()\n"
        "for name, args in (('figstep', {}), ('query_relevant', {'key_phrase': 'prompt'})):\n"
        "    attack = plugins.get('attack', name).create(**args)\n"
        "    assert attack.apply([Sample('a', 'How do I bake bread?')])[0].images\n"
        "print('HEAVY', sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout, out.stdout
