"""Service configuration: environment variables prefixed SHIM_, plus the daemon's token names."""

from __future__ import annotations

import difflib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from chatterbox_panda_kit.contract import DEFAULT_VOICE

from .gpu_budget import MemoryLimit, parse_memory_limit


@dataclass(frozen=True)
class HeadLimits:
    """What a request's head may take: seconds to arrive, header lines, and their bytes."""

    timeout_seconds: float = 10.0
    max_header_count: int = 100
    max_header_bytes: int = 16 * 1024


ENV_PREFIX = "SHIM_"
TOKEN_ENV = "CHATTERBOX_TOKEN"
TOKEN_FILE_ENV = "CHATTERBOX_TOKEN_FILE"


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the environment variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8773, ge=1, le=65535)
    engine: Literal["lab", "chatterbox"] = "lab"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    weights_dir: Path | None = None
    # None means the pinned production manifest in pins.json.
    weights_manifest: Path | None = None
    verify_weights: bool = True
    voices_dir: Path | None = None
    default_voice: str = DEFAULT_VOICE
    # The contract record learned from Panda (chatterbox-parity contract record); None: built-in defaults.
    contract_file: Path | None = None
    device: str = "auto"
    # A cap on the GPU memory the model may take (Titan also runs Gemma): a fraction such as 0.25
    # or a size such as 12GiB; empty: no cap. See gpu_budget.py.
    gpu_memory_limit: str = ""
    blackwell_patches: Literal["auto", "on", "off"] = "auto"

    queue_depth: int = Field(4, ge=1, le=1024)
    max_text_chars: int = Field(1000, ge=1, le=100_000)
    max_body_bytes: int = Field(65_536, ge=1024, le=16 * 1024 * 1024)
    retry_after_seconds: int = Field(2, ge=1, le=3600)
    rms_floor_dbfs: float = Field(-60.0, le=0.0)
    # Seconds a caller has to send a request's head, then its body; a stalled caller is cut off.
    head_timeout_seconds: float = Field(10.0, gt=0.0, le=300.0)
    body_timeout_seconds: float = Field(10.0, gt=0.0, le=300.0)
    # Past either limit a request is answered 431 and its connection closed (uvicorn sets none).
    # After a failed start-up, /health says so this long, then the process exits non-zero (4).
    failed_exit_after_seconds: float = Field(30.0, ge=0.0, le=3600.0)
    max_header_count: int = Field(100, ge=16, le=10_000)
    max_header_bytes: int = Field(16 * 1024, ge=1024, le=1024 * 1024)

    def head_limits(self) -> HeadLimits:
        return HeadLimits(self.head_timeout_seconds, self.max_header_count, self.max_header_bytes)

    # Speech-token cap: tokens = 25/s x (base + chars / chars_per_second), never above the ceiling.
    max_speech_tokens: int = Field(1000, ge=1, le=1000)
    token_cap_base_seconds: float = Field(1.5, gt=0.0, le=40.0)
    token_cap_chars_per_second: float = Field(7.0, gt=0.0, le=100.0)
    warmup_text: str = Field("Hello, this is the failover voice.", min_length=1)
    # T3 decode: auto (fast on CUDA, reference elsewhere), reference (0.1.7's loop) or fast (graph-
    # captured, checked against the reference at start-up). bfloat16 is for the fast path only.
    decode_path: Literal["auto", "reference", "fast"] = "auto"
    decode_dtype: Literal["float32", "bfloat16"] = "float32"
    fast_max_prompt_tokens: int = Field(384, ge=64, le=4096)

    # Lab engine only: seconds of simulated work per second of audio, and a simulated model load.
    lab_rtf: float = Field(0.0, ge=0.0, le=10.0)
    lab_load_seconds: float = Field(0.0, ge=0.0, le=600.0)

    token: SecretStr | None = Field(None, validation_alias=AliasChoices(TOKEN_ENV))
    token_file: Path | None = Field(None, validation_alias=AliasChoices(TOKEN_FILE_ENV))

    @field_validator("gpu_memory_limit")
    @classmethod
    def _parse_gpu_memory_limit(cls, value: str) -> str:
        parse_memory_limit(value)
        return value.strip()

    def memory_limit(self) -> MemoryLimit | None:
        return parse_memory_limit(self.gpu_memory_limit)

    @model_validator(mode="after")
    def _require_engine_inputs(self) -> Settings:
        if self.engine == "chatterbox" and self.weights_dir is None:
            raise ValueError(f"{ENV_PREFIX}WEIGHTS_DIR is required when {ENV_PREFIX}ENGINE=chatterbox")
        if self.engine == "chatterbox" and self.voices_dir is None:
            raise ValueError(f"{ENV_PREFIX}VOICES_DIR is required when {ENV_PREFIX}ENGINE=chatterbox")
        return self

    def resolved_token(self) -> SecretStr:
        """The shared secret, from CHATTERBOX_TOKEN or the file CHATTERBOX_TOKEN_FILE names."""
        if self.token is not None:
            value = self.token.get_secret_value().strip()
        elif self.token_file is not None:
            value = _read_token_file(self.token_file)
        else:
            raise SettingsError(f"no token: set {TOKEN_ENV} or {TOKEN_FILE_ENV}; the service never runs open")
        if not value:
            raise SettingsError(f"the token from {TOKEN_ENV}/{TOKEN_FILE_ENV} is empty")
        return SecretStr(value)


def _read_token_file(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        if mode & stat.S_IROTH:
            raise SettingsError(f"{TOKEN_FILE_ENV} {path} is world-readable; chmod o-r it first")
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError(f"{TOKEN_FILE_ENV} {path} cannot be read: {exc.strerror}") from exc


def _env_name(field: str) -> str:
    if field == "token":
        return TOKEN_ENV
    if field == "token_file":
        return TOKEN_FILE_ENV
    return f"{ENV_PREFIX}{field.upper()}"


# SHIM_-prefixed names that belong to the build and the tests, not to the service.
NOT_SERVICE_SETTINGS = frozenset({"SHIM_EXTRA_CA", "SHIM_TEST_CACHE"})


def unknown_settings(environ: Mapping[str, str]) -> list[str]:
    """Each SHIM_* variable the service does not know, with the nearest known name if there is one:
    a typo (SHIM_GPU_MEMORY_LIMT) must stop the start, not be ignored."""
    known = {_env_name(field) for field in Settings.model_fields} | NOT_SERVICE_SETTINGS
    # Compared without the prefix: every name shares it, which would make anything look close.
    suffixes = {name.removeprefix(ENV_PREFIX): name for name in known if name.startswith(ENV_PREFIX)}
    problems = []
    for name in sorted(k for k in environ if k.startswith(ENV_PREFIX) and k not in known):
        near = difflib.get_close_matches(name.removeprefix(ENV_PREFIX), sorted(suffixes), n=1)
        problems.append(f"{name} (did you mean {suffixes[near[0]]}?)" if near else name)
    return problems


def load_settings() -> tuple[Settings, SecretStr]:
    """Read and check every setting from the environment; SettingsError names each bad variable."""
    unknown = unknown_settings(os.environ)
    if unknown:
        raise SettingsError("unknown setting " + ", ".join(unknown) + "; docs/CONFIG.md lists every one")
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            name = _env_name(where) if where else "settings"
            problems.append(f"{name}: {error['msg']}")
        raise SettingsError("invalid setting " + "; ".join(problems)) from None
    return settings, settings.resolved_token()
