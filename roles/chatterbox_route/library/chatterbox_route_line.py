#!/usr/bin/python
"""One phone line on Panda, one whole step per call: read (and prove the wiring), flip, restore, undo.

A step that changes the file snapshots it first, writes atomically with the owner and mode kept,
restarts the daemon and gates on the running process's own environment. A gate that fails leaves
the snapshot for undo. Nothing returned holds the file's other lines (the daemon's token is there).
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import subprocess
import time
import urllib.error
import urllib.request

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.chatterbox_envfile import UrlLine, origin
from ansible.module_utils.chatterbox_route_daemon import Daemon, DaemonError
from ansible.module_utils.chatterbox_route_state import archive_record, write_atomically

DOCUMENTATION = r"""
module: chatterbox_route_line
short_description: Read, flip, restore or undo one phone line, restart its daemon and gate on it
description:
  - C(read) (read-only) returns the line's URL, the file's sha256 and attributes and the recorded failover; with
    C(preflight) it also proves that the unit reads the file and the running daemon uses its URL.
  - C(flip) snapshots the file (C(env.pre-run)), keeps the pre-failover copy and record on the first flip, points the
    URL line at C(target_url) (only scheme, host and port change), restarts the daemon and gates on it.
  - C(restore) snapshots the failover file and puts the pre-failover file back byte for byte (only its URL line when
    the file was edited while failed over), restarts and gates.
  - C(undo) puts this run's snapshot back byte for byte, drops a record this run created, restarts and gates.
  - C(forget) archives the line's record into the state folder's history.
options:
  state: {type: str, required: true, choices: [read, flip, restore, undo, forget]}
  env_file: {type: path, required: true}
  variable: {type: str, default: CHATTERBOX_URL}
  state_dir: {type: path, required: true}
  line: {type: str, required: true}
  target_url: {type: str, default: ""}
  force: {type: bool, default: false}
  preflight: {type: bool, default: false}
  ask_target_ready: {type: bool, default: false, description: With read, GET the target's /ready from this host.}
  daemon: {type: dict, default: {}}
  pre_run: {type: dict, default: {}}
  forget_created: {type: bool, default: false}
  gate_probe: {type: list, elements: str, default: [], description: argv of the daemon's-eye probe run after the gate.}
  gate_probe_pythonpath: {type: str, default: ""}
  gate_probe_refusal: {type: str, default: "The probe through the line's new URL failed."}
  expected_sha256:
    type: str
    default: ""
    description: The file's sha256 when this run read it; a file changed since is refused.
"""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def owner_name(uid: int) -> str:
    """The user's name, or the number when the system has none for it (chown takes either)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def check_unchanged_since_read(module: AnsibleModule, line: Line) -> None:
    """The probe before this step used the file as it was read then: a file changed since is refused."""
    expected = module.params["expected_sha256"]
    if expected and expected != line.sha256:
        module.fail_json(
            msg=f"{line.path} changed since this run read it (line {line.name}); run again. Nothing was changed."
        )


class Line:
    """The env file as found at the start of this step, and the line's state folder."""

    def __init__(self, module: AnsibleModule) -> None:
        params = module.params
        self.module = module
        self.path: str = params["env_file"]
        self.variable: str = params["variable"]
        self.name: str = params["line"]
        self.state_dir: str = params["state_dir"]
        self.line_dir = os.path.join(self.state_dir, self.name)
        if not os.path.isfile(self.path):
            module.fail_json(msg=f"{self.path} does not exist or is not a file on this host (line {self.name}).")
        with open(self.path, "rb") as handle:
            self.data = handle.read()
        try:
            self.url_line = UrlLine(self.data.decode("utf-8", "surrogateescape"), self.variable)
        except LookupError:
            module.fail_json(msg=f"{self.path} has no {self.variable}= line (line {self.name}). Nothing was changed.")
        info = os.stat(self.path)
        self.owner, self.group = owner_name(info.st_uid), group_name(info.st_gid)
        self.mode = f"{info.st_mode & 0o7777:04o}"
        self.sha256 = sha256(self.data)
        record = self.read_text("state.json")
        self.record: dict = json.loads(record) if record else {}
        after_flip = self.read_text("env.after.sha256").strip()
        self.edited_while_failed_over = bool(after_flip) and after_flip != self.sha256
        self.daemon = Daemon(params["daemon"]) if params["daemon"].get("service") else None
        daemon = params["daemon"]
        if daemon.get("restart_method") == "command" and not daemon.get("restart_command"):
            module.fail_json(
                msg="restart_method command needs chatterbox_route_restart_command (its argv). Nothing was changed."
            )
        # What this step has done so far: a step that stops on an unexpected error still reports it,
        # so the rescue knows whether there is a snapshot to put back.
        self.result: dict = {}

    def read_text(self, name: str) -> str:
        try:
            with open(os.path.join(self.line_dir, name), encoding="utf-8") as handle:
                return handle.read()
        except FileNotFoundError:
            return ""

    def facts(self, target_url: str = "") -> dict:
        return {
            "url": self.url_line.url,
            # The line's own URL moved to the target (path and query kept): what the daemon would call there.
            "url_at_target": self.url_line.with_origin(origin(target_url))[0] if target_url else "",
            "env_sha256": self.sha256,
            "owner": self.owner,
            "group": self.group,
            "mode": self.mode,
            "record": self.record,
            "failed_over": "from_url" in self.record,
            "edited_while_failed_over": self.edited_while_failed_over,
        }

    def starting_point(self) -> dict:
        return {
            "url": self.url_line.url,
            "sha256": self.sha256,
            "owner": self.owner,
            "group": self.group,
            "mode": self.mode,
        }

    def keep(self, name: str, data: bytes) -> None:
        """A root-only file in the line's state folder (copies of the env file hold the token)."""
        os.makedirs(self.line_dir, mode=0o700, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        os.chmod(self.line_dir, 0o700)
        write_atomically(os.path.join(self.line_dir, name), data, mode=0o600)

    def planned(self, new_value: str, note: str = "") -> list[str]:
        label = "planned" if self.module.check_mode else "applied"
        return [
            f"--- {self.path}",
            f"+++ {self.path} ({label}{': ' + note if note else ''})",
            f"-{self.variable}={self.url_line.value}",
            f"+{self.variable}={new_value}",
        ]

    def restart_and_gate(self, expected_url: str, result: dict, probe: bool = True) -> dict:
        """Restart, then the gate: the running process carries expected_url, and (with gate_probe)
        the daemon's own probe passes through the file's new URL."""
        started = time.monotonic()
        if self.daemon is not None:
            try:
                result.update(self.daemon.restart_and_gate(self.variable, expected_url))
            except DaemonError as error:
                self.module.fail_json(msg=str(error), **result)
        result["change_s"] = round(time.monotonic() - started, 3)
        return self.gate_probe(result) if probe else result

    def gate(self, expected_url: str, result: dict) -> dict:
        """The file already says expected_url: no restart, the same gate."""
        if self.module.check_mode:
            return result
        if self.daemon is not None:
            try:
                result.update(self.daemon.gate(self.variable, expected_url))
            except DaemonError as error:
                self.module.fail_json(msg=str(error), **result)
        return self.gate_probe(result)

    def gate_probe(self, result: dict) -> dict:
        argv = self.module.params["gate_probe"]
        if not argv:
            return result
        started = time.monotonic()
        environment = dict(os.environ, PYTHONPATH=self.module.params["gate_probe_pythonpath"])
        done = subprocess.run(argv, capture_output=True, text=True, env=environment, check=False)
        result["gate_probe_s"] = round(time.monotonic() - started, 3)
        result["gate_probe_output"] = (done.stdout + done.stderr).splitlines()
        if done.returncode != 0:
            last = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
            self.module.fail_json(msg=f"{self.module.params['gate_probe_refusal']} {last[0]}", **result)
        return result


def target_ready(url: str) -> int:
    """Whether the target answers /ready, asked from this host (the daemon's side of the network):
    its HTTP status, or -1 when it does not answer."""
    try:
        # origin() keeps only http(s) targets: flip refuses any other scheme.
        with urllib.request.urlopen(origin(url) + "/ready", timeout=5) as answer:  # noqa: S310
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except (OSError, ValueError):
        return -1


def read(module: AnsibleModule, line: Line) -> dict:
    target = module.params["target_url"]
    result = {"changed": False, "line": line.name, "target_url": target, **line.facts(target)}
    if module.params["ask_target_ready"] and target:
        result["target_ready_status"] = target_ready(target)
    if module.params["preflight"] and line.daemon is not None:
        problems = line.daemon.wiring_problems(line.path, line.variable, line.url_line.url)
        if problems:
            scope = line.daemon.scope
            module.fail_json(
                msg=f"Line {line.name} ({scope} unit {line.daemon.service}): {'; '.join(problems)}. "
                "Nothing was changed.",
                problems=problems,
            )
    return result


def flip(module: AnsibleModule, line: Line) -> dict:
    target = module.params["target_url"]
    if not target.startswith(("http://", "https://")):
        module.fail_json(msg=f"target_url must be an http(s) URL, got '{target}'")
    new_url, new_value, new_text = line.url_line.with_origin(origin(target))
    if not new_url.startswith(origin(target)):
        module.fail_json(
            msg=f"Could not find {origin(line.url_line.url)} in the value of {line.variable} in {line.path} "
            "to replace it; "
            "change the line by hand (docs/MANUAL-FAILOVER.md). Nothing was changed."
        )
    new_data = new_text.encode("utf-8", "surrogateescape")
    needed = new_data != line.data or module.params["force"]
    result = line.result = {"changed": needed, "new_url": new_url, **line.facts()}
    result.update(snapshot_taken=False, created_record=False, pre_run=line.starting_point())
    check_unchanged_since_read(module, line)
    if not needed:
        return line.gate(new_url, result)
    result["planned"] = line.planned(new_value)
    if module.check_mode:
        return result
    line.keep("env.pre-run", line.data)
    result["snapshot_taken"] = True
    if "from_url" not in line.record:
        # The way back, recorded by the first flip only: a forced re-run keeps the original.
        line.keep("env.before", line.data)
        record = {
            "line": line.name,
            "env_file": line.path,
            "from_url": line.url_line.url,
            "to_url": new_url,
            "env_sha256": line.sha256,
            "owner": line.owner,
            "group": line.group,
            "mode": line.mode,
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        line.keep("state.json", (json.dumps(record, indent=4) + "\n").encode())
        result["created_record"] = True
    if new_data != line.data:
        write_atomically(line.path, new_data, int(line.mode, 8), line.owner, line.group)
        # Rollback tells an edit made while failed over by this sum.
        line.keep("env.after.sha256", (sha256(new_data) + "\n").encode())
    return line.restart_and_gate(new_url, result)


def restore(module: AnsibleModule, line: Line) -> dict:
    record = line.record
    if "from_url" not in record:
        module.fail_json(msg=f"No recorded failover for line {line.name} in {line.line_dir}: nothing to restore.")
    if line.edited_while_failed_over:
        # Days on Titan, someone edited another setting: only the URL line goes back; their edit stays.
        _, _, text = line.url_line.with_origin(origin(record["from_url"]))
        new_data = text.encode("utf-8", "surrogateescape")
        note = "only the URL line; other edits made while failed over are kept"
    else:
        try:
            with open(os.path.join(line.line_dir, "env.before"), "rb") as handle:
                new_data = handle.read()
        except OSError as error:
            module.fail_json(
                msg=f"The pre-failover copy of line {line.name} cannot be read ({error}). Nothing was changed."
            )
        note = "the pre-failover file, byte for byte"
    result = line.result = {"changed": new_data != line.data, "new_url": record["from_url"], **line.facts()}
    result.update(snapshot_taken=False, created_record=False, pre_run=line.starting_point())
    check_unchanged_since_read(module, line)
    if not result["changed"]:
        return line.gate(record["from_url"], result)
    result["planned"] = line.planned(record["from_url"], note)
    if module.check_mode:
        return result
    line.keep("env.pre-run", line.data)
    result["snapshot_taken"] = True
    write_atomically(line.path, new_data, int(record["mode"], 8), record["owner"], record["group"])
    with open(line.path, "rb") as handle:
        written = sha256(handle.read())
    if not line.edited_while_failed_over and written != record["env_sha256"]:
        # Before any restart: the rescue puts the failover file back and the daemon stays on it.
        module.fail_json(msg=f"{line.path} did not match the recorded pre-failover sha256 after the restore.", **result)
    return line.restart_and_gate(record["from_url"], result)


def undo(module: AnsibleModule, line: Line) -> dict:
    pre_run = module.params["pre_run"]
    if not pre_run.get("sha256"):
        module.fail_json(msg="This run failed before it changed anything: the env file was not touched.")
    snapshot = os.path.join(line.line_dir, "env.pre-run")
    result: dict = {"changed": True, "new_url": pre_run["url"]}
    line.result = result
    if module.check_mode:
        return result
    with open(snapshot, "rb") as handle:
        write_atomically(line.path, handle.read(), int(pre_run["mode"], 8), pre_run["owner"], pre_run["group"])
    with open(line.path, "rb") as handle:
        if sha256(handle.read()) != pre_run["sha256"]:
            module.fail_json(
                msg=f"{line.path} could not be restored byte for byte: restore it from {snapshot} by hand.", **result
            )
    if module.params["forget_created"]:
        result["archived_to"] = archive_record(line.state_dir, line.name)
    # The way back is gated on the daemon's environment only: a probe failing here changes nothing.
    return line.restart_and_gate(pre_run["url"], result, probe=False)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "required": True, "choices": ["read", "flip", "restore", "undo", "forget"]},
            "env_file": {"type": "path", "required": True},
            "variable": {"type": "str", "default": "CHATTERBOX_URL"},
            "state_dir": {"type": "path", "required": True},
            "line": {"type": "str", "required": True},
            "target_url": {"type": "str", "default": ""},
            "force": {"type": "bool", "default": False},
            "preflight": {"type": "bool", "default": False},
            "ask_target_ready": {"type": "bool", "default": False},
            "daemon": {"type": "dict", "default": {}},
            "pre_run": {"type": "dict", "default": {}},
            "forget_created": {"type": "bool", "default": False},
            "gate_probe": {"type": "list", "elements": "str", "default": []},
            "gate_probe_pythonpath": {"type": "str", "default": ""},
            "gate_probe_refusal": {"type": "str", "default": "The probe through the line's new URL failed."},
            "expected_sha256": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    line = Line(module)
    state = module.params["state"]
    if state == "forget":
        archived = "" if module.check_mode else archive_record(line.state_dir, line.name)
        module.exit_json(changed=os.path.isdir(line.line_dir) or bool(archived), archived_to=archived)
    step = {"read": read, "flip": flip, "restore": restore, "undo": undo}[state]
    try:
        outcome = step(module, line)
    except Exception as error:  # an unexpected stop still says what it had done (snapshot_taken)
        module.fail_json(msg=f"{state} of line {line.name} stopped: {type(error).__name__}: {error}", **line.result)
    module.exit_json(**outcome)


if __name__ == "__main__":
    main()
