"""Typed access to pins.json, the project's one source of pinned versions and checksums."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def pins() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("pins.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data
