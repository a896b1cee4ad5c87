"""How the serving kinds are served: names kubectl accepts, columns, schemas."""

from __future__ import annotations

import pytest

from shoal.api.catalog import default_catalog
from shoal.api.schema import object_schema
from shoal.api.serving import TYPES


@pytest.mark.parametrize(
    ("name", "api_version", "kind"),
    [
        ("ksvc", "serving.knative.dev/v1", "Service"),
        ("kservice", "serving.knative.dev/v1", "Service"),
        ("services.serving.knative.dev", "serving.knative.dev/v1", "Service"),
        ("cfg", "serving.knative.dev/v1", "Configuration"),
        ("config", "serving.knative.dev/v1", "Configuration"),
        ("rev", "serving.knative.dev/v1", "Revision"),
        ("rt", "serving.knative.dev/v1", "Route"),
        ("dm", "serving.knative.dev/v1beta1", "DomainMapping"),
        ("domainmappings", "serving.knative.dev/v1beta1", "DomainMapping"),
    ],
)
def test_catalog_resolves_knative_names(name: str, api_version: str, kind: str) -> None:
    found = default_catalog().resolve(name)

    assert found is not None
    assert (found.api_version, found.kind) == (api_version, kind)


def test_kinds_are_declared_in_order_with_knative_categories() -> None:
    assert [t.kind for t in TYPES] == [
        "Service",
        "Configuration",
        "Revision",
        "Route",
        "DomainMapping",
    ]
    assert all(t.categories == ("all", "knative", "serving") for t in TYPES)
    assert all(t.namespaced and t.status_subresource for t in TYPES)


def test_kubectl_get_columns_are_knatives() -> None:
    columns = {t.kind: [c.name for c in t.columns] for t in TYPES}

    assert columns == {
        "Service": ["URL", "LatestCreated", "LatestReady", "Ready", "Reason"],
        "Configuration": ["LatestCreated", "LatestReady", "Ready", "Reason"],
        "Revision": [
            "Config Name",
            "Generation",
            "Ready",
            "Reason",
            "Actual Replicas",
            "Desired Replicas",
        ],
        "Route": ["URL", "Ready", "Reason"],
        "DomainMapping": ["URL", "Ready", "Reason"],
    }
    revision = TYPES[2]
    assert revision.columns[0].json_path == (
        r".metadata.labels['serving\.knative\.dev/configuration']"
    )
    assert revision.columns[4].type == "integer"


def test_schemas_describe_the_template_for_kubectl_explain() -> None:
    service = TYPES[0]
    schema = object_schema(service.model, service.group, service.version, service.kind)

    template = schema["properties"]["spec"]["properties"]["template"]
    containers = template["properties"]["spec"]["properties"]["containers"]
    assert containers["type"] == "array"
    assert "description" in containers
    container = containers["items"]["properties"]
    assert container["ports"]["items"]["properties"]["containerPort"]["type"] == "integer"
    probe_port = container["readinessProbe"]["properties"]["httpGet"]["properties"]["port"]
    assert probe_port["x-kubernetes-int-or-string"] is True
    for t in TYPES:
        assert object_schema(t.model, t.group, t.version, t.kind)["type"] == "object"
