"""Test kinds and helpers for the controller engine's tests.

``Widget`` is a made-up kind shaped like a Knative resource (spec, status with
observedGeneration and conditions, generation bumped on spec changes); ``Gadget`` is a
child kind a Widget can own. ``eventually`` polls a condition on the real event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from shoal.api.model import KObject, Model, Status
from shoal.api.types import ResourceType
from shoal.client.base import Obj


class WidgetSpec(Model):
    size: int | None = None
    color: str | None = None


class WidgetStatus(Status):
    seen_size: int | None = None


class Widget(KObject):
    spec: WidgetSpec | None = None
    status: WidgetStatus | None = None


class Gadget(KObject):
    spec: dict[str, Any] | None = None
    status: Status | None = None


WIDGETS = ResourceType("test.shoal.dev", "v1", "Widget", "widgets", Widget)
GADGETS = ResourceType("test.shoal.dev", "v1", "Gadget", "gadgets", Gadget)


def widget(name: str, namespace: str = "default", **spec: Any) -> Obj:
    return {
        "apiVersion": WIDGETS.api_version,
        "kind": "Widget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def gadget(name: str, owner: Obj | None = None, namespace: str = "default") -> Obj:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
                "controller": True,
            }
        ]
    return {"apiVersion": GADGETS.api_version, "kind": "Gadget", "metadata": meta, "spec": {}}


async def eventually(
    check: Callable[[], bool], timeout: float = 5.0, message: str = "condition not met"
) -> None:
    """Wait (in real time) until ``check()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"{message} within {timeout}s")
        await asyncio.sleep(0.001)
