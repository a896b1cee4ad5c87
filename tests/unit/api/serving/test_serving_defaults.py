"""Defaulting of serving objects: what is stored for what a user writes."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.api.serving.serving_admission import admit, context, hello

from shoal.api.serving import Configuration, DomainMapping, Revision, Route, Service


def container(admitted: dict[str, Any], i: int = 0) -> dict[str, Any]:
    spec = admitted["spec"]
    spec = spec["template"]["spec"] if "template" in spec else spec
    result: dict[str, Any] = spec["containers"][i]
    return result


def template_spec(admitted: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = admitted["spec"]["template"]["spec"]
    return result


def test_hello_world_service_gets_knative_defaults() -> None:
    admitted = admit(Service, hello())

    assert admitted.errors == []
    assert admitted.stored["spec"] == {
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "user-container",
                        "image": "ghcr.io/knative/helloworld-go:latest",
                        "env": [{"name": "TARGET", "value": "World"}],
                        "ports": [{"containerPort": 8080}],
                        "resources": {},
                        "readinessProbe": {"tcpSocket": {"port": 0}, "successThreshold": 1},
                    }
                ],
                "enableServiceLinks": False,
                "containerConcurrency": 0,
                "timeoutSeconds": 300,
            }
        },
        "traffic": [{"latestRevision": True, "percent": 100}],
    }
    assert admitted.stored["metadata"]["annotations"] == {
        "serving.knative.dev/creator": "alice",
        "serving.knative.dev/lastModifier": "alice",
    }


def test_null_creation_timestamp_in_template_is_accepted_and_dropped() -> None:
    body = hello()
    body["spec"]["template"]["metadata"] = {"creationTimestamp": None, "labels": {"a": "b"}}

    admitted = admit(Service, body)

    assert admitted.errors == []
    assert admitted.stored["spec"]["template"]["metadata"] == {"labels": {"a": "b"}}


@pytest.mark.parametrize(
    ("maps", "expected"),
    [
        ({}, {"timeoutSeconds": 300, "containerConcurrency": 0, "enableServiceLinks": False}),
        (
            {"defaults": {"revision-timeout-seconds": "120", "container-concurrency": "10"}},
            {"timeoutSeconds": 120, "containerConcurrency": 10},
        ),
        (
            {
                "defaults": {
                    "revision-idle-timeout-seconds": "30",
                    "revision-response-start-timeout-seconds": "20",
                }
            },
            {"idleTimeoutSeconds": 30, "responseStartTimeoutSeconds": 20},
        ),
        # A configured idle timeout longer than the request timeout is not applied.
        (
            {"defaults": {"revision-timeout-seconds": "10", "revision-idle-timeout-seconds": "30"}},
            {"timeoutSeconds": 10, "idleTimeoutSeconds": None},
        ),
        ({"defaults": {"enable-service-links": "true"}}, {"enableServiceLinks": True}),
        ({"defaults": {"enable-service-links": "default"}}, {"enableServiceLinks": None}),
    ],
)
def test_revision_spec_defaults_follow_config_defaults(
    maps: dict[str, dict[str, str]], expected: dict[str, Any]
) -> None:
    spec = template_spec(admit(Service, hello(), ctx=context(**maps)).stored)

    assert {key: spec.get(key) for key in expected} == expected


def test_user_values_are_kept() -> None:
    body = hello()
    body["spec"]["template"]["spec"].update(
        {"timeoutSeconds": 60, "containerConcurrency": 5, "enableServiceLinks": True}
    )

    spec = template_spec(admit(Service, body).stored)

    assert (spec["timeoutSeconds"], spec["containerConcurrency"], spec["enableServiceLinks"]) == (
        60,
        5,
        True,
    )


def test_container_name_template_may_use_the_service_name() -> None:
    ctx = context(defaults={"container-name-template": "{{.Name}}"})

    assert container(admit(Service, hello(), ctx=ctx).stored)["name"] == "hello"


def test_several_containers_are_numbered_around_user_names() -> None:
    body = hello()
    body["spec"]["template"]["spec"]["containers"] += [
        {"image": "sidecar"},
        {"name": "user-container-1", "image": "other"},
        {"image": "third"},
    ]

    stored = admit(Service, body).stored

    names = [c["name"] for c in template_spec(stored)["containers"]]
    assert names == ["user-container-0", "user-container-2", "user-container-1", "user-container-3"]
    # Only the serving container (the one with a port) gets the default readiness probe.
    assert "readinessProbe" in container(stored, 0)
    assert "readinessProbe" not in container(stored, 1)


@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        (
            {"httpGet": {"path": "/healthz"}},
            {"httpGet": {"path": "/healthz"}, "successThreshold": 1},
        ),
        (
            {"httpGet": {"path": "/"}, "periodSeconds": 5},
            {
                "httpGet": {"path": "/"},
                "periodSeconds": 5,
                "successThreshold": 1,
                "failureThreshold": 3,
                "timeoutSeconds": 1,
            },
        ),
        (
            {"initialDelaySeconds": 2},
            {"initialDelaySeconds": 2, "tcpSocket": {"port": 0}, "successThreshold": 1},
        ),
        ({"grpc": {"port": 8080}}, {"grpc": {"port": 8080, "service": ""}, "successThreshold": 1}),
    ],
)
def test_readiness_probe_defaults(probe: dict[str, Any], expected: dict[str, Any]) -> None:
    body = hello()
    body["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = probe

    assert container(admit(Service, body).stored)["readinessProbe"] == expected


def test_configuration_volumes_are_mounted_read_only_but_empty_dirs_are_not() -> None:
    body = hello()
    spec = body["spec"]["template"]["spec"]
    spec["volumes"] = [
        {"name": "conf", "configMap": {"name": "app-config"}},
        {"name": "scratch", "emptyDir": {}},
    ]
    spec["containers"][0]["volumeMounts"] = [
        {"name": "conf", "mountPath": "/etc/app"},
        {"name": "scratch", "mountPath": "/var/scratch"},
    ]

    admitted = admit(Service, body)

    assert admitted.errors == []
    mounts = container(admitted.stored)["volumeMounts"]
    assert [m.get("readOnly") for m in mounts] == [True, None]


def test_configured_resources_are_filled_in() -> None:
    body = hello()
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": 1}}
    ctx = context(defaults={"revision-cpu-limit": "2", "revision-memory-request": "100Mi"})

    resources = container(admit(Service, body, ctx=ctx).stored)["resources"]

    assert resources == {"limits": {"cpu": "1"}, "requests": {"memory": "100Mi"}}


def test_secure_pod_defaults_harden_the_container() -> None:
    ctx = context(features={"secure-pod-defaults": "Enabled"})

    security = container(admit(Service, hello(), ctx=ctx).stored)["securityContext"]

    assert security == {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
        "capabilities": {"drop": ["ALL"]},
    }


@pytest.mark.parametrize(
    ("traffic", "expected"),
    [
        (
            [{"revisionName": "hello-00001", "percent": 50}, {"percent": 50, "tag": "next"}],
            [
                {"revisionName": "hello-00001", "percent": 50, "latestRevision": False},
                {"percent": 50, "tag": "next", "latestRevision": True},
            ],
        ),
        (
            [{"revisionName": "hello-00001", "latestRevision": False, "percent": 100}],
            [{"revisionName": "hello-00001", "latestRevision": False, "percent": 100}],
        ),
    ],
)
def test_service_traffic_targets_get_latest_revision(
    traffic: list[dict[str, Any]], expected: list[dict[str, Any]]
) -> None:
    body = hello()
    body["spec"]["traffic"] = traffic

    admitted = admit(Service, body)

    assert admitted.errors == []
    assert admitted.stored["spec"]["traffic"] == expected


def test_route_targets_default_latest_revision_but_route_gets_no_traffic_of_its_own() -> None:
    route = {
        "metadata": {"name": "shop"},
        "spec": {"traffic": [{"configurationName": "shop", "percent": 100}]},
    }

    stored = admit(Route, route).stored

    assert stored["spec"]["traffic"] == [
        {"configurationName": "shop", "percent": 100, "latestRevision": True}
    ]
    assert stored["metadata"]["annotations"]["serving.knative.dev/creator"] == "alice"
    assert "traffic" not in admit(Route, {"metadata": {"name": "x"}}).stored.get("spec", {})


def test_children_of_a_service_keep_their_parents_user_annotations() -> None:
    owned = {
        "metadata": {
            "name": "hello",
            "annotations": {"serving.knative.dev/creator": "alice"},
            "ownerReferences": [
                {
                    "apiVersion": "serving.knative.dev/v1",
                    "kind": "Service",
                    "name": "hello",
                    "uid": "1",
                }
            ],
        },
        "spec": hello()["spec"],
    }

    admitted = admit(Configuration, owned, ctx=context("system:controller"))

    assert admitted.stored["metadata"]["annotations"] == {"serving.knative.dev/creator": "alice"}


def test_revision_defaults_like_a_template() -> None:
    revision = {"metadata": {"name": "hello-00001"}, "spec": hello()["spec"]["template"]["spec"]}

    admitted = admit(Revision, revision)

    assert admitted.errors == []
    assert admitted.stored["spec"]["timeoutSeconds"] == 300
    assert container(admitted.stored)["name"] == "user-container"
    assert "annotations" not in admitted.stored["metadata"]


def test_domain_mapping_ref_namespace_defaults_to_its_own() -> None:
    mapping = {
        "metadata": {"name": "shop.example.com", "namespace": "prod"},
        "spec": {
            "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "shop"}
        },
    }

    admitted = admit(DomainMapping, mapping)

    assert admitted.errors == []
    assert admitted.stored["spec"]["ref"]["namespace"] == "prod"


def test_defaulting_twice_changes_nothing() -> None:
    once = admit(Service, hello()).stored

    assert admit(Service, once).stored == once
