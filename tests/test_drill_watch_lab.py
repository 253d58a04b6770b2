"""Several phone lines, the supervised drill of one, and the outage watch, on the lab's real hosts.

The lab's Panda runs two daemons: line "default" (annie-phone.service, /etc/annie/phone.env,
the single daemon of every other test) and line "second" (annie-phone@second.service). Runs that
act on both pass -e @ansible/lab/two-lines.yml.
"""

from __future__ import annotations

import json
import re
import time

from .conftest import (
    ENV_FILE,
    PANDA_TTS,
    PANDA_URL,
    STATE_DIR,
    TITAN_URL,
    Lab,
    end_drill_once_flipped,
    on_panda,
    stop_shim_once_flipped,
)

TWO_LINES = ("-e", "@ansible/lab/two-lines.yml")
SECOND_ENV = "/etc/annie/phone-second.env"
TEXTFILE = "/var/lib/node_exporter/textfile_collector/chatterbox_tts_watch.prom"
WATCH_INTERVAL_S = 10


def sha(path: str) -> str:
    return on_panda(f"sha256sum {path}").split()[0]


def url_in(path: str) -> str:
    return re.search(r"^CHATTERBOX_URL=(.*)$", on_panda(f"cat {path}"), re.M).group(1)


def daemon_url(service: str) -> str:
    pid = on_panda(f"systemctl show -p MainPID --value {service}").strip()
    return re.search(r"^CHATTERBOX_URL=(.*)$", on_panda(f"tr '\\0' '\\n' < /proc/{pid}/environ"), re.M).group(1)


def verdicts(kind: str) -> list[dict]:
    pattern = f"-second-titan_chatterbox_failover_dry_run_{kind}.json"
    names = on_panda(f"ls {STATE_DIR} | grep -- '{pattern}' || true").split()
    return [json.loads(on_panda(f"cat {STATE_DIR}/{name}")) for name in sorted(names)]


def calls_of_default_line_since(offset: int) -> set[str]:
    lines = on_panda("cat /var/log/phone-daemon.jsonl").splitlines()[offset:]
    return {json.loads(line)["url"] for line in lines if line.strip()}


def test_failover_and_rollback_of_one_named_line(normal: Lab):
    default_before, second_before = sha(ENV_FILE), sha(SECOND_ENV)
    unknown = normal.playbook("failover.yml", *TWO_LINES, "-e", "lines=nope")
    assert unknown.rc != 0
    assert "Unknown line(s) nope" in unknown.output
    assert (sha(ENV_FILE), sha(SECOND_ENV)) == (default_before, second_before)

    normal.stop(PANDA_TTS)
    run = normal.playbook("failover.yml", *TWO_LINES, "-e", "lines=second")
    assert run.rc == 0, run.output[-3000:]
    assert daemon_url("annie-phone@second.service") == TITAN_URL
    assert sha(ENV_FILE) == default_before
    assert daemon_url("annie-phone.service") == PANDA_URL
    assert normal.audit()[-1]["line"] == "second"
    assert on_panda(f"test -e {STATE_DIR}/second/state.json && echo yes").strip() == "yes"
    assert not normal.failed_over()  # line default has no failover record
    fact = json.loads(on_panda("cat /etc/ansible/facts.d/chatterbox_failover.fact"))
    assert fact["second"]["failed_over"] is True

    normal.start(PANDA_TTS, PANDA_URL)
    back = normal.playbook("rollback.yml", *TWO_LINES)  # every line: only "second" has a record
    assert back.rc == 0, back.output[-3000:]
    assert sha(SECOND_ENV) == second_before
    assert daemon_url("annie-phone@second.service") == PANDA_URL
    assert [(e["line"], e["action"]) for e in normal.audit()[-2:]] == [("second", "failover"), ("second", "rollback")]


def test_a_drill_without_the_operators_account_is_unconfirmed_then_clean_with_it(normal: Lab):
    second_before, default_before = sha(SECOND_ENV), sha(ENV_FILE)
    default_calls = len(on_panda("cat /var/log/phone-daemon.jsonl").splitlines())
    args = ("drill.yml", *TWO_LINES, "-e", "line=second", "-e", "probe_interval=5")
    unconfirmed = normal.playbook(*args, "-e", "window_minutes=0.25", timeout=600)
    assert unconfirmed.rc == 0, unconfirmed.output[-4000:]
    assert "Unconfirmed: the probes were clean" in unconfirmed.output
    (verdict,) = verdicts("unconfirmed")
    assert verdict["reasons"] == []
    assert verdict["operator_account"] is None

    ender, ended = end_drill_once_flipped(normal, "second", SECOND_ENV, 30)
    run = normal.playbook(*args, "-e", "window_minutes=3", timeout=600)
    ender.join(60)
    assert ended, "drill-end never ran"
    assert ended[0].rc == 0, ended[0].output[-2000:]
    assert run.rc == 0, run.output[-4000:]
    (verdict,) = verdicts("clean")
    assert verdict["verdict"] == "titan_chatterbox_failover_dry_run_clean"
    assert verdict["reasons"] == []
    assert verdict["window"]["ended_by"] == "operator"
    assert verdict["window"]["probes"] >= 5
    assert verdict["operator_account"]["heard"] == "yes"
    assert verdict["titan_refusals"] == {}
    assert verdict["window"]["failures"] == 0
    assert verdict["window"]["urls"] == [TITAN_URL]
    assert verdict["env_restored_byte_for_byte"] is True
    assert verdict["other_lines"] == {"default": {"before": PANDA_URL, "after": PANDA_URL, "unchanged": True}}
    assert sha(SECOND_ENV) == second_before
    assert daemon_url("annie-phone@second.service") == PANDA_URL
    # The other line never moved: its file, and every call its daemon made during the drill.
    assert sha(ENV_FILE) == default_before
    assert calls_of_default_line_since(default_calls) == {PANDA_URL}
    actions = [(e["line"], e["action"], e["result"]) for e in normal.audit()[-2:]]
    assert actions == [("second", "drill-failover", "ok"), ("second", "drill-rollback", "ok")]


def test_a_drill_whose_shim_dies_mid_window_rolls_back_early_and_is_dirty(normal: Lab):
    second_before = sha(SECOND_ENV)
    killer, killed = stop_shim_once_flipped(SECOND_ENV, after_s=8)  # a few clean probes first
    started = time.monotonic()
    run = normal.playbook(
        "drill.yml",
        *TWO_LINES,
        "-e",
        "line=second",
        "-e",
        "window_minutes=5",
        "-e",
        "probe_interval=3",
        "-e",
        "max_failures=1",
        timeout=600,
    )
    elapsed = time.monotonic() - started
    killer.join(5)
    assert killed.is_set()
    assert run.rc != 0
    assert elapsed < 180, elapsed  # well before the 5-minute window
    (verdict,) = verdicts("dirty")
    assert verdict["verdict"] == "titan_chatterbox_failover_dry_run_dirty"
    assert verdict["window"]["ended_by"] == "failures over the threshold"
    assert verdict["window"]["failures"] == 2
    assert any("probes failed" in reason for reason in verdict["reasons"])
    assert "the window ended early: failures over the threshold" in verdict["reasons"]
    assert verdict["rollback"]["result"] == "ok"
    assert verdict["env_restored_byte_for_byte"] is True
    assert sha(SECOND_ENV) == second_before
    assert daemon_url("annie-phone@second.service") == PANDA_URL
    assert daemon_url("annie-phone.service") == PANDA_URL


def _watch_metrics() -> dict[str, float]:
    text = on_panda(f"cat {TEXTFILE} 2>/dev/null || true")
    return {
        line: float(value)
        for line, value in re.findall(r'^chatterbox_tts_watch_up\{line="([^"]+)",[^}]*\} (\S+)$', text, re.M)
    }


def _wait_for(expected: dict[str, float], timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if _watch_metrics() == expected:
            return time.monotonic() - started
        time.sleep(0.5)
    raise AssertionError(f"metrics {_watch_metrics()} never became {expected} within {timeout} s")


def test_the_outage_watch_sees_panda_go_mute_within_two_intervals_and_recover(normal: Lab):
    deploy = normal.playbook("outage-watch.yml")
    assert deploy.rc == 0, deploy.output[-3000:]
    again = normal.playbook("outage-watch.yml")
    assert again.changed() == 0
    _wait_for({"default": 1.0, "second": 1.0}, timeout=3 * WATCH_INTERVAL_S)
    text = on_panda(f"cat {TEXTFILE}")
    assert f'line="default",target="panda",url="{PANDA_URL}"' in text
    # The standby, probed from Panda at the URL a failover would write, with each line's token.
    assert f'chatterbox_tts_watch_standby_up{{line="default",url="{TITAN_URL}"}} 1.0' in text
    assert f'chatterbox_tts_watch_standby_up{{line="second",url="{TITAN_URL}"}} 1.0' in text

    normal.stop(PANDA_TTS)
    took = _wait_for({"default": 0.0, "second": 0.0}, timeout=2 * WATCH_INTERVAL_S + 5)
    journal = on_panda("journalctl -u chatterbox-outage-watch.service --no-pager -o cat")
    assert f"line=default target=panda url={PANDA_URL} state=down" in journal
    assert f"line=second target=panda url={PANDA_URL} state=down" in journal

    normal.start(PANDA_TTS, PANDA_URL)
    back = _wait_for({"default": 1.0, "second": 1.0}, timeout=2 * WATCH_INTERVAL_S + 5)
    journal = on_panda("journalctl -u chatterbox-outage-watch.service --no-pager -o cat")
    assert journal.rstrip().splitlines()[-1].endswith("state=up") or "state=up" in journal.split("state=down")[-1]
    print(f"outage seen after {took:.1f} s, recovery after {back:.1f} s (interval {WATCH_INTERVAL_S} s)")


def test_drill_and_watch_dry_runs_change_nothing(normal: Lab):
    before = (sha(ENV_FILE), sha(SECOND_ENV))
    verdicts_before = len(verdicts("clean")) + len(verdicts("dirty"))
    drill = normal.playbook("drill.yml", *TWO_LINES, "-e", "line=second", "--check", "--diff")
    assert drill.rc == 0, drill.output[-3000:]
    assert f"+CHATTERBOX_URL={TITAN_URL}" in drill.output
    assert (sha(ENV_FILE), sha(SECOND_ENV)) == before
    assert len(verdicts("clean")) + len(verdicts("dirty")) == verdicts_before
    assert on_panda(f"ls {STATE_DIR}/lock 2>/dev/null || echo free").strip() == "free"
    watch = normal.playbook("outage-watch.yml", "--check", "--diff")
    assert watch.rc == 0, watch.output[-3000:]
    refused = normal.playbook("drill.yml", *TWO_LINES, "-e", "line=nope")
    assert refused.rc != 0
    assert "Line 'nope' is not configured" in refused.output
