"""GPU memory peak as the driver sees it, sampled in the background while a benchmark runs.

nvidia-smi's per-process figure is the one the research note reported; where the driver has no
per-process accounting (the GB10's unified memory) fall back to device-wide use from
torch.cuda.mem_get_info, and say which source the number came from.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from typing import Any

PER_PROCESS = "nvidia-smi per-process"
DEVICE_WIDE = "torch.cuda.mem_get_info (device-wide)"
DEVICE_WIDE_SMI = "nvidia-smi memory.used (device-wide)"


def _nvidia_smi(*query: str) -> list[str] | None:
    """nvidia-smi's CSV lines for a query, or None where it is missing or fails."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, *query, "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.splitlines()


def nvidia_smi_process_mib(pid: int) -> float | None:
    for line in _nvidia_smi("--query-compute-apps=pid,used_memory") or []:
        fields = [f.strip() for f in line.split(",")]
        if len(fields) == 2 and fields[0] == str(pid) and fields[1].replace(".", "", 1).isdigit():
            return float(fields[1])
    return None


def nvidia_smi_device_mib() -> float | None:
    lines = _nvidia_smi("--query-gpu=memory.used")
    value = lines[0].strip() if lines else ""
    return float(value) if value.replace(".", "", 1).isdigit() else None


def driver_facts() -> dict[str, str]:
    lines = _nvidia_smi("--query-gpu=name,driver_version")
    if not lines:
        return {}
    name, _, driver = lines[0].partition(",")
    return {"gpu": name.strip(), "driver": driver.strip()}


class DriverMemorySampler:
    """Peak driver-side memory of a process (or of the device) every `interval` seconds.

    Another process's `pid` is read from nvidia-smi only (device-wide where it has no per-process
    figure): importing torch here would put a CUDA context of our own on the device.
    """

    def __init__(self, interval: float = 0.25, pid: int | None = None) -> None:
        self.interval = interval
        self.pid = pid
        self.peak_mib = 0.0
        self.series: list[tuple[float, float]] = []  # (monotonic seconds, MiB)
        self.source: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gpu-memory-sampler", daemon=True)

    def start(self) -> DriverMemorySampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def __enter__(self) -> DriverMemorySampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _sample(self) -> float | None:
        if self.source in (None, PER_PROCESS):
            mib = nvidia_smi_process_mib(self.pid or os.getpid())
            if mib is not None:
                self.source = PER_PROCESS
                return mib
        if self.pid is not None:
            mib = nvidia_smi_device_mib()
            if mib is not None:
                self.source = DEVICE_WIDE_SMI
            return mib
        try:
            import torch
        except ImportError:
            return None
        if not torch.cuda.is_available():
            return None
        free, total = torch.cuda.mem_get_info()
        self.source = DEVICE_WIDE
        return (total - free) / 2**20

    def _run(self) -> None:
        while not self._stop.is_set():
            mib = self._sample()
            if mib is None and self.source is None:
                return
            if mib is not None:
                self.peak_mib = max(self.peak_mib, mib)
                self.series.append((time.monotonic(), mib))
            self._stop.wait(self.interval)

    def report(self) -> dict[str, Any]:
        peak_gb = round(self.peak_mib * 2**20 / 1e9, 3) if self.source else None
        return {"driver_peak_gb": peak_gb, "driver_source": self.source}
