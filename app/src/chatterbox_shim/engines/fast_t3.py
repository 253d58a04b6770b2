"""A graph-captured decode loop for chatterbox 0.1.7's T3, driving the package's own weights.

0.1.7's T3.inference rebuilds the HF wrapper per call, asks every step for attention maps (which
forces eager attention) and hidden states, grows a dynamic KV cache, and syncs the host on every
token (`next_token.view(-1) == stop`). This decoder keeps the same arithmetic and the same sampling
semantics but:

- the KV cache is static, sized for the longest prompt plus the token ceiling;
- one decode step (embed, 30 layers for the CFG pair, CFG mix, repetition penalty, temperature,
  min_p, top_p, sampling, cache and counter updates) is captured once per attention-length bucket
  as a CUDA graph and replayed; nothing leaves the device inside a step;
- the end-of-speech flag is read once per chunk of steps, not once per token;
- no attention maps, no hidden states, no Triton or torch.compile.

The layer arithmetic follows transformers' Llama eager path op for op (RMSNorm in fp32, rotary
tables from the model's own rotary module, softmax in fp32), so fp32 logits agree with the
reference to rounding. On the CPU the same code runs eagerly (no graphs): the CI equivalence tests.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .cuda_kernels import DecodeKernels, KernelsUnavailableError
from .kernel_layers import KernelLayers
from .sampling import Sampling

log = logging.getLogger(__name__)

CHUNK_STEPS = 16  # steps replayed between two reads of the end-of-speech flag
MIN_BUCKET = 256  # shortest attention span a graph is captured for
# Layer arithmetic:
# - "kernels": the decode step as prebuilt CUDA kernels, five per layer, each starting while the
#   previous one ends (kernels/t3_decode.cu); where they cannot run, "fused" instead;
# - "kernels_serial": the same kernels launched one after another, for comparison;
# - "fused": fused QKV and gate/up GEMVs, one-pass rotary, one cache write, residual adds inside the
#   GEMMs, torch's rms_norm (the prompt always runs this one);
# - "v1": issue 6's op-for-op transformers layer;
# - measured alternatives: "fused_eagernorm" (transformers' RMSNorm ops), "fused_sdpa" (SDPA).
VARIANTS = ("kernels", "kernels_serial", "fused", "v1", "fused_eagernorm", "fused_sdpa")
KERNEL_VARIANTS = ("kernels", "kernels_serial")
DEFAULT_VARIANT = "kernels"


@dataclass
class DecodeResult:
    tokens: torch.Tensor  # (1, n) like T3.inference: the stop token included when sampled
    steps: int
    seconds: float


def _fuse_rows(linears: list[Any], dtype: torch.dtype) -> torch.Tensor:
    """One (sum of rows, cols) matrix holding the weights of `linears` back to back.

    In the model's own dtype the modules' weights become row views into the fused tensor (the old
    tensors are freed), so the reference path reads the very same numbers and no second copy
    exists. Already fused (a second decoder on the same model): the fused tensor is found again.
    In another dtype (bf16) it is a fused cast copy, as the unfused path made per matrix."""
    weights = [m.weight.detach() for m in linears]
    rows = sum(w.shape[0] for w in weights)
    cols = weights[0].shape[1]
    if weights[0].dtype != dtype:
        return torch.cat([w.to(dtype) for w in weights])
    first = weights[0]
    storage = first.untyped_storage().data_ptr()
    offset, contiguous = first.storage_offset(), True
    for w in weights:
        same = w.untyped_storage().data_ptr() == storage and w.is_contiguous() and w.storage_offset() == offset
        contiguous = contiguous and same
        offset += w.numel()
    if contiguous and first.untyped_storage().nbytes() >= (first.storage_offset() + rows * cols) * first.element_size():
        return first.as_strided((rows, cols), (cols, 1), first.storage_offset())
    fused = torch.cat(weights)
    start = 0
    for module, w in zip(linears, weights, strict=True):
        module.weight.data = fused[start : start + w.shape[0]]
        start += w.shape[0]
    return fused


class _Weights:
    """The T3 transformer's tensors in the decode dtype (the model's own tensors for fp32).

    q/k/v and gate/up are fused row-wise (one GEMV each instead of three and two); the separate
    matrices are views of the fused ones."""

    def __init__(self, t3: Any, dtype: torch.dtype) -> None:
        def cast(t: torch.Tensor) -> torch.Tensor:
            return t.detach() if t.dtype == dtype else t.detach().to(dtype)

        tfmr = t3.tfmr
        self.layers = []
        for layer in tfmr.layers:
            attn, mlp = layer.self_attn, layer.mlp
            qkv = _fuse_rows([attn.q_proj, attn.k_proj, attn.v_proj], dtype)
            gate_up = _fuse_rows([mlp.gate_proj, mlp.up_proj], dtype)
            q_rows, kv_rows = attn.q_proj.weight.shape[0], attn.k_proj.weight.shape[0]
            inter = mlp.gate_proj.weight.shape[0]
            o, down = cast(attn.o_proj.weight), cast(mlp.down_proj.weight)
            self.layers.append(
                {
                    "ln1": layer.input_layernorm.weight.detach(),
                    "ln1_eps": layer.input_layernorm.variance_epsilon,
                    "qkv": qkv,
                    "q": qkv[:q_rows],
                    "k": qkv[q_rows : q_rows + kv_rows],
                    "v": qkv[q_rows + kv_rows :],
                    "o": o,
                    "o_t": o.t(),
                    "ln2": layer.post_attention_layernorm.weight.detach(),
                    "ln2_eps": layer.post_attention_layernorm.variance_epsilon,
                    "gate_up": gate_up,
                    "gate": gate_up[:inter],
                    "up": gate_up[inter:],
                    "down": down,
                    "down_t": down.t(),
                }
            )
        self.intermediate = inter
        self.norm = tfmr.norm.weight.detach()
        self.norm_eps = tfmr.norm.variance_epsilon
        self.head_w = cast(t3.speech_head.weight)
        self.head_b = None if t3.speech_head.bias is None else cast(t3.speech_head.bias)
        self.speech_emb = cast(t3.speech_emb.weight)
        self.speech_pos = cast(t3.speech_pos_emb.emb.weight)

    def nbytes(self) -> int:
        """Bytes of weights one decode step reads (every layer matrix, norms, the head)."""
        total = 0
        for lw in self.layers:
            for key in ("ln1", "qkv", "o", "ln2", "gate_up", "down"):
                total += lw[key].numel() * lw[key].element_size()
        total += self.norm.numel() * self.norm.element_size() + self.head_w.numel() * self.head_w.element_size()
        if self.head_b is not None:
            total += self.head_b.numel() * self.head_b.element_size()
        return total


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    # transformers' LlamaRMSNorm, step for step.
    dtype = x.dtype
    h = x.to(torch.float32)
    variance = h.pow(2).mean(-1, keepdim=True)
    h = h * torch.rsqrt(variance + eps)
    return weight.to(dtype) * h.to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class FastT3Decoder:
    """Static-cache, graph-replayed decoding for one T3 model. Not thread-safe: the service's
    single inference worker is its only caller."""

    def __init__(
        self,
        t3: Any,
        *,
        max_prompt_tokens: int,
        max_new_tokens: int,
        dtype: torch.dtype = torch.float32,
        use_graphs: bool | None = None,
        variant: str = DEFAULT_VARIANT,
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown fast decode variant {variant!r} (one of {', '.join(VARIANTS)})")
        self.t3 = t3
        self.device = t3.speech_head.weight.device
        self.dtype = dtype
        self.use_graphs = self.device.type == "cuda" if use_graphs is None else use_graphs
        cfg = t3.tfmr.config
        self.heads = cfg.num_attention_heads
        self.kv_heads = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.heads
        self.hidden = cfg.hidden_size
        self.scaling = self.head_dim**-0.5
        self.max_new_tokens = max_new_tokens
        self.max_len = max_prompt_tokens + max_new_tokens + 1
        self.vocab = t3.speech_head.weight.shape[0]
        self.w = _Weights(t3, dtype)
        # The fused layer needs as many key/value heads as query heads (T3's Llama has 16 and 16).
        self.variant = variant if self.kv_heads == self.heads or variant == "v1" else "v1"
        dev = self.device
        positions = torch.arange(self.max_len, device=dev)[None]
        probe = torch.zeros(1, device=dev, dtype=torch.float32)
        cos, sin = t3.tfmr.rotary_emb(probe, positions)
        self.cos_table = cos[0].to(dtype)  # (max_len, head_dim)
        self.sin_table = sin[0].to(dtype)
        self.rope_table, self.rope_index = self._rope_tables()
        layers = len(self.w.layers)
        # One buffer: [layer, key/value, CFG pair, head, position, dim]; one index_copy_ per layer
        # writes a step's keys and values. cache_k / cache_v are views (the unfused variant).
        shape = (layers, 2, 2, self.kv_heads, self.max_len, self.head_dim)
        self.cache_kv = torch.zeros(shape, device=dev, dtype=dtype)
        self.cache_k = self.cache_kv[:, 0]
        self.cache_v = self.cache_kv[:, 1]
        self.span = torch.arange(self.max_len, device=dev)
        # Per-request state, updated in place so captured graphs see it.
        self.logits = torch.zeros(2, self.vocab, device=dev, dtype=torch.float32)
        self.step = torch.zeros(1, device=dev, dtype=torch.long)
        self.prompt_len = torch.zeros(1, device=dev, dtype=torch.long)
        self.seen = torch.zeros(self.vocab, device=dev, dtype=torch.bool)
        self.done = torch.zeros(1, device=dev, dtype=torch.bool)
        self.stop_token = torch.zeros(1, device=dev, dtype=torch.long)
        self.tokens_out = torch.zeros(max_new_tokens + CHUNK_STEPS, device=dev, dtype=torch.long)
        self.cfg_weight = torch.zeros((), device=dev, dtype=torch.float32)
        self.temperature = torch.ones((), device=dev, dtype=torch.float32)
        self.rep_penalty = torch.ones((), device=dev, dtype=torch.float32)
        self.min_p = torch.zeros((), device=dev, dtype=torch.float32)
        self.top_p = torch.ones((), device=dev, dtype=torch.float32)
        self.force = torch.zeros(1, device=dev, dtype=torch.bool)
        self.forced_tokens = torch.zeros(max_new_tokens + CHUNK_STEPS, device=dev, dtype=torch.long)
        # Set to a (steps, 2, vocab) buffer to log each step's raw logits (the equivalence check);
        # graphs captured while it is None do not log.
        self.logit_log: torch.Tensor | None = None
        self.kernel_layers: KernelLayers | None = None
        self.kernels_unavailable: str | None = None
        if self.variant in KERNEL_VARIANTS:
            self._load_kernels()
        self.buckets = self._buckets()
        self.graphs: dict[tuple[int, bool, bool], torch.cuda.CUDAGraph] = {}
        self.capture_seconds = 0.0

    def _load_kernels(self) -> None:
        """The prebuilt decode kernels, or the fused torch layer with the reason logged."""
        try:
            if self.device.type != "cuda":
                raise KernelsUnavailableError("the kernels need a CUDA device")
            self.kernel_layers = KernelLayers(self, DecodeKernels(dependent_launch=self.variant == "kernels"))
        except KernelsUnavailableError as exc:
            self.kernels_unavailable = str(exc)
            self.variant = "fused"
            log.info("decode kernels not used: the fused torch layer instead", extra={"reason": str(exc)})

    # ----------------------------------------------------------------------------- arithmetic

    def _buckets(self) -> list[int]:
        sizes, size = [], MIN_BUCKET
        while size < self.max_len:
            sizes.append(size)
            size *= 2
        sizes.append(self.max_len)
        return sizes

    def _rope_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotary embedding as one gather, one multiply and one add for q, k and v together.

        transformers computes q*cos + rotate_half(q)*sin with rotate_half(q) = cat(-q2, q1). The
        gather `index` makes [q, cat(q2, q1)] (2*head_dim wide); the table holds [cos, sign*sin]
        with sign = -1 on the first half, so each product is the same product with its sign moved
        (exact) and the add is the same add: bit for bit transformers' result. The query rows are
        also scaled by head_dim**-0.5, a power of two for T3 (exact), which takes the scaling
        multiply out of attention; value rows are [1, 0] (v*1 + x*0 == v)."""
        half = self.head_dim // 2
        dev = self.device
        ar = torch.arange(self.head_dim, device=dev)
        index = torch.cat([ar, ar[half:], ar[:half]])
        sign = torch.ones(self.head_dim, device=dev, dtype=self.sin_table.dtype)
        sign[:half] = -1
        cos, sin = self.cos_table, self.sin_table * sign
        scale = self.scaling if math.log2(self.scaling).is_integer() else 1.0
        self.q_prescaled = scale != 1.0
        q = torch.cat([cos, sin], dim=-1) * scale
        k = torch.cat([cos, sin], dim=-1)
        v = torch.cat([torch.ones_like(cos), torch.zeros_like(sin)], dim=-1)
        table = torch.stack([q, k, v], dim=1)[:, :, None, :]  # (max_len, 3, 1, 2*head_dim)
        return table.contiguous(), index

    def _layers(self, x: torch.Tensor, positions: torch.Tensor, span: int, mask: torch.Tensor) -> torch.Tensor:
        if self.variant == "v1":
            return self._layers_v1(x, positions, span, mask)
        return self._layers_fused(x, positions, span, mask)

    def _norm(self, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        if self.variant == "fused_eagernorm":
            return _rms_norm(x, weight, eps)
        return F.rms_norm(x, (x.shape[-1],), weight, eps)

    def _layers_fused(self, x: torch.Tensor, positions: torch.Tensor, span: int, mask: torch.Tensor) -> torch.Tensor:
        """x (2, L, D), contiguous and owned by the caller: updated in place (residual adds fused
        into the o/down GEMMs as addmm_). Per layer: norm, QKV GEMV, rotary (3 kernels for q, k,
        v), one cache write, attention, o GEMV, norm, gate/up GEMV, silu, mul, down GEMV."""
        batch, length, hidden = x.shape
        heads, dim = self.heads, self.head_dim
        flat = x.view(batch * length, hidden)
        rope = self.rope_table.index_select(0, positions)  # (L, 3, 1, 2*dim)
        inter = self.w.intermediate
        for index, lw in enumerate(self.w.layers):
            h = self._norm(x, lw["ln1"], lw["ln1_eps"])
            qkv = F.linear(h, lw["qkv"]).view(batch, length, 3, heads, dim)
            both = qkv.index_select(-1, self.rope_index) * rope  # (B, L, 3, H, 2*dim)
            qkv = both[..., :dim] + both[..., dim:]
            self.cache_kv[index].index_copy_(3, positions, qkv[:, :, 1:].permute(2, 0, 3, 1, 4))
            q = qkv[:, :, 0].transpose(1, 2)  # (B, H, L, dim)
            keys = self.cache_kv[index, 0, :, :, :span]
            values = self.cache_kv[index, 1, :, :, :span]
            if self.variant == "fused_sdpa":
                attn = F.scaled_dot_product_attention(
                    q, keys, values, attn_mask=mask, scale=1.0 if self.q_prescaled else self.scaling
                )
            else:
                scores = torch.matmul(q, keys.transpose(2, 3))
                if not self.q_prescaled:
                    scores = scores * self.scaling
                scores = scores + mask
                probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
                attn = torch.matmul(probs, values)
            attn = attn.transpose(1, 2).reshape(batch * length, heads * dim)
            flat.addmm_(attn, lw["o_t"])
            h = self._norm(x, lw["ln2"], lw["ln2_eps"])
            gate_up = F.linear(h, lw["gate_up"])
            act = F.silu(gate_up[..., :inter]) * gate_up[..., inter:]
            flat.addmm_(act.view(batch * length, inter), lw["down_t"])
        return x

    def _layers_v1(self, x: torch.Tensor, positions: torch.Tensor, span: int, mask: torch.Tensor) -> torch.Tensor:
        """The issue-6 layer, kept for comparison: x (2, L, D) at rotary positions (L,), attending to
        cache slots [0, span) under mask."""
        batch, length, _ = x.shape
        cos = self.cos_table.index_select(0, positions)[None, None]
        sin = self.sin_table.index_select(0, positions)[None, None]
        for index, lw in enumerate(self.w.layers):
            h = _rms_norm(x, lw["ln1"], lw["ln1_eps"])
            q = F.linear(h, lw["q"]).view(batch, length, self.heads, self.head_dim).transpose(1, 2)
            k = F.linear(h, lw["k"]).view(batch, length, self.kv_heads, self.head_dim).transpose(1, 2)
            v = F.linear(h, lw["v"]).view(batch, length, self.kv_heads, self.head_dim).transpose(1, 2)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            self.cache_k[index].index_copy_(2, positions, k)
            self.cache_v[index].index_copy_(2, positions, v)
            keys = self.cache_k[index, :, :, :span]
            values = self.cache_v[index, :, :, :span]
            if self.kv_heads != self.heads:
                repeat = self.heads // self.kv_heads
                keys = keys.repeat_interleave(repeat, dim=1)
                values = values.repeat_interleave(repeat, dim=1)
            scores = torch.matmul(q, keys.transpose(2, 3)) * self.scaling + mask
            probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
            attn = torch.matmul(probs, values).transpose(1, 2).reshape(batch, length, -1)
            x = x + F.linear(attn, lw["o"])
            h = _rms_norm(x, lw["ln2"], lw["ln2_eps"])
            x = x + F.linear(F.silu(F.linear(h, lw["gate"])) * F.linear(h, lw["up"]), lw["down"])
        return x

    def _head(self, x_last: torch.Tensor) -> torch.Tensor:
        h = _rms_norm(x_last, self.w.norm, self.w.norm_eps)
        return F.linear(h, self.w.head_w, self.w.head_b).float()

    def _mask(self, positions: torch.Tensor, span: int) -> torch.Tensor:
        allowed = self.span[:span][None, :] <= positions[:, None]
        zero = torch.zeros((), device=self.device, dtype=self.dtype)
        return torch.where(allowed, zero, torch.finfo(self.dtype).min)[None, None]

    def _process(self, raw: torch.Tensor, greedy: bool, use_top_p: bool) -> torch.Tensor:
        """CFG, repetition penalty, temperature, min_p, top_p, then the next token (shape (1,))."""
        cond, uncond = raw[0], raw[1]
        logits = cond + self.cfg_weight * (cond - uncond)
        penalised = torch.where(logits < 0, logits * self.rep_penalty, logits / self.rep_penalty)
        logits = torch.where(self.seen, penalised, logits)
        logits = logits / self.temperature
        probs = F.softmax(logits, dim=-1)
        logits = logits.masked_fill(probs < self.min_p * probs.max(), -math.inf)
        if use_top_p:
            sorted_logits, order = torch.sort(logits, descending=False)
            cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
            remove = cumulative <= (1 - self.top_p)
            remove[-1] = False
            logits = logits.masked_fill(remove.scatter(0, order, remove), -math.inf)
        probs = F.softmax(logits, dim=-1)
        if greedy:
            return probs.argmax(dim=-1, keepdim=True)
        return torch.multinomial(probs[None], num_samples=1)[0]

    def _decode_step(self, span: int, greedy: bool, use_top_p: bool) -> None:
        """Sample from self.logits, then run the sampled token through the model (graph body)."""
        sampled = self._process(self.logits, greedy, use_top_p)
        token = torch.where(self.force, self.forced_tokens.index_select(0, self.step), sampled)
        self.tokens_out.index_copy_(0, self.step, token)
        self.seen.index_fill_(0, token, True)
        self.done.logical_or_(token == self.stop_token)
        embed = self.w.speech_emb.index_select(0, token) + self.w.speech_pos.index_select(0, self.step + 1)
        if self.kernel_layers is not None:
            self.kernel_layers.step(embed)
        else:
            position = self.prompt_len + self.step
            x = embed[None].expand(2, 1, self.hidden).contiguous()
            x = self._layers(x, position, span, self._mask(position, span))
            self.logits.copy_(self._head(x[:, -1]))
        if self.logit_log is not None:
            self.logit_log.index_copy_(0, self.step, self.logits[None])
        self.step.add_(1)

    # ----------------------------------------------------------------------------- requests

    def prefill(self, embeds: torch.Tensor) -> None:
        """The prompt (2, P, D) as T3.inference builds it (conditioning, text, start, BOS)."""
        length = embeds.shape[1]
        if length + self.max_new_tokens > self.max_len:
            room = self.max_len - self.max_new_tokens
            raise ValueError(f"prompt of {length} tokens exceeds the static cache ({room})")
        positions = torch.arange(length, device=self.device)
        x = self._layers(
            embeds.to(self.dtype, copy=True).contiguous(), positions, length, self._mask(positions, length)
        )
        self.logits.copy_(self._head(x[:, -1]))
        self.prompt_len.fill_(length)

    def _reset(self, sampling: Sampling, start_token: int, stop_token: int, forced: torch.Tensor | None) -> None:
        self.step.zero_()
        self.done.zero_()
        self.seen.zero_()
        self.seen[start_token] = True
        self.stop_token.fill_(stop_token)
        self.cfg_weight.fill_(sampling.cfg_weight)
        self.temperature.fill_(sampling.temperature)
        self.rep_penalty.fill_(sampling.repetition_penalty)
        self.min_p.fill_(sampling.min_p)
        self.top_p.fill_(sampling.top_p)
        self.force.fill_(forced is not None)
        if forced is not None:
            self.forced_tokens.zero_()
            self.forced_tokens[: forced.numel()] = forced.reshape(-1).to(self.device)

    def _span_for(self, last_position: int) -> int:
        return next(b for b in self.buckets if b > last_position)

    def _graph(self, span: int, greedy: bool, use_top_p: bool) -> torch.cuda.CUDAGraph:
        key = (span, greedy, use_top_p)
        if key not in self.graphs:
            self.graphs[key] = self._capture(span, greedy, use_top_p)
        return self.graphs[key]

    def _capture(self, span: int, greedy: bool, use_top_p: bool) -> torch.cuda.CUDAGraph:
        """Capture one step. The warm-up runs change state: callers capture before a request."""
        started = time.perf_counter()
        saved = [t.clone() for t in (self.step, self.logits, self.seen, self.done)]
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            for _ in range(2):
                self._decode_step(span, greedy, use_top_p)
        torch.cuda.current_stream(self.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._decode_step(span, greedy, use_top_p)
        for tensor, value in zip((self.step, self.logits, self.seen, self.done), saved, strict=True):
            tensor.copy_(value)
        torch.cuda.synchronize(self.device)
        self.capture_seconds += time.perf_counter() - started
        return graph

    def capture_all(self, greedy: bool = False, use_top_p: bool = False) -> float:
        """Capture every bucket up front (at start-up, so no request pays for it)."""
        started = time.perf_counter()
        for span in self.buckets:
            self._graph(span, greedy, use_top_p)
        return time.perf_counter() - started

    @torch.inference_mode()
    def decode(
        self,
        embeds: torch.Tensor,
        sampling: Sampling,
        *,
        max_new_tokens: int,
        start_token: int,
        stop_token: int,
        forced_tokens: torch.Tensor | None = None,
    ) -> DecodeResult:
        if max_new_tokens > self.max_new_tokens:
            raise ValueError(f"max_new_tokens {max_new_tokens} exceeds the decoder's {self.max_new_tokens}")
        started = time.perf_counter()
        use_top_p = sampling.top_p < 1.0
        self._reset(sampling, start_token, stop_token, forced_tokens)
        self.prefill(embeds)
        prompt = embeds.shape[1]
        steps = 0
        while steps < max_new_tokens:
            count = min(CHUNK_STEPS, max_new_tokens - steps)
            span = self._span_for(prompt + steps + count - 1)
            if self.use_graphs:
                graph = self._graph(span, sampling.greedy, use_top_p)
                for _ in range(count):
                    graph.replay()
            else:
                for _ in range(count):
                    self._decode_step(span, sampling.greedy, use_top_p)
            steps += count
            if bool(self.done.item()):  # one host sync per chunk
                break
        tokens = self.tokens_out[:steps]
        stops = (tokens == stop_token).nonzero()
        if stops.numel():
            tokens = tokens[: int(stops[0, 0]) + 1]
        return DecodeResult(tokens[None].clone(), int(tokens.numel()), time.perf_counter() - started)


def prompt_embeds(t3: Any, t3_cond: Any, text_tokens: torch.Tensor, cfg_weight: float) -> torch.Tensor:
    """T3.inference's first-pass input, built the same way: conditioning, text and the start token
    from prepare_input_embeds, then the BOS embedding (start token at speech position 0) again."""
    text_tokens = torch.atleast_2d(text_tokens).to(dtype=torch.long, device=t3.device)
    start = t3.hp.start_speech_token * torch.ones_like(text_tokens[:, :1])
    embeds, _ = t3.prepare_input_embeds(
        t3_cond=t3_cond, text_tokens=text_tokens, speech_tokens=start, cfg_weight=cfg_weight
    )
    bos = torch.tensor([[t3.hp.start_speech_token]], dtype=torch.long, device=embeds.device)
    bos_embed = t3.speech_emb(bos) + t3.speech_pos_emb.get_fixed_embedding(0)
    return torch.cat([embeds, torch.cat([bos_embed, bos_embed])], dim=1)
