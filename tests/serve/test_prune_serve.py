"""`ember prune`'s output serves like any model: all-MiniLM-L6-v2 pruned to three quarters of
its heads and FFN units (re-fitted on VADER sentences) behind a real `ember serve`; /embed
answers with its embeddings, which stay close to the unpruned model's, and /v1/embeddings (the
openai client) gives the same vectors."""
import json
import pathlib
import subprocess

import numpy as np
import openai
import pytest
import requests

from conftest import MODEL, Server, cosine, ember_bin

TEXTS = ["The movie was a delight from start to finish.",
         "A dull, lifeless plot with wooden acting.",
         "Pruning removes heads and units that matter least."]


def vader_sentences(n):
    home = pathlib.Path.home() / ".cache/ember/data/vader/hutto_ICWSM_2014"
    lines = (home / "movieReviewSnippets_GroundTruth.txt").read_text(errors="replace").splitlines()
    return [l.split("\t", 2)[2] for l in lines if l.count("\t") >= 2][:n]


@pytest.fixture(scope="module")
def pruned_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prune")
    cal = tmp / "cal.jsonl"
    cal.write_text("".join(json.dumps({"text": t}) + "\n" for t in vader_sentences(200)))
    out = tmp / "pruned"
    r = subprocess.run([ember_bin(), "prune", "--model", MODEL, "--calibration", str(cal),
                        "--keep-ratio", "0.75", "--threads", "2", "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    return out


def test_pruned_model_serves(pruned_dir):
    base, pruned = Server(), Server(model=pruned_dir)
    try:
        want = np.asarray(requests.post(base.url + "/embed", json={"inputs": TEXTS}).json())
        r = requests.post(pruned.url + "/embed", json={"inputs": TEXTS})
        assert r.status_code == 200, r.text
        got = np.asarray(r.json())
        assert got.shape == want.shape == (3, 384)
        for g, w in zip(got, want):
            assert cosine(g, w) > 0.8
        client = openai.OpenAI(base_url=pruned.url + "/v1", api_key="unused")
        res = client.embeddings.create(model="pruned", input=TEXTS)
        for i, item in enumerate(res.data):
            assert np.allclose(np.asarray(item.embedding), got[i], atol=1e-5)
    finally:
        base.terminate()
        pruned.terminate()
