"""Every kind Shoal serves, and the look-ups the API server and the CLI make over them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cache

from shoal.api import core, eventing, flows, messaging, serving, sources
from shoal.api.sources import kafka as kafka_source
from shoal.api.types import ResourceType


class Catalog:
    def __init__(self, types: Iterable[ResourceType]) -> None:
        self.types = tuple(types)
        self._by_gvr = {(t.group, t.version, t.plural): t for t in self.types}
        self._by_gvk = {(t.api_version, t.kind): t for t in self.types}
        self._by_key = {t.key: t for t in self.types}

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(self.types)

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_gvr.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        return self._by_gvk.get((api_version, kind))

    def by_key(self, key: str) -> ResourceType | None:
        return self._by_key.get(key)

    def resolve(self, name: str) -> ResourceType | None:
        """A resource as a user names it: ``ksvc``, ``services``, ``Service``, ``svc.group``."""
        lowered = name.lower()
        for t in self.types:
            if lowered in t.names():
                return t
        return None

    def require(self, name: str) -> ResourceType:
        """``resolve`` for names the code itself uses: a missing one is a bug."""
        rt = self.resolve(name)
        if rt is None:
            raise KeyError(f"no resource type named {name!r}")
        return rt

    def groups(self) -> dict[str, list[str]]:
        """Group name → its versions, in the order kinds were declared."""
        out: dict[str, list[str]] = {}
        for t in self.types:
            versions = out.setdefault(t.group, [])
            if t.version not in versions:
                versions.append(t.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [t for t in self.types if t.group == group and t.version == version]


@cache
def default_catalog() -> Catalog:
    return Catalog((*core.TYPES, *serving.TYPES, *eventing.TYPES, *messaging.TYPES,
                    *flows.TYPES, *sources.TYPES, *kafka_source.TYPES))
