#!/usr/bin/python
"""One operator at a time on Panda: the lock is a folder (mkdir is atomic) with its holder inside."""

from __future__ import annotations

import json
import os
import shutil
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: chatterbox_route_lock
short_description: Take or release the failover lock in the state folder
options:
  state_dir: {type: path, required: true}
  state: {type: str, default: present, choices: [present, absent]}
  holder: {type: dict, default: {}}
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state_dir": {"type": "path", "required": True},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
            "holder": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    lock = os.path.join(module.params["state_dir"], "lock")
    if module.params["state"] == "absent":
        held = os.path.isdir(lock)
        if held and not module.check_mode:
            shutil.rmtree(lock)
        module.exit_json(changed=held)
    if module.check_mode:
        module.exit_json(changed=not os.path.isdir(lock))
    os.makedirs(module.params["state_dir"], mode=0o700, exist_ok=True)
    os.chmod(module.params["state_dir"], 0o700)
    try:
        os.mkdir(lock, 0o700)
    except FileExistsError:
        try:
            with open(os.path.join(lock, "holder.json"), encoding="utf-8") as handle:
                holder = handle.read().strip()
        except OSError:
            holder = "{}"
        module.fail_json(
            msg=f"Another failover/rollback holds {lock} ({holder}). "
            "Wait for it, or remove the folder if that run is dead."
        )
    holder = {**module.params["holder"], "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    descriptor = os.open(os.path.join(lock, "holder.json"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(json.dumps(holder) + "\n")
    module.exit_json(changed=True)


if __name__ == "__main__":
    main()
