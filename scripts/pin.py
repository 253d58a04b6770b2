#!/usr/bin/env python3
"""Print one value from pins.json (the single source of pinned versions): scripts/pin.py cuda.version"""

import json
import sys
from pathlib import Path

PINS = Path(__file__).resolve().parents[1] / "app" / "src" / "chatterbox_shim" / "pins.json"

value = json.loads(PINS.read_text())
for part in sys.argv[1].split("."):
    value = value[part]
print(value if not isinstance(value, (dict, list)) else json.dumps(value))
