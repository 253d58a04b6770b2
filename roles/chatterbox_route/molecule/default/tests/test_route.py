"""After converge + side effect (restore, byte compare, flip again): the daemon runs on Titan."""

import json

TARGET = "http://titan.example:8773"


def test_env_file_points_at_titan_with_owner_and_mode_kept(host):
    env = host.file("/etc/annie/phone.env")
    # Only scheme, host and port change: the file's quotes stay.
    assert f'\nCHATTERBOX_URL="{TARGET}"\n' in env.content_string
    assert "CHATTERBOX_TOKEN=molecule-token" in env.content_string
    assert (env.user, env.group, env.mode) == ("root", "annie", 0o640)


def test_running_daemon_carries_the_url(host):
    pid = host.check_output("systemctl show -p MainPID --value annie-phone.service")
    environ = host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ")
    assert f"CHATTERBOX_URL={TARGET}" in environ.splitlines()


def test_way_back_is_recorded_privately(host):
    state_dir = "/var/lib/chatterbox-failover/default"
    state = json.loads(host.file(f"{state_dir}/state.json").content_string)
    assert state["from_url"] == "http://panda.example:8772"
    assert state["to_url"] == TARGET
    assert (state["owner"], state["group"], state["mode"]) == ("root", "annie", "0640")
    before = host.file(f"{state_dir}/env.before")
    assert before.mode == 0o600
    assert before.sha256sum == host.file("/root/phone.env.original").sha256sum
    assert host.file(state_dir).mode == 0o700


def test_history_keeps_the_restored_run(host):
    assert host.run("ls /var/lib/chatterbox-failover/history").stdout.strip()
