"""Pure builders of the children Serving's reconcilers own (Knative's ``resources`` package).

A Service owns a Configuration and a Route of its name; a Configuration owns one immutable
Revision per template generation. Every builder takes the parent as stored (JSON) and
returns the child as it should be stored, so a reconciler can compare what it wants with
what exists, and tests need no store.
"""

from __future__ import annotations

import copy
from typing import Any

from shoal.api.serving import keys

Obj = dict[str, Any]

# Annotations that belong to the object the user applied, not to what it creates.
_NOT_INHERITED = ("kubectl.kubernetes.io/last-applied-configuration",)


def owner_reference(parent: Obj) -> Obj:
    meta = parent["metadata"]
    return {"apiVersion": parent["apiVersion"], "kind": parent["kind"], "name": meta["name"],
            "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}


def _inherited_annotations(parent: Obj) -> dict[str, str]:
    annotations = dict(parent["metadata"].get("annotations") or {})
    for key in _NOT_INHERITED:
        annotations.pop(key, None)
    return annotations


def make_configuration(service: Obj) -> Obj:
    meta = service["metadata"]
    labels = {**(meta.get("labels") or {}), keys.SERVICE_LABEL: meta["name"],
              keys.SERVICE_UID_LABEL: meta["uid"]}
    return {
        "apiVersion": "serving.knative.dev/v1", "kind": "Configuration",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "labels": labels,
                     "annotations": _inherited_annotations(service),
                     "ownerReferences": [owner_reference(service)]},
        "spec": {"template": copy.deepcopy(service["spec"].get("template") or {})},
    }


def service_traffic(service: Obj) -> list[Obj]:
    """The Route's traffic: the Service's, with its latest-revision targets naming its
    Configuration (Knative's ``MakeRoute``)."""
    name = service["metadata"]["name"]
    traffic = copy.deepcopy(service["spec"].get("traffic") or
                            [{"latestRevision": True, "percent": 100}])
    for target in traffic:
        if target.get("latestRevision") and not target.get("configurationName"):
            target["configurationName"] = name
    return traffic


def make_route(service: Obj) -> Obj:
    meta = service["metadata"]
    labels = {**(meta.get("labels") or {}), keys.SERVICE_LABEL: meta["name"],
              keys.SERVICE_UID_LABEL: meta["uid"]}
    return {
        "apiVersion": "serving.knative.dev/v1", "kind": "Route",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "labels": labels,
                     "annotations": _inherited_annotations(service),
                     "ownerReferences": [owner_reference(service)]},
        "spec": {"traffic": service_traffic(service)},
    }


def revision_name(configuration: Obj) -> str:
    """The template's own name (BYO), else ``{configuration}-{generation:05d}``."""
    template_meta = (configuration["spec"].get("template") or {}).get("metadata") or {}
    if template_meta.get("name"):
        return str(template_meta["name"])
    meta = configuration["metadata"]
    return f"{meta['name']}-{int(meta.get('generation') or 1):05d}"


def make_revision(configuration: Obj) -> Obj:
    meta = configuration["metadata"]
    template = copy.deepcopy(configuration["spec"].get("template") or {})
    template_meta = template.get("metadata") or {}
    labels = {**(template_meta.get("labels") or {}),
              keys.CONFIGURATION_LABEL: meta["name"],
              keys.CONFIGURATION_UID_LABEL: meta["uid"],
              keys.CONFIGURATION_GENERATION_LABEL: str(meta.get("generation") or 1),
              keys.ROUTING_STATE_LABEL: "pending"}
    service = (meta.get("labels") or {}).get(keys.SERVICE_LABEL)
    if service:
        labels[keys.SERVICE_LABEL] = service
        labels[keys.SERVICE_UID_LABEL] = (meta.get("labels") or {}).get(
            keys.SERVICE_UID_LABEL, "")
    annotations = dict(template_meta.get("annotations") or {})
    modifier = (meta.get("annotations") or {}).get(keys.LAST_MODIFIER)
    if modifier:
        annotations[keys.CREATOR] = modifier
    out: Obj = {
        "apiVersion": "serving.knative.dev/v1", "kind": "Revision",
        "metadata": {"name": revision_name(configuration), "namespace": meta["namespace"],
                     "labels": labels, "ownerReferences": [owner_reference(configuration)]},
        "spec": template.get("spec") or {},
    }
    if annotations:
        out["metadata"]["annotations"] = annotations
    return out


LOCAL_DOMAIN = "svc.localhost"
"""Shoal's cluster-local domain: Knative's ``svc.cluster.local`` resolves nowhere off a
cluster, ``*.localhost`` resolves to this machine in curl and browsers with no set-up."""


def host(name: str, namespace: str, domain: str) -> str:
    """Knative's default domain template ``{{.Name}}.{{.Namespace}}.{{.Domain}}``."""
    return f"{name}.{namespace}.{domain}"


def tag_host(tag: str, name: str, namespace: str, domain: str) -> str:
    """Knative's default tag template ``{{.Tag}}-{{.Name}}`` inside the domain template."""
    return host(f"{tag}-{name}", namespace, domain)
