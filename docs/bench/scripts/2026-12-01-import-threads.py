"""Ad-hoc (H200 host, gVisor): import chatterbox.tts alone, or with its heavy dependencies imported
on parallel threads first. Prints wall seconds as JSON. Usage: python3 THIS [serial|threads]."""
import importlib, json, sys, threading, time
start = time.perf_counter()
import torch  # noqa: F401  (the service imports torch before; both modes pay it)
after_torch = time.perf_counter()
if sys.argv[1] == "threads":
    groups = [("transformers", "transformers.models.llama.modeling_llama"), ("diffusers", "diffusers.models.attention"),
              ("librosa", "scipy.signal"), ("perth",)]
    threads = [threading.Thread(target=lambda g=g: [importlib.import_module(m) for m in g]) for g in groups]
    for t in threads: t.start()
    for t in threads: t.join()
import chatterbox.tts  # noqa: F401
print(json.dumps({"mode": sys.argv[1], "torch_s": after_torch - start, "rest_s": time.perf_counter() - after_torch}))
