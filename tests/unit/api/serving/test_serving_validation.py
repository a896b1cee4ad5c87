"""Validation of serving objects: each of Knative's rules, with the field path it names."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from tests.unit.api.serving.serving_admission import admit, context, hello

from shoal.api.model import KObject
from shoal.api.serving import Configuration, DomainMapping, Revision, Route, Service

T = "spec.template.spec"
C0 = f"{T}.containers[0]"


def patch(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Set ``path`` (``spec.template.spec.containers[0].image``) in ``body``."""
    parts = [p for p in re.split(r"\.|\[(\d+)\]", path) if p]
    node: Any = body
    for part, following in zip(parts, [*parts[1:], None], strict=True):
        key: Any = int(part) if part.isdigit() else part
        if following is None:
            node[key] = value
        else:
            if isinstance(node, dict) and key not in node:
                node[key] = [] if following.isdigit() else {}
            node = node[key]
    return body


def service(*changes: tuple[str, Any]) -> dict[str, Any]:
    body = hello()
    for path, value in changes:
        patch(body, path, copy.deepcopy(value))
    return body


def sidecar(**fields: Any) -> tuple[str, Any]:
    main = hello()["spec"]["template"]["spec"]["containers"][0]
    return (f"{T}.containers", [main, {"image": "sidecar", **fields}])


MOUNTED_CONFIG = (
    (f"{T}.volumes", [{"name": "conf", "configMap": {"name": "app"}}]),
    (f"{C0}.volumeMounts", [{"name": "conf", "mountPath": "/etc/app"}]),
)

# (body, config maps, path of the error, part of its message)
SERVICE_CASES: list[tuple[dict[str, Any], dict[str, dict[str, str]], str, str]] = [
    (service(("metadata.name", "Hello")), {}, "metadata.name", "not a DNS 1035 label"),
    (service(("metadata.name", "1hello")), {}, "metadata.name", "not a DNS 1035 label"),
    (service(("metadata.name", "a" * 64)), {}, "metadata.name", "no more than 63 characters"),
    (service((f"{T}.containers", [])), {}, f"{T}.containers", "missing field(s)"),
    (service((f"{C0}.image", "")), {}, f"{C0}.image", "missing field(s)"),
    (
        service((f"{C0}.image", "Not An Image")),
        {},
        f"{C0}.image",
        "Failed to parse image reference",
    ),
    (
        service((f"{C0}.ports", [{"containerPort": 8080}, {"containerPort": 8081}])),
        {},
        f"{T}.containers[*].ports",
        "more than one container port is set",
    ),
    (service((f"{C0}.ports[0].name", "grpc")), {}, f"{C0}.ports", "Port name grpc is not allowed"),
    (
        service((f"{C0}.ports[0].containerPort", 8012)),
        {},
        f"{C0}.ports.containerPort",
        "8012 is a reserved port",
    ),
    (
        service((f"{C0}.ports[0].containerPort", 9091)),
        {},
        f"{C0}.ports.containerPort",
        "9091 is a reserved port",
    ),
    (
        service((f"{C0}.ports[0].containerPort", 70000)),
        {},
        f"{C0}.ports.containerPort",
        "expected 0 <= 70000 <= 65535",
    ),
    (service((f"{C0}.ports[0].protocol", "UDP")), {}, f"{C0}.ports.protocol", "invalid value: UDP"),
    (
        service((f"{C0}.env[0].name", "PORT")),
        {},
        f"{C0}.env[0].name",
        '"PORT" is a reserved environment variable',
    ),
    (
        service((f"{C0}.env[0].name", "K_REVISION")),
        {},
        f"{C0}.env[0].name",
        "reserved environment variable",
    ),
    (
        service(
            (
                f"{C0}.env",
                [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            )
        ),
        {},
        f"{C0}.env[0].valueFrom.fieldRef",
        "must not set the field(s)",
    ),
    (
        service((f"{C0}.env", [{"name": "X", "valueFrom": {}}])),
        {},
        f"{C0}.env[0].valueFrom",
        "expected exactly one, got neither",
    ),
    (
        service((f"{C0}.envFrom", [{"prefix": "A_"}])),
        {},
        f"{C0}.envFrom[0]",
        "expected exactly one, got neither",
    ),
    (service((f"{C0}.name", "queue-proxy")), {}, f"{C0}.name", "reserved container name"),
    (
        service((f"{C0}.terminationMessagePolicy", "Always")),
        {},
        f"{C0}.terminationMessagePolicy",
        "invalid value: Always",
    ),
    (
        service((f"{C0}.resources", {"limits": {"cpu": "lots"}})),
        {},
        f"{C0}.resources.limits.cpu",
        "quantities must match",
    ),
    (service((f"{T}.timeoutSeconds", 700)), {}, f"{T}.timeoutSeconds", "expected 0 <= 700 <= 600"),
    (service((f"{T}.timeoutSeconds", -1)), {}, f"{T}.timeoutSeconds", "expected 0 <= -1 <= 600"),
    (
        service((f"{T}.timeoutSeconds", 700)),
        {"defaults": {"max-revision-timeout-seconds": "800"}},
        "",
        "",
    ),
    (
        service((f"{T}.responseStartTimeoutSeconds", 400)),
        {},
        f"{T}.responseStartTimeoutSeconds",
        "expected 0 <= 400 <= 300",
    ),
    (
        service((f"{T}.idleTimeoutSeconds", 301)),
        {},
        f"{T}.idleTimeoutSeconds",
        "expected 0 <= 301 <= 300",
    ),
    (
        service((f"{T}.containerConcurrency", 1001)),
        {},
        f"{T}.containerConcurrency",
        "expected 0 <= 1001 <= 1000",
    ),
    (
        service((f"{T}.containerConcurrency", -1)),
        {},
        f"{T}.containerConcurrency",
        "expected 0 <= -1 <= 1000",
    ),
    (
        service(),
        {"defaults": {"allow-container-concurrency-zero": "false"}},
        f"{T}.containerConcurrency",
        "expected 1 <= 0 <= 1000",
    ),
    (
        service((f"{T}.nodeSelector", {"disk": "ssd"})),
        {},
        f"{T}.nodeSelector",
        "must not set the field(s)",
    ),
    (
        service((f"{T}.nodeSelector", {"disk": "ssd"})),
        {"features": {"kubernetes.podspec-nodeselector": "enabled"}},
        "",
        "",
    ),
    (
        service((f"{T}.tolerations", [{"key": "k"}])),
        {},
        f"{T}.tolerations",
        "must not set the field(s)",
    ),
    (
        service((f"{T}.affinity", {"nodeAffinity": {}})),
        {},
        f"{T}.affinity",
        "must not set the field(s)",
    ),
    (
        service((f"{T}.runtimeClassName", "gvisor")),
        {},
        f"{T}.runtimeClassName",
        "must not set the field(s)",
    ),
    (
        service((f"{T}.automountServiceAccountToken", True)),
        {},
        f"{T}.automountServiceAccountToken",
        "must not set the field(s)",
    ),
    (
        service((f"{T}.securityContext", {"runAsUser": 1000})),
        {},
        f"{T}.securityContext.runAsUser",
        "must not set the field(s)",
    ),
    (
        service((f"{C0}.securityContext", {"capabilities": {"add": ["SYS_ADMIN"]}})),
        {},
        f"{C0}.securityContext.capabilities.add",
        "must not set the field(s)",
    ),
    (
        service((f"{C0}.securityContext", {"runAsUser": -1})),
        {},
        f"{C0}.securityContext.runAsUser",
        "expected 0 <= -1 <= 2147483647",
    ),
    (
        service((f"{T}.serviceAccountName", "Bad_Name")),
        {},
        f"{T}.serviceAccountName",
        "invalid value: Bad_Name",
    ),
    (service(sidecar()), {}, "", ""),
    (service(sidecar(), (f"{C0}.ports", None)), {}, f"{T}.containers[*].ports", "missing field(s)"),
    (
        service(sidecar()),
        {"features": {"multi-container": "disabled"}},
        T,
        "multi-container is off, but found 2 containers",
    ),
    (
        service(sidecar(name="app"), (f"{C0}.name", "app")),
        {},
        f"{T}.containers[1].name",
        'duplicate container name "app"',
    ),
    (
        service(sidecar(readinessProbe={"tcpSocket": {"port": 9000}})),
        {},
        f"{T}.containers[1].readinessProbe",
        "must not set the field(s)",
    ),
    (service(sidecar(env=[{"name": "PORT", "value": "1"}])), {}, "", ""),
    (
        service((f"{T}.initContainers", [{"image": "setup"}])),
        {},
        T,
        "pod spec support for init-containers is off, but found 1 init containers",
    ),
    (
        service((f"{T}.initContainers", [{"image": "setup", "readinessProbe": {"tcpSocket": {}}}])),
        {"features": {"kubernetes.podspec-init-containers": "enabled"}},
        f"{T}.initContainers[0].readinessProbe",
        "field not allowed in an init container",
    ),
    (
        service((f"{C0}.readinessProbe", {"httpGet": {}, "tcpSocket": {}})),
        {},
        f"{C0}.readinessProbe",
        "expected exactly one, got both: httpGet, tcpSocket",
    ),
    (
        service((f"{C0}.readinessProbe", {"httpGet": {"port": "admin"}})),
        {},
        f"{C0}.readinessProbe.httpGet.port",
        "Probe port must match container port",
    ),
    (service((f"{C0}.readinessProbe", {"httpGet": {"port": "http"}})), {}, "", ""),
    (
        service((f"{C0}.readinessProbe", {"tcpSocket": {}, "failureThreshold": 3})),
        {},
        f"{C0}.readinessProbe.failureThreshold",
        "failureThreshold is disallowed when periodSeconds is zero",
    ),
    (
        service((f"{C0}.readinessProbe", {"tcpSocket": {}, "periodSeconds": -1})),
        {},
        f"{C0}.readinessProbe.periodSeconds",
        "expected 0 <= -1 <= 2147483647",
    ),
    (
        service((f"{C0}.livenessProbe", {"periodSeconds": 5})),
        {},
        f"{C0}.livenessProbe",
        "expected exactly one, got neither: httpGet, tcpSocket, exec, grpc",
    ),
    (
        service((f"{T}.volumes", [{"name": "conf", "configMap": {"name": "app"}}])),
        {},
        f"{T}.volumes[0].name",
        'volume with name "conf" not mounted',
    ),
    (
        service((f"{C0}.volumeMounts", [{"name": "nope", "mountPath": "/x"}])),
        {},
        f"{C0}.volumeMounts[0].name",
        "volumeMount has no matching volume",
    ),
    (
        service(*MOUNTED_CONFIG, (f"{C0}.volumeMounts[0].mountPath", "/dev")),
        {},
        f"{C0}.volumeMounts[0].mountPath",
        'mountPath "/dev" is a reserved path',
    ),
    (
        service(*MOUNTED_CONFIG, (f"{C0}.volumeMounts[0].mountPath", "etc")),
        {},
        f"{C0}.volumeMounts[0].mountPath",
        "invalid value: etc",
    ),
    (
        service(
            *MOUNTED_CONFIG,
            (
                f"{T}.volumes[0]",
                {"name": "conf", "persistentVolumeClaim": {"claimName": "data", "readOnly": True}},
            ),
        ),
        {"features": {"kubernetes.podspec-persistent-volume-claim": "enabled"}},
        f"{C0}.volumeMounts[0].readOnly",
        "volume is readOnly but volume mount is not",
    ),
    (
        service(*MOUNTED_CONFIG, (f"{T}.volumes[0].secret", {"secretName": "s"})),
        {},
        f"{T}.volumes[0]",
        "expected exactly one, got both: secret, configMap",
    ),
    (
        service(*MOUNTED_CONFIG, (f"{T}.volumes[0]", {"name": "conf", "emptyDir": {}})),
        {"features": {"kubernetes.podspec-volumes-emptydir": "disabled"}},
        f"{T}.volumes[0]",
        "EmptyDir volume support is disabled, but found EmptyDir volume conf",
    ),
    (
        service(
            *MOUNTED_CONFIG,
            (
                f"{T}.volumes[0]",
                {"name": "conf", "persistentVolumeClaim": {"claimName": "data", "readOnly": True}},
            ),
        ),
        {},
        f"{T}.volumes[0]",
        "Persistent volume claim support is disabled",
    ),
    (
        service(("spec.traffic", [{"percent": 90}])),
        {},
        "spec.traffic",
        "Traffic targets sum to 90, want 100",
    ),
    (
        service(("spec.traffic", [{"percent": 50, "tag": "a"}, {"percent": 50, "tag": "a"}])),
        {},
        "spec.traffic[1].tag",
        'Multiple definitions for "a"',
    ),
    (
        service(("spec.traffic", [{"percent": 100, "tag": "Not_A_Label"}])),
        {},
        "spec.traffic[0].tag",
        "not a DNS 1035 label",
    ),
    (
        service(
            ("spec.traffic", [{"percent": 100, "revisionName": "hello-1", "latestRevision": True}])
        ),
        {},
        "spec.traffic[0].latestRevision",
        'may not set revisionName "hello-1" when latestRevision is true',
    ),
    (
        service(("spec.traffic", [{"percent": 100, "latestRevision": False}])),
        {},
        "spec.traffic[0].latestRevision",
        'may not set revisionName "" when latestRevision is false',
    ),
    (
        service(("spec.traffic", [{"percent": 101}, {"percent": -1}])),
        {},
        "spec.traffic[0].percent",
        "expected 0 <= 101 <= 100",
    ),
    (
        service(("spec.traffic", [{"percent": 100, "configurationName": "hello"}])),
        {},
        "spec.traffic[0].configurationName",
        "must not set the field(s)",
    ),
    (
        service(("spec.traffic", [{"percent": 100, "url": "http://x"}])),
        {},
        "spec.traffic[0].url",
        "must not set the field(s)",
    ),
    (
        service(("spec.template.metadata.name", "other-v1")),
        {},
        "spec.template.metadata.name",
        'invalid value: "other-v1" must have prefix "hello-"',
    ),
    (service(("spec.template.metadata.name", "hello-v1")), {}, "", ""),
    (
        service(("spec.template.metadata.name", "hello_v1")),
        {},
        "spec.template.metadata.name",
        "not a DNS 1035 label",
    ),
    (
        service(("metadata.labels", {"networking.knative.dev/visibility": "private"})),
        {},
        "metadata.labels.networking.knative.dev/visibility",
        "invalid value: private",
    ),
    (
        service(("metadata.labels", {"networking.knative.dev/visibility": "cluster-local"})),
        {},
        "",
        "",
    ),
    (
        service(("metadata.labels", {"serving.knative.dev/route": "x"})),
        {},
        "metadata.labels",
        'invalid key name "serving.knative.dev/route"',
    ),
    (
        service(("metadata.annotations", {"serving.knative.dev/rollout-duration": "1.5s"})),
        {},
        "metadata.annotations.serving.knative.dev/rollout-duration",
        "rollout-duration=1.5s is not at second precision",
    ),
    (
        service(
            ("spec.template.metadata.annotations", {"serving.knative.dev/progress-deadline": "0s"})
        ),
        {},
        "spec.template.metadata.annotations.serving.knative.dev/progress-deadline",
        "progress-deadline=0s must be positive",
    ),
]


@pytest.mark.parametrize(("body", "maps", "path", "message"), SERVICE_CASES)
def test_service_rules(
    body: dict[str, Any], maps: dict[str, dict[str, str]], path: str, message: str
) -> None:
    admitted = admit(Service, body, ctx=context(**maps))

    if not path:
        assert admitted.errors == []
    else:
        assert any(message in text for text in admitted.at(path)), admitted.errors


def test_a_container_with_a_command_needs_no_image() -> None:
    body = service((f"{C0}.image", None), (f"{C0}.command", ["python3", "-m", "http.server"]))

    assert admit(Service, body).errors == []


def test_every_error_is_reported_at_once() -> None:
    body = service(
        ("metadata.name", "Bad"),
        (f"{C0}.image", ""),
        (f"{T}.timeoutSeconds", 9000),
        ("spec.traffic", [{"percent": 10}]),
    )

    paths = admit(Service, body).paths()

    assert sorted(paths) == sorted(
        ["metadata.name", f"{C0}.image", f"{T}.timeoutSeconds", "spec.traffic"]
    )


def route(*traffic: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": "shop", **meta}, "spec": {"traffic": list(traffic)}}


OWNED_BY_SHOP = [
    {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "shop", "uid": "u"}
]

OTHER_CASES: list[tuple[type[KObject], dict[str, Any], str, str]] = [
    (Route, route({"configurationName": "shop", "percent": 100}), "", ""),
    (
        Route,
        route({"percent": 100}),
        "spec.traffic[0]",
        "expected exactly one, got neither: revisionName, configurationName",
    ),
    (
        Route,
        route({"percent": 100, "revisionName": "a", "configurationName": "b"}),
        "spec.traffic[0]",
        "expected exactly one, got both: revisionName, configurationName",
    ),
    (Route, route(), "spec.traffic", "Traffic targets sum to 0, want 100"),
    (
        Route,
        route({"revisionName": "bad name!", "percent": 100}),
        "spec.traffic[0].revisionName",
        'invalid key name "bad name!"',
    ),
    (
        Route,
        route(
            {"configurationName": "shop", "percent": 100},
            labels={"serving.knative.dev/service": "shop"},
        ),
        "metadata.labels.serving.knative.dev/service",
        "missing field(s)",
    ),
    (
        Route,
        route(
            {"configurationName": "shop", "percent": 100},
            labels={"serving.knative.dev/service": "shop"},
            ownerReferences=OWNED_BY_SHOP,
        ),
        "",
        "",
    ),
    (
        Route,
        route(
            {"configurationName": "shop", "percent": 100},
            annotations={"autoscaling.knative.dev/min-scale": "1"},
        ),
        "metadata.annotations",
        'invalid key name "autoscaling.knative.dev/min-scale"',
    ),
    (Configuration, {"metadata": {"name": "shop"}, "spec": hello()["spec"]}, "", ""),
    (
        Configuration,
        {
            "metadata": {"name": "shop", "annotations": {"autoscaling.knative.dev/max-scale": "3"}},
            "spec": hello()["spec"],
        },
        "metadata.annotations",
        "autoscaling annotations must be put under",
    ),
    (
        Configuration,
        {
            "metadata": {"name": "shop"},
            "spec": {
                "template": {
                    "metadata": {"name": "hello-1"},
                    "spec": hello()["spec"]["template"]["spec"],
                }
            },
        },
        "spec.template.metadata.name",
        'must have prefix "shop-"',
    ),
    (
        Revision,
        {"metadata": {"name": "shop-00001"}, "spec": {"containers": [{}]}},
        "spec.containers[0].image",
        "missing field(s)",
    ),
    (
        Revision,
        {
            "metadata": {
                "name": "shop-00001",
                "annotations": {"autoscaling.knative.dev/min-scale": "-1"},
            },
            "spec": hello()["spec"]["template"]["spec"],
        },
        "metadata.annotations.autoscaling.knative.dev/min-scale",
        "expected 0 <= -1",
    ),
    (
        Revision,
        {
            "metadata": {
                "name": "shop-00001",
                "labels": {"serving.knative.dev/configuration": "shop"},
            },
            "spec": hello()["spec"]["template"]["spec"],
        },
        "metadata.labels.serving.knative.dev/configuration",
        "missing field(s)",
    ),
]


@pytest.mark.parametrize(("kind", "body", "path", "message"), OTHER_CASES)
def test_route_configuration_and_revision_rules(
    kind: type[KObject], body: dict[str, Any], path: str, message: str
) -> None:
    admitted = admit(kind, body)

    if not path:
        assert admitted.errors == []
    else:
        assert any(message in text for text in admitted.at(path)), admitted.errors


def mapping(name: str, ref: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    spec = {"ref": ref} if ref is not None else {}
    return {"metadata": {"name": name, "namespace": "default", **meta}, "spec": spec}


KSVC = {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "shop"}


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        (mapping("shop.example.com", KSVC), "", ""),
        (mapping("shop", KSVC), "metadata.name", "at least two segments"),
        (mapping("Shop.example.com", KSVC), "metadata.name", "RFC 1123 subdomain"),
        (
            mapping("x.default.svc.cluster.local", KSVC),
            "metadata.name",
            "must not be a subdomain of cluster local domain",
        ),
        (
            mapping("shop.example.com", KSVC, generateName="shop-"),
            "metadata.generateName",
            "must not set the field(s)",
        ),
        (mapping("shop.example.com"), "spec.ref.name", "missing field(s)"),
        (mapping("shop.example.com", {"name": "shop"}), "spec.ref.kind", "missing field(s)"),
        (
            mapping("shop.example.com", {**KSVC, "namespace": "other"}),
            "spec.ref.namespace",
            "mismatched namespaces",
        ),
    ],
)
def test_domain_mapping_rules(body: dict[str, Any], path: str, message: str) -> None:
    admitted = admit(DomainMapping, body)

    if not path:
        assert admitted.errors == []
    else:
        assert any(message in text for text in admitted.at(path)), admitted.errors


def knative_sample(spec: dict[str, Any], name: str = "sample") -> dict[str, Any]:
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": spec,
    }


KNATIVE_SAMPLES = [
    knative_sample(
        {
            "template": {
                "metadata": {"annotations": {"autoscaling.knative.dev/target": "10"}},
                "spec": {"containers": [{"image": "ghcr.io/knative/autoscale-go:latest"}]},
            }
        }
    ),
    knative_sample(
        {
            "template": {
                "metadata": {"name": "sample-v2"},
                "spec": {"containers": [{"image": "ghcr.io/knative/helloworld-go:latest"}]},
            },
            "traffic": [
                {"tag": "current", "revisionName": "sample-v1", "percent": 90},
                {"tag": "candidate", "revisionName": "sample-v2", "percent": 10},
                {"tag": "latest", "latestRevision": True, "percent": 0},
            ],
        }
    ),
    knative_sample(
        {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "first-container",
                            "image": "ghcr.io/knative/helloworld-go:latest",
                            "ports": [{"containerPort": 8881}],
                        },
                        {
                            "name": "second-container",
                            "image": "gcr.io/knative-samples/helloworld-java",
                        },
                    ]
                }
            }
        }
    ),
    knative_sample(
        {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "image": "docker.io/example/app:v1",
                            "env": [
                                {
                                    "name": "API_KEY",
                                    "valueFrom": {"secretKeyRef": {"name": "api", "key": "key"}},
                                }
                            ],
                            "envFrom": [{"configMapRef": {"name": "app-config"}}],
                            "volumeMounts": [
                                {"name": "certs", "mountPath": "/etc/certs", "readOnly": True}
                            ],
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "64Mi"},
                                "limits": {"cpu": 1, "memory": "128Mi"},
                            },
                            "livenessProbe": {"httpGet": {"path": "/healthz"}},
                        }
                    ],
                    "volumes": [{"name": "certs", "secret": {"secretName": "tls"}}],
                }
            }
        }
    ),
    knative_sample(
        {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "image": "ghcr.io/knative/grpc-ping-go:latest",
                            "ports": [{"name": "h2c", "containerPort": 8080}],
                        }
                    ]
                }
            }
        }
    ),
]


@pytest.mark.parametrize("body", KNATIVE_SAMPLES)
def test_knative_doc_samples_are_valid(body: dict[str, Any]) -> None:
    assert admit(Service, body).errors == []
