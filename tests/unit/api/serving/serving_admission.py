"""Test helpers: admit serving objects as the registry does (parse, default, validate)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from shoal.api.config import SERVING_NS, AdmissionContext, Config
from shoal.api.errors import FieldError, FieldErrors
from shoal.api.model import KObject


@dataclass
class Admitted:
    obj: KObject
    errors: list[FieldError] = field(default_factory=list)

    @property
    def stored(self) -> dict[str, Any]:
        return self.obj.dump()

    def paths(self) -> list[str]:
        return [e.field for e in self.errors]

    def at(self, path: str) -> list[str]:
        return [e.message for e in self.errors if e.field == path]


def context(user: str = "alice", /, **maps: dict[str, str]) -> AdmissionContext:
    """An admission context; keyword arguments replace serving config maps by short name
    (``features={...}`` is ``config-features``)."""
    config = Config({(SERVING_NS, f"config-{name}"): data for name, data in maps.items()})
    return AdmissionContext(config=config, user=user)


def admit(
    kind: type[KObject],
    body: dict[str, Any],
    old: dict[str, Any] | None = None,
    ctx: AdmissionContext | None = None,
) -> Admitted:
    body = copy.deepcopy(body)
    obj = kind.model_validate(body)
    obj.metadata.namespace = obj.metadata.namespace or "default"
    ctx = ctx or context()
    obj.apply_defaults(ctx)
    errs = FieldErrors()
    stored = kind.model_validate(copy.deepcopy(old)) if old is not None else None
    obj.check(stored, ctx, errs)
    return Admitted(obj, list(errs))


def hello() -> dict[str, Any]:
    """Knative's hello-world Service, as its getting-started guide writes it."""
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "hello"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "image": "ghcr.io/knative/helloworld-go:latest",
                            "ports": [{"containerPort": 8080}],
                            "env": [{"name": "TARGET", "value": "World"}],
                        }
                    ]
                }
            }
        },
    }
