"""The Panda kit is one flat folder that imports and runs with the standard library alone.

Panda has a bare python3: the chatterbox_probe role ships app/src/chatterbox_panda_kit whole (every
.py in it), so a kit module that imports numpy, the service or a subfolder would break on Panda
only. These tests copy the folder alone and run it with site-packages switched off.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import chatterbox_panda_kit

KIT = Path(chatterbox_panda_kit.__file__).parent
MODULES = sorted(path.stem for path in KIT.glob("*.py") if path.stem != "__init__")
COMMANDS = ("probe", "contract_spec", "drill_window", "drill_verdict", "outage_watch", "voice_allowlist")


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_kit_is_one_flat_folder_of_modules():
    entries = {path.name for path in KIT.iterdir() if path.name != "__pycache__"}
    assert entries == {f"{name}.py" for name in [*MODULES, "__init__"]}, "the role ships *.py only"
    assert set(COMMANDS) <= set(MODULES)


def test_kit_modules_import_only_the_standard_library_and_each_other():
    allowed = set(sys.stdlib_module_names) | {"__future__"}
    for name in MODULES:
        outside = _imported_roots(KIT / f"{name}.py") - allowed
        assert not outside, f"{name}.py imports {sorted(outside)}: Panda has only the standard library"


def test_the_copied_folder_imports_and_runs_without_site_packages(tmp_path):
    shutil.copytree(KIT, tmp_path / KIT.name, ignore=shutil.ignore_patterns("__pycache__"))
    script = f"""
import importlib, runpy, sys
sys.path.insert(0, {str(tmp_path)!r})
try:
    import pydantic
except ImportError:
    pass
else:
    raise SystemExit("site-packages is still on the path")
for name in {MODULES!r}:
    importlib.import_module("{KIT.name}." + name)
assert not any(module.startswith("chatterbox_shim") for module in sys.modules)
for name in {COMMANDS!r}:
    sys.argv = [name, "--help"]
    try:
        runpy.run_module("{KIT.name}." + name, run_name="__main__")
    except SystemExit as done:
        assert done.code in (0, None), (name, done.code)
print("kit ok")
"""
    # -S: no site module, so no site-packages (the venv's included); -E: no PYTHONPATH.
    result = subprocess.run([sys.executable, "-S", "-E", "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("kit ok")
    assert result.stdout.count("usage:") == len(COMMANDS), "each command printed its help"
