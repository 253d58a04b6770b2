"""The built test image, checked from the test host (fact) and through the shared Docker engine."""

import json

import pytest
import testinfra

ENGINE = testinfra.get_host("local://")


@pytest.fixture(scope="module")
def fact(host):
    return json.loads(host.file("/etc/ansible/facts.d/chatterbox_image.fact").content_string)


def docker_run(ref, *args, entrypoint="python3"):
    """docker run with each argument quoted by testinfra (no shell in between)."""
    placeholders = " ".join(["%s"] * len(args))
    return ENGINE.run(f"docker run --rm --network none --entrypoint %s %s {placeholders}", entrypoint, ref, *args)


def test_fact_names_the_image(fact):
    assert fact["ref"] == f"{fact['name']}:{fact['tag']}"
    assert fact["tag"].startswith("0.1.7-torch2.11.0-cu12.8-")
    assert len(fact["tag"].rsplit("-", 1)[1]) == 12


def test_labels(fact):
    labels = json.loads(ENGINE.check_output("docker image inspect --format '{{json .Config.Labels}}' %s", fact["ref"]))
    assert labels["org.opencontainers.image.version"] == fact["tag"]
    assert labels["io.her-os.shim.pins-hash"] == fact["pins_hash"]
    for key in ("revision", "created", "source", "title"):
        assert labels[f"org.opencontainers.image.{key}"]


def test_runs_as_non_root(fact):
    assert ENGINE.check_output("docker image inspect --format '{{.Config.User}}' %s", fact["ref"]) == "10001:10001"
    assert docker_run(fact["ref"], "-c", "import os; print(os.getuid())").stdout.strip() == "10001"


def test_torch_and_chatterbox(fact):
    result = docker_run(
        fact["ref"],
        "-c",
        'import torch, chatterbox, importlib.metadata as m; print(torch.__version__, m.version("chatterbox-tts"))',
    )
    assert result.rc == 0, result.stderr
    torch_version, chatterbox_version = result.stdout.split()
    assert torch_version.split("+")[0] == "2.11.0"
    assert chatterbox_version == "0.1.7"


def test_blackwell_patch_module_imports(fact):
    result = docker_run(
        fact["ref"],
        "-c",
        "from chatterbox_shim import blackwell; blackwell.apply_patches(); assert blackwell.patches_applied()",
    )
    assert result.rc == 0, result.stderr


def test_baked_weights_verify(fact):
    result = docker_run(
        fact["ref"],
        "/opt/chatterbox/weights",
        "--manifest",
        "/opt/chatterbox/weights/weights-manifest.json",
        entrypoint="verify-weights",
    )
    assert result.rc == 0, result.stdout + result.stderr
    assert "all 5 files match" in result.stdout


def test_pip_check_reports_only_the_documented_pins(fact):
    result = docker_run(fact["ref"], "-m", "pip", "check")
    problems = [line for line in result.stdout.splitlines() if line.strip()]
    # images/requirements-nodeps.lock says why resemblyzer's two are met otherwise.
    allowed = (
        "chatterbox-tts 0.1.7 has requirement",
        "chatterbox-tts 0.1.7 requires",
        "resemblyzer 0.1.4 requires webrtcvad",
        "resemblyzer 0.1.4 requires typing",
    )
    unexpected = [p for p in problems if not p.startswith(allowed)]
    assert unexpected == [], unexpected
