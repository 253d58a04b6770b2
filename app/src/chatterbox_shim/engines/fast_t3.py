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

log = logging.getLogger(__name__)

CHUNK_STEPS = 16  # steps replayed between two reads of the end-of-speech flag
MIN_BUCKET = 256  # shortest attention span a graph is captured for


@dataclass(frozen=True)
class Sampling:
    temperature: float
    cfg_weight: float
    repetition_penalty: float
    min_p: float
    top_p: float
    greedy: bool = False


@dataclass
class DecodeResult:
    tokens: torch.Tensor  # (1, n) like T3.inference: the stop token included when sampled
    steps: int
    seconds: float


class _Weights:
    """The T3 transformer's tensors in the decode dtype (the model's own tensors for fp32)."""

    def __init__(self, t3: Any, dtype: torch.dtype) -> None:
        def cast(t: torch.Tensor) -> torch.Tensor:
            return t.detach() if t.dtype == dtype else t.detach().to(dtype)

        tfmr = t3.tfmr
        self.layers = []
        for layer in tfmr.layers:
            attn, mlp = layer.self_attn, layer.mlp
            self.layers.append(
                {
                    "ln1": layer.input_layernorm.weight.detach(),
                    "ln1_eps": layer.input_layernorm.variance_epsilon,
                    "q": cast(attn.q_proj.weight),
                    "k": cast(attn.k_proj.weight),
                    "v": cast(attn.v_proj.weight),
                    "o": cast(attn.o_proj.weight),
                    "ln2": layer.post_attention_layernorm.weight.detach(),
                    "ln2_eps": layer.post_attention_layernorm.variance_epsilon,
                    "gate": cast(mlp.gate_proj.weight),
                    "up": cast(mlp.up_proj.weight),
                    "down": cast(mlp.down_proj.weight),
                }
            )
        self.norm = tfmr.norm.weight.detach()
        self.norm_eps = tfmr.norm.variance_epsilon
        self.head_w = cast(t3.speech_head.weight)
        self.head_b = None if t3.speech_head.bias is None else cast(t3.speech_head.bias)
        self.speech_emb = cast(t3.speech_emb.weight)
        self.speech_pos = cast(t3.speech_pos_emb.emb.weight)


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
    ) -> None:
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
        dev = self.device
        positions = torch.arange(self.max_len, device=dev)[None]
        probe = torch.zeros(1, device=dev, dtype=torch.float32)
        cos, sin = t3.tfmr.rotary_emb(probe, positions)
        self.cos_table = cos[0].to(dtype)  # (max_len, head_dim)
        self.sin_table = sin[0].to(dtype)
        layers = len(self.w.layers)
        shape = (layers, 2, self.kv_heads, self.max_len, self.head_dim)
        self.cache_k = torch.zeros(shape, device=dev, dtype=dtype)
        self.cache_v = torch.zeros(shape, device=dev, dtype=dtype)
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
        self.buckets = self._buckets()
        self.graphs: dict[tuple[int, bool, bool], torch.cuda.CUDAGraph] = {}
        self.capture_seconds = 0.0

    # ----------------------------------------------------------------------------- arithmetic

    def _buckets(self) -> list[int]:
        sizes, size = [], MIN_BUCKET
        while size < self.max_len:
            sizes.append(size)
            size *= 2
        sizes.append(self.max_len)
        return sizes

    def _layers(self, x: torch.Tensor, positions: torch.Tensor, span: int, mask: torch.Tensor) -> torch.Tensor:
        """x (2, L, D) at rotary positions (L,), attending to cache slots [0, span) under mask."""
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
        x = embed[None].expand(2, 1, self.hidden)
        position = self.prompt_len + self.step
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
        x = self._layers(embeds.to(self.dtype), positions, length, self._mask(positions, length))
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
