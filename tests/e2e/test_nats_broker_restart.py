"""``shoal up`` restarted under a NatsJetStreamBroker: no undelivered event is lost.

The subscriber refuses every event (503, retried) while the first ``shoal up`` runs, so when
it stops some events are in delivery and the rest were never fetched; after the restart the
subscriber accepts, and every event sent must arrive.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from tests.e2e.test_broker_durability import BROKERS, TRIGGERS, post, ready_address, trigger_ready
from tests.integration.eventing_harness import Sink
from tests.natsserver import NatsServer

from shoal.eventing.event import CloudEvent
from shoal.testing import ShoalProcess

pytestmark = pytest.mark.e2e

CONFIG_NATS = "/api/v1/namespaces/knative-eventing/configmaps/config-nats"
TOTAL = 300


async def configure_nats(http: aiohttp.ClientSession, api: str, url: str) -> None:
    async with http.patch(api + CONFIG_NATS, data=json.dumps({"data": {"url": url}}),
                          headers={"Content-Type": "application/merge-patch+json"}) as resp:
        assert resp.status == 200, await resp.text()


async def test_restart_keeps_undelivered_events(tmp_path: Path) -> None:
    accepting = False
    accepted: set[str] = set()

    async def respond(event: CloudEvent, n: int) -> web.Response:
        if not accepting:
            return web.Response(status=503)
        accepted.add(event.id)
        return web.Response(status=200)

    nats_server = NatsServer(tmp_path / "nats").start()
    sink = await Sink(respond).start()
    shoal = ShoalProcess(tmp_path / "data", "--log-level", "warning").start()
    try:
        async with aiohttp.ClientSession() as http:
            await configure_nats(http, shoal.url, nats_server.url)
            await post(http, shoal.url + BROKERS, {
                "apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                "metadata": {"name": "default", "annotations": {
                    "eventing.knative.dev/broker.class": "NatsJetStreamBroker"}}})
            await post(http, shoal.url + TRIGGERS, {
                "apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
                "metadata": {"name": "all"},
                "spec": {"broker": "default", "subscriber": {"uri": sink.url},
                         "delivery": {"retry": 1000, "backoffPolicy": "linear",
                                      "backoffDelay": "PT0.01S"}}})
            address = await ready_address(http, shoal.url)
            await trigger_ready(http, shoal.url)
            for i in range(TOTAL):
                headers = {"ce-specversion": "1.0", "ce-id": str(i), "ce-type": "t",
                           "ce-source": "/restart", "content-type": "application/json"}
                async with http.post(address, data=b'{"n": 1}', headers=headers) as resp:
                    assert resp.status == 202
            await sink.wait_for(1)  # deliveries are under way, and refused

        assert shoal.stop() == 0
        accepting = True
        shoal.start()
        for _ in range(1200):  # at most about a minute
            if len(accepted) >= TOTAL:
                break
            await asyncio.sleep(0.05)
        assert accepted == {str(i) for i in range(TOTAL)}
    finally:
        shoal.kill()
        await sink.stop()
        nats_server.kill()
