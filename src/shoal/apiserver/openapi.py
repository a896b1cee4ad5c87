"""OpenAPI documents: v3 per group-version (``kubectl explain``, field validation) and v2.

kubectl decides whether the server validates fields by looking, in the v3 document of a
group-version, for a PATCH operation of the kind that declares a ``fieldValidation`` query
parameter, so each resource gets Kubernetes' paths and operations, not just schemas.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Any

from shoal.api.catalog import Catalog
from shoal.api.schema import object_schema
from shoal.api.types import ResourceType
from shoal.apiserver import openapi_pb

Obj = dict[str, Any]

_QUERY = ("dryRun", "fieldManager", "fieldValidation", "pretty")


def schema_name(rt: ResourceType) -> str:
    """Kubernetes' definition names: ``io.k8s.api.core.v1.ConfigMap``,
    ``dev.knative.serving.v1.Service``."""
    if not rt.group:
        return f"io.k8s.api.core.v1.{rt.kind}"
    return ".".join(reversed(rt.group.split("."))) + f".{rt.version}.{rt.kind}"


def gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _params(names: tuple[str, ...], v3: bool) -> list[Obj]:
    out = []
    for name in names:
        param: Obj = {"name": name, "in": "query", "description": name}
        if v3:
            param["schema"] = {"type": "string", "uniqueItems": True}
        else:
            param.update({"type": "string", "uniqueItems": True})
        out.append(param)
    return out


def _ops(rt: ResourceType, v3: bool, ref: str) -> dict[str, Obj]:
    gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    base = f"/{gv_path(rt.group, rt.version)}"
    if rt.namespaced:
        base += "/namespaces/{namespace}"
    body_schema = {"$ref": ref}
    response = ({"description": "OK", "content": {"application/json": {"schema": body_schema}}}
                if v3 else {"description": "OK", "schema": body_schema})

    def op(action: str, extra: tuple[str, ...] = ()) -> Obj:
        o: Obj = {"operationId": f"{action}{rt.kind}", "tags": [rt.group or "core"],
                  "x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk,
                  "parameters": _params(extra, v3), "responses": {"200": response}}
        if action in ("put", "post", "patch"):
            if v3:
                types = (["application/json-patch+json", "application/merge-patch+json"]
                         if action == "patch" else ["application/json"])
                o["requestBody"] = {"content": {t: {"schema": body_schema if action != "patch"
                                                    else {"type": "object"}} for t in types},
                                    "required": True}
            else:
                o["parameters"].append({"name": "body", "in": "body", "required": True,
                                        "schema": body_schema})
        return o

    return {
        f"{base}/{rt.plural}": {"get": op("list"), "post": op("post", _QUERY)},
        f"{base}/{rt.plural}/{{name}}": {
            "get": op("get"), "put": op("put", _QUERY), "patch": op("patch", _QUERY),
            "delete": op("delete", ("dryRun",))},
    }


def _definitions(types: list[ResourceType]) -> Obj:
    return {schema_name(rt): object_schema(rt.model, rt.group, rt.version, rt.kind)
            for rt in types}


@cache
def v3_document(catalog: Catalog, group: str, version: str) -> bytes | None:
    types = catalog.in_group_version(group, version)
    if not types:
        return None
    paths: Obj = {}
    for rt in types:
        paths.update(_ops(rt, True, f"#/components/schemas/{schema_name(rt)}"))
    doc = {"openapi": "3.0.0", "info": {"title": "Shoal", "version": "v1"},
           "paths": paths, "components": {"schemas": _definitions(types)}}
    return json.dumps(doc).encode()


@cache
def v3_index(catalog: Catalog) -> bytes:
    paths = {}
    for group, versions in catalog.groups().items():
        for version in versions:
            body = v3_document(catalog, group, version) or b""
            digest = hashlib.sha256(body).hexdigest()[:32].upper()
            path = gv_path(group, version)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return json.dumps({"paths": paths}).encode()


@cache
def v2_protobuf(catalog: Catalog) -> bytes:
    return openapi_pb.encode_document(json.loads(v2_document(catalog)))


@cache
def v2_document(catalog: Catalog) -> bytes:
    paths: Obj = {}
    for rt in catalog:
        paths.update(_ops(rt, False, f"#/definitions/{schema_name(rt)}"))
    doc = {"swagger": "2.0", "info": {"title": "Shoal", "version": "v1"}, "paths": paths,
           "definitions": _definitions(list(catalog))}
    return json.dumps(doc).encode()
