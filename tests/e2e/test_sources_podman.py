"""A ContainerSource with an image: a real ``shoal up`` runs it in podman.

The image is busybox-static imported without a registry (as in ``test_podman_runtime``); its
generator posts one event to ``$K_SINK`` with ``wget`` and exits 1, so the runtime restarts
it and it posts again. Skipped, with the reason, when podman or a static busybox is missing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from tests.e2e.sources_rig import Rig, conditions
from tests.e2e.test_podman_runtime import APPLETS, busybox_image

pytestmark = pytest.mark.e2e

GENERATOR = (
    'wget -q -O- --header "ce-specversion: 1.0" '
    '--header "ce-id: $(cat /proc/sys/kernel/random/uuid)" '
    '--header "ce-type: dev.example.podman" --header "ce-source: /podman" '
    '--header "Content-Type: application/json" --post-data "$K_CE_OVERRIDES" "$K_SINK"; '
    "exit 1")


@pytest.fixture(scope="module")
def generator_image() -> Iterator[str]:
    yield from busybox_image("shoal-e2e-generator", (*APPLETS, "wget"))


async def test_container_source_image_posts_to_k_sink_from_podman(
        rig: Rig, generator_image: str) -> None:
    broker_url = await rig.broker_to_sink()
    await rig.ok("source", "container", "create", "gen", "--image", generator_image,
                 "--cmd", "/bin/sh", "--arg=-c", f"--arg={GENERATOR}", "--sink",
                 "broker:default", "--ce-override", "team=blue")
    events = await rig.sink.wait_for(2, timeout=60)
    assert [e.type for e in events[:2]] == ["dev.example.podman"] * 2
    assert json.loads(events[0].data or b"") == {"extensions": {"team": "blue"}}
    src = await rig.get("/apis/sources.knative.dev/v1/namespaces/default/containersources/gen")
    assert (src["status"]["sinkUri"], conditions(src)["SinkBindingReady"]) == (broker_url, "True")
    await rig.ok("source", "container", "delete", "gen")
