"""A cap on the shim's GPU memory, so it can share Titan with Gemma.

SHIM_GPU_MEMORY_LIMIT is either a fraction of the device's memory ("0.25") or a byte budget
("12GiB", "9500MiB", "12GB"). It caps PyTorch's caching allocator, where the weights, the voices,
the static KV cache and the captured graphs live; the CUDA context itself (a few hundred MB, outside
the allocator) comes on top. An allocation past the cap raises out-of-memory: at start-up the
service then refuses to start naming the cap (or, for the fast path's extra buffers, falls back to
the reference loop); it never grows past the cap while serving.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

log = logging.getLogger(__name__)

UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
MIN_BUDGET_BYTES = 256 * 2**20


@dataclass(frozen=True)
class MemoryLimit:
    """Exactly one of `fraction` and `budget_bytes` is set."""

    fraction: float | None = None
    budget_bytes: int | None = None

    def fraction_of(self, total_bytes: int) -> float:
        if self.fraction is not None:
            return self.fraction
        assert self.budget_bytes is not None
        return min(1.0, self.budget_bytes / total_bytes)

    def __str__(self) -> str:
        return f"{self.fraction:g} of the device" if self.fraction is not None else f"{self.budget_bytes} bytes"


def parse_memory_limit(text: str) -> MemoryLimit | None:
    """None for an empty setting (no cap); ValueError, saying what is accepted, for anything unclear."""
    if not text.strip():
        return None
    match = _PATTERN.match(text)
    unit = match.group(2).lower() if match else ""
    if match is None or (unit and unit not in UNITS):
        raise ValueError(f"{text!r} is neither a fraction such as 0.25 nor a size such as 12GiB, 9500MiB or 12GB")
    number = float(match.group(1))
    if not unit:
        if not 0 < number <= 1:
            raise ValueError(
                f"{text!r}: a number without a unit is a fraction of the device's memory, in (0, 1]; "
                "a size needs a unit (12GiB, 9500MiB, 12GB)"
            )
        return MemoryLimit(fraction=number)
    budget = int(number * UNITS[unit])
    if budget < MIN_BUDGET_BYTES:
        raise ValueError(f"{text!r} is below {MIN_BUDGET_BYTES // 2**20} MiB: the model's weights alone need gigabytes")
    return MemoryLimit(budget_bytes=budget)


@dataclass(frozen=True)
class AppliedLimit:
    limit: MemoryLimit
    fraction: float
    device_total_bytes: int

    @property
    def cap_bytes(self) -> int:
        return int(self.fraction * self.device_total_bytes)


def apply_memory_limit(limit: MemoryLimit | None, device: str) -> AppliedLimit | None:
    """Cap the caching allocator on `device` before anything is loaded there; None where nothing is capped."""
    if limit is None:
        return None
    if not device.startswith("cuda"):
        log.warning("GPU memory limit ignored: the model runs on the CPU", extra={"limit": str(limit)})
        return None
    import torch

    index = torch.device(device).index or 0
    total = int(torch.cuda.get_device_properties(index).total_memory)
    fraction = limit.fraction_of(total)
    torch.cuda.set_per_process_memory_fraction(fraction, index)
    applied = AppliedLimit(limit, fraction, total)
    log.info(
        "GPU memory capped",
        extra={"limit": str(limit), "cap_bytes": applied.cap_bytes, "device_total_bytes": total},
    )
    return applied
