"""deploy/k8s: the kustomize base renders, every object is valid against the Kubernetes API
schemas of the versions below, and the Deployment agrees with the real binary (its flags exist,
its ports and probes are what the server serves, its drain fits the grace period).

Needs `kubectl` (kustomize is built in) and `kubernetes-validate` (PyPI, pinned in
scripts/requirements-test.txt; it bundles the API schemas, so nothing is fetched).
"""
import copy
import re
import signal
import subprocess

import pytest
import requests
import yaml

from conftest import SOURCE_DIR, Server, ember_bin, free_port, require_tool

# The oldest Kubernetes the base supports (preStop `sleep` is on by default from 1.30) and the
# release of the kubectl these tests run with.
K8S_VERSIONS = ["1.30.0", "1.32.0"]
BASE = SOURCE_DIR / "deploy/k8s"
ADAPTER_RULES = BASE / "prometheus-adapter/rules.yaml"


@pytest.fixture(scope="module")
def objects():
    kubectl = require_tool("kubectl", "install kubectl (it renders the base with `kubectl kustomize`)")
    out = subprocess.run([kubectl, "kustomize", str(BASE)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"kubectl kustomize {BASE} failed: {out.stderr}"
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    return {d["kind"]: d for d in docs}


@pytest.fixture(scope="module")
def validator():
    try:
        import kubernetes_validate
    except ImportError:
        pytest.fail("kubernetes-validate is not installed in the test venv: run scripts/setup.sh")
    return kubernetes_validate


@pytest.fixture(scope="module")
def serve_flags():
    """{long flag: default or None} from `ember serve --help`."""
    out = subprocess.run([ember_bin(), "serve", "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    flags = {}
    for line in out.stdout.splitlines():
        m = re.match(r"^\s+((?:-\w,)?--[\w-]+(?:,--[\w-]+)*)(?:\s+\S+?(?:=(\S+))?)?(?:\s|$)", line)
        if not m:
            continue
        for name in m.group(1).split(","):
            if name.startswith("--"):
                flags[name] = m.group(2)
    assert "--host" in flags and "--drain-timeout" in flags, out.stdout
    return flags


def container(objects):
    return objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]


def arg_values(objects):
    """{--flag: value} of the container's `--flag=value` arguments (after `serve`)."""
    args = container(objects)["args"]
    assert args[0] == "serve"
    values = {}
    for a in args[1:]:
        assert a.startswith("--") and "=" in a, f"write container args as --flag=value: {a!r}"
        name, value = a.split("=", 1)
        assert name not in values, f"{name} given twice"
        values[name] = value
    return values


def test_base_renders_the_four_objects(objects):
    assert set(objects) == {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"}


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_object_is_valid_against_the_api_schemas(objects, validator, version):
    adapter = yaml.safe_load(ADAPTER_RULES.read_text())
    for obj in [*objects.values(), adapter]:
        validator.validate(obj, version, strict=True)  # raises ValidationError with the path


def test_the_validator_rejects_a_misspelt_field(objects, validator):
    """The check above can fail: an unknown field and a wrong type are both refused."""
    bad = copy.deepcopy(objects["Deployment"])
    bad["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/health"}}
    with pytest.raises(validator.ValidationError):
        validator.validate(bad, K8S_VERSIONS[0], strict=True)
    bad = copy.deepcopy(objects["HorizontalPodAutoscaler"])
    bad["spec"]["minReplicas"] = "two"
    with pytest.raises(validator.ValidationError):
        validator.validate(bad, K8S_VERSIONS[0], strict=True)


def test_container_args_are_flags_of_the_binary(objects, serve_flags):
    c = container(objects)
    assert c["command"] == ["ember"]
    for name in arg_values(objects):
        assert name in serve_flags, f"deployment.yaml passes {name}, which `ember serve --help` does not list"


def test_host_is_all_interfaces_in_the_manifest_and_only_there(objects, serve_flags):
    assert arg_values(objects)["--host"] == "0.0.0.0"
    assert serve_flags["--host"] == "127.0.0.1", "ember serve's own default must stay loopback"


def test_ports_probes_and_selectors_agree(objects):
    values = arg_values(objects)
    c = container(objects)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["http"] == int(values["--port"])
    assert ports["grpc"] == int(values["--grpc-port"])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["port"] in ports, probe
    svc = objects["Service"]["spec"]
    assert {p["targetPort"] for p in svc["ports"]} <= set(ports)
    pod_labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    spread = objects["Deployment"]["spec"]["template"]["spec"]["topologySpreadConstraints"][0]
    for selector in (svc["selector"], objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
                     spread["labelSelector"]["matchLabels"]):
        assert selector and selector.items() <= pod_labels.items()
    annotations = objects["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == ports["http"]
    target = objects["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", objects["Deployment"]["metadata"]["name"])


def test_drain_fits_the_grace_period_and_threads_the_cpu_request(objects):
    values = arg_values(objects)
    c = container(objects)
    pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    grace = objects["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    drain = float(values["--drain-timeout"])
    assert 0 < drain and pre_stop + drain < grace, "the kubelet's SIGKILL would end the drain"
    assert int(values["--threads"]) == int(c["resources"]["requests"]["cpu"])
    assert c["resources"]["requests"]["memory"] == c["resources"]["limits"]["memory"]


def test_hpa_metric_is_the_adapter_rule_and_a_server_metric(objects):
    metric = objects["HorizontalPodAutoscaler"]["spec"]["metrics"][0]["pods"]["metric"]["name"]
    config = yaml.safe_load(yaml.safe_load(ADAPTER_RULES.read_text())["data"]["config.yaml"])
    rule = config["rules"][0]
    assert rule["name"]["as"] == metric
    assert rule["seriesQuery"].startswith(metric + "{")
    assert set(rule["resources"]["overrides"]) == {"namespace", "pod"}


def test_the_manifest_args_run_the_real_server(objects):
    """The Deployment's own arguments start `ember serve` (on loopback and a free port here),
    its probe paths answer 200 once it listens, /metrics serves the HPA's metric, and SIGTERM
    drains to exit 0."""
    values = arg_values(objects)
    values.update({"--host": "127.0.0.1", "--port": str(free_port()), "--grpc-port": "0"})
    model = values.pop("--model")
    server = Server(*[f"{k}={v}" for k, v in values.items()], model=model)
    try:
        c = container(objects)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            r = requests.get(server.url + c[probe]["httpGet"]["path"], timeout=10)
            assert r.status_code == 200, probe
        metric = objects["HorizontalPodAutoscaler"]["spec"]["metrics"][0]["pods"]["metric"]["name"]
        assert re.search(rf"^{metric} \d", requests.get(server.url + "/metrics", timeout=10).text, re.M)
        r = requests.post(server.url + "/embed", json={"inputs": "a pod answers"}, timeout=30)
        assert r.status_code == 200 and len(r.json()[0]) == 384
    finally:
        code = server.terminate(timeout=float(values["--drain-timeout"]) + 30)
    assert code == 0
    assert '"drain":"complete"' in server.stdout()
