"""The one interface through which controllers, sources and the CLI talk to the API.

Two implementations: ``InProcessClient`` calls the registry directly (embedded mode, no
HTTP), ``RestClient`` speaks Kubernetes REST to a Shoal API server (or any Kubernetes API
server). Both return plain JSON-shaped dicts and raise the ``shoal.api.errors`` hierarchy;
a watch whose resourceVersion is past the change log raises ``Gone`` (relist and go on).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from shoal.api.types import ResourceType

Obj = dict[str, Any]
PatchType = Literal["merge", "json", "strategic"]
Propagation = Literal["Background", "Foreground", "Orphan"]
FieldValidation = Literal["Strict", "Warn", "Ignore"]

PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
}


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED, BOOKMARK
    object: Obj


@dataclass
class ObjectList:
    items: list[Obj]
    resource_version: str
    warnings: list[str] = field(default_factory=list)


class Client(Protocol):
    async def get(self, rt: ResourceType, name: str, namespace: str = "") -> Obj: ...

    async def list(self, rt: ResourceType, namespace: str | None = None, *,
                   label_selector: str = "", field_selector: str = "") -> ObjectList: ...

    def watch(self, rt: ResourceType, namespace: str | None = None, *,
              resource_version: str = "", label_selector: str = "",
              field_selector: str = "", timeout_seconds: int | None = None,
              ) -> AsyncIterator[WatchEvent]:
        """Events after ``resource_version`` (all current objects as ADDED when empty)."""
        ...

    async def create(self, rt: ResourceType, obj: Obj, *, dry_run: bool = False,
                     field_validation: FieldValidation = "Strict") -> Obj: ...

    async def update(self, rt: ResourceType, obj: Obj, *, dry_run: bool = False,
                     field_validation: FieldValidation = "Strict") -> Obj: ...

    async def update_status(self, rt: ResourceType, obj: Obj) -> Obj: ...

    async def patch(self, rt: ResourceType, name: str, namespace: str, patch: Any,
                    patch_type: PatchType = "merge", *, subresource: str = "",
                    dry_run: bool = False) -> Obj: ...

    async def delete(self, rt: ResourceType, name: str, namespace: str = "", *,
                     propagation: Propagation = "Background", dry_run: bool = False,
                     ) -> Obj: ...

    async def close(self) -> None: ...
