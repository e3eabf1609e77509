"""dtype="bf16" and dtype="fp32" in the Python classes (docs/bf16.md, docs/python.md)."""

import json
import os
import shutil
import struct
import subprocess
import sys
import warnings

import numpy as np
import pytest
from safetensors.numpy import load_file

import ember
from conftest import SOURCE, Reference, row_cosines


def cpu_has_bf16() -> bool:
    if os.environ.get("EMBER_ISA") not in (None, "", "avx512"):
        return False
    with open("/proc/cpuinfo") as f:
        return any(line.startswith("flags") and " avx512_bf16" in line for line in f)


def test_bf16_matches_sentence_transformers(minilm_ref):
    enc = ember.Encoder(minilm_ref.model, threads=2, dtype="bf16")
    got = enc.encode(minilm_ref.texts)
    cos = row_cosines(got, minilm_ref["pooled"])
    assert cos.min() >= 0.9999, (int(cos.argmin()), float(cos.min()))
    fp32 = ember.Encoder(minilm_ref.model, threads=2).encode(minilm_ref.texts)
    if cpu_has_bf16():
        assert enc.info["dtype"] == "bf16" and enc.info["dtype_note"] == ""
        # The weights were rounded: bf16 is close to fp32 but not the same computation.
        assert np.abs(got - fp32).max() > 1e-5
    else:
        assert enc.info["dtype"] == "fp32" and enc.info["dtype_note"]
        np.testing.assert_allclose(got, fp32, atol=2e-5)


def test_bf16_without_the_instructions_runs_fp32_and_warns(minilm_ref):
    # A CPU without avx512_bf16, as EMBER_ISA=avx2 makes the engine see it.
    code = """
import json, sys, warnings
import ember
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    enc = ember.Encoder(sys.argv[1], threads=2, dtype="bf16")
v = enc.encode(["a bf16 request on an AVX2 machine"])
print(json.dumps({"dtype": enc.info["dtype"], "note": enc.info["dtype_note"],
                  "warnings": [str(x.message) for x in w if x.category is RuntimeWarning],
                  "finite": bool((v == v).all())}))
"""
    env = dict(os.environ, EMBER_ISA="avx2")
    out = subprocess.run([sys.executable, "-c", code, minilm_ref.model], env=env, check=True,
                         capture_output=True, text=True, timeout=120)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["dtype"] == "fp32" and "bf16" in got["note"], got
    assert got["warnings"] == [got["note"]] and got["finite"], got


def bf16_bits(x: np.ndarray) -> np.ndarray:
    """fp32 -> bf16 bit patterns, rounded to nearest even (finite inputs)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def write_bf16_copy(src, dst):
    """The model directory ``src`` with every 2-D weight stored as BF16 in safetensors."""
    shutil.copytree(src, dst)
    tensors = load_file(os.path.join(src, "model.safetensors"))
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype == np.float32 and t.ndim == 2:
            data, dtype = bf16_bits(t).tobytes(), "BF16"
        else:
            data, dtype = t.tobytes(), {np.dtype(np.float32): "F32",
                                        np.dtype(np.int64): "I64"}[t.dtype]
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(os.path.join(dst, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def test_fp32_widens_a_bf16_checkpoint(tmp_path):
    ref = Reference("tiny-bert-st6")
    src = ref.model if os.path.isdir(ref.model) else str(SOURCE / ref.model)
    copy = str(tmp_path / "bf16-copy")
    write_bf16_copy(src, copy)
    as_stored = ember.Encoder(copy, threads=2, dtype="fp32")
    assert as_stored.info["dtype"] == "fp32"
    got = as_stored.encode(ref.texts)
    # The rounded weights move the vectors a little from the fp32 model's, no more.
    cos = row_cosines(got, ref["pooled"])
    assert cos.min() >= 0.999, float(cos.min())
    if cpu_has_bf16():
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no note where bf16 runs
            native = ember.Encoder(copy, threads=2, dtype="bf16")
        assert native.info["dtype"] == "bf16"
        assert row_cosines(native.encode(ref.texts), got).min() >= 0.999


def test_unknown_dtype_is_invalid_input():
    with pytest.raises(ember.InvalidInputError) as e:
        ember.Encoder("all-MiniLM-L6-v2", dtype="float16")
    assert "float16" in str(e.value) and "bf16" in str(e.value)
