"""`ember loadtest` against a real server: closed-loop steps, an open-loop step, single-request
latency, the CSV/JSON/SVG outputs, and typed errors for bad flags or an unreachable URL."""
import csv
import json
import socket
import subprocess
import xml.etree.ElementTree as ET

from conftest import ember_bin, metric_value


def loadtest(*args, check=True):
    p = subprocess.run([ember_bin(), "loadtest", *args], capture_output=True, text=True, timeout=300)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def test_closed_and_open_loop_steps_write_csv_json_and_svg(uncached_server, tmp_path):
    url = uncached_server.url
    before = metric_value(uncached_server.metrics(), "ember_batch_size_sum")
    loadtest(url, "--users", "1,4", "--rates", "20", "--duration", "2", "--warmup", "0.5",
             "--batch", "2", "--route", "/v1/embeddings",
             "--csv", str(tmp_path / "s.csv"), "--json", str(tmp_path / "s.json"),
             "--svg", str(tmp_path / "users.svg"), "--svg-rate", str(tmp_path / "rate.svg"))
    rows = list(csv.DictReader(open(tmp_path / "s.csv")))
    assert [(r["mode"], float(r["level"])) for r in rows] == [("closed", 1), ("closed", 4), ("open", 20)]
    for r in rows:
        assert int(r["ok"]) > 0 and int(r["ok"]) == int(r["requests"])  # every request answered 200
        assert 0 < float(r["p50_ms"]) <= float(r["p95_ms"]) <= float(r["p99_ms"]) <= float(r["max_ms"])
        assert float(r["throughput_inputs_per_s"]) == 2 * float(r["throughput_rps"])
    # The server computed what the client counted (2 inputs per answered request, at least).
    sequences = metric_value(uncached_server.metrics(), "ember_batch_size_sum") - before
    assert sequences >= 2 * sum(int(r["ok"]) for r in rows)
    j = json.loads((tmp_path / "s.json").read_text())
    assert [s["mode"] for s in j["steps"]] == ["closed", "closed", "open"]
    for name, points in (("users.svg", 2), ("rate.svg", 1)):
        svg = ET.parse(tmp_path / name).getroot()
        lines = svg.findall("{http://www.w3.org/2000/svg}polyline")
        assert len(lines) == 4  # p50, p95, p99, throughput
        assert all(len(l.get("points").split()) == points for l in lines)


def test_single_request_latency_uses_exact_token_counts(uncached_server, tmp_path):
    loadtest(uncached_server.url, "--single", "16,128", "--reps", "5", "--single-warmup", "1",
             "--json", str(tmp_path / "s.json"))
    single = json.loads((tmp_path / "s.json").read_text())["single"]
    assert [s["tokens"] for s in single] == [16, 128]
    for s in single:
        assert s["errors"] == 0 and s["cache_hits"] == 0
        assert 0 < s["inference_p50_ms"] <= s["e2e_p50_ms"]
        # The overhead's parts: the server's work outside inference, and outside its clock.
        assert 0 <= s["server_other_p50_ms"] <= s["overhead_p50_ms"]
        assert 0 < s["outside_server_p50_ms"] <= s["overhead_p50_ms"]
    # The server saw exactly those lengths: its batch-token histogram sum grows by 16 and 128.
    m0 = metric_value(uncached_server.metrics(), "ember_batch_tokens_sum")
    loadtest(uncached_server.url, "--single", "16", "--reps", "3", "--single-warmup", "0")
    assert metric_value(uncached_server.metrics(), "ember_batch_tokens_sum") - m0 == 3 * 16


def test_bad_flags_and_unreachable_urls_are_typed_errors():
    for args in (["ftp://127.0.0.1:1"], ["http://127.0.0.1:99999"], ["http://127.0.0.1:1", "--users", "0,2"],
                 ["http://127.0.0.1:1", "--rates", "fast"]):
        p = loadtest(*args, check=False)
        assert p.returncode == 2, (args, p.stderr)
        assert json.loads(p.stderr.strip().splitlines()[-1])["error_type"] == "invalid_input"
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = loadtest(f"http://127.0.0.1:{port}", "--users", "1", check=False)
    assert p.returncode == 5 and "cannot reach" in p.stderr
