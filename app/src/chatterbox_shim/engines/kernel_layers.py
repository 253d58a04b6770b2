"""A decode step's 30 layers and head as the prebuilt kernels: five launches per layer, one head.

The launches are packed once against buffers that live as long as the decoder (the step's hidden
rows, q, attention output, activation, position), so a captured graph and an eager step launch the
very same arguments. The prompt (prefill) still runs torch's fused layer: it is one pass of many
rows, which cuBLAS does well.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from .cuda_kernels import DecodeKernels, KernelsUnavailableError, Launch, integer, pointer, real

if TYPE_CHECKING:
    from .fast_t3 import FastT3Decoder

THREADS = 128  # four warps, as the GEMV kernels are compiled for
ATTEND_THREADS = 512
SEGMENT = 1024  # weights one warp reduces
HEAD_DIM = 64
MAX_SHARED_BYTES = 48 * 1024
ATTEND_STATIC_SHARED_BYTES = 9 * 1024  # t3_attend's own arrays, rounded up


def _segments(k: int, what: str) -> int:
    if k % SEGMENT or k // SEGMENT not in (1, 2, 4):
        raise KernelsUnavailableError(f"{what} of {k} is not 1024, 2048 or 4096 wide")
    return k // SEGMENT


def _grid(items: int, k: int, what: str) -> tuple[int, int, int]:
    per_block = 4 // _segments(k, what)
    return (-(-items // per_block), 1, 1)


def _address(t: torch.Tensor, what: str) -> int:
    if t.dtype != torch.float32 or not t.is_contiguous() or t.device.type != "cuda":
        raise KernelsUnavailableError(f"{what} is not a contiguous fp32 CUDA tensor")
    if t.data_ptr() % 16:  # the kernels load float4s: a misaligned one is a sticky context error
        raise KernelsUnavailableError(f"{what} is not 16-byte aligned")
    return t.data_ptr()


class KernelLayers:
    def __init__(self, decoder: FastT3Decoder, kernels: DecodeKernels) -> None:
        if decoder.dtype != torch.float32:
            raise KernelsUnavailableError("the kernels are fp32 only")
        if decoder.head_dim != HEAD_DIM or decoder.kv_heads != decoder.heads:
            raise KernelsUnavailableError("the kernels need head_dim 64 and as many key/value heads as query heads")
        if decoder.max_len * 4 + ATTEND_STATIC_SHARED_BYTES > MAX_SHARED_BYTES:
            raise KernelsUnavailableError(f"a static cache of {decoder.max_len} positions exceeds the attention kernel")
        self.kernels = kernels
        # The decoder's tensors this step reads or writes, not the decoder itself: the decoder holds
        # this object, and a reference back would keep a dropped decoder's cache alive until the
        # garbage collector ran (a fallback to the fused layer would then hold two caches).
        self.device = decoder.device
        self.logits, self.prompt_len, self.step_counter = decoder.logits, decoder.prompt_len, decoder.step
        self.head_bias = decoder.w.head_b
        hidden, inter, dev = decoder.hidden, decoder.w.intermediate, decoder.device
        self.x = torch.zeros(2, hidden, device=dev)
        self.q = torch.zeros(2, hidden, device=dev)
        self.attn = torch.zeros(2, hidden, device=dev)
        self.act = torch.zeros(2, inter, device=dev)
        self.position = torch.zeros(1, device=dev, dtype=torch.long)
        self.cos = decoder.cos_table.contiguous()
        self.sin = decoder.sin_table.contiguous()
        self.launches: list[Launch] = []
        for index, lw in enumerate(decoder.w.layers):
            self.launches.extend(self._layer(decoder, index, lw))
        self.launches.append(self._head(decoder))

    def _layer(self, d: FastT3Decoder, index: int, lw: dict[str, Any]) -> list[Launch]:
        hidden, inter = d.hidden, d.w.intermediate
        k = self.kernels
        buffers = ((self.x, "x"), (self.q, "q"), (self.attn, "attn"), (self.act, "act"))
        x, q, attn, act = (_address(t, what) for t, what in buffers)
        position = pointer(self.position.data_ptr())
        cache = pointer(_address(d.cache_kv[index], "the cache"))
        return [
            k.launch_of(
                "t3_qkv",
                _grid(3 * hidden // 2, hidden, "hidden"),
                THREADS,
                0,
                [pointer(_address(lw["qkv"], "qkv")), pointer(x), pointer(_address(lw["ln1"], "ln1")),
                 real(float(lw["ln1_eps"])), integer(hidden), pointer(q), cache, position,
                 pointer(_address(self.cos, "cos")), pointer(_address(self.sin, "sin")),
                 real(d.scaling), integer(d.max_len)],
            ),
            k.launch_of(
                "t3_attend", (d.heads, 2, 1), ATTEND_THREADS, d.max_len * 4,
                [pointer(q), cache, position, integer(d.heads), integer(d.max_len), pointer(attn)],
            ),
            k.launch_of(
                "t3_resid", _grid(hidden, hidden, "hidden"), THREADS, 0,
                [pointer(_address(lw["o"], "o")), pointer(attn), integer(hidden), integer(hidden), pointer(x)],
            ),
            k.launch_of(
                "t3_gate_up", _grid(inter, hidden, "hidden"), THREADS, 0,
                [pointer(_address(lw["gate_up"], "gate_up")), pointer(x), pointer(_address(lw["ln2"], "ln2")),
                 real(float(lw["ln2_eps"])), integer(hidden), integer(inter), pointer(act)],
            ),
            k.launch_of(
                "t3_resid", _grid(hidden, inter, "intermediate"), THREADS, 0,
                [pointer(_address(lw["down"], "down")), pointer(act), integer(inter), integer(hidden), pointer(x)],
            ),
        ]  # fmt: skip

    def _head(self, d: FastT3Decoder) -> Launch:
        vocab = d.vocab
        return self.kernels.launch_of(
            "t3_head",
            _grid(vocab, d.hidden, "hidden"),
            THREADS,
            0,
            [pointer(_address(d.w.head_w, "the speech head")), pointer(_address(self.x, "x")),
             pointer(_address(d.w.norm, "the final norm")), real(float(d.w.norm_eps)), integer(d.hidden),
             integer(vocab), pointer(_address(d.logits, "logits"))],
        )  # fmt: skip

    def step(self, embed: torch.Tensor) -> None:
        """embed (1, hidden) at the decoder's position through every layer and the head into
        decoder.logits. Both writes are kernels (a copy from a broadcast, an add), not memcpy
        nodes, ahead of the first dependent launch."""
        self.x.copy_(embed.expand(2, -1))
        torch.add(self.prompt_len, self.step_counter, out=self.position)
        # The driver launches on the calling thread's current context: make it this device's
        # (the worker thread's torch calls may have left another device's current).
        with torch.cuda.device(self.device):
            stream = torch.cuda.current_stream(self.device).cuda_stream
            for launch in self.launches:
                self.kernels.run(launch, stream)
        if self.head_bias is not None:
            self.logits.add_(self.head_bias.float())
