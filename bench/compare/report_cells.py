"""What report.py and report_profile.py both read: the peers and the Ember column each is
compared with, the formatting of numbers in the tables, and the ratio of one grid cell."""

PEERS = ["ort_fp32", "ort_int8", "torch_fp32", "torch_int8", "ct2_fp32", "ct2_int8",
         "ov_fp32", "ov_bf16",
         "ember_base_fp32", "ember_base_int8"]  # the last two: --ember-base, an A/B binary
# Which Ember column each peer is compared with: fp32 with fp32, int8 with int8, bf16 with
# bf16 (Ember int8 falling back to fp32 would flatter nobody, so a missing Ember int8 leaves
# the int8 ratios empty).
BASE = {p: "ember_" + p.rsplit("_", 1)[1] for p in PEERS}


def fmt(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


def pct(x):
    return "-" if x is None else f"{x:.0%}"


def index(run):
    return {(r["model"], r["engine"], r["batch"], r["length"]): r for r in run["results"]}


def ratio(idx, model, peer, cell):
    """peer ms / Ember ms of one (batch, length) cell; None when either is missing."""
    p = idx.get((model, peer) + cell)
    e = idx.get((model, BASE[peer]) + cell)
    if not p or not e:
        return None
    return p["median_ms"] / e["median_ms"]
