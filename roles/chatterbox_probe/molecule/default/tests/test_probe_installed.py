"""The Panda kit runs on a bare Debian python3 (standard library only) and fails clearly."""

from pathlib import Path

KIT = "/opt/chatterbox-failover/chatterbox_panda_kit"
KIT_SOURCE = Path(__file__).resolve().parents[5] / "app/src/chatterbox_panda_kit"
KIT_FILES = sorted(path.name for path in KIT_SOURCE.glob("*.py"))


def test_the_whole_kit_folder_is_installed(host):
    for name in KIT_FILES:
        installed = host.file(f"{KIT}/{name}")
        assert installed.is_file
        assert installed.mode == 0o644
    assert "drill_verdict.py" in KIT_FILES


def test_a_module_the_kit_dropped_is_removed(host):
    assert not host.file(f"{KIT}/retired_module.py").exists


def test_the_manifest_matches_the_installed_kit(host):
    result = host.run(f"cd {KIT} && sha256sum -c ../MANIFEST")
    assert result.rc == 0, result.stdout + result.stderr
    assert result.stdout.count(": OK") == len(KIT_FILES)


def test_runs_with_the_standard_library_only(host):
    result = host.run("PYTHONPATH=/opt/chatterbox-failover python3 -m chatterbox_panda_kit.probe --help")
    assert result.rc == 0
    assert "--env-file" in result.stdout


def test_unreachable_endpoint_is_named(host):
    result = host.run(
        "CHATTERBOX_TOKEN=x PYTHONPATH=/opt/chatterbox-failover "
        "python3 -m chatterbox_panda_kit.probe --url http://127.0.0.1:9 --timeout 2"
    )
    assert result.rc == 1
    assert "FAIL reachable" in result.stdout


def test_every_kit_command_runs_with_the_standard_library_only(host):
    for module in ("drill_window", "drill_verdict", "outage_watch", "contract_spec", "voice_allowlist"):
        result = host.run(f"PYTHONPATH=/opt/chatterbox-failover python3 -m chatterbox_panda_kit.{module} --help")
        assert result.rc == 0, (module, result.stderr)
        assert "usage:" in result.stdout
