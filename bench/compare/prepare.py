"""Model preparation for the side-by-side benchmark: every peer's form of one Ember model
directory, written once into a work dir and reused (each step is skipped when its output
exists; a DONE marker per step makes a half-written file count as missing).

  onnx/model.onnx             torch.onnx export, dynamic batch and sequence axes
  onnx/model.opt.onnx         onnxruntime.transformers.optimizer, model_type bert (fusions)
  onnx/model.opt.int8.onnx    onnxruntime.quantization.quantize_dynamic, QInt8 weights
  ct2/                        CTranslate2 TransformersConverter (fp32; int8 at load time)
  ember-int8/, ember-bf16/    `ember quantize --dtype int8|bf16` (when the binary has that command)
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

# ONNX ops that the transformer optimizer fuses to: their counts show whether it worked.
FUSED_OPS = ("Attention", "QAttention", "MultiHeadAttention", "EmbedLayerNormalization",
             "SkipLayerNormalization", "SkipSimplifiedLayerNormalization", "BiasGelu",
             "FastGelu", "Gelu", "LayerNormalization", "MatMul", "MatMulInteger",
             "DynamicQuantizeMatMul", "DynamicQuantizeLinear")


def log(*args):
    print("[prepare]", *args, file=sys.stderr, flush=True)


def model_config(model_dir):
    cfg = json.loads((Path(model_dir) / "config.json").read_text())
    # DistilBERT names its sizes differently.
    hidden = cfg.get("hidden_size", cfg.get("dim"))
    heads = cfg.get("num_attention_heads", cfg.get("n_heads"))
    layers = cfg.get("num_hidden_layers", cfg.get("n_layers"))
    inter = cfg.get("intermediate_size", cfg.get("hidden_dim"))
    return {"model_type": cfg["model_type"], "hidden": hidden, "heads": heads, "layers": layers,
            "intermediate": inter, "vocab": cfg["vocab_size"],
            "max_positions": cfg.get("max_position_embeddings", 512),
            "type_vocab": cfg.get("type_vocab_size", 0)}


def hf_dir(model_dir, work):
    """A Hugging Face directory for the base model: the weights linked, config.json with
    architectures = the base class (the random models say ...ForMaskedLM, which converters
    would map to a head the weights do not have)."""
    out = work / "hf"
    if (out / "DONE").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    src = Path(model_dir)
    for f in src.iterdir():
        if f.is_file() and f.name != "config.json" and not (out / f.name).exists():
            os.symlink(f.resolve(), out / f.name)
    cfg = json.loads((src / "config.json").read_text())
    base = {"bert": "BertModel", "distilbert": "DistilBertModel", "roberta": "RobertaModel",
            "xlm-roberta": "XLMRobertaModel", "mpnet": "MPNetModel"}.get(cfg["model_type"])
    if base:
        cfg["architectures"] = [base]
    (out / "config.json").write_text(json.dumps(cfg, indent=2))
    (out / "DONE").write_text("")
    return out


def load_torch_model(model_dir, work, attn=None):
    import torch
    from transformers import AutoModel
    kw = {"attn_implementation": attn} if attn else {}
    model = AutoModel.from_pretrained(str(hf_dir(model_dir, work)), dtype=torch.float32, **kw)
    model.eval()
    return model


def uses_token_types(cfg):
    return cfg["model_type"] not in ("distilbert", "modernbert", "qwen3", "mpnet")


def export_onnx(model_dir, work):
    import torch
    out = work / "onnx" / "model.onnx"
    if (work / "onnx" / "EXPORT_DONE").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    cfg = model_config(model_dir)
    # Eager attention: its MatMul/Softmax graph is what the optimizer's Attention fusion
    # matches (the default SDPA path exports to a graph it does not fuse).
    model = load_torch_model(model_dir, work, attn="eager")
    # Traced at a length beyond a local-attention window (ModernBERT's 128), so that the
    # window's mask is traced as the computation it is at long lengths.
    window = json.loads((Path(model_dir) / "config.json").read_text()).get("local_attention", 0)
    ids = torch.randint(1000, cfg["vocab"], (2, max(16, 2 * window + 44)), dtype=torch.int64)
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if uses_token_types(cfg) else [])
    args = (ids, torch.ones_like(ids)) + ((torch.zeros_like(ids),) if uses_token_types(cfg) else ())
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["last_hidden_state"] = {0: "batch", 1: "sequence"}

    class Hidden(torch.nn.Module):  # last hidden state only (no pooler output)
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, *a):
            kw = dict(zip(names, a))
            return self.m(**kw).last_hidden_state

    log(f"exporting {model_dir} to ONNX (TorchScript exporter, opset 17)")
    # The TorchScript exporter's graph is the one the transformer optimizer's fusion
    # patterns are written for.
    torch.onnx.export(Hidden(model), args, str(out), input_names=names,
                      output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17,
                      do_constant_folding=True, dynamo=False)
    (work / "onnx" / "EXPORT_DONE").write_text("")
    return out


def count_ops(path):
    import onnx
    m = onnx.load(str(path), load_external_data=False)
    counts = {}
    for n in m.graph.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    return counts


def optimize_onnx(model_dir, work):
    out = work / "onnx" / "model.opt.onnx"
    if not (work / "onnx" / "OPT_DONE").exists():
        from onnxruntime.transformers.optimizer import optimize_model
        cfg = model_config(model_dir)
        src = export_onnx(model_dir, work)
        log(f"optimizing {src.name} (model_type=bert, num_heads={cfg['heads']}, "
            f"hidden_size={cfg['hidden']})")
        model_type = "bert" if cfg["model_type"] != "distilbert" else "bert"
        opt = optimize_model(str(src), model_type=model_type, num_heads=cfg["heads"],
                             hidden_size=cfg["hidden"])
        opt.save_model_to_file(str(out))
        (work / "onnx" / "OPT_DONE").write_text(json.dumps(opt.get_fused_operator_statistics()))
    return out


def fusion_report(work):
    """Fused-operator counts of the optimized and the int8 graph, and whether every layer's
    attention and LayerNorms were fused."""
    opt = count_ops(work / "onnx" / "model.opt.onnx")
    keep = {k: v for k, v in opt.items() if k in FUSED_OPS}
    int8 = work / "onnx" / "model.opt.int8.onnx"
    q = {k: v for k, v in count_ops(int8).items() if k in FUSED_OPS} if int8.exists() else {}
    return {"optimized": keep, "int8": q}


def quantize_onnx(model_dir, work):
    out = work / "onnx" / "model.opt.int8.onnx"
    if not (work / "onnx" / "INT8_DONE").exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic
        src = optimize_onnx(model_dir, work)
        log("quantize_dynamic (QInt8 weights, per-tensor, ORT defaults)")
        import onnx
        # Shape inference cannot type the outputs of the fused contrib ops (com.microsoft
        # domain); they are all float.
        quantize_dynamic(str(src), str(out), weight_type=QuantType.QInt8,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        (work / "onnx" / "INT8_DONE").write_text("")
    return out


def convert_ct2(model_dir, work):
    out = work / "ct2"
    if (work / "CT2_DONE").exists():
        return out
    import ctranslate2
    log("converting to CTranslate2 (float32; int8 is chosen at load time)")
    if out.exists():
        shutil.rmtree(out)
    conv = ctranslate2.converters.TransformersConverter(str(hf_dir(model_dir, work)))
    conv.convert(str(out), force=True)
    (work / "CT2_DONE").write_text("")
    return out


def ember_has_quantize(ember):
    r = subprocess.run([ember, "quantize", "--help"], capture_output=True, text=True)
    return r.returncode == 0


def quantize_ember(ember, model, work, dtype="int8"):
    """Ember int8 (or bf16) via `ember quantize --dtype`; None (with the reason) when the binary
    lacks it."""
    out = work / f"ember-{dtype}"
    if not ember_has_quantize(ember):
        return None, "`ember quantize` is not in this ember binary"
    # Redone when the binary changes: `ember quantize` is still evolving.
    stamp = f"{os.path.realpath(ember)} {os.stat(ember).st_mtime_ns}"
    done = work / f"EMBER_{dtype.upper()}_DONE"
    if done.exists() and done.read_text() == stamp:
        return out, ""
    log(f"ember quantize --dtype {dtype} --model {model} --out {out}")
    if out.exists():
        shutil.rmtree(out)
    r = subprocess.run([ember, "quantize", "--dtype", dtype, "--model", model, "--out",
                        str(out)], capture_output=True, text=True)
    if r.returncode != 0:
        return None, f"`ember quantize` failed: {r.stderr.strip()[-300:]}"
    done.write_text(stamp)
    return out, ""
