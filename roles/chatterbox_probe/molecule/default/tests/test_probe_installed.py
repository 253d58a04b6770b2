"""tts-probe runs on a bare Debian python3 (standard library only) and fails clearly."""

from pathlib import Path

import yaml

KIT_FILES = yaml.safe_load((Path(__file__).resolve().parents[3] / "vars/main.yml").read_text())[
    "chatterbox_probe_kit_files"
]


def test_files(host):
    for name in KIT_FILES:
        installed = host.file(f"/opt/chatterbox-failover/chatterbox_shim/{name}")
        assert installed.is_file
        assert installed.mode == 0o644


def test_the_manifest_matches_the_installed_kit(host):
    result = host.run("cd /opt/chatterbox-failover/chatterbox_shim && sha256sum -c ../MANIFEST")
    assert result.rc == 0, result.stdout + result.stderr
    assert result.stdout.count(": OK") == len(KIT_FILES)


def test_runs_with_the_standard_library_only(host):
    result = host.run("PYTHONPATH=/opt/chatterbox-failover python3 -m chatterbox_shim.probe --help")
    assert result.rc == 0
    assert "--env-file" in result.stdout


def test_unreachable_endpoint_is_named(host):
    result = host.run(
        "CHATTERBOX_TOKEN=x PYTHONPATH=/opt/chatterbox-failover "
        "python3 -m chatterbox_shim.probe --url http://127.0.0.1:9 --timeout 2"
    )
    assert result.rc == 1
    assert "FAIL reachable" in result.stdout


def test_drill_window_and_outage_watch_run_with_the_standard_library_only(host):
    for module in ("drill_window", "outage_watch", "parity.contract_spec", "envfile"):
        result = host.run(f"PYTHONPATH=/opt/chatterbox-failover python3 -m chatterbox_shim.{module} --help")
        assert result.rc == 0, result.stderr
