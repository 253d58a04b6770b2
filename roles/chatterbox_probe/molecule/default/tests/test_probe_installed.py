"""tts-probe runs on a bare Debian python3 (standard library only) and fails clearly."""


def test_files(host):
    names = ("__init__.py", "contract.py", "probe.py", "drill_window.py", "outage_watch.py", "parity/contract_spec.py")
    for name in names:
        installed = host.file(f"/opt/chatterbox-failover/chatterbox_shim/{name}")
        assert installed.is_file
        assert installed.mode == 0o644


def test_the_manifest_matches_the_installed_kit(host):
    result = host.run("cd /opt/chatterbox-failover/chatterbox_shim && sha256sum -c ../MANIFEST")
    assert result.rc == 0, result.stdout + result.stderr
    assert result.stdout.count(": OK") == 9


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
    for module in ("drill_window", "outage_watch", "parity.contract_spec"):
        result = host.run(f"PYTHONPATH=/opt/chatterbox-failover python3 -m chatterbox_shim.{module} --help")
        assert result.rc == 0, result.stderr
