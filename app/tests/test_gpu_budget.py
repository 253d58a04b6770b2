"""SHIM_GPU_MEMORY_LIMIT: what it accepts, what it refuses, and that the CPU ignores it (the GPU
side, the cap itself, is tested in test_gpu_memory_cap.py on a real GPU)."""

from __future__ import annotations

import logging
import os

import pytest

from chatterbox_shim.gpu_budget import MemoryLimit, apply_memory_limit, parse_memory_limit
from chatterbox_shim.settings import SettingsError, load_settings

from .conftest import TOKEN


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("  ", None),
        ("0.25", MemoryLimit(fraction=0.25)),
        ("1", MemoryLimit(fraction=1.0)),
        ("12GiB", MemoryLimit(budget_bytes=12 * 2**30)),
        ("12 gib", MemoryLimit(budget_bytes=12 * 2**30)),
        ("9500MiB", MemoryLimit(budget_bytes=9500 * 2**20)),
        ("12GB", MemoryLimit(budget_bytes=12 * 10**9)),
        ("1.5GiB", MemoryLimit(budget_bytes=int(1.5 * 2**30))),
    ],
)
def test_accepted_forms(text, expected):
    assert parse_memory_limit(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("12", "needs a unit"),
        ("1.5", r"in \(0, 1\]"),
        ("0", r"in \(0, 1\]"),
        ("-1GiB", "neither"),
        ("12 apples", "neither"),
        ("10MiB", "below 256 MiB"),
        ("lots", "neither"),
    ],
)
def test_refused_forms_say_what_is_accepted(text, message):
    with pytest.raises(ValueError, match=message):
        parse_memory_limit(text)


def test_a_budget_becomes_a_fraction_of_the_device():
    assert MemoryLimit(budget_bytes=30 * 2**30).fraction_of(120 * 2**30) == 0.25
    assert MemoryLimit(budget_bytes=300 * 2**30).fraction_of(120 * 2**30) == 1.0


def test_the_setting_is_checked_at_start(monkeypatch):
    for key in list(os.environ):
        if key.startswith(("SHIM_", "CHATTERBOX_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CHATTERBOX_TOKEN", TOKEN)
    monkeypatch.setenv("SHIM_GPU_MEMORY_LIMIT", "12")
    with pytest.raises(SettingsError, match="SHIM_GPU_MEMORY_LIMIT"):
        load_settings()
    monkeypatch.setenv("SHIM_GPU_MEMORY_LIMIT", "12GiB")
    settings, _ = load_settings()
    assert settings.memory_limit() == MemoryLimit(budget_bytes=12 * 2**30)


def test_the_cpu_ignores_a_cap_and_says_so(caplog):
    with caplog.at_level(logging.WARNING, logger="chatterbox_shim.gpu_budget"):
        assert apply_memory_limit(MemoryLimit(fraction=0.5), "cpu") is None
    assert "ignored" in caplog.text
    assert apply_memory_limit(None, "cuda") is None
