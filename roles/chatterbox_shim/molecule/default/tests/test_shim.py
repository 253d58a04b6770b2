"""The running shim: ready, hardened, and the token nowhere but its 0400 file."""

import json
import time

import pytest
import testinfra

ENGINE = testinfra.get_host("local://")
TOKEN = "molecule-token-5b1e9c"
NAME = "chatterbox-molecule-shim"


@pytest.fixture(scope="module")
def inspect():
    return json.loads(ENGINE.check_output(f"docker inspect {NAME}"))[0]


def test_ready_and_speaks(host):
    assert host.run("curl -fsS http://127.0.0.1:18773/ready").rc == 0
    result = host.run(
        "CHATTERBOX_TOKEN=%s PYTHONPATH=/opt/chatterbox-failover python3 -m chatterbox_panda_kit.probe --url %s",
        TOKEN,
        "http://127.0.0.1:18773",
    )
    assert result.rc == 0, result.stdout + result.stderr


def test_docker_healthcheck_reports_healthy():
    deadline = time.monotonic() + 60
    status = ""
    while time.monotonic() < deadline:
        status = ENGINE.check_output("docker inspect -f '{{.State.Health.Status}}' %s", NAME)
        if status == "healthy":
            break
        time.sleep(2)
    assert status == "healthy"


def test_hardened(inspect):
    config, host_config = inspect["Config"], inspect["HostConfig"]
    assert config["User"] == "10001:10001"
    assert host_config["ReadonlyRootfs"] is True
    assert host_config["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in host_config["SecurityOpt"]
    assert host_config["RestartPolicy"]["Name"] == "unless-stopped"
    # The only writable paths: temp and the kernel/numba caches, both tmpfs.
    assert set(host_config["Tmpfs"]) == {"/tmp", "/var/cache/shim"}
    # Host networking here: nothing published, the service binds the configured address itself.
    assert not host_config.get("PortBindings")
    assert "SHIM_HOST=127.0.0.1" in config["Env"]


def test_token_only_in_its_file(inspect, host):
    assert TOKEN not in json.dumps(inspect)
    token_file = host.file("/tmp/chatterbox-molecule-shim/etc/token")
    assert token_file.mode == 0o400
    assert (token_file.uid, token_file.gid) == (10001, 10001)
    logs = ENGINE.check_output(f"docker logs {NAME} 2>&1")
    assert TOKEN not in logs
