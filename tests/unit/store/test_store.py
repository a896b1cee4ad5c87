"""The SQLite store: versions, conflicts, the change log and its horizon, owners, restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shoal.store import ADDED, DELETED, MODIFIED, Change, Expired, KeyExists, Store, VersionConflict


def obj(name: str, uid: str = "", owners: tuple[str, ...] = ()) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": uid or f"uid-{name}"}
    if owners:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "X", "name": o, "uid": o}
                                   for o in owners]
    return {"metadata": meta, "data": {}}


def test_every_write_gets_a_higher_resource_version(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    versions = []
    for name in ("a", "b"):
        created = store.create("/configmaps", "default", name, obj(name))
        versions.append(int(created["metadata"]["resourceVersion"]))
    updated = store.update("/configmaps", "default", "a", obj("a"))
    versions.append(int(updated["metadata"]["resourceVersion"]))
    assert versions == sorted(set(versions))
    assert store.revision == versions[-1]
    stored = store.get("/configmaps", "default", "a")
    assert stored is not None and stored["metadata"]["resourceVersion"] == str(versions[-1])


def test_create_twice_and_stale_update_are_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    first = store.create("/configmaps", "default", "a", obj("a"))
    with pytest.raises(KeyExists):
        store.create("/configmaps", "default", "a", obj("a"))
    stale = int(first["metadata"]["resourceVersion"])
    store.update("/configmaps", "default", "a", obj("a"), expected_rv=stale)
    with pytest.raises(VersionConflict):
        store.update("/configmaps", "default", "a", obj("a"), expected_rv=stale)


def test_change_log_replays_in_order_and_expires_past_retention(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", retention=20)
    seen: list[Change] = []
    store.subscribe(seen.append)
    start = store.revision
    store.create("/configmaps", "ns", "a", obj("a"))
    store.update("/configmaps", "ns", "a", obj("a"))
    store.delete("/configmaps", "ns", "a")
    replay = store.changes_since(start)
    assert [c.type for c in replay] == [ADDED, MODIFIED, DELETED]
    assert [c.rv for c in replay] == [c.rv for c in seen]
    for i in range(60):
        store.create("/configmaps", "ns", f"n{i}", obj(f"n{i}"))
    store.compact()
    with pytest.raises(Expired):
        store.changes_since(start)
    recent = store.revision - 5
    assert len(store.changes_since(recent)) == 5


def test_owner_index_follows_owner_references(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.create("/configmaps", "ns", "child", obj("child", owners=("o1",)))
    assert store.dependents("o1") == [("/configmaps", "ns", "child")]
    store.update("/configmaps", "ns", "child", obj("child", owners=("o2",)))
    assert store.dependents("o1") == []
    assert store.dependents("o2") == [("/configmaps", "ns", "child")]
    store.delete("/configmaps", "ns", "child")
    assert store.dependents("o2") == []


def test_reopening_keeps_objects_versions_and_log(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.create("/configmaps", "ns", "a", obj("a"))
    rv = store.revision
    store.close()
    again = Store(tmp_path / "s.db")
    assert again.get("/configmaps", "ns", "a") is not None
    assert again.revision == rv
    assert [c.name for c in again.changes_since(0)] == ["a"]
    created = again.create("/configmaps", "ns", "b", obj("b"))
    assert int(created["metadata"]["resourceVersion"]) == rv + 1
