"""Fixtures for the controller engine's tests: a fake clock and an in-memory client.

Tests that need only the ``Client`` protocol take ``client``; tests that steer the fake
(inject failures, compact the change log, break watches) take ``fake``.
"""

from __future__ import annotations

import pytest
from tests.unit.controllers.fakeclient import FakeClient

from shoal.client.base import Client
from shoal.controllers.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> FakeClient:
    return FakeClient(clock=clock)


@pytest.fixture
def client(fake: FakeClient) -> Client:
    return fake
