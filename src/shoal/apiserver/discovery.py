"""API discovery: which groups, versions and resources this server serves.

Both shapes kubectl knows: the legacy documents (``/api``, ``/apis``, ``/apis/G``,
``/apis/G/V``) and aggregated discovery (``apidiscovery.k8s.io/v2``), which hands kubectl
every resource of every group in one round trip on ``/api`` and ``/apis``.
"""

from __future__ import annotations

from typing import Any

from shoal.api.catalog import Catalog
from shoal.api.types import ResourceType

Obj = dict[str, Any]

AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
_STATUS_VERBS = ["get", "patch", "update"]


def wants_aggregated(accept: str) -> bool:
    return "as=APIGroupDiscoveryList" in accept and "v=v2;" in accept.replace(" ", "") + ";"


def api_versions(server_address: str) -> Obj:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group(name: str, versions: list[str]) -> Obj:
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list(catalog: Catalog) -> Obj:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(g, vs) for g, vs in catalog.groups().items() if g]}


def api_group(catalog: Catalog, group: str) -> Obj | None:
    versions = catalog.groups().get(group)
    if not group or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, versions)}


def _resource_entry(rt: ResourceType) -> Obj:
    entry: Obj = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
                  "kind": rt.kind, "verbs": list(rt.verbs)}
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    return entry


def resource_list(catalog: Catalog, group: str, version: str) -> Obj | None:
    types = catalog.in_group_version(group, version)
    if not types:
        return None
    resources = []
    for rt in types:
        resources.append(_resource_entry(rt))
        if rt.status_subresource:
            resources.append({"name": f"{rt.plural}/status", "singularName": "",
                              "namespaced": rt.namespaced, "kind": rt.kind,
                              "verbs": _STATUS_VERBS})
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources}


def _aggregated_resource(rt: ResourceType) -> Obj:
    kind = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    entry: Obj = {"resource": rt.plural, "responseKind": kind,
                  "scope": "Namespaced" if rt.namespaced else "Cluster",
                  "singularResource": rt.singular, "verbs": list(rt.verbs)}
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    if rt.status_subresource:
        entry["subresources"] = [{"subresource": "status", "responseKind": kind,
                                  "verbs": _STATUS_VERBS}]
    return entry


def aggregated(catalog: Catalog, legacy: bool) -> Obj:
    """The ``APIGroupDiscoveryList`` of the core group (legacy) or of every named group."""
    items = []
    for group, versions in catalog.groups().items():
        if bool(group) == legacy:
            continue
        item: Obj = {"metadata": {"name": group} if group else {}, "versions": []}
        for version in versions:
            item["versions"].append({
                "version": version,
                "resources": [_aggregated_resource(rt)
                              for rt in catalog.in_group_version(group, version)],
                "freshness": "Current",
            })
        items.append(item)
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {}, "items": items}
