"""Fixtures of the end-to-end tests: a real ``shoal up`` with a recording sink."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from tests.e2e.sources_rig import Rig
from tests.integration.eventing_harness import Sink

from shoal.testing import ShoalProcess


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    sink = await Sink().start()
    shoal = ShoalProcess(tmp_path / "data", "--log-level", "warning").start()
    try:
        async with aiohttp.ClientSession() as http:
            yield Rig(shoal, http, sink)
    finally:
        shoal.stop()
        await sink.stop()
    assert "Traceback" not in (tmp_path / "data" / "shoal.out").read_text()
