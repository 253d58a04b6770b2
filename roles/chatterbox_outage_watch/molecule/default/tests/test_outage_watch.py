"""The outage watch on a bare Debian with systemd: the timer runs, both lines read as down with
their target names, one journal line per change, no token anywhere it writes."""

import json
import re
import time

TEXTFILE = "/var/lib/node_exporter/textfile_collector/chatterbox_tts_watch.prom"


def test_timer_enabled_and_active(host):
    timer = host.service("chatterbox-outage-watch.timer")
    assert timer.is_enabled
    assert timer.is_running
    assert "OnUnitActiveSec=15s" in host.file("/etc/systemd/system/chatterbox-outage-watch.timer").content_string


def test_service_is_hardened_while_auto_failover_is_off(host):
    unit = host.file("/etc/systemd/system/chatterbox-outage-watch.service").content_string
    for setting in ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes"):
        assert setting in unit


def test_config_names_both_lines_and_no_token(host):
    config = json.loads(host.file("/etc/chatterbox-outage-watch/config.json").content_string)
    assert [line["name"] for line in config["lines"]] == ["main", "second"]
    assert config["auto_failover"]["enabled"] is False
    assert "molecule-watch-token" not in json.dumps(config)


def test_a_run_writes_metrics_and_one_journal_line_per_change(host):
    host.run("systemctl start chatterbox-outage-watch.service")
    deadline = time.monotonic() + 60
    while not host.file(TEXTFILE).exists and time.monotonic() < deadline:
        time.sleep(1)
    text = host.file(TEXTFILE).content_string
    for labels in ('line="main",target="panda",url="http://127.0.0.1:9"', 'line="second",target="titan"'):
        assert f"chatterbox_tts_watch_up{{{labels}" in text
    assert len(re.findall(r"^chatterbox_tts_watch_up\{.*\} 0\.0$", text, re.M)) == 2
    assert "molecule-watch-token" not in text
    assert host.file(TEXTFILE).mode == 0o644
    journal = host.run("journalctl -u chatterbox-outage-watch.service --no-pager -o cat").stdout
    assert journal.count("line=main target=panda url=http://127.0.0.1:9 state=down") == 1
    assert "line=second target=titan" in journal
    assert "molecule-watch-token" not in journal


def test_the_kits_old_layout_is_gone_and_the_unit_runs_the_kits_folder(host):
    assert not host.file("/opt/chatterbox-failover/chatterbox_shim").exists
    assert (
        "-m chatterbox_panda_kit.outage_watch"
        in host.file("/etc/systemd/system/chatterbox-outage-watch.service").content_string
    )
