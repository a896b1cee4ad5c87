"""Admission: parse a request body into its kind's model, default it, validate it.

Called by the registry for every create, update and patch. Parsing is strict and refuses
unknown fields; ``fieldValidation`` then decides what an unknown field means (Strict: 400
naming every one; Warn: a warning; Ignore: dropped). Type errors, generic metadata rules and
the kind's own rules are all collected and reported together as one 422 ``Invalid``.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError

from shoal.api import names
from shoal.api.config import AdmissionContext
from shoal.api.errors import (
    INVALID,
    REQUIRED,
    TYPE_INVALID,
    BadRequest,
    FieldError,
    FieldErrors,
    Invalid,
)
from shoal.api.model import KObject
from shoal.api.types import ResourceType

Obj = dict[str, Any]
_UNION_TAGS = {"int", "str", "float", "bool", "list", "dict", "none"}


def field_path(loc: tuple[int | str, ...]) -> str:
    """('spec', 'containers', 0, 'image') → ``spec.containers[0].image``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in _UNION_TAGS or "[" in part:
            continue  # pydantic's name for a union member, not a field
        else:
            path += f".{part}" if path else part
    return path


def _drop(body: Obj, loc: tuple[int | str, ...]) -> None:
    node: Any = body
    for part in loc[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(node, dict):
        node.pop(loc[-1], None)


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "null" if value is None else str(value).lower()


def parse(rt: ResourceType, body: Obj, field_validation: str,
          name: str = "") -> tuple[KObject, list[str]]:
    """The body as its kind's model, and warnings; raises BadRequest or Invalid."""
    try:
        return rt.model.model_validate(body), []
    except ValidationError as exc:
        errors = exc.errors()
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    others = [e for e in errors if e["type"] != "extra_forbidden"]
    if others:
        causes = []
        for e in others:
            path = field_path(e["loc"])
            if e["type"] == "missing":
                causes.append(FieldError(path, "Required value", REQUIRED))
            else:
                msg = f"Invalid value: {_describe(e.get('input'))}: {e['msg'].lower()}"
                causes.append(FieldError(path, msg, TYPE_INVALID))
        raise Invalid.of(rt.kind, rt.group, name or _name_of(body), causes)
    unknown_paths = [field_path(e["loc"]) for e in unknown]
    if field_validation == "Strict":
        listing = ", ".join(f'unknown field "{p}"' for p in unknown_paths)
        raise BadRequest(f"strict decoding error: {listing}")
    pruned = copy.deepcopy(body)
    for e in unknown:
        _drop(pruned, e["loc"])
    warnings = [] if field_validation == "Ignore" else [
        f'unknown field "{p}"' for p in unknown_paths]
    return rt.model.model_validate(pruned), warnings


def _name_of(body: Obj) -> str:
    meta = body.get("metadata")
    if isinstance(meta, dict):
        return str(meta.get("name") or meta.get("generateName") or "")
    return ""


def check_metadata(rt: ResourceType, obj: KObject, errs: FieldErrors) -> None:
    """The rules every kind shares: a valid name, valid labels, annotations, finalizers."""
    meta = errs.at("metadata")
    name = obj.metadata.name
    if not name:
        meta.required("name", "name or generateName is required")
    elif rt.kind != "Event":
        problems = (names.dns1123_label(name) if rt.kind == "Namespace"
                    else names.dns1123_subdomain(name))
        for problem in problems:
            meta.invalid("name", name, problem)
    names.check_labels(obj.metadata.labels, meta.at("labels"))
    names.check_annotation_keys(obj.metadata.annotations, meta.at("annotations"))
    for i, finalizer in enumerate(obj.metadata.finalizers or []):
        for problem in names.qualified_name(finalizer):
            meta.at("finalizers", i).invalid(None, finalizer, problem)


def admit(rt: ResourceType, obj: KObject, ctx: AdmissionContext) -> None:
    """Default then validate ``obj``; raise one Invalid listing every broken rule."""
    obj.apply_defaults(ctx)
    errs = FieldErrors()
    check_metadata(rt, obj, errs)
    obj.check(ctx.old, ctx, errs)
    if errs:
        raise Invalid.of(rt.kind, rt.group, obj.metadata.name or "", errs.errors)


def immutable_metadata_errors(old: Obj, new: Obj) -> list[FieldError]:
    errors = []
    for key in ("name", "namespace", "uid"):
        before = old.get("metadata", {}).get(key)
        after = new.get("metadata", {}).get(key)
        if after is not None and before != after:
            errors.append(FieldError(f"metadata.{key}",
                                     f"Invalid value: {_describe(after)}: field is immutable",
                                     INVALID))
    return errors
