"""The engines of the side-by-side benchmark. Each takes token ids (numpy int64 [B, L]; every
sequence exactly L tokens, so no padding anywhere), computes the last hidden state
[B, L, H] and returns it on request; `prepare(ids)` builds the engine's own input objects
outside the timed region and `run()` is what is timed. Every engine uses `threads` compute
threads and one inter-op thread. After each `run()`, `last_cpu_ms` is the CPU time of that run:
all threads of the process that computed it (the harness's own process for the Python peers,
the `ember` process for Ember)."""

import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np


class Engine:
    name = ""
    dtype = "fp32"
    last_cpu_ms = None

    def prepare(self, ids):
        raise NotImplementedError

    def run(self):
        """One forward pass on the prepared input; returns its wall time in ms."""
        c0 = time.process_time()
        t0 = time.perf_counter()
        self._run()
        ms = (time.perf_counter() - t0) * 1e3
        self.last_cpu_ms = (time.process_time() - c0) * 1e3
        return ms

    def hidden(self):
        """The last hidden state of the prepared input, float32 [B, L, H]."""
        raise NotImplementedError

    def close(self):
        pass


class OrtEngine(Engine):
    """profile_prefix: ONNX Runtime's profiler on, its JSON written at end_profiling() under
    that prefix (profile_cells.py)."""

    def __init__(self, path, threads, dtype, profile_prefix=None):
        import onnxruntime as ort
        so = ort.SessionOptions()
        if profile_prefix:
            so.enable_profiling = True
            so.profile_file_prefix = str(profile_prefix)
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.sess.get_inputs()]
        self.name = f"ort_{dtype}"
        self.dtype = dtype

    def prepare(self, ids):
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids),
                "token_type_ids": np.zeros_like(ids)}
        self.feed = {k: v for k, v in feed.items() if k in self.inputs}

    def _run(self):
        return self.sess.run(["last_hidden_state"], self.feed)[0]

    def hidden(self):
        return np.asarray(self._run(), dtype=np.float32)


class OvEngine(Engine):
    """OpenVINO's CPU plugin on the exported (unfused) ONNX graph: it does its own fusions.
    dtype "fp32" or "bf16" is its inference precision hint (OpenVINO's default on CPUs with
    avx512_bf16 is bf16, so fp32 must be asked for); one stream, `threads` threads. `extra`:
    more compile properties (profile_cells.py: PERF_COUNT)."""

    def __init__(self, path, threads, dtype, extra=None):
        import openvino as ov
        core = ov.Core()
        config = {"INFERENCE_PRECISION_HINT": "f32" if dtype == "fp32" else "bf16",
                  "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
                  "PERFORMANCE_HINT": "LATENCY", **(extra or {})}
        self.compiled = core.compile_model(str(path), "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.inputs = {i.get_any_name() for i in self.compiled.inputs}
        self.name = f"ov_{dtype}"
        self.dtype = dtype

    def prepare(self, ids):
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids),
                "token_type_ids": np.zeros_like(ids)}
        self.feed = {k: v for k, v in feed.items() if k in self.inputs}

    def _run(self):
        return self.request.infer(self.feed)

    def hidden(self):
        out = self._run()
        return np.asarray(out[self.compiled.output("last_hidden_state")], dtype=np.float32)


class TorchEngine(Engine):
    def __init__(self, model, threads, dtype, token_types):
        import torch
        torch.set_num_threads(threads)  # inter-op threads: set once in compare.py
        if dtype == "int8":
            quant = getattr(torch.ao.quantization, "quantize_dynamic", None) or \
                torch.quantization.quantize_dynamic
            model = quant(model, {torch.nn.Linear}, dtype=torch.qint8)
        self.model = model
        self.torch = torch
        self.token_types = token_types
        self.name = f"torch_{dtype}"
        self.dtype = dtype

    def prepare(self, ids):
        t = self.torch.from_numpy(ids)
        self.kw = {"input_ids": t, "attention_mask": self.torch.ones_like(t)}
        if self.token_types:
            self.kw["token_type_ids"] = self.torch.zeros_like(t)

    def _run(self):
        with self.torch.inference_mode():
            return self.model(**self.kw).last_hidden_state

    def hidden(self):
        return self._run().float().numpy()


class Ct2Engine(Engine):
    def __init__(self, path, threads, dtype):
        import ctranslate2
        self.ct2 = ctranslate2
        self.enc = ctranslate2.Encoder(str(path), device="cpu",
                                       compute_type="int8" if dtype == "int8" else "float32",
                                       inter_threads=1, intra_threads=threads)
        self.name = f"ct2_{dtype}"
        self.dtype = dtype

    def prepare(self, ids):
        sv = self.ct2.StorageView
        self.ids = sv.from_array(np.ascontiguousarray(ids, dtype=np.int32))
        self.lengths = sv.from_array(np.full(ids.shape[0], ids.shape[1], dtype=np.int32))

    def _run(self):
        # token_type_ids: none given means all zeros, as for every other engine.
        return self.enc.forward_batch(self.ids, self.lengths)

    def hidden(self):
        return np.array(self._run().last_hidden_state, dtype=np.float32)


class EmberEngine(Engine):
    """`ember bench --serve-stdin`: a persistent process with the model loaded; each request
    is timed inside Ember (Engine::run, last hidden state), so neither process start, model
    load, nor the pipe is in the numbers."""

    def __init__(self, ember, model, threads, dtype, work, env=(), args=()):
        penv = dict(os.environ)
        penv.update(kv.split("=", 1) for kv in env)
        self.proc = subprocess.Popen(
            [ember, "bench", "--serve-stdin", "--model", str(model), "--threads", str(threads),
             *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1, env=penv)
        ready = self._reply()
        if not ready.get("ready"):
            raise RuntimeError(f"ember did not start: {ready}")
        self.info = ready
        self.work = Path(work)
        self.name = f"ember_{dtype}"
        self.dtype = dtype

    def _reply(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"ember exited (code {self.proc.poll()})")
        return json.loads(line)

    def _ask(self, request):
        self.proc.stdin.write(request + "\n")
        self.proc.stdin.flush()
        r = self._reply()
        if "error" in r:
            raise RuntimeError(f"ember: {r['error']}")
        return r

    def prepare(self, ids):
        b, length = ids.shape
        self.work.mkdir(parents=True, exist_ok=True)
        self.ids_path = self.work / f"ids_{b}x{length}.txt"
        self.ids_path.write_text("".join(" ".join(map(str, row)) + "\n" for row in ids))
        self.shape = ids.shape

    def run(self):
        r = self._ask(f"time {self.ids_path} 1")
        self.last_cpu_ms = r["cpu_ms"][0] if "cpu_ms" in r else None  # older binaries: none
        return r["ms"][0]

    def run_many(self, n):
        return self._ask(f"time {self.ids_path} {n}")["ms"]

    def hidden(self):
        out = self.work / "hidden.f32"
        r = self._ask(f"hidden {self.ids_path} {out}")
        h = np.fromfile(out, dtype=np.float32).reshape(self.shape[0], self.shape[1], r["hidden"])
        os.unlink(out)
        return h

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=30)
