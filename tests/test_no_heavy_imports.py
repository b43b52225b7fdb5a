"""`lam3 --help` and `lam3 plugins` must not import torch, transformers, matplotlib or jinja2 (every plugin
installed)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("argv", [["--help"], ["plugins"], ["plugins", "--json"], ["eval", "--help"],
                                  ["report", "--help"], ["runs", "--help"]])
def test_cli_stays_light(argv):
    code = (
        "import sys\nfrom lam3_core.cli import cli\n"
        f"try:\n    cli({argv!r}, prog_name='lam3')\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'detoxify', 'openai', 'googleapiclient', 'sklearn',"
        " 'matplotlib', 'jinja2')"
        " if m in sys.modules)\nprint('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout, out.stdout


def test_plugins_json_lists_distributions_versions_and_provides():
    import json

    out = subprocess.run(
        [sys.executable, "-m", "lam3_core", "plugins", "--json"], capture_output=True, text=True, timeout=60
    )
    rows = json.loads(out.stdout)
    core = next(r for r in rows if r["distribution"] == "lam3")
    assert core["version"] == "0.1.0"
    assert {"kind": "model", "name": "echo", "description": "Answers with the prompt text (pipeline checks)."} in core[
        "provides"
    ]
    assert all(set(r) >= {"distribution", "version", "provides"} for r in rows)
