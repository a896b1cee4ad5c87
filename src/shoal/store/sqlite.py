"""The object store: every API object in one SQLite file, with a change log for watches.

Called by the registry (``shoal.apiserver.registry``), which owns admission and the API's
semantics; the store only keeps objects and orders changes:

- ``objects`` holds the current JSON of each object, keyed by (resource, namespace, name);
- ``changes`` is an append-only log of (resourceVersion, type, object) that watches resume
  from; it is compacted to its newest ``retention`` entries, and a watch from before that
  gets ``Expired`` (the API's 410 Gone);
- one counter, bumped by every write in the same transaction, is the ``resourceVersion``.

SQLite runs in WAL mode with one writer (the event loop's thread). ``synchronous=NORMAL``
makes every committed write survive a crash of the process (kill -9); ``durable=True``
adds an fsync per commit so it survives a power cut too. Listeners are told of each change
right after its commit, in resourceVersion order.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Obj = dict[str, Any]

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    resource TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    uid TEXT NOT NULL,
    rv INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (resource, namespace, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS objects_uid ON objects(uid);
CREATE TABLE IF NOT EXISTS owners (
    owner_uid TEXT NOT NULL,
    resource TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (owner_uid, resource, namespace, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes (
    rv INTEGER PRIMARY KEY,
    resource TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta(key, value) VALUES ('rv', 0), ('compacted', 0);
"""


class StoreError(Exception):
    """Base of the store's own errors; the registry turns them into API errors."""


class KeyExists(StoreError):
    pass


class KeyMissing(StoreError):
    pass


class VersionConflict(StoreError):
    def __init__(self, current: Obj) -> None:
        super().__init__("the object has been modified")
        self.current = current


class Expired(StoreError):
    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


@dataclass(frozen=True)
class Change:
    rv: int
    type: str
    resource: str
    namespace: str
    name: str
    data: str  # the object's JSON, as stored

    def object(self) -> Obj:
        value: Obj = json.loads(self.data)
        return value


Listener = Callable[[Change], None]


def _owner_uids(obj: Obj) -> set[str]:
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return {r["uid"] for r in refs if isinstance(r, dict) and r.get("uid")}


class Store:
    def __init__(self, path: Path | str, *, retention: int = 100_000,
                 durable: bool = False) -> None:
        self.path = str(path)
        self.retention = retention
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self._db.execute("PRAGMA foreign_keys=OFF")
        self._db.executescript(_SCHEMA)
        self._listeners: builtins.list[Listener] = []
        self._writes_since_compact = 0
        self._rv = self._meta("rv")
        self._compacted = self._meta("compacted")

    # -- reading -------------------------------------------------------------------------

    @property
    def revision(self) -> int:
        """The newest resourceVersion: that of the last committed write."""
        return self._rv

    @property
    def oldest_watchable(self) -> int:
        """The oldest resourceVersion a watch may resume from."""
        return self._compacted

    def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        row = self._db.execute(
            "SELECT data FROM objects WHERE resource=? AND namespace=? AND name=?",
            (resource, namespace, name)).fetchone()
        if row is None:
            return None
        value: Obj = json.loads(row[0])
        return value

    def get_by_uid(self, uid: str) -> tuple[str, Obj] | None:
        """(resource, object) of the object with this uid, if it exists."""
        row = self._db.execute("SELECT resource, data FROM objects WHERE uid=?",
                               (uid,)).fetchone()
        if row is None:
            return None
        return row[0], json.loads(row[1])

    def list_raw(self, resource: str, namespace: str | None = None) -> builtins.list[str]:
        """The stored JSON of every object of a resource (in one namespace, or all)."""
        if namespace is None:
            rows = self._db.execute(
                "SELECT data FROM objects WHERE resource=? ORDER BY namespace, name",
                (resource,))
        else:
            rows = self._db.execute(
                "SELECT data FROM objects WHERE resource=? AND namespace=? ORDER BY name",
                (resource, namespace))
        return [r[0] for r in rows]

    def list(self, resource: str, namespace: str | None = None) -> builtins.list[Obj]:
        return [json.loads(d) for d in self.list_raw(resource, namespace)]

    def names_in_namespace(self, namespace: str) -> builtins.list[tuple[str, str]]:
        """(resource, name) of every object in a namespace."""
        rows = self._db.execute("SELECT resource, name FROM objects WHERE namespace=?",
                                (namespace,))
        return [(r[0], r[1]) for r in rows]

    def dependents(self, owner_uid: str) -> builtins.list[tuple[str, str, str]]:
        """(resource, namespace, name) of every object that names this owner."""
        rows = self._db.execute(
            "SELECT resource, namespace, name FROM owners WHERE owner_uid=?", (owner_uid,))
        return [(r[0], r[1], r[2]) for r in rows]

    def changes_since(self, rv: int, resource: str | None = None) -> builtins.list[Change]:
        """Every change after ``rv``; ``Expired`` if the log no longer reaches back to it."""
        if rv < self._compacted:
            raise Expired(rv, self._compacted)
        if resource is None:
            rows = self._db.execute(
                "SELECT rv, type, resource, namespace, name, data FROM changes WHERE rv>? "
                "ORDER BY rv", (rv,))
        else:
            rows = self._db.execute(
                "SELECT rv, type, resource, namespace, name, data FROM changes "
                "WHERE rv>? AND resource=? ORDER BY rv", (rv, resource))
        return [Change(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]

    # -- writing -------------------------------------------------------------------------

    def create(self, resource: str, namespace: str, name: str, obj: Obj) -> Obj:
        with self._write() as (cur, rv):
            if cur.execute("SELECT 1 FROM objects WHERE resource=? AND namespace=? AND name=?",
                           (resource, namespace, name)).fetchone():
                raise KeyExists(name)
            data = self._stamp(obj, rv)
            cur.execute("INSERT INTO objects VALUES (?,?,?,?,?,?)",
                        (resource, namespace, name, obj["metadata"].get("uid", ""), rv, data))
            self._index_owners(cur, resource, namespace, name, set(), _owner_uids(obj))
            change = self._log(cur, rv, ADDED, resource, namespace, name, data)
        self._publish(change)
        return obj

    def update(self, resource: str, namespace: str, name: str, obj: Obj,
               expected_rv: int | None = None) -> Obj:
        """Replace an object; with ``expected_rv``, only if it is still at that version."""
        with self._write() as (cur, rv):
            row = cur.execute(
                "SELECT rv, data FROM objects WHERE resource=? AND namespace=? AND name=?",
                (resource, namespace, name)).fetchone()
            if row is None:
                raise KeyMissing(name)
            if expected_rv is not None and row[0] != expected_rv:
                raise VersionConflict(json.loads(row[1]))
            old_owners = _owner_uids(json.loads(row[1]))
            data = self._stamp(obj, rv)
            cur.execute(
                "UPDATE objects SET rv=?, data=?, uid=? WHERE resource=? AND namespace=? "
                "AND name=?",
                (rv, data, obj["metadata"].get("uid", ""), resource, namespace, name))
            self._index_owners(cur, resource, namespace, name, old_owners, _owner_uids(obj))
            change = self._log(cur, rv, MODIFIED, resource, namespace, name, data)
        self._publish(change)
        return obj

    def delete(self, resource: str, namespace: str, name: str,
               expected_rv: int | None = None) -> Obj:
        """Remove an object; the DELETED change carries its last state at a new version."""
        with self._write() as (cur, rv):
            row = cur.execute(
                "SELECT rv, data FROM objects WHERE resource=? AND namespace=? AND name=?",
                (resource, namespace, name)).fetchone()
            if row is None:
                raise KeyMissing(name)
            obj: Obj = json.loads(row[1])
            if expected_rv is not None and row[0] != expected_rv:
                raise VersionConflict(obj)
            cur.execute("DELETE FROM objects WHERE resource=? AND namespace=? AND name=?",
                        (resource, namespace, name))
            self._index_owners(cur, resource, namespace, name, _owner_uids(obj), set())
            data = self._stamp(obj, rv)
            change = self._log(cur, rv, DELETED, resource, namespace, name, data)
        self._publish(change)
        return obj

    # -- listeners -----------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` after each commit; returns the function that unsubscribes."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def close(self) -> None:
        self._listeners.clear()
        self._db.close()

    # -- internals -----------------------------------------------------------------------

    def _meta(self, key: str) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return int(row[0]) if row else 0

    @contextmanager
    def _write(self) -> Iterator[tuple[sqlite3.Cursor, int]]:
        cur = self._db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        rv = self._rv + 1
        try:
            yield cur, rv
            cur.execute("UPDATE meta SET value=? WHERE key='rv'", (rv,))
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        self._rv = rv
        self._writes_since_compact += 1
        if self._writes_since_compact >= max(1, self.retention // 10):
            self.compact()

    @staticmethod
    def _stamp(obj: Obj, rv: int) -> str:
        obj.setdefault("metadata", {})["resourceVersion"] = str(rv)
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)

    @staticmethod
    def _index_owners(cur: sqlite3.Cursor, resource: str, namespace: str, name: str,
                      old: set[str], new: set[str]) -> None:
        for uid in old - new:
            cur.execute("DELETE FROM owners WHERE owner_uid=? AND resource=? AND namespace=? "
                        "AND name=?", (uid, resource, namespace, name))
        for uid in new - old:
            cur.execute("INSERT OR IGNORE INTO owners VALUES (?,?,?,?)",
                        (uid, resource, namespace, name))

    @staticmethod
    def _log(cur: sqlite3.Cursor, rv: int, kind: str, resource: str, namespace: str,
             name: str, data: str) -> Change:
        cur.execute("INSERT INTO changes VALUES (?,?,?,?,?,?)",
                    (rv, resource, namespace, name, kind, data))
        return Change(rv, kind, resource, namespace, name, data)

    def _publish(self, change: Change) -> None:
        for listener in list(self._listeners):
            listener(change)

    def compact(self) -> None:
        """Drop changes older than the newest ``retention``; watches before them get 410."""
        self._writes_since_compact = 0
        horizon = self._rv - self.retention
        if horizon <= self._compacted:
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._db.execute("DELETE FROM changes WHERE rv<=?", (horizon,))
        self._db.execute("UPDATE meta SET value=? WHERE key='compacted'", (horizon,))
        self._db.execute("COMMIT")
        self._compacted = horizon
