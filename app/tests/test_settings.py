import os
import stat
import subprocess
import sys

import pytest

from chatterbox_shim.settings import SettingsError, load_settings

from .conftest import TOKEN, shim_env


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith(("SHIM_", "CHATTERBOX_")):
            monkeypatch.delenv(key)


def test_defaults(monkeypatch):
    monkeypatch.setenv("CHATTERBOX_TOKEN", TOKEN)
    settings, token = load_settings()
    assert (settings.host, settings.port, settings.engine) == ("127.0.0.1", 8773, "lab")
    assert settings.default_voice == "samantha_evolving"
    assert token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings)


def test_refuses_to_start_without_a_token():
    with pytest.raises(SettingsError, match="CHATTERBOX_TOKEN"):
        load_settings()


def test_blank_token_is_refused(monkeypatch):
    monkeypatch.setenv("CHATTERBOX_TOKEN", "   ")
    with pytest.raises(SettingsError, match="empty"):
        load_settings()


def test_token_file(monkeypatch, tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    monkeypatch.setenv("CHATTERBOX_TOKEN_FILE", str(path))
    assert load_settings()[1].get_secret_value() == TOKEN


def test_world_readable_token_file_is_refused(monkeypatch, tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN)
    path.chmod(0o644)
    assert path.stat().st_mode & stat.S_IROTH
    monkeypatch.setenv("CHATTERBOX_TOKEN_FILE", str(path))
    with pytest.raises(SettingsError, match="world-readable"):
        load_settings()


def test_missing_token_file_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("CHATTERBOX_TOKEN_FILE", str(tmp_path / "nope"))
    with pytest.raises(SettingsError, match="CHATTERBOX_TOKEN_FILE"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SHIM_PORT", "99999"),
        ("SHIM_PORT", "eighty"),
        ("SHIM_QUEUE_DEPTH", "0"),
        ("SHIM_ENGINE", "gpt"),
        ("SHIM_BLACKWELL_PATCHES", "maybe"),
        ("SHIM_RMS_FLOOR_DBFS", "3"),
    ],
)
def test_invalid_setting_is_named(monkeypatch, name, value):
    monkeypatch.setenv("CHATTERBOX_TOKEN", TOKEN)
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_chatterbox_engine_needs_weights_and_voices(monkeypatch):
    monkeypatch.setenv("CHATTERBOX_TOKEN", TOKEN)
    monkeypatch.setenv("SHIM_ENGINE", "chatterbox")
    with pytest.raises(SettingsError, match="SHIM_WEIGHTS_DIR"):
        load_settings()


def test_service_exits_with_the_setting_named():
    env = shim_env(SHIM_PORT="not-a-port")
    result = subprocess.run(
        [sys.executable, "-m", "chatterbox_shim.cli.serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "SHIM_PORT" in result.stderr


def test_service_exits_without_token():
    env = shim_env()
    del env["CHATTERBOX_TOKEN"]
    result = subprocess.run(
        [sys.executable, "-m", "chatterbox_shim.cli.serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "no token" in result.stderr


def test_an_unknown_shim_variable_stops_the_start_naming_the_nearest(monkeypatch):
    monkeypatch.setenv("CHATTERBOX_TOKEN", TOKEN)
    monkeypatch.setenv("SHIM_GPU_MEMORY_LIMT", "7GiB")
    monkeypatch.setenv("SHIM_FROBNICATE", "1")
    expected = r"SHIM_FROBNICATE, SHIM_GPU_MEMORY_LIMT \(did you mean SHIM_GPU_MEMORY_LIMIT\?\)"
    with pytest.raises(SettingsError, match=expected):
        load_settings()


def test_the_build_and_test_variables_are_not_service_settings(monkeypatch):
    monkeypatch.setenv("CHATTERBOX_TOKEN", TOKEN)
    monkeypatch.setenv("SHIM_EXTRA_CA", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("SHIM_TEST_CACHE", "/tmp/cache")
    load_settings()
