"""Checkpoint-format fixtures: the same tiny models in every weights format Ember loads, written
by the frameworks themselves, for tests/io/checkpoint_parity_test.cc (same hidden states from
every format) and the refusal tests of the pickle reader.

Run directly, not through make_reference.py (two different venvs):

  ~/.cache/ember/venv-reference/bin/python scripts/reference_models/checkpoint_formats.py torch
  ~/.cache/ember/venv-tf/bin/python scripts/reference_models/checkpoint_formats.py tf

torch (venv-reference: torch + transformers 5.x + huggingface_hub), per model:
  pytorch/pytorch_model.bin            torch.save of the model's state_dict (an OrderedDict:
                                       what transformers < 4.35 wrote)
  pytorch-sharded/                     huggingface_hub.save_torch_state_dict(..., safe_serialization
                                       =False, max_shard_size) as transformers 4.x wrote shards:
                                       pytorch_model-0000k-of-0000n.bin + pytorch_model.bin.index.json
  safetensors-sharded/                 save_pretrained(max_shard_size): model-*.safetensors + index
and once: malicious/pytorch_model.bin, a torch.save-shaped zip whose data.pkl calls os.system
through __reduce__ (a reader that executes pickles would run `touch` on the path in
malicious/README.md; Ember must refuse it), and fuzz/corpus/torch_pickle/ seeds.

tf (venv-tf: python3 -m venv ~/.cache/ember/venv-tf && pip install 'transformers<5'
tensorflow-cpu tf-keras safetensors; transformers 5 has no TensorFlow), per model:
  keras-h5/tf_model.h5                 TF<Model> with the fixture's weights converted by
                                       transformers' PyTorch->TF loader (as from_pt=True does),
                                       then save_pretrained: Keras save_weights HDF5
and fuzz/corpus/keras_h5/ seeds.

Each directory holds only weights: the test copies config.json and tokenizer.json from
tests/fixtures/models/<model>."""

from __future__ import annotations

import pathlib
import shutil
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
MODELS = REPO / "tests" / "fixtures" / "models"
OUT = REPO / "tests" / "fixtures" / "checkpoints"
CORPUS = REPO / "fuzz" / "corpus"
# BERT (a sentence-transformers BertModel) and DistilBERT (a sequence classifier: its head too).
FIXTURES = {"tiny-bert-st6": ("BertModel", "TFBertModel"),
            "tiny-distilbert": ("DistilBertForSequenceClassification",
                                "TFDistilBertForSequenceClassification")}
SHARD = "100KB"
MARKER = "/tmp/ember-malicious-pickle-ran"


def fresh(path: pathlib.Path) -> pathlib.Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def keep_weights_only(path: pathlib.Path) -> None:
    for f in path.iterdir():
        if not (f.name.endswith((".bin", ".safetensors", ".h5")) or f.name.endswith(".index.json")):
            f.unlink()


def torch_fixtures() -> None:
    import collections
    import io
    import os
    import pickle
    import zipfile

    import torch
    import transformers
    from huggingface_hub import save_torch_state_dict

    for name, (pt_cls, _) in FIXTURES.items():
        model = getattr(transformers, pt_cls).from_pretrained(str(MODELS / name)).eval()
        state = model.state_dict()
        assert isinstance(state, collections.OrderedDict)
        torch.save(state, fresh(OUT / name / "pytorch") / "pytorch_model.bin")
        out = fresh(OUT / name / "pytorch-sharded")
        save_torch_state_dict(state, str(out), safe_serialization=False, max_shard_size=SHARD)
        assert (out / "pytorch_model.bin.index.json").exists()
        out = fresh(OUT / name / "safetensors-sharded")
        model.save_pretrained(str(out), max_shard_size=SHARD)
        keep_weights_only(out)
        assert (out / "model.safetensors.index.json").exists()

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {MARKER}",))

    out = fresh(OUT / "malicious")
    evil = pickle.dumps({"embeddings.word_embeddings.weight": Payload()}, protocol=2)
    with zipfile.ZipFile(out / "pytorch_model.bin", "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", evil)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/version", "3\n")
    (out / "README.md").write_text(
        f"pytorch_model.bin here is hostile: its pickle calls os.system('touch {MARKER}').\n"
        "Made by scripts/reference_models/checkpoint_formats.py; Ember must refuse it.\n")

    seeds = fresh(CORPUS / "torch_pickle")
    for name in FIXTURES:
        with zipfile.ZipFile(OUT / name / "pytorch" / "pytorch_model.bin") as z:
            pkl = next(n for n in z.namelist() if n.endswith("/data.pkl"))
            (seeds / f"{name}.pkl").write_bytes(z.read(pkl))
    plain = io.BytesIO()
    torch.save({"w": torch.zeros(2, 3), "b": torch.ones(3)}, plain)
    with zipfile.ZipFile(plain) as z:
        pkl = next(n for n in z.namelist() if n.endswith("/data.pkl"))
        (seeds / "plain-dict.pkl").write_bytes(z.read(pkl))
    (seeds / "malicious.pkl").write_bytes(evil)


def tf_fixtures() -> None:
    import transformers
    from safetensors.numpy import load_file
    from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

    for name, (_, tf_cls) in FIXTURES.items():
        # What from_pretrained(..., from_pt=True) does, minus its need for torch (and 4.57's
        # safetensors path, which iterates a safe_open handle and fails): build the Keras model
        # from config.json, then load the PyTorch-named arrays with transformers' own converter.
        config = transformers.AutoConfig.from_pretrained(str(MODELS / name))
        model = getattr(transformers, tf_cls)(config)
        model.build_in_name_scope()
        state = load_file(str(MODELS / name / "model.safetensors"))
        model, info = load_pytorch_state_dict_in_tf2_model(model, state, tf_inputs=False,
                                                           output_loading_info=True)
        assert not info["missing_keys"], info
        out = fresh(OUT / name / "keras-h5")
        model.save_pretrained(str(out))
        keep_weights_only(out)
        assert (out / "tf_model.h5").exists()
    keras_h5_seeds()


def keras_h5_seeds() -> None:
    """Small files of the same layout as Keras' (a layer group holding scoped weight datasets):
    the real ones are larger than the fuzzer's -max_len."""
    import h5py
    import numpy as np

    seeds = fresh(CORPUS / "keras_h5")
    for name, shapes in {"kernel-bias": {"query/kernel:0": (3, 2), "query/bias:0": (2,)},
                         "layernorm": {"LayerNorm/gamma:0": (4,), "LayerNorm/beta:0": (4,)}}.items():
        with h5py.File(seeds / f"{name}.h5", "w") as f:
            f.attrs["layer_names"] = [b"bert"]
            group = f.create_group("bert")
            names = []
            for weight, shape in shapes.items():
                full = f"tf_bert_model/bert/encoder/layer_._0/{weight}"
                group.create_dataset(full, data=np.arange(np.prod(shape), dtype=np.float32)
                                     .reshape(shape))
                names.append(full.encode())
            group.attrs["weight_names"] = names


if __name__ == "__main__":
    {"torch": torch_fixtures, "tf": tf_fixtures, "h5-seeds": keras_h5_seeds}[sys.argv[1]]()
