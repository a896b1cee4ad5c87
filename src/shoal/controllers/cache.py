"""The informer's local cache: objects by ``namespace/name`` key, with secondary indexes.

An ``Informer`` fills one ``ObjectCache`` from list and watch; reconcilers read it (never
the API) to find their object, list the children they own (``by_owner(uid)``), or look up
objects by any index they register (``add_index``). Objects in the cache are the dicts the
client returned and are shared: readers must copy before changing one (the engine hands
reconcilers a deep copy).

Keys follow client-go's ``MetaNamespaceKeyFunc``: ``namespace/name``, or just ``name`` for
cluster-scoped objects.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator
from typing import Any

Obj = dict[str, Any]
IndexFunc = Callable[[Obj], Iterable[str]]

OWNER_INDEX = "owner-uid"


def object_key(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    name = str(meta.get("name") or "")
    namespace = str(meta.get("namespace") or "")
    return f"{namespace}/{name}" if namespace else name


def make_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


def split_key(key: str) -> tuple[str, str]:
    """``(namespace, name)`` of a key; the namespace is ``""`` for cluster-scoped objects."""
    namespace, sep, name = key.partition("/")
    return (namespace, name) if sep else ("", namespace)


def owner_uids(obj: Obj) -> list[str]:
    """The UIDs named in ``metadata.ownerReferences``."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [str(ref["uid"]) for ref in refs if ref.get("uid")]


def resource_version(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


class ObjectCache:
    """A thread-unsafe (single event loop) indexer, as client-go's ``cache.Indexer``."""

    def __init__(self) -> None:
        self._items: dict[str, Obj] = {}
        self._index_funcs: dict[str, IndexFunc] = {OWNER_INDEX: owner_uids}
        # index name -> index value -> keys
        self._indexes: dict[str, dict[str, set[str]]] = {OWNER_INDEX: {}}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        """The keys, as a snapshot (safe to change the cache while iterating)."""
        return iter(list(self._items))

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def get_by_name(self, namespace: str, name: str) -> Obj | None:
        return self._items.get(make_key(namespace, name))

    def keys(self) -> list[str]:
        return list(self._items)

    def list(self, namespace: str | None = None) -> list[Obj]:
        if namespace is None:
            return list(self._items.values())
        prefix = f"{namespace}/"
        return [obj for key, obj in self._items.items() if key.startswith(prefix)]

    def by_index(self, index: str, value: str) -> builtins.list[Obj]:
        keys = self._indexes[index].get(value, set())
        return [self._items[k] for k in sorted(keys)]

    def by_owner(self, uid: str) -> builtins.list[Obj]:
        """Objects whose ``ownerReferences`` name ``uid``, sorted by key."""
        return self.by_index(OWNER_INDEX, uid)

    def add_index(self, name: str, func: IndexFunc) -> None:
        """Register an index; existing objects are indexed at once."""
        if name in self._index_funcs:
            raise ValueError(f"index {name!r} already exists")
        self._index_funcs[name] = func
        self._indexes[name] = {}
        for key, obj in self._items.items():
            self._index_one(name, key, obj)

    def put(self, obj: Obj) -> Obj | None:
        """Insert or replace; returns the object it replaced."""
        key = object_key(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        for name in self._index_funcs:
            self._index_one(name, key, obj)
        return old

    def remove(self, key: str) -> Obj | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def replace(self, objs: Iterable[Obj]) -> None:
        self._items = {}
        self._indexes = {name: {} for name in self._index_funcs}
        for obj in objs:
            self.put(obj)

    def _index_one(self, name: str, key: str, obj: Obj) -> None:
        index = self._indexes[name]
        for value in self._index_funcs[name](obj):
            index.setdefault(value, set()).add(key)

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, func in self._index_funcs.items():
            index = self._indexes[name]
            for value in func(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]
