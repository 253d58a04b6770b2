"""docs/MANUAL-FAILOVER.md's shell blocks, run as written on the lab's Panda (only the settings
block's Titan address changed): the daemon moves to Titan and back, the env file byte-identical."""

from __future__ import annotations

import re
import subprocess

from .conftest import ENV_FILE, PANDA, PANDA_URL, REPO, TITAN_URL, Lab, on_panda

DOC = REPO / "docs" / "MANUAL-FAILOVER.md"


def blocks() -> dict[str, str]:
    found = dict(re.findall(r"^```bash (\w+)\n(.*?)^```", DOC.read_text(), re.M | re.S))
    assert set(found) == {"settings", "failover", "rollback"}, sorted(found)
    return found


def lab_settings(settings: str) -> str:
    lab = re.sub(r"^TITAN=\S+", f"TITAN={TITAN_URL}", settings, flags=re.M)
    assert f"ENV_FILE={ENV_FILE} " in lab
    assert "UNIT=annie-phone.service " in lab
    return lab


def run_on_panda(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "exec", PANDA, "bash", "-c", script], capture_output=True, text=True, check=False)


def test_the_manual_pages_commands_fail_over_and_back(normal: Lab):
    doc = blocks()
    settings = lab_settings(doc["settings"])
    before, owner_mode = normal.env_sha256(), normal.env_owner_mode()
    try:
        over = run_on_panda(settings + doc["failover"])
        assert over.returncode == 0, over.stdout + over.stderr
        assert "Titan answered 200" in over.stdout
        assert f"CHATTERBOX_URL={TITAN_URL}" in over.stdout.splitlines()[-1]
        assert normal.daemon_url() == TITAN_URL
        assert normal.env_owner_mode() == owner_mode
        token = on_panda(f"sed -n 's/^CHATTERBOX_TOKEN=//p' {ENV_FILE}").strip()
        assert token not in over.stdout + over.stderr

        back = run_on_panda(settings + doc["rollback"])
        assert back.returncode == 0, back.stdout + back.stderr
        assert f"{ENV_FILE}: OK" in back.stdout
        assert f"CHATTERBOX_URL={PANDA_URL}" in back.stdout.splitlines()[-1]
        assert normal.env_sha256() == before
        assert normal.env_owner_mode() == owner_mode
        assert normal.daemon_url() == PANDA_URL
        assert on_panda(f"ls {ENV_FILE}.pre-failover 2>/dev/null || echo gone").strip() == "gone"
    finally:
        on_panda(
            f"if [ -e {ENV_FILE}.pre-failover ]; then cat {ENV_FILE}.pre-failover > {ENV_FILE};"
            f" rm -f {ENV_FILE}.pre-failover*; systemctl restart annie-phone.service; fi"
        )
