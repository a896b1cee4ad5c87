"""Admission of eventing kinds as the registry runs it: parse, default, validate.

A plain module (not a conftest) so that test modules can import ``admit`` by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from shoal.api.config import EVENTING_NS, AdmissionContext, Config
from shoal.api.errors import FieldError, FieldErrors
from shoal.api.model import KObject


@dataclass
class Admitted:
    obj: KObject
    errors: list[FieldError]

    @property
    def fields(self) -> list[str]:
        return sorted(e.field for e in self.errors)

    @property
    def stored(self) -> dict[str, Any]:
        return self.obj.dump()

    def message(self, field: str) -> str:
        return next(e.message for e in self.errors if e.field == field)


def admit(
    model: type[KObject],
    body: dict[str, Any] | str,
    *,
    old: Admitted | None = None,
    config: Mapping[str, Mapping[str, str]] | None = None,
    namespace: str = "default",
) -> Admitted:
    """``config`` maps ConfigMap names in knative-eventing to their data."""
    if isinstance(body, str):
        body = yaml.safe_load(body)
    assert isinstance(body, dict)
    obj = model.model_validate(body)
    obj.metadata.namespace = namespace
    if not obj.metadata.name:
        obj.metadata.name = "example"
    maps = {(EVENTING_NS, name): data for name, data in (config or {}).items()}
    old_obj = model.model_validate(old.stored) if old is not None else None
    ctx = AdmissionContext(config=Config(maps=maps), old=old_obj)
    obj.apply_defaults(ctx)
    errs = FieldErrors()
    obj.check(old_obj, ctx, errs)
    return Admitted(obj, errs.errors)
