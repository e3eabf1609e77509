"""ember.integrations.ray on a local two-node Ray cluster (ray.cluster_utils.Cluster: a head
and one more node, one CPU each): Ray Data's map_batches with EmberEmbedder over VADER
sentences, and the Ray Serve deployment over HTTP and through a DeploymentHandle. Answers are
checked against a single-process Encoder (itself checked against sentence-transformers by
test_encoder_parity.py).

The Ray Data test embeds every 8th VADER sentence (2,963 of 23,703) to keep CI's time bounded
on two cores; bench/python/bench_ray.py runs the full set with 1 and 2 actors."""

import socket
import sys

import numpy as np
import pytest
import ray  # an import error fails the module: Ray is a test requirement
import ray.cluster_utils
import ray.data
import requests
from ray import serve

import ember
from conftest import row_cosines
from ember.integrations.ray import (DEFAULT_AUTOSCALING_CONFIG, DEFAULT_MAX_ONGOING_REQUESTS,
                                    EmberDeployment, EmberEmbedder, deployment)
from vader import load_sentences

MODEL = "all-MiniLM-L6-v2"
NODE_ARGS = {"num_cpus": 1, "object_store_memory": 150 * 1024 * 1024}


@pytest.fixture(scope="module")
def cluster():
    c = ray.cluster_utils.Cluster(initialize_head=True,
                                  head_node_args=dict(NODE_ARGS, include_dashboard=False))
    try:
        c.add_node(**NODE_ARGS)
        c.wait_for_nodes()
        ray.init(address=c.address, logging_level="WARNING", log_to_driver=False)
        try:
            yield c
        finally:
            ray.shutdown()
    finally:
        c.shutdown()


@pytest.fixture(scope="module")
def sentences():
    return load_sentences()[::8]


@pytest.fixture(scope="module")
def reference(sentences):
    return ember.Encoder(MODEL, threads=2).encode(sentences, batch_size=64)


class ActorRecordingEmbedder(EmberEmbedder):
    """EmberEmbedder that also writes which actor embedded each row (to see both work)."""

    def __call__(self, batch):
        out = super().__call__(batch)
        actor = ray.get_runtime_context().get_actor_id()
        n = len(out["id"])
        if isinstance(out, dict):
            out["actor"] = np.array([actor] * n)
        else:
            out["actor"] = [actor] * n
        return out


# Workers cannot import this test module: ship the subclass by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def test_cluster_has_two_nodes_of_one_cpu(cluster):
    nodes = [n for n in ray.nodes() if n["Alive"]]
    assert len(nodes) == 2
    assert [n["Resources"]["CPU"] for n in nodes] == [1.0, 1.0]


@pytest.mark.parametrize("batch_format", ["numpy", "pandas"])
def test_map_batches_every_row_once_in_order(cluster, sentences, reference, batch_format):
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ds = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(sentences)],
                             override_num_blocks=24)
    out = ds.map_batches(ActorRecordingEmbedder,
                         fn_constructor_kwargs={"model": MODEL, "encode_batch_size": 64},
                         compute=ray.data.ActorPoolStrategy(size=2), num_cpus=1,
                         batch_size=128, batch_format=batch_format)
    df = out.to_pandas()
    # Every row once, in the dataset's order, its text untouched.
    assert df["id"].tolist() == list(range(len(sentences)))
    assert df["text"].tolist() == sentences
    # Both actors (one per node: each has one CPU and each actor takes one) did work.
    assert df["actor"].nunique() == 2
    got = np.stack(df["embedding"].to_numpy()).astype(np.float32)
    assert got.shape == reference.shape
    cos = row_cosines(got, reference)
    assert cos.min() >= 0.99999, (int(cos.argmin()), float(cos.min()))


def test_embedder_batch_formats_and_errors():
    # Called directly, as an actor calls it: each batch format, and bad batches.
    import pandas as pd
    import pyarrow as pa
    emb = EmberEmbedder(MODEL, text_column="body", threads=1)
    with pytest.raises(ember.InvalidInputError, match="no column 'body'"):
        emb({"text": np.array(["a"])})
    with pytest.raises(ember.InvalidInputError, match="input 1 is a NoneType"):
        emb({"body": np.array(["a", None], dtype=object)})
    vectors = emb({"body": np.array(["a", "b"]), "id": np.array([1, 2])})
    assert vectors["embedding"].shape == (2, 384) and vectors["id"].tolist() == [1, 2]
    want = vectors["embedding"]
    df = emb(pd.DataFrame({"body": ["a", "b"], "id": [1, 2]}))
    assert df["id"].tolist() == [1, 2]
    np.testing.assert_allclose(np.stack(df["embedding"].to_numpy()), want, atol=1e-6)
    table = emb(pa.table({"body": ["a", "b"]}))
    assert table.column("embedding").type == pa.list_(pa.float32(), 384)
    np.testing.assert_allclose(np.array(table.column("embedding").to_pylist()), want, atol=1e-6)
    with pytest.raises(ember.InvalidInputError, match="not supported"):
        emb([["a"]])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(cluster):
    port = free_port()
    serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": port})
    try:
        autoscaling = {"min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 3}
        handle = serve.run(deployment(MODEL, autoscaling_config=autoscaling,
                                      max_ongoing_requests=6, batch_size=16),
                           name="ember", route_prefix="/embed")
        yield handle, f"http://127.0.0.1:{port}/embed", autoscaling
    finally:
        serve.shutdown()


def test_serve_http_and_handle_match_encoder(served, sentences, reference):
    handle, url, _ = served
    texts = sentences[:40]
    want = reference[:40]
    r = requests.post(url, json={"inputs": texts}, timeout=120)
    assert r.status_code == 200, r.text
    got = np.array(r.json(), dtype=np.float32)
    assert got.shape == want.shape
    assert row_cosines(got, want).min() >= 0.99999
    # One string: a list of one embedding, as text-embeddings-inference's /embed.
    one = requests.post(url, json={"inputs": texts[3]}, timeout=60).json()
    assert len(one) == 1 and row_cosines(np.array(one), want[3:4])[0] >= 0.99999
    # Through a DeploymentHandle: Encoder.encode's array.
    via_handle = handle.embed.remote(texts).result(timeout_s=120)
    assert isinstance(via_handle, np.ndarray) and via_handle.shape == want.shape
    assert row_cosines(via_handle, want).min() >= 0.99999
    assert handle.info.remote().result(timeout_s=60)["hidden_size"] == 384


def test_serve_bad_input_is_a_422_and_the_replica_keeps_serving(served, reference, sentences):
    _, url, _ = served
    for body in ({"text": ["a"]}, {"inputs": []}, {"inputs": [1, 2]},
                 {"inputs": ["a"], "prompt_name": "nope"}, {"inputs": ["a"], "normalize": 3}):
        r = requests.post(url, json=body, timeout=60)
        assert r.status_code == 422, (body, r.status_code, r.text)
        assert r.json()["error_type"] == "Validation" and r.json()["error"]
    r = requests.post(url, data=b"not json", timeout=60)
    assert r.status_code == 400
    r = requests.post(url, json={"inputs": sentences[:2]}, timeout=60)
    assert r.status_code == 200
    assert row_cosines(np.array(r.json()), reference[:2]).min() >= 0.99999


def test_serve_autoscaling_config_is_what_we_set(served):
    _, _, autoscaling = served
    # The controller's view of the running application (what `serve status` reads).
    from ray.serve.context import _get_global_client
    details = _get_global_client().get_serve_details()
    dep = details["applications"]["ember"]["deployments"]["EmberDeployment"]
    cfg = dep["deployment_config"]
    for k, v in autoscaling.items():
        assert cfg["autoscaling_config"][k] == v, (k, cfg["autoscaling_config"])
    assert cfg["max_ongoing_requests"] == 6
    assert cfg["ray_actor_options"]["num_cpus"] == 1
    # The defaults of the deployment itself, for a plain EmberDeployment.bind(...) (Serve has
    # no public getter for a Deployment's autoscaling config).
    assert EmberDeployment.max_ongoing_requests == DEFAULT_MAX_ONGOING_REQUESTS
    assert EmberDeployment.ray_actor_options == {"num_cpus": 1}
    defaults = EmberDeployment._deployment_config.autoscaling_config
    for k, v in DEFAULT_AUTOSCALING_CONFIG.items():
        assert getattr(defaults, k) == v, k


def test_build_app_is_a_serve_application():
    # `serve run ember.integrations.ray:build_app model=...` and config files call this.
    from ember.integrations.ray import build_app
    app = build_app({"model": MODEL, "max_ongoing_requests": 4})
    assert isinstance(app, serve.Application)
