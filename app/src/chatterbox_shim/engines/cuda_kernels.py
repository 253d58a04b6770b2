"""The T3 decode kernels (kernels/t3_decode.cu), loaded from a prebuilt fatbin through the driver API.

Why the driver API through ctypes: no NVRTC (the cause of the Blackwell failure, FIELD-NOTES), no
torch C++ ABI to match, and a cuLaunchKernel on torch's current stream is captured by a CUDA graph
like any torch op. The fatbin is built ahead of time (`make kernels` here, the image's build stage
on Titan); without it, or on a device it has no code for, the decoder keeps the fused torch layer.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass, field
from pathlib import Path

FATBIN_NAME = "t3_decode.fatbin"
KERNEL_NAMES = ("t3_qkv", "t3_attend", "t3_resid", "t3_gate_up", "t3_head")
CUDA_SUCCESS = 0
# CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION: the launch may begin before the previous
# kernel on the stream ends; the kernel itself waits (griddepcontrol.wait) before it reads what the
# previous one wrote. Kept in a captured graph as a programmatic edge.
PROGRAMMATIC_STREAM_SERIALIZATION = 6


class KernelsUnavailableError(RuntimeError):
    """The kernels cannot run here; the message says why (the decoder logs it and keeps torch's ops)."""


def default_fatbin() -> Path:
    return Path(__file__).with_name("kernels") / FATBIN_NAME


def _driver() -> ctypes.CDLL:
    # The driver's own soname first: find_library may find the toolkit's link-time stub.
    try:
        return ctypes.CDLL("libcuda.so.1")
    except OSError:
        pass
    try:
        return ctypes.CDLL(ctypes.util.find_library("cuda") or "libcuda.so")
    except OSError as exc:
        raise KernelsUnavailableError(f"no CUDA driver library ({exc})") from exc


class _Driver:
    def __init__(self) -> None:
        self.lib = _driver()
        self.lib.cuLaunchKernel.argtypes = [
            ctypes.c_void_p,
            *([ctypes.c_uint] * 7),
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_void_p),
            ctypes.c_void_p,
        ]

    def check(self, result: int, what: str) -> None:
        if result == CUDA_SUCCESS:
            return
        text = ctypes.c_char_p()
        self.lib.cuGetErrorString(result, ctypes.byref(text))
        reason = text.value.decode() if text.value else f"error {result}"
        raise KernelsUnavailableError(f"{what}: {reason}")


Arg = ctypes.c_void_p | ctypes.c_int | ctypes.c_float


class _LaunchAttribute(ctypes.Structure):  # CUlaunchAttribute: an id, padding, a 64-byte union
    _fields_ = (("id", ctypes.c_int), ("pad", ctypes.c_char * 4), ("value", ctypes.c_int * 16))


class _LaunchConfig(ctypes.Structure):  # CUlaunchConfig
    _fields_ = (
        ("grid", ctypes.c_uint * 3),
        ("block", ctypes.c_uint * 3),
        ("shared_bytes", ctypes.c_uint),
        ("stream", ctypes.c_void_p),
        ("attrs", ctypes.POINTER(_LaunchAttribute)),
        ("attr_count", ctypes.c_uint),
    )


@dataclass
class Launch:
    """One kernel launch with its arguments packed once (pointers into tensors that outlive it)."""

    function: ctypes.c_void_p
    grid: tuple[int, int, int]
    block: int
    shared_bytes: int
    args: list[Arg]
    params: ctypes.Array[ctypes.c_void_p] = field(init=False)
    config: _LaunchConfig = field(init=False)
    attribute: _LaunchAttribute = field(init=False)

    def __post_init__(self) -> None:
        pointers = [ctypes.cast(ctypes.pointer(a), ctypes.c_void_p) for a in self.args]
        self.params = (ctypes.c_void_p * len(pointers))(*pointers)
        self.attribute = _LaunchAttribute(id=PROGRAMMATIC_STREAM_SERIALIZATION)
        self.attribute.value[0] = 1
        self.config = _LaunchConfig(
            grid=(ctypes.c_uint * 3)(*self.grid),
            block=(ctypes.c_uint * 3)(self.block, 1, 1),
            shared_bytes=self.shared_bytes,
            attrs=ctypes.pointer(self.attribute),
            attr_count=1,
        )


def pointer(address: int) -> ctypes.c_void_p:
    return ctypes.c_void_p(address)


def integer(value: int) -> ctypes.c_int:
    return ctypes.c_int(value)


def real(value: float) -> ctypes.c_float:
    return ctypes.c_float(value)


class DecodeKernels:
    """The loaded module: a launch is one driver call on the given stream."""

    def __init__(self, path: Path | None = None, *, dependent_launch: bool = True) -> None:
        """dependent_launch: let each kernel start while the previous one ends (sm_90 and newer;
        False launches them strictly one after another, for comparison)."""
        path = path or default_fatbin()
        if not path.is_file():
            raise KernelsUnavailableError(f"no prebuilt kernels at {path} (make kernels)")
        self.path = path
        self.driver = _Driver()
        context = ctypes.c_void_p()
        self.driver.check(self.driver.lib.cuCtxGetCurrent(ctypes.byref(context)), "cuCtxGetCurrent")
        if not context.value:
            raise KernelsUnavailableError("no current CUDA context (initialise torch on the device first)")
        self._image = ctypes.create_string_buffer(path.read_bytes())
        self.module = ctypes.c_void_p()
        self.driver.check(
            self.driver.lib.cuModuleLoadData(ctypes.byref(self.module), self._image), f"loading {path.name}"
        )
        self.functions: dict[str, ctypes.c_void_p] = {}
        for name in KERNEL_NAMES:
            function = ctypes.c_void_p()
            self.driver.check(
                self.driver.lib.cuModuleGetFunction(ctypes.byref(function), self.module, name.encode()),
                f"kernel {name} in {path.name}",
            )
            self.functions[name] = function
        self.dependent_launch = dependent_launch and hasattr(self.driver.lib, "cuLaunchKernelEx")
        if self.dependent_launch:
            self.driver.lib.cuLaunchKernelEx.argtypes = [
                ctypes.POINTER(_LaunchConfig),
                ctypes.c_void_p,
                ctypes.POINTER(ctypes.c_void_p),
                ctypes.c_void_p,
            ]

    def launch_of(
        self, name: str, grid: tuple[int, int, int], block: int, shared_bytes: int, args: list[Arg]
    ) -> Launch:
        return Launch(self.functions[name], grid, block, shared_bytes, args)

    def run(self, launch: Launch, stream: int) -> None:
        if self.dependent_launch:
            launch.config.stream = stream
            result = self.driver.lib.cuLaunchKernelEx(ctypes.byref(launch.config), launch.function, launch.params, None)
            self.driver.check(result, "cuLaunchKernelEx")
            return
        gx, gy, gz = launch.grid
        result = self.driver.lib.cuLaunchKernel(
            launch.function, gx, gy, gz, launch.block, 1, 1, launch.shared_bytes, stream, launch.params, None
        )
        self.driver.check(result, "cuLaunchKernel")
