"""What ``shoal up`` and its dispatcher process share about running: the event loop, and
the garbage collector's settings once they are up."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any

# Container allocations between young-generation collections (CPython's default is 700).
YOUNG_COLLECTION_EVERY = 100_000


def run(main: Coroutine[Any, Any, int]) -> int:
    """Run on uvloop where it is installed (it is a dependency on Linux and macOS)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(main)
    return uvloop.run(main)


def settle_gc() -> None:
    """Once a process is up: what it made while starting (modules, the API's caches) moves to
    the permanent generation, and the collector runs less often. With thousands of
    deliveries in flight, its passes over young coroutines, futures and frames took about a
    sixth of the dispatcher's CPU; nearly everything on the hot paths is freed by reference
    counting, never by the collector."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, 50, 100)
