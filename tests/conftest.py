"""Fixtures shared by the test suite: an API server on loopback over a temporary store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shoal.api.catalog import default_catalog
from shoal.apiserver.registry import Registry
from shoal.apiserver.server import ApiServer
from shoal.store import Store


@dataclass
class RunningApi:
    url: str
    token: str | None
    registry: Registry
    store: Store


@pytest.fixture
async def api_server(tmp_path: Path) -> AsyncIterator[RunningApi]:
    store = Store(tmp_path / "shoal.db", retention=1000)
    registry = Registry(store, default_catalog())
    registry.bootstrap()
    server = ApiServer(registry, "127.0.0.1", 0, bookmark_interval=0.5)
    await server.start()
    try:
        yield RunningApi(server.url, None, registry, store)
    finally:
        await server.stop()
        store.close()
