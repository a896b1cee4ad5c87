"""Persistence behind the API server: SQLite objects and a change log."""

from shoal.store.sqlite import (
    ADDED,
    DELETED,
    MODIFIED,
    Change,
    Expired,
    KeyExists,
    KeyMissing,
    Store,
    StoreError,
    VersionConflict,
)

__all__ = [
    "ADDED", "DELETED", "MODIFIED", "Change", "Expired", "KeyExists", "KeyMissing", "Store",
    "StoreError", "VersionConflict",
]
