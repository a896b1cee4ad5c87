"""The real kubectl against a running ``shoal up``: apply, get, watch, patch, explain, delete."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.testing import ShoalProcess

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
KUBECTL_120 = ROOT / ".cache" / "kubectl-1.20" / "usr" / "bin" / "kubectl"

SAMPLE = """\
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    spec:
      containers:
        - image: ghcr.io/knative/helloworld-go:latest
          ports:
            - containerPort: 8080
          env:
            - name: TARGET
              value: "World"
"""

INVALID = """\
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: broken
spec:
  template:
    spec:
      containerConcurrency: 5000
      timeoutSeconds: 9000
      containers:
        - image: example.com/app
"""


@pytest.fixture(scope="module")
def shoal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShoalProcess]:
    proc = ShoalProcess(tmp_path_factory.mktemp("shoal")).start()
    yield proc
    proc.stop()


class Kubectl:
    def __init__(self, binary: str, server: str, home: Path) -> None:
        self.binary = binary
        self.server = server
        home.mkdir(parents=True, exist_ok=True)
        (home / "config").write_text("")
        self.env = {**os.environ, "KUBECONFIG": str(home / "config"), "HOME": str(home)}
        self.cache = str(home / "cache")

    def args(self, *args: str) -> list[str]:
        return [self.binary, "--server", self.server, "--cache-dir", self.cache, *args]

    def run(self, *args: str, stdin: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(self.args(*args), input=stdin, capture_output=True, text=True,
                              env=self.env, timeout=60)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr}")
        return done


@pytest.fixture(scope="module")
def kubectl(shoal: ShoalProcess, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.skip("no kubectl on this machine (scripts/setup installs one)")
    return Kubectl(binary, shoal.url, tmp_path_factory.mktemp("kube"))


def test_apply_get_patch_delete_a_knative_sample(kubectl: Kubectl) -> None:
    out = kubectl.run("apply", "-f", "-", stdin=SAMPLE).stdout
    assert "service.serving.knative.dev/hello created" in out

    table = kubectl.run("get", "ksvc").stdout.splitlines()
    assert table[0].split() == ["NAME", "URL", "LATESTCREATED", "LATESTREADY", "READY",
                                "REASON"]
    assert table[1].split()[0] == "hello"

    obj = json.loads(kubectl.run("get", "ksvc", "hello", "-o", "json").stdout)
    spec = obj["spec"]["template"]["spec"]
    assert spec["timeoutSeconds"] == 300
    assert spec["containerConcurrency"] == 0
    assert spec["containers"][0]["name"] == "user-container"
    assert obj["spec"]["traffic"] == [{"latestRevision": True, "percent": 100}]
    assert "serving.knative.dev/creator" in obj["metadata"]["annotations"]

    yaml_out = kubectl.run("get", "ksvc", "hello", "-o", "yaml").stdout
    assert "readinessProbe:" in yaml_out and "kind: Service" in yaml_out
    jp = kubectl.run("get", "ksvc", "hello", "-o",
                     "jsonpath={.spec.template.spec.containers[0].env[0].value}").stdout
    assert jp == "World"

    again = kubectl.run("apply", "-f", "-", stdin=SAMPLE).stdout
    assert "unchanged" in again or "configured" in again

    patched = kubectl.run("patch", "ksvc", "hello", "--type", "merge", "-p",
                          '{"spec":{"template":{"spec":{"containerConcurrency":5}}}}').stdout
    assert "service.serving.knative.dev/hello patched" in patched
    obj = json.loads(kubectl.run("get", "ksvc", "hello", "-o", "json").stdout)
    assert obj["spec"]["template"]["spec"]["containerConcurrency"] == 5
    assert obj["metadata"]["generation"] == 2

    deleted = kubectl.run("delete", "ksvc", "hello").stdout
    assert 'service.serving.knative.dev "hello" deleted' in deleted
    missing = kubectl.run("get", "ksvc", "hello", check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr


def test_invalid_service_is_refused_with_field_paths(kubectl: Kubectl) -> None:
    done = kubectl.run("apply", "-f", "-", stdin=INVALID, check=False)
    assert done.returncode != 0
    assert "spec.template.spec.containerConcurrency" in done.stderr
    assert "spec.template.spec.timeoutSeconds" in done.stderr
    assert kubectl.run("get", "ksvc", "broken", check=False).returncode != 0


def test_unknown_field_is_refused_by_strict_validation(kubectl: Kubectl) -> None:
    doc = SAMPLE.replace("name: hello", "name: typo").replace(
        "      containers:", "      containerz: 1\n      containers:")
    done = kubectl.run("apply", "-f", "-", stdin=doc, check=False)
    assert done.returncode != 0
    assert "containerz" in done.stderr


def _lines(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _next(lines: queue.Queue[str], timeout: float = 10.0) -> str:
    return lines.get(timeout=timeout)


def test_get_watch_streams_changes(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", stdin=SAMPLE.replace("name: hello", "name: watched"))
    with subprocess.Popen(kubectl.args("get", "ksvc", "watched", "-w", "-o", "name"),
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                          env=kubectl.env) as proc:
        try:
            lines = _lines(proc)
            assert _next(lines).strip() == "service.serving.knative.dev/watched"
            time.sleep(0.3)
            kubectl.run("annotate", "ksvc", "watched", "example.com/touched=yes")
            assert _next(lines).strip() == "service.serving.knative.dev/watched"
        finally:
            proc.kill()
    kubectl.run("delete", "ksvc", "watched")


def test_explain_shows_knative_fields(kubectl: Kubectl) -> None:
    out = kubectl.run("explain", "ksvc.spec.template.spec").stdout
    assert "containerConcurrency" in out and "timeoutSeconds" in out
    out = kubectl.run("explain", "triggers.spec").stdout
    assert "broker" in out and "subscriber" in out


def test_core_kinds_and_namespaces(kubectl: Kubectl) -> None:
    out = kubectl.run("get", "configmaps", "-n", "knative-serving").stdout
    assert "config-autoscaler" in out and "config-defaults" in out
    out = kubectl.run("get", "cm", "config-defaults", "-n", "knative-serving", "-o",
                      "jsonpath={.data.revision-timeout-seconds}").stdout
    assert out == "300"
    out = kubectl.run("get", "ksvc", "-A").stdout + kubectl.run(
        "get", "namespaces").stdout
    assert "knative-eventing" in out


def test_imperative_create_of_core_kinds(kubectl: Kubectl) -> None:
    # kubectl sends these as protobuf
    assert "namespace/demo created" in kubectl.run("create", "namespace", "demo").stdout
    kubectl.run("create", "configmap", "settings", "-n", "demo", "--from-literal=mode=fast")
    kubectl.run("create", "secret", "generic", "creds", "-n", "demo",
                "--from-literal=password=s3cr3t")
    mode = kubectl.run("get", "cm", "settings", "-n", "demo", "-o",
                       "jsonpath={.data.mode}").stdout
    assert mode == "fast"
    password = kubectl.run("get", "secret", "creds", "-n", "demo", "-o",
                           "jsonpath={.data.password}").stdout
    assert password == "czNjcjN0"  # base64 of s3cr3t
    kubectl.run("delete", "namespace", "demo")
    gone = kubectl.run("get", "cm", "settings", "-n", "demo", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_shoal_kubeconfig_makes_kubectl_work_without_flags(
        shoal: ShoalProcess, kubectl: Kubectl, tmp_path: Path) -> None:
    import sys
    done = subprocess.run([sys.executable, "-m", "shoal", "kubeconfig", "--data-dir",
                           str(shoal.data_dir)], capture_output=True, text=True, timeout=30,
                          env={k: v for k, v in os.environ.items() if k != "SHOAL_SERVER"})
    assert done.returncode == 0, done.stderr
    config = tmp_path / "kubeconfig"
    config.write_text(done.stdout)
    out = subprocess.run([kubectl.binary, "get", "namespaces", "-o", "name"],
                         capture_output=True, text=True, timeout=60,
                         env={**kubectl.env, "KUBECONFIG": str(config)})
    assert "namespace/default" in out.stdout, out.stderr


@pytest.mark.skipif(not KUBECTL_120.exists(), reason="Debian's kubectl 1.20 not unpacked")
def test_debian_kubectl_120_applies_validates_and_explains(
        shoal: ShoalProcess, tmp_path: Path) -> None:
    old = Kubectl(str(KUBECTL_120), shoal.url, tmp_path)
    old.run("apply", "-f", "-", stdin=SAMPLE.replace("name: hello", "name: old"))
    bad = old.run("apply", "-f", "-", check=False,
                  stdin=SAMPLE.replace("name: hello", "name: older").replace(
                      "      containers:", "      containerz: 1\n      containers:"))
    assert bad.returncode != 0 and "containerz" in bad.stderr  # client-side validation
    assert "containerConcurrency" in old.run("explain", "ksvc.spec.template.spec").stdout
    table = old.run("get", "ksvc").stdout.splitlines()
    assert table[0].split()[:2] == ["NAME", "URL"]
    assert any(line.split()[0] == "old" for line in table[1:])
    assert "deleted" in old.run("delete", "ksvc", "old").stdout


PROCESS_APP = """\
import os, signal, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
HTTPServer(("127.0.0.1", int(os.environ["PORT"])), BaseHTTPRequestHandler).serve_forever()
"""


def test_get_pods_shows_a_revisions_instances(kubectl: Kubectl, tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(PROCESS_APP)
    manifest = json.dumps({
        "apiVersion": "serving.knative.dev/v1", "kind": "Service",
        "metadata": {"name": "podded"},
        "spec": {"template": {"spec": {"containers": [{"command": ["python3", str(app)]}]}}}})
    kubectl.run("apply", "-f", "-", stdin=manifest)
    kubectl.run("wait", "ksvc/podded", "--for=condition=Ready", "--timeout=60s")
    selector = "serving.knative.dev/revision=podded-00001"
    rows: list[list[str]] = []
    for _ in range(100):
        rows = [line.split() for line in kubectl.run(
            "get", "pods", "-l", selector).stdout.splitlines()]
        if len(rows) == 2 and rows[1][2] == "Running":
            break
        time.sleep(0.1)
    assert rows[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert rows[1][0].startswith("podded-00001-")
    assert rows[1][1:4] == ["1/1", "Running", "0"]
    kubectl.run("delete", "ksvc", "podded")
    for _ in range(100):
        if not kubectl.run("get", "pods", "-l", selector, "-o", "name").stdout.strip():
            break
        time.sleep(0.1)
    assert kubectl.run("get", "pods", "-l", selector, "-o", "name").stdout.strip() == ""
