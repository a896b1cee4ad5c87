"""The API client for components running inside ``shoal up``: calls the registry directly.

Same semantics as the REST client (admission, conflicts, watches, errors), without HTTP or
serialisation, so the controllers of an embedded Shoal pay nothing for the API boundary.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from shoal.api.types import ResourceType
from shoal.apiserver.registry import Registry
from shoal.apiserver.selectors import selector_predicate
from shoal.apiserver.watch import watch
from shoal.client.base import FieldValidation, Obj, ObjectList, PatchType, Propagation, WatchEvent

CONTROLLER_USER = "system:serviceaccount:knative-serving:controller"


class InProcessClient:
    def __init__(self, registry: Registry, *, user: str = CONTROLLER_USER,
                 bookmark_interval: float | None = 60.0) -> None:
        self.registry = registry
        self.user = user
        self.bookmark_interval = bookmark_interval

    async def get(self, rt: ResourceType, name: str, namespace: str = "") -> Obj:
        return self.registry.get(rt, namespace, name)

    async def list(self, rt: ResourceType, namespace: str | None = None, *,
                   label_selector: str = "", field_selector: str = "") -> ObjectList:
        items, rv = self.registry.list(rt, namespace, label_selector, field_selector)
        return ObjectList(items, rv)

    async def watch(self, rt: ResourceType, namespace: str | None = None, *,
                    resource_version: str = "", label_selector: str = "",
                    field_selector: str = "", timeout_seconds: int | None = None,
                    ) -> AsyncIterator[WatchEvent]:
        predicate = selector_predicate(label_selector, field_selector)
        stream = watch(self.registry.store, rt, namespace, resource_version, predicate,
                       bookmark_interval=self.bookmark_interval,
                       timeout=float(timeout_seconds) if timeout_seconds else None)
        async with contextlib.aclosing(stream):
            async for kind, obj in stream:
                yield WatchEvent(kind, obj)

    async def create(self, rt: ResourceType, obj: Obj, *, dry_run: bool = False,
                     field_validation: FieldValidation = "Strict") -> Obj:
        namespace = (obj.get("metadata") or {}).get("namespace") or ""
        return self.registry.create(rt, namespace, obj, dry_run=dry_run,
                                    field_validation=field_validation, user=self.user).object

    async def update(self, rt: ResourceType, obj: Obj, *, dry_run: bool = False,
                     field_validation: FieldValidation = "Strict") -> Obj:
        meta = obj.get("metadata") or {}
        return self.registry.update(rt, meta.get("namespace") or "", meta.get("name") or "",
                                    obj, dry_run=dry_run, field_validation=field_validation,
                                    user=self.user).object

    async def update_status(self, rt: ResourceType, obj: Obj) -> Obj:
        meta = obj.get("metadata") or {}
        return self.registry.update(rt, meta.get("namespace") or "", meta.get("name") or "",
                                    obj, subresource="status", user=self.user).object

    async def patch(self, rt: ResourceType, name: str, namespace: str, patch: Any,
                    patch_type: PatchType = "merge", *, subresource: str = "",
                    dry_run: bool = False) -> Obj:
        return self.registry.patch(rt, namespace, name, patch, patch_type,
                                   subresource=subresource, dry_run=dry_run,
                                   user=self.user).object

    async def delete(self, rt: ResourceType, name: str, namespace: str = "", *,
                     propagation: Propagation = "Background", dry_run: bool = False,
                     ) -> Obj:
        return self.registry.delete(rt, namespace, name, propagation=propagation,
                                    dry_run=dry_run)

    async def close(self) -> None:
        return None
