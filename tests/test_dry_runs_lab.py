"""Dry runs on a Panda that has never seen these playbooks (no kit in /opt/chatterbox-failover, no
state folder): each shows its plan, changes nothing, creates nothing, and says plainly what it
cannot preview; no message claims a restore."""

from __future__ import annotations

import pytest

from .conftest import ENV_FILE, PANDA_URL, STATE_DIR, TITAN_URL, Lab, on_panda

KIT = "/opt/chatterbox-failover"


@pytest.fixture
def fresh_panda(normal: Lab):
    # Set aside, not deleted: the running daemons imported the kit already, and nothing here restarts them.
    on_panda(f"mv {KIT} {KIT}.aside && mv {STATE_DIR} {STATE_DIR}.aside")
    try:
        yield normal
    finally:
        on_panda(f"rm -rf {KIT} {STATE_DIR} && mv {KIT}.aside {KIT} && mv {STATE_DIR}.aside {STATE_DIR}")


@pytest.mark.parametrize(
    ("playbook", "extra"),
    [("failover.yml", ()), ("standby.yml", ()), ("drill.yml", ("-e", "line=default")), ("rollback.yml", ())],
)
def test_a_dry_run_on_a_fresh_panda_changes_nothing_and_says_what_it_cannot_preview(
    fresh_panda: Lab, playbook: str, extra: tuple[str, ...]
):
    before = fresh_panda.env_sha256()
    run = fresh_panda.playbook(playbook, "--check", "--diff", *extra)
    assert run.rc == 0, run.output[-4000:]
    assert "No module named" not in run.output
    assert "restored byte for byte" not in run.output
    if playbook in ("failover.yml", "drill.yml"):
        assert f"+CHATTERBOX_URL={TITAN_URL}" in run.output
        assert "cannot run in this preview" in run.output
    assert fresh_panda.env_sha256() == before
    assert fresh_panda.daemon_url() == PANDA_URL
    assert on_panda(f"ls -d {KIT} {STATE_DIR} 2>/dev/null || true").strip() == ""
    assert on_panda(f"grep -c ^CHATTERBOX_URL= {ENV_FILE}").strip() == "1"
