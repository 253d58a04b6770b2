"""The three wings import downwards only: tools -> service -> Panda kit.

The service runs on Titan and must not carry a bench or a fixture on its import path; the kit's
own rule (standard library only) is in test_panda_kit_bare.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _absolute_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_the_service_never_imports_the_tools():
    for path in sorted((SRC / "chatterbox_shim").rglob("*.py")):
        tools = {name for name in _absolute_imports(path) if name.split(".")[0] == "chatterbox_tools"}
        assert not tools, f"{path.relative_to(SRC)} imports {sorted(tools)}"


def test_every_module_is_in_one_of_the_three_wings():
    packages = {path.parent.name for path in SRC.glob("*/__init__.py")}
    assert packages == {"chatterbox_shim", "chatterbox_panda_kit", "chatterbox_tools"}
