"""Qwen3 as Qwen3-Embedding uses it: a tiny random Qwen3Model built by transformers from
Qwen/Qwen3-Embedding-0.6B's published config (shrunk), with a byte-level BPE tokenizer that
appends <|endoftext|> to every text, and sentence-transformers metadata for last-token pooling
and L2 normalisation, as the real model ships them. Registered in make_reference.py.

What the fixture keeps of the real model: causal attention, grouped-query attention (fewer
key/value heads than query heads), an explicit head_dim (heads * head_dim != hidden_size),
RMSNorm before each block and at the end, per-head q_norm / k_norm before the rotary
positions, rope_theta 1e6 with no scaling, SwiGLU (gate_proj, up_proj, down_proj), no biases.

Tokenizer: Qwen2's pipeline (NFC, the Qwen2 split regex, byte-level without regex, BPE without
unk), trained with `tokenizers` on the tiny WordPiece tokenizer's corpus (2000 entries; kept
once committed, retrained when models/tiny-qwen3-embedding/tokenizer.json is deleted), the
three Qwen specials after it (<|endoftext|> = pad and end of text, <|im_start|>, <|im_end|>),
and the TemplateProcessing post-processor of Qwen3-Embedding's tokenizer.json: "$A
<|endoftext|>" (pair "$A <|endoftext|> $B:1 <|endoftext|>:1"), so that last-token pooling reads
the end-of-text state. tokenizer_config.json names Qwen2Tokenizer, pads on the left and
declares <|im_end|> as eos_token, as the real one does.
"""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, Qwen3Config, Qwen3Model

import make_reference as mr
import reference_texts

NAME = "tiny-qwen3-embedding"
# config.json of Qwen/Qwen3-Embedding-0.6B (the keys transformers reads).
REAL_CONFIG = dict(
    attention_bias=False, attention_dropout=0.0, bos_token_id=151643, eos_token_id=151643,
    head_dim=128, hidden_act="silu", hidden_size=1024, initializer_range=0.02,
    intermediate_size=3072, max_position_embeddings=32768, max_window_layers=28,
    num_attention_heads=16, num_hidden_layers=28, num_key_value_heads=8, rms_norm_eps=1e-06,
    rope_scaling=None, rope_theta=1000000, sliding_window=None, tie_word_embeddings=True,
    use_cache=True, use_sliding_window=False, vocab_size=151669)
# 4 query heads share 2 key/value heads of 16 values each: 64-wide Q, hidden 32.
SHRINK = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
              head_dim=16, intermediate_size=64)
SEED = 1201
BPE_VOCAB = 2000
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# transformers' Qwen2Tokenizer.PRETOKENIZE_REGEX.
SPLIT_REGEX = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"""
               r""" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")
MAX_SEQ_LENGTH = 512


def build_tokenizer() -> Tokenizer:
    """Deterministic: the BPE trainer breaks ties by pair ids, and the alphabet is all bytes."""
    lines, _ = mr.tokenizer_corpus()
    tok = Tokenizer(models.BPE(dropout=None, unk_token=None, continuing_subword_prefix="",
                               end_of_word_suffix="", fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(lines, trainer)
    assert tok.get_vocab_size() == BPE_VOCAB
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    eot = tok.token_to_id("<|endoftext|>")
    assert eot == BPE_VOCAB
    tok.post_processor = processors.TemplateProcessing(
        single="$A:0 <|endoftext|>:0", pair="$A:0 <|endoftext|>:0 $B:1 <|endoftext|>:1",
        special_tokens=[("<|endoftext|>", eot)])
    tok.no_truncation()
    tok.no_padding()
    return tok


def tokenizer_config() -> dict:
    added = {str(BPE_VOCAB + i): {"content": t, "lstrip": False, "normalized": False,
                                  "rstrip": False, "single_word": False, "special": True}
             for i, t in enumerate(SPECIALS)}
    return {"tokenizer_class": "Qwen2Tokenizer", "add_prefix_space": False,
            "added_tokens_decoder": added, "bos_token": None, "eos_token": "<|im_end|>",
            "pad_token": "<|endoftext|>", "unk_token": None, "errors": "replace",
            "clean_up_tokenization_spaces": False, "split_special_tokens": False,
            "model_max_length": 131072, "padding_side": "left"}


def write_st_metadata(out, dim: int) -> None:
    """Qwen3-Embedding's layout: Transformer, last-token Pooling, Normalize."""
    mr.write_json(out / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize",
         "type": "sentence_transformers.models.Normalize"}])
    mr.write_json(out / "1_Pooling" / "config.json", {
        "word_embedding_dimension": dim, "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": True, "include_prompt": True}, indent=4)
    mr.write_json(out / "sentence_bert_config.json",
                  {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False}, indent=4)


@torch.no_grad()
def spread_init(model: torch.nn.Module) -> None:
    """make_reference.spread_init's spread; RMSNorm scales 1 + N(0, 0.1) like LayerNorm's."""
    torch.manual_seed(SEED)
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            module.weight.normal_(0.0, 0.2)
            if module.bias is not None:
                module.bias.normal_(0.0, 0.1)
        elif isinstance(module, torch.nn.Embedding):
            module.weight.normal_(0.0, 0.2)
        elif type(module).__name__ == "Qwen3RMSNorm":
            module.weight.copy_(1.0 + 0.1 * torch.randn_like(module.weight))


def build_model_dir() -> None:
    out = mr.MODELS_DIR / NAME
    # The committed tokenizer is kept, as make_reference keeps the WordPiece one: the corpus
    # comes from Debian packages, which differ between machines. Delete it to retrain.
    committed = out / "tokenizer.json"
    tok = Tokenizer.from_file(str(committed)) if committed.exists() else build_tokenizer()
    cfg = dict(REAL_CONFIG, **SHRINK)
    cfg.update(vocab_size=tok.get_vocab_size(), bos_token_id=BPE_VOCAB, eos_token_id=BPE_VOCAB,
               pad_token_id=BPE_VOCAB)
    config = Qwen3Config(**cfg)
    assert set(config.layer_types) == {"full_attention"}
    assert config.rope_parameters == {"rope_type": "default", "rope_theta": 1000000}, \
        config.rope_parameters
    torch.manual_seed(SEED)
    model = Qwen3Model(config).eval()
    spread_init(model)

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    model.save_pretrained(out, safe_serialization=True)
    unexpected = sorted(set(p.name for p in out.iterdir()) - {"config.json", "model.safetensors"})
    if unexpected:
        sys.exit(f"{NAME}: save_pretrained wrote unexpected files {unexpected}")
    tok.save(str(out / "tokenizer.json"))
    mr.write_json(out / "tokenizer_config.json", tokenizer_config())
    write_st_metadata(out, config.hidden_size)
    saved = json.loads((out / "config.json").read_text())
    assert saved["architectures"] == ["Qwen3Model"], saved["architectures"]
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert size < 1_000_000, f"{NAME}: {size} bytes"


def near_limit_texts(tokenizer, max_length: int) -> list[str]:
    """Texts of max_length - 2, - 1 and max_length tokens with the end token: words of
    reference_texts.LIMIT_WORDS that this BPE keeps whole (with a leading space; the first word
    also without), as reference_texts.near_limit_texts does for the WordPiece models."""
    def whole(s: str) -> bool:
        return len(tokenizer(s, add_special_tokens=False)["input_ids"]) == 1

    words = [w for w in reference_texts.LIMIT_WORDS if whole(" " + w)]
    first = [w for w in words if whole(w)]
    assert len(words) >= 20 and len(first) >= 3, (words, first)
    out = []
    for k, d in enumerate(reference_texts.NEAR_LIMIT_TOTALS):
        n = max_length + d - 1  # words; + <|endoftext|>
        rest = [words[(i * 7 + k * 13 + (i // len(words)) * 3) % len(words)] for i in range(n - 1)]
        out.append(" ".join([first[k]] + rest))
    return out


def last_token(h: np.ndarray) -> np.ndarray:
    v = h[-1].astype(np.float64)
    return (v / max(np.linalg.norm(v), 1e-12)).astype(np.float32)


def reference() -> dict:
    mdir = mr.MODELS_DIR / NAME
    max_length = mr.ember_max_length(mdir)
    assert max_length == MAX_SEQ_LENGTH
    tokenizer = AutoTokenizer.from_pretrained(str(mdir))
    assert type(tokenizer).__name__ == "Qwen2Tokenizer", type(tokenizer).__name__
    assert tokenizer.padding_side == "left"
    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    texts = reference_texts.TEXTS + near_limit_texts(tokenizer, max_length)
    ids, type_ids = mr.tokenize(tokenizer, texts, max_length)
    mr.check_raw_tokenizer(mdir / "tokenizer.json", texts, ids, type_ids, max_length)
    assert all(x[-1] == eot for x in ids), "a text does not end with <|endoftext|>"
    assert all((x[:-1] != eot).all() for x in ids), "<|endoftext|> inside a text"
    got = [len(x) for x in ids[len(reference_texts.TEXTS) - 1:]]
    want = [max_length] + [max_length + d for d in reference_texts.NEAR_LIMIT_TOTALS]
    assert got == want, f"long / near-limit texts have {got} tokens, want {want}"

    tensors, hidden = mr.hidden_references(mdir, ids, type_ids)
    mr.sanity_hidden(NAME, hidden, 0.1)
    # Causal: a prefix's states do not depend on what follows it.
    body = Qwen3Model.from_pretrained(str(mdir), attn_implementation="eager").eval()
    prose = len(reference_texts.TEXTS) - 1
    with torch.no_grad():
        prefix = body(input_ids=torch.from_numpy(ids[prose][:40].astype(np.int64))[None])
    assert np.allclose(prefix.last_hidden_state[0].numpy(), hidden[prose][:40], atol=1e-5)

    st = SentenceTransformer(str(mdir), device="cpu")
    assert st.max_seq_length == max_length, (st.max_seq_length, max_length)
    mr.check_st_ids(st, texts, ids)
    # One text per call, as Ember runs each sequence on its own positions. In a left-padded
    # batch transformers numbers the positions from the first pad, so a shorter text's rotary
    # angles are shifted (mathematically the same attention, in float32 not quite).
    pooled = np.stack([st.encode([t], convert_to_numpy=True)[0] for t in texts])
    batched = st.encode(texts, convert_to_numpy=True, batch_size=16)
    batch_gap = float(np.abs(batched - pooled).max())
    assert batch_gap < 1e-4, f"left-padded batches differ from single texts by {batch_gap}"
    for i, h in enumerate(hidden):
        err = float(np.abs(pooled[i] - last_token(h)).max())
        assert err < 2e-5, f"{NAME}: pooled {i} is not the normalised last token ({err})"
    tensors["pooled"] = pooled.astype(np.float32)

    meta = {"model": NAME, "model_dir": str(mdir.relative_to(mr.REPO)), "max_length": max_length,
            "pooling": "lasttoken", "normalize": True, "texts": texts, "labels": []}
    mr.write_reference(NAME, meta, tensors)
    return {"max_length": max_length, "texts": len(texts), "batch_vs_single": batch_gap}


def make(vocab_tokens: list[str], build: bool = True) -> dict:
    del vocab_tokens  # byte-level BPE of its own
    if build:
        build_model_dir()
    return reference()


FIXTURES = {NAME: make}
