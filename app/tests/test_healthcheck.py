"""The image's HEALTHCHECK command: 0 only while the local service is ready."""

from chatterbox_shim.cli.healthcheck import main as healthcheck

from .conftest import free_port


def test_healthy_when_ready(lab_shim, monkeypatch):
    monkeypatch.setenv("SHIM_PORT", lab_shim.url.rsplit(":", 1)[1])
    assert healthcheck() == 0


def test_unhealthy_when_nothing_answers(monkeypatch):
    monkeypatch.setenv("SHIM_PORT", str(free_port()))
    assert healthcheck() == 1


def test_unhealthy_while_not_ready(shim_factory, monkeypatch):
    shim = shim_factory(wait_for="/health", SHIM_LAB_LOAD_SECONDS="5")
    monkeypatch.setenv("SHIM_PORT", shim.url.rsplit(":", 1)[1])
    assert healthcheck() == 1
