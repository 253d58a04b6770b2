#!/usr/bin/python
"""The audit trail of one line's run on Panda: one JSON line appended (never rewritten) and the
line's route as a local fact, both read from the env file as it is now."""

from __future__ import annotations

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.chatterbox_envfile import UrlLine
from ansible.module_utils.chatterbox_route_state import archive_record

DOCUMENTATION = r"""
module: chatterbox_route_audit
short_description: Append a line's audit entry and record its route as a local fact
options:
  state_dir: {type: path, required: true}
  line: {type: str, required: true}
  env_file: {type: path, required: true}
  variable: {type: str, default: CHATTERBOX_URL}
  entry: {type: dict, required: true}
  fact_file: {type: path, default: /etc/ansible/facts.d/chatterbox_failover.fact}
  archive_record:
    type: bool
    default: false
    description: Move the line's record into history first (a clean rollback).
"""


def current_url(path: str, variable: str) -> str:
    try:
        with open(path, "rb") as handle:
            return UrlLine(handle.read().decode("utf-8", "surrogateescape"), variable).url
    except (OSError, LookupError):
        return ""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state_dir": {"type": "path", "required": True},
            "line": {"type": "str", "required": True},
            "env_file": {"type": "path", "required": True},
            "variable": {"type": "str", "default": "CHATTERBOX_URL"},
            "entry": {"type": "dict", "required": True},
            "fact_file": {"type": "path", "default": "/etc/ansible/facts.d/chatterbox_failover.fact"},
            "archive_record": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    params = module.params
    line = params["line"]
    now_on = current_url(params["env_file"], params["variable"])
    archived = ""
    if params["archive_record"] and not module.check_mode:
        archived = archive_record(params["state_dir"], line)
    try:
        with open(os.path.join(params["state_dir"], line, "state.json"), encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        record = {}
    entry = {**params["entry"], "now_on": now_on}
    entry["from"] = entry.get("from") or now_on
    fact = {
        "line": line,
        "url": now_on,
        "failed_over": "from_url" in record,
        "since": record.get("since"),
        "last_action": entry.get("action"),
        "last_result": entry.get("result"),
    }
    if module.check_mode:
        module.exit_json(changed=True, entry=entry, fact=fact)

    os.makedirs(params["state_dir"], mode=0o700, exist_ok=True)
    log = os.path.join(params["state_dir"], "audit.log")
    descriptor = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")
    os.chmod(log, 0o600)

    facts_dir = os.path.dirname(params["fact_file"])
    os.makedirs(facts_dir, mode=0o755, exist_ok=True)
    try:
        with open(params["fact_file"], encoding="utf-8") as handle:
            known = json.load(handle)
    except (OSError, ValueError):
        known = {}
    # A fact from before several lines (one flat record) is replaced, not merged.
    lines = {} if "line" in known else known
    lines[line] = fact
    with open(params["fact_file"], "w", encoding="utf-8") as out:
        out.write(json.dumps(lines, indent=4, sort_keys=True) + "\n")
    os.chmod(params["fact_file"], 0o644)
    module.exit_json(changed=True, entry=entry, fact=fact, archived_to=archived)


if __name__ == "__main__":
    main()
