"""Where the token must never show, on the lab's real hosts: Ansible output at -vvv (plain and
base64-encoded), docker inspect, any process's command line, and files a non-root user can read.
And the flip's promises: the env file keeps its owner and mode, the audit log only grows.
"""

from __future__ import annotations

import base64
import json

from .conftest import LAB_ROOT, PANDA, PANDA_TTS, SHIM, STATE_DIR, Lab, on_panda, sh

TITAN = "chatterbox-lab-titan"


def _forms(token: str) -> list[str]:
    """The token and its base64 at each of the three alignments (slurp prints base64)."""
    forms = [token]
    for shift in range(3):
        encoded = base64.b64encode(("x" * shift + token).encode()).decode()
        forms.append(encoded[4 * ((shift + 2) // 3) : -4])  # the part that depends on the token only
    return [f for f in forms if len(f) >= 12]


def _assert_absent(token: str, text: str, where: str) -> None:
    for form in _forms(token):
        assert form not in text, f"the token ({'plain' if form == token else 'base64'}) appears in {where}"


def _token() -> str:
    return (LAB_ROOT / "token").read_text().strip()


def test_token_absent_at_vvv_and_the_flip_keeps_owner_and_mode_and_only_grows_the_audit_log(normal: Lab):
    """One round trip at -vvv serves both promises (a failover cycle costs a minute on the lab)."""
    token = _token()
    dry = normal.playbook("failover.yml", "--check", "--diff", "-vvv")
    assert dry.rc == 0, dry.output[-3000:]
    _assert_absent(token, dry.output, "failover --check --diff -vvv")
    on_panda("chown annie:annie /etc/annie/phone.env && chmod 0600 /etc/annie/phone.env")
    try:
        before_audit = on_panda(f"cat {STATE_DIR}/audit.log 2>/dev/null || true")
        normal.stop(PANDA_TTS)
        flip = normal.playbook("failover.yml", "-vvv")
        assert flip.rc == 0, flip.output[-3000:]
        _assert_absent(token, flip.output, "failover -vvv")
        assert normal.env_owner_mode() == "annie:annie 600"
        normal.start(PANDA_TTS, "http://127.0.0.1:8772")
        back = normal.playbook("rollback.yml", "-vvv")
        assert back.rc == 0, back.output[-3000:]
        _assert_absent(token, back.output, "rollback -vvv")
        assert normal.env_owner_mode() == "annie:annie 600"
        after_audit = on_panda(f"cat {STATE_DIR}/audit.log")
        assert after_audit.startswith(before_audit)  # earlier entries byte for byte: appended, never rewritten
        added = after_audit[len(before_audit) :].splitlines()
        assert [json.loads(line)["action"] for line in added] == ["failover", "rollback"]
        assert on_panda(f"stat -c '%U %a' {STATE_DIR}/audit.log").strip() == "root 600"
    finally:
        on_panda("chown root:annie /etc/annie/phone.env && chmod 0640 /etc/annie/phone.env")
    standby = normal.playbook("standby.yml", "-vvv", "-e", "chatterbox_shim_restart=true")
    assert standby.rc == 0, standby.output[-3000:]
    _assert_absent(token, standby.output, "standby -vvv (writes the token file)")


def test_token_absent_from_docker_inspect_and_command_lines(normal: Lab):
    token = _token()
    for container in (SHIM, PANDA_TTS, PANDA, TITAN):
        _assert_absent(token, sh("docker", "inspect", container), f"docker inspect {container}")
    for host in (PANDA, TITAN):
        # Command lines are world-readable (ps); environments are not, and are checked below.
        cmdlines = sh("docker", "exec", host, "sh", "-c", "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '")
        _assert_absent(token, cmdlines, f"process command lines on {host}")
    shim_cmd = " ".join(json.loads(sh("docker", "inspect", "-f", "{{json .Config.Cmd}}", SHIM)) or [])
    _assert_absent(token, shim_cmd, "the shim's command")


def test_a_non_root_user_cannot_read_the_token(normal: Lab):
    as_nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups"
    token_file = sh("docker", "exec", TITAN, "sh", "-c", f"ls {LAB_ROOT}/titan/etc/token").strip()
    mode = sh("docker", "exec", TITAN, "stat", "-c", "%u %a", token_file).split()
    assert mode == ["10001", "400"], mode
    denied = sh("docker", "exec", TITAN, "sh", "-c", f"{as_nobody} cat {token_file} 2>&1; echo rc=$?", check=False)
    assert "Permission denied" in denied, denied
    assert "rc=1" in denied, denied
    # The env file, and the state folder where its byte-exact copies live while failed over.
    for command in ("cat /etc/annie/phone.env", f"ls {STATE_DIR}", f"cat {STATE_DIR}/audit.log"):
        denied = on_panda(f"{as_nobody} {command} 2>&1; echo rc=$?", check=False)
        assert "Permission denied" in denied, (command, denied)
    pid = on_panda("systemctl show -p MainPID --value annie-phone.service").strip()
    environ = on_panda(f"{as_nobody} cat /proc/{pid}/environ 2>&1; echo rc=$?", check=False)
    assert "Permission denied" in environ, environ
