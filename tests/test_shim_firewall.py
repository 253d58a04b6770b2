"""The shim role's firewall script, run for real with iptables in a network namespace of its own
(`unshare -n`: the host's rules are never touched). Traffic stays on loopback: 127.0.0.2 plays a
source that is not on the list."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "roles/chatterbox_shim/files/chatterbox-shim-firewall"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("iptables") or not shutil.which("unshare"),
    reason="needs root, iptables and unshare (CI has all three)",
)


def in_namespace(tmp_path: Path, conf: str, body: str) -> subprocess.CompletedProcess[str]:
    """Run a shell `body` in a fresh network namespace with loopback up and $S the script."""
    (tmp_path / "firewall.conf").write_text(conf)
    env = {**os.environ, "CHATTERBOX_SHIM_FIREWALL_CONF": str(tmp_path / "firewall.conf"), "S": str(SCRIPT)}
    return subprocess.run(
        ["unshare", "-n", "sh", "-c", "set -e; ip link set lo up; " + body],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


SERVE = (
    "python3 -m http.server 18999 --bind 127.0.0.1 >/dev/null 2>&1 & "
    "for i in 1 2 3 4 5 6 7 8 9 10; do curl -s -o /dev/null http://127.0.0.1:18999/ && break; sleep 0.3; done; "
)


def code_from(source: str) -> str:
    url = "http://127.0.0.1:18999/"
    return f'curl -s -o /dev/null -w "{source}=%{{http_code}} " --max-time 2 --interface {source} {url} || true; '


def test_only_listed_sources_reach_the_port_and_remove_opens_it_again(tmp_path):
    conf = 'PORT=18999\nPARENT=INPUT\nSOURCES="127.0.0.1 10.1.2.0/24"\n'
    body = SERVE + code_from("127.0.0.2") + '"$S" apply; ' + code_from("127.0.0.1") + code_from("127.0.0.2")
    body += '"$S" remove; ' + code_from("127.0.0.2") + "echo; iptables -S; kill $!"
    result = in_namespace(tmp_path, conf, body)
    assert result.returncode == 0, result.stderr
    codes, _, rules = result.stdout.partition("\n")
    # Before: open to all; applied: the listed source only; removed: open again, no rule left.
    assert codes.split() == ["127.0.0.2=200", "127.0.0.1=200", "127.0.0.2=000", "127.0.0.2=200"]
    assert "CHATTERBOX" not in rules


def test_apply_is_idempotent_and_a_new_list_replaces_the_old(tmp_path):
    conf = 'PORT=8773\nPARENT=DOCKER-USER\nSOURCES="192.168.1.20"\n'
    body = (
        '"$S" apply; iptables -S > first; "$S" apply; iptables -S > second; cmp first second; cat second; '
        'echo ---; sed -i s/192.168.1.20/192.168.1.30/ "$CHATTERBOX_SHIM_FIREWALL_CONF"; "$S" apply; iptables -S'
    )
    docker_chain = "iptables -N DOCKER-USER; iptables -A FORWARD -j DOCKER-USER; "  # as Docker leaves them
    result = in_namespace(tmp_path, conf, f"cd {tmp_path}; {docker_chain}{body}")
    assert result.returncode == 0, result.stderr
    first, _, replaced = result.stdout.partition("---")
    # A published port is matched by the connection's original destination (Docker's DNAT
    # happens before DOCKER-USER), and the chain is jumped to once.
    assert first.count("-A DOCKER-USER -p tcp -m conntrack --ctorigdstport 8773 -j CHATTERBOX-SHIM") == 1
    assert "-A CHATTERBOX-SHIM -s 192.168.1.20/32 -j RETURN" in first
    assert "-A CHATTERBOX-SHIM -j DROP" in first
    assert "192.168.1.20" not in replaced
    assert "-A CHATTERBOX-SHIM -s 192.168.1.30/32 -j RETURN" in replaced
    assert replaced.count("-j CHATTERBOX-SHIM") == 1
    assert "NEXT" not in replaced


def test_a_config_without_a_port_is_refused_and_changes_nothing(tmp_path):
    result = in_namespace(tmp_path, 'PARENT=INPUT\nSOURCES="127.0.0.1"\n', '"$S" apply || echo "rc=$?"; iptables -S')
    assert "PORT is not set" in result.stderr
    assert "rc=" in result.stdout
    assert "CHATTERBOX" not in result.stdout


def test_a_new_port_or_network_mode_leaves_no_jump_of_the_old_one(tmp_path):
    conf = 'PORT=18999\nPARENT=INPUT\nSOURCES="127.0.0.1"\n'
    new_conf = 'PORT=19000\nPARENT=DOCKER-USER\nSOURCES="127.0.0.1"\n'
    body = (
        f'"$S" apply; printf \'{new_conf}\' > "$CHATTERBOX_SHIM_FIREWALL_CONF"; "$S" apply; iptables -S; '
        'echo ---; "$S" remove; iptables -S'
    )
    docker_chain = "iptables -N DOCKER-USER; iptables -A FORWARD -j DOCKER-USER; "
    result = in_namespace(tmp_path, conf, docker_chain + body)
    assert result.returncode == 0, result.stderr
    applied, _, removed = result.stdout.partition("---")
    assert "--dport 18999" not in applied
    assert applied.count("-j CHATTERBOX-SHIM") == 1
    assert "--ctorigdstport 19000 -j CHATTERBOX-SHIM" in applied
    assert "CHATTERBOX" not in removed


def test_docker_user_without_dockers_jump_is_refused(tmp_path):
    """No FORWARD jump to DOCKER-USER (Docker down, or its nftables backend): a rule would protect nothing."""
    conf = 'PORT=8773\nPARENT=DOCKER-USER\nSOURCES="10.0.0.1"\n'
    result = in_namespace(tmp_path, conf, '"$S" apply || echo "rc=$?"; iptables -S')
    assert "FORWARD does not jump to DOCKER-USER" in result.stderr
    assert "rc=1" in result.stdout
    assert "CHATTERBOX" not in result.stdout
