"""Each role's public variables: every default is documented in meta/argument_specs.yml with the
same default, every documented option with a default has it in defaults/main.yml, and each name
carries the role's prefix (static; no lab)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

ROLES = sorted(
    p.parent.parent for p in (Path(__file__).resolve().parents[1] / "roles").glob("*/meta/argument_specs.yml")
)


def _templated(value: object) -> bool:
    """A default Jinja computes (from pins.json, a fact, another variable) is described in the
    spec, not repeated there."""
    return "{{" in json.dumps(value)


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {} if path.exists() else {}


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_defaults_and_argument_specs_agree(role: Path):
    defaults = _load(role / "defaults" / "main.yml")
    specs = _load(role / "meta" / "argument_specs.yml")["argument_specs"]
    documented: dict[str, dict] = {}
    for entry in specs.values():
        documented.update(entry.get("options") or {})
    undocumented = sorted(set(defaults) - set(documented))
    assert not undocumented, f"{role.name}: defaults without an argument spec: {undocumented}"
    differing = {
        name: (documented[name].get("default"), value)
        for name, value in defaults.items()
        if "default" in documented[name] and not _templated(value) and documented[name]["default"] != value
    }
    assert not differing, f"{role.name}: spec default vs defaults/main.yml: {differing}"
    missing = sorted(name for name, spec in documented.items() if "default" in spec and name not in defaults)
    assert not missing, f"{role.name}: documented defaults missing from defaults/main.yml: {missing}"
    unprefixed = sorted(name for name in set(defaults) | set(documented) if not name.startswith(role.name + "_"))
    assert not unprefixed, f"{role.name}: names without the role's prefix: {unprefixed}"
