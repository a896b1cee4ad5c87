"""OpenAPI schemas of the kinds, derived from their models, in the shape CRDs publish.

The schemas are inline (no ``$ref``), like a CRD's ``openAPIV3Schema``, so ``kubectl
explain`` walks them field by field; descriptions come from ``Field(description=…)`` and
from each model's docstring. Served by the API server's ``/openapi/v2`` and ``/openapi/v3``.
"""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from shoal.api.model import FreeModel

Schema = dict[str, Any]

_PRESERVE: Schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def object_schema(model: type[BaseModel], group: str, version: str, kind: str) -> Schema:
    """The schema of a top-level kind, tagged with its group, version and kind."""
    schema = _model(model, ())
    schema["x-kubernetes-group-version-kind"] = [
        {"group": group, "version": version, "kind": kind}]
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {
        "type": "string",
        "description": "APIVersion defines the versioned schema of this representation of an "
                       "object.",
    }
    props["kind"] = {
        "type": "string",
        "description": "Kind is a string value representing the REST resource this object "
                       "represents.",
    }
    return schema


def _doc(model: type[BaseModel]) -> str:
    doc = model.__doc__ or ""
    if doc.startswith(f"{model.__name__}(") or doc == inspect.getdoc(BaseModel):
        return ""
    return inspect.cleandoc(doc)


def _model(model: type[BaseModel], seen: tuple[type[BaseModel], ...]) -> Schema:
    if model in seen:
        return dict(_PRESERVE)
    schema: Schema = {"type": "object"}
    doc = _doc(model)
    if doc:
        schema["description"] = doc
    if issubclass(model, FreeModel):
        schema["x-kubernetes-preserve-unknown-fields"] = True
    props: Schema = {}
    required: list[str] = []
    hints = typing.get_type_hints(model, include_extras=True)
    for name, info in model.model_fields.items():
        wire = info.alias or name
        prop = _type(hints.get(name, info.annotation), (*seen, model))
        if info.description:
            prop["description"] = info.description
        props[wire] = prop
        if info.is_required():
            required.append(wire)
    if props:
        schema["properties"] = props
    if required:
        schema["required"] = required
    return schema


def _type(tp: Any, seen: tuple[type[BaseModel], ...]) -> Schema:
    origin = get_origin(tp)
    if origin is typing.Annotated:
        return _type(get_args(tp)[0], seen)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _type(args[0], seen)
        if set(args) == {int, str}:
            return {"x-kubernetes-int-or-string": True,
                    "anyOf": [{"type": "integer"}, {"type": "string"}]}
        return dict(_PRESERVE)
    if origin is Literal:
        values = list(get_args(tp))
        return {"type": "string", "enum": values}
    if origin is list:
        (item,) = get_args(tp) or (Any,)
        return {"type": "array", "items": _type(item, seen)}
    if origin is dict:
        _, value = get_args(tp) or (str, Any)
        if value is Any:
            return dict(_PRESERVE)
        return {"type": "object", "additionalProperties": _type(value, seen)}
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer", "format": "int64"}
    if tp is float:
        return {"type": "number"}
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _model(tp, seen)
    return dict(_PRESERVE)
