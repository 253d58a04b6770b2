"""Scratch: S3Gen stage split, padding exactness probe, and load-stage split (first GPU call)."""
import json, sys, time
from pathlib import Path
import torch

t0 = time.perf_counter()
import chatterbox.tts  # noqa
t_import = time.perf_counter() - t0
from chatterbox_shim.engines.chatterbox import ChatterboxEngine, SPEECH_VOCAB_LIMIT
from chatterbox_shim.engines import s3gen_graphs
from chatterbox_shim.voices import load_allowlist
from chatterbox_shim.logs import configure_logging
configure_logging("WARNING")

weights, voices_dir, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
report = {"import_chatterbox_s": t_import}

# --- from_local split
from chatterbox.models.t3 import T3
from chatterbox.models.s3gen import S3Gen
from chatterbox.models.voice_encoder import VoiceEncoder
from safetensors.torch import load_file
def t(label, fn):
    torch.cuda.synchronize(); s = time.perf_counter(); r = fn(); torch.cuda.synchronize(); report[label] = time.perf_counter() - s; return r
ve = t("ve_construct", VoiceEncoder)
t3 = t("t3_construct", T3)
st = t("t3_load_file_cpu", lambda: load_file(weights / "t3_cfg.safetensors"))
t("t3_load_state_dict", lambda: t3.load_state_dict(st))
t("t3_to_cuda", lambda: t3.to("cuda"))
t("t3_load_file_cuda", lambda: load_file(weights / "t3_cfg.safetensors", device="cuda"))
s3 = t("s3gen_construct", S3Gen)
st2 = t("s3gen_load_file_cpu", lambda: load_file(weights / "s3gen.safetensors"))
t("s3gen_load_state_dict", lambda: s3.load_state_dict(st2, strict=False))
t("s3gen_to_cuda", lambda: s3.to("cuda"))
import perth
t("perth_construct", perth.PerthImplicitWatermarker)
import hashlib
def h(p):
    d = hashlib.sha256()
    with open(p, "rb") as f:
        while b := f.read(1 << 24): d.update(b)
t("sha256_t3_one_thread", lambda: h(weights / "t3_cfg.safetensors"))
t("read_t3_bytes", lambda: (weights / "t3_cfg.safetensors").read_bytes())
del t3, st, s3, st2, ve
torch.cuda.empty_cache()

engine = ChatterboxEngine(weights, load_allowlist(voices_dir), device="cuda")
s = time.perf_counter(); engine.load(); report["engine_load_s"] = time.perf_counter() - s
report["engine_load_stages"] = engine.load_stage_seconds
report["voice_prepare"] = engine.voice_prepare_seconds
model = engine.model
ref = engine._conds[engine.first_voice()].gen
flow, hift = model.s3gen.flow, model.s3gen.mel2wav

# --- stage split (sync timers)
timers = {}
def wrap(obj, name, label):
    orig = getattr(obj, name)
    def w(*a, **k):
        torch.cuda.synchronize(); s = time.perf_counter(); r = orig(*a, **k); torch.cuda.synchronize()
        timers.setdefault(label, []).append(time.perf_counter() - s); return r
    setattr(obj, name, w)
    return orig
orig_enc = wrap(flow.encoder, "forward", "encoder")
orig_cfm = wrap(flow.decoder, "forward", "cfm_total")
orig_hift = wrap(hift, "inference", "hift")
rows = []
for mode in ("eager", "graphs", "graphs_again"):
    if mode == "eager": s3gen_graphs.uninstall(model.s3gen)
    else: s3gen_graphs.install(model.s3gen)
    for i, n in enumerate([60, 120, 180, 250, 350]):
        g = torch.Generator().manual_seed(i)
        tokens = torch.randint(0, SPEECH_VOCAB_LIMIT, (n,), generator=g).cuda()
        timers.clear(); torch.manual_seed(i); torch.cuda.synchronize(); s = time.perf_counter()
        wav, _ = model.s3gen.inference(speech_tokens=tokens, ref_dict=ref)
        torch.cuda.synchronize(); total = time.perf_counter() - s
        rows.append({"mode": mode, "tokens": n, "total": total, "audio_s": wav.shape[-1] / 24000,
                     **{k: sum(v) for k, v in timers.items()}})
        print(rows[-1], flush=True)
report["stage_rows"] = rows
flow.encoder.forward = orig_enc; flow.decoder.forward = orig_cfm; hift.inference = orig_hift

# --- estimator per call: eager vs graph replay; padding exactness probe
s3gen_graphs.uninstall(model.s3gen)
est = flow.decoder.estimator
captured = {}
def grab(*a, **k):
    captured.setdefault("args", k); return orig_est(*a, **k)
orig_est = est.forward
est.forward = grab
tokens = torch.randint(0, SPEECH_VOCAB_LIMIT, (180,), generator=torch.Generator().manual_seed(5)).cuda()
torch.manual_seed(0); model.s3gen.inference(speech_tokens=tokens, ref_dict=ref)
est.forward = orig_est
k = captured["args"]
T = k["x"].shape[-1]
report["probe_T"] = T
with torch.inference_mode():
    def call(kw):
        return est.forward(**kw)
    for _ in range(2): ref_out = call(k)
    torch.cuda.synchronize(); s = time.perf_counter()
    for _ in range(5): call(k)
    torch.cuda.synchronize(); report["estimator_eager_call_s"] = (time.perf_counter() - s) / 5
    diffs = {}
    for pad in (1, 7, 64, 200):
        kp = dict(k)
        for name in ("x", "mu", "cond"):
            kp[name] = torch.nn.functional.pad(k[name], (0, pad), value=0.0)
        kp["mask"] = torch.nn.functional.pad(k["mask"], (0, pad), value=0.0)
        outp = call(kp)[..., :T]
        diffs[pad] = float((outp - ref_out).abs().max())
        # garbage in the padded tail (as a stale static buffer would hold)
        kg = dict(kp)
        for name in ("x", "mu", "cond"):
            v = kp[name].clone(); v[..., T:] = torch.randn_like(v[..., T:]) * 3; kg[name] = v
        outg = call(kg)[..., :T]
        diffs[f"{pad}_garbage"] = float((outg - ref_out).abs().max())
    report["estimator_pad_max_abs_diff"] = diffs
    report["ref_out_absmax"] = float(ref_out.abs().max())
    # graph replay timing of one call
    static = {n: (v.clone() if torch.is_tensor(v) else v) for n, v in k.items()}
    s3gen_graphs._chunk_mask_without_sync  # noqa
    g = torch.cuda.CUDAGraph()
    with s3gen_graphs._capturable_decoder():
        torch.cuda.synchronize(); s = time.perf_counter()
        with torch.cuda.graph(g):
            gout = est.forward(**static)
        torch.cuda.synchronize(); report["estimator_capture_s"] = time.perf_counter() - s
    g.replay(); torch.cuda.synchronize(); s = time.perf_counter()
    for _ in range(10): g.replay()
    torch.cuda.synchronize(); report["estimator_replay_s"] = (time.perf_counter() - s) / 10
    report["graph_vs_eager"] = float((gout - ref_out).abs().max())
    # HiFT: eager time, graph replay, and padding effect
    mel = model.s3gen.flow_inference(tokens, ref_dict=ref, finalize=True)
    torch.manual_seed(1); w1, _ = hift.inference(speech_feat=mel, cache_source=torch.zeros(1, 1, 0, device="cuda"))
    torch.cuda.synchronize(); s = time.perf_counter()
    for _ in range(5): torch.manual_seed(1); hift.inference(speech_feat=mel, cache_source=torch.zeros(1, 1, 0, device="cuda"))
    torch.cuda.synchronize(); report["hift_eager_s"] = (time.perf_counter() - s) / 5
    torch.manual_seed(1); w2, _ = hift.inference(speech_feat=torch.nn.functional.pad(mel, (0, 16)), cache_source=torch.zeros(1, 1, 0, device="cuda"))
    d = (w2[..., : w1.shape[-1]] - w1).abs()
    report["hift_pad16_max_abs_diff"] = float(d.max())
    report["hift_pad16_first_bad_sample_from_end"] = int(w1.shape[-1] - int((d[0] > 1e-4).nonzero().min())) if bool((d > 1e-4).any()) else 0
    report["hift_samples"] = int(w1.shape[-1])
    # profiler kernel counts per stage (eager)
    from torch.profiler import profile, ProfilerActivity
    for label, fn in (("estimator_call", lambda: call(k)), ("hift", lambda: hift.inference(speech_feat=mel, cache_source=torch.zeros(1, 1, 0, device="cuda"))),
                      ("encoder_flow_total", lambda: model.s3gen.flow_inference(tokens, ref_dict=ref, finalize=True))):
        with profile(activities=[ProfilerActivity.CUDA]) as p:
            fn(); torch.cuda.synchronize()
        ev = [e for e in p.events() if e.device_type.name == "CUDA"]
        report[f"kernels_{label}"] = len(ev)
        report[f"gpu_us_{label}"] = sum(e.device_time for e in ev)
print(json.dumps({k: v for k, v in report.items() if k != "stage_rows"}, indent=1, default=str))
out.write_text(json.dumps(report, indent=1, default=str))
