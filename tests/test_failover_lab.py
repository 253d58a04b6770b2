"""Failover and rollback on the local lab, with the faults an on-call engineer meets at 3 a.m.

Every test starts from normal (the daemon on Panda's TTS, Titan's shim ready, no lock) and checks
the env file byte for byte, the running daemon's own environment, and the audit log.
"""

from __future__ import annotations

import json
import threading
import time

from .conftest import (
    ENV_FILE,
    PANDA_TTS,
    PANDA_URL,
    SHIM,
    STATE_DIR,
    TITAN_URL,
    Lab,
    on_panda,
    stop_shim_once_flipped,
)


def test_failover_then_rollback_round_trip(normal: Lab):
    before, owner_mode = normal.env_sha256(), normal.env_owner_mode()
    normal.stop(PANDA_TTS)

    run = normal.playbook("failover.yml")
    assert run.rc == 0, run.output[-3000:]
    # A ready standby is used as it is: converging it could restart it in the middle of an outage.
    assert "failing over to it as it is" in " ".join(run.output.split())
    assert normal.url_in_file() == TITAN_URL
    assert normal.daemon_url() == TITAN_URL
    assert normal.env_owner_mode() == owner_mode
    assert normal.audit()[-1]["result"] == "ok"
    time.sleep(3)
    last_call = on_panda("tail -n 1 /var/log/phone-daemon.jsonl")
    assert f'"url": "{TITAN_URL}"' in last_call
    assert '"valid_audio": true' in last_call

    again = normal.playbook("failover.yml")
    assert again.rc == 0, again.output[-2000:]
    assert again.changed() == 0

    normal.start(PANDA_TTS, PANDA_URL)
    back = normal.playbook("rollback.yml")
    assert back.rc == 0, back.output[-3000:]
    assert normal.env_sha256() == before
    assert normal.env_owner_mode() == owner_mode
    assert normal.daemon_url() == PANDA_URL
    assert [e["action"] for e in normal.audit()[-2:]] == ["failover", "rollback"]

    back_again = normal.playbook("rollback.yml")
    assert back_again.rc == 0, back_again.output[-2000:]
    assert back_again.changed() == 0


def test_check_mode_changes_nothing_and_hides_the_token(normal: Lab):
    before = normal.env_sha256()
    token = on_panda("grep ^CHATTERBOX_TOKEN= /etc/annie/phone.env").strip().split("=", 1)[1]
    run = normal.playbook("failover.yml", "--check", "--diff")
    assert run.rc == 0, run.output[-3000:]
    assert f"+CHATTERBOX_URL={TITAN_URL}" in run.said
    assert token not in run.output
    assert normal.env_sha256() == before
    assert not normal.failed_over()
    assert normal.daemon_url() == PANDA_URL


def test_titan_not_ready_refuses(normal: Lab):
    before = normal.env_sha256()
    normal.stop(SHIM)
    run = normal.playbook("failover.yml", "-e", "start_standby=false")
    assert run.rc != 0
    assert "refusing to fail over" in run.said
    assert normal.env_sha256() == before
    assert not normal.failed_over()
    assert normal.audit()[-1]["result"] == "failed"


def test_token_mismatch_refuses_on_401(normal: Lab):
    before = normal.env_sha256()
    try:
        # Titan's token rotated without Panda's: standby.yml deploys it and its own check refuses it...
        deployed = normal.playbook("standby.yml", "-e", "chatterbox_token=not-the-daemons-token")
        assert deployed.rc != 0
        assert "status: expected 200, got 401" in deployed.said
        # ...and failover, finding that standby ready, refuses it too, before touching the line.
        run = normal.playbook("failover.yml")
        assert run.rc != 0
        assert "401 (token rejected)" in run.said
        # Refused before the flip: nothing is claimed restored that was never touched.
        assert "its env file was never changed" in run.said
        assert "restored byte for byte" not in run.said
        assert normal.env_sha256() == before
        assert normal.daemon_url() == PANDA_URL
    finally:
        restored = normal.playbook("standby.yml")
        assert restored.rc == 0, restored.output[-2000:]


def test_shim_dies_right_after_the_flip_rolls_back(normal: Lab):
    before, owner_mode = normal.env_sha256(), normal.env_owner_mode()
    watcher, killed = stop_shim_once_flipped(ENV_FILE)
    run = normal.playbook("failover.yml")
    watcher.join(5)
    assert killed.is_set()
    assert run.rc != 0
    assert "env file was restored byte for byte" in run.said
    assert normal.env_sha256() == before
    assert normal.env_owner_mode() == owner_mode
    assert normal.daemon_url() == PANDA_URL
    assert not normal.failed_over()
    entry = normal.audit()[-1]
    assert entry["result"] == "failed"
    assert entry["now_on"] == PANDA_URL


def test_second_operator_is_refused_while_the_lock_is_held(normal: Lab):
    before = normal.env_sha256()
    on_panda(f'mkdir -p {STATE_DIR}/lock && echo \'{{"operator": "alice"}}\' > {STATE_DIR}/lock/holder.json')
    try:
        run = normal.playbook("failover.yml")
        assert run.rc != 0
        assert "Another failover/rollback holds" in run.said
        assert "alice" in run.said
        assert normal.env_sha256() == before
        assert on_panda(f"cat {STATE_DIR}/lock/holder.json").count("alice") == 1  # not ours to remove
    finally:
        on_panda(f"rm -rf {STATE_DIR}/lock")


def test_rollback_to_a_dead_panda_needs_force(normal: Lab):
    original = normal.env_sha256()
    assert normal.playbook("failover.yml").rc == 0
    flipped = normal.env_sha256()
    normal.stop(PANDA_TTS)
    refused = normal.playbook("rollback.yml")
    assert refused.rc != 0
    assert "refusing to point the daemon back" in refused.said
    assert normal.env_sha256() == flipped
    assert normal.daemon_url() == TITAN_URL

    forced = normal.playbook("rollback.yml", "-e", "force=true")
    assert forced.rc == 0, forced.output[-3000:]
    assert normal.env_sha256() == original
    assert normal.daemon_url() == PANDA_URL
    assert normal.audit()[-1]["forced"] is True


def test_a_standby_that_failed_at_start_up_refuses_at_once_naming_the_cause(normal: Lab):
    """A shim whose warm-up fails (here: a 0 dBFS floor calls every warm-up silent) says so on
    /health; failover stops within seconds with the cause from its log, the env file untouched."""
    before = normal.env_sha256()
    broken = json.dumps({"chatterbox_shim_env": {"SHIM_RMS_FLOOR_DBFS": "0"}})
    try:
        deployed = normal.playbook("standby.yml", "-e", broken)
        assert deployed.rc != 0
        assert "failed at start-up" in deployed.said, deployed.output[-3000:]
        # Not ready, so failover starts the standby itself, and stops as soon as it says why it cannot.
        run = normal.playbook("failover.yml", "-e", broken)
        assert run.rc != 0
        assert "failed at start-up" in run.said, run.output[-3000:]
        assert "silent" in run.said  # the cause, read from the shim's own log
        assert run.seconds < 120, run.seconds  # not the 10-minute ready timeout
        assert normal.env_sha256() == before
        assert normal.daemon_url() == PANDA_URL
        assert not normal.failed_over()
    finally:
        restored = normal.playbook("standby.yml")
        assert restored.rc == 0, restored.output[-3000:]


def test_rollback_keeps_an_edit_made_while_failed_over(normal: Lab):
    """Days on Titan: someone changes another setting in the env file. Rollback puts back only the
    URL line and keeps that edit (a byte-for-byte restore would silently drop it)."""
    before, owner_mode = normal.env_sha256(), normal.env_owner_mode()
    assert normal.playbook("failover.yml").rc == 0
    on_panda(f"echo 'PHONE_GREETING=edited-while-on-titan' >> {ENV_FILE}")
    # The same rollback waits for a quiet line before its restart (the idle check passes once the
    # "call" ends, 8 s in), since a restart drops a call in progress.
    on_panda("rm -f /run/lab-line-idle")
    idle = {"chatterbox_route_idle_check": ["test", "-e", "/run/lab-line-idle"], "chatterbox_route_idle_timeout": 60}
    call_ends = threading.Timer(8, on_panda, args=("touch /run/lab-line-idle",))
    call_ends.start()
    try:
        back = normal.playbook("rollback.yml", "-e", json.dumps(idle))
        call_ends.join()
        assert back.rc == 0, back.output[-3000:]
        said = " ".join(back.output.split())  # the YAML callback folds long messages over lines
        assert "a call in progress on it right now is dropped" in said
        assert "Waiting up to 60 s for the line to be idle first" in said
        assert "restarting anyway" not in said
        started_at = "$(systemctl show -p ActiveEnterTimestamp --value annie-phone.service)"
        restarted = float(on_panda(f'date -d "{started_at}" +%s'))
        idle_since = float(on_panda("stat -c %Y /run/lab-line-idle"))
        assert restarted >= idle_since  # not before the line went quiet
        assert "was edited while failed over" in said
        text = on_panda(f"cat {ENV_FILE}")
        assert "PHONE_GREETING=edited-while-on-titan" in text
        assert f"CHATTERBOX_URL={PANDA_URL}\n" in text
        assert normal.env_owner_mode() == owner_mode
        assert normal.daemon_url() == PANDA_URL
        assert not normal.failed_over()
    finally:
        on_panda(f"sed -i '/^PHONE_GREETING=edited-while-on-titan$/d' {ENV_FILE}; rm -f /run/lab-line-idle")
    assert normal.env_sha256() == before  # only the added line differed


def test_the_flip_line_entry_point_fails_by_itself_after_putting_the_line_back(normal: Lab):
    """Used alone (not by failover.yml, which goes on with the other lines), flip_line fails the run
    when its line fails; here Titan refuses the probe, so nothing was touched."""
    before = normal.env_sha256()
    normal.stop(SHIM)
    run = normal.playbook("lab/flip-line.yml")
    assert run.rc != 0
    said = " ".join(run.output.split())
    assert "Failover of line default failed at" in said
    assert "Its env file was never changed." in said
    assert normal.env_sha256() == before
    assert normal.daemon_url() == PANDA_URL
    assert normal.audit()[-1]["result"] == "failed"
