"""Destination resolution: a Knative ``Destination`` (ref and/or uri) to a URL.

Reconcilers call it for subscribers, replies, sinks and dead-letter sinks: a ``ref`` is
looked up through the API and its ``status.address.url`` used (Knative's Addressable duck
type); a ``uri`` is used as is when absolute, or joined to the ref's URL when relative. With
a tracker, the referent is tracked so the caller is reconciled again when it changes (a
subscriber that becomes addressable later).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

from shoal.api.catalog import Catalog
from shoal.api.errors import NotFound
from shoal.client.base import Client
from shoal.controllers.clock import Clock
from shoal.controllers.tracker import Reference, Tracker


class ResolveError(Exception):
    """The destination cannot be resolved (yet); ``reason`` is a CamelCase condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _address(obj: dict[str, Any]) -> str:
    status = obj.get("status") or {}
    address = status.get("address") or {}
    url = address.get("url") if isinstance(address, dict) else None
    if not url and obj.get("kind") == "Service":
        url = status.get("url")  # a Knative Service before its cluster-local address is set
    return str(url or "")


class DestinationResolver:
    def __init__(self, client: Client, catalog: Catalog, tracker: Tracker | None = None) -> None:
        self.client = client
        self.catalog = catalog
        self.tracker = tracker

    async def resolve(self, destination: Any, namespace: str, *, by: str = "") -> str:
        """The URL of ``destination`` (a dict or model with ``ref``/``uri``)."""
        dest = destination.dump() if hasattr(destination, "dump") else dict(destination or {})
        ref = dest.get("ref")
        uri = str(dest.get("uri") or "")
        if not ref:
            if not uri:
                raise ResolveError("DestinationEmpty", "destination has neither ref nor uri")
            if not urlsplit(uri).scheme:
                raise ResolveError("DestinationInvalid", f"uri {uri!r} is not absolute")
            return uri
        api_version = str(ref.get("apiVersion") or "")
        kind = str(ref.get("kind") or "")
        name = str(ref.get("name") or "")
        ref_ns = str(ref.get("namespace") or namespace)
        rt = self.catalog.by_kind(api_version, kind)
        if rt is None:
            raise ResolveError("DestinationNotAddressable",
                               f"{kind} ({api_version}) is not a kind this server knows")
        if self.tracker is not None and by:
            self.tracker.track(Reference.to(rt, ref_ns, name), by)
        try:
            obj = await self.client.get(rt, name, ref_ns)
        except NotFound:
            raise ResolveError("DestinationNotFound",
                               f'{kind} "{name}" not found in namespace "{ref_ns}"') from None
        base = _address(obj)
        if not base:
            raise ResolveError("DestinationNotAddressable",
                               f'{kind} "{name}" does not have an address yet')
        if not uri:
            return base
        if not base.endswith("/") and not uri.startswith("/"):
            base += "/"
        return urljoin(base, uri)


def tracked_resolver(client: Client, catalog: Catalog,
                     clock: Clock | None = None) -> tuple[Tracker, DestinationResolver]:
    """A resolver and the tracker it records referents in, for one reconciler alone.

    A tracker maps a referent to bare ``namespace/name`` keys that every controller
    watching through it enqueues into its own queue; shared by two kinds, one kind's keys
    would land in the other's queue. So each reconciler that tracks gets its own.
    """
    tracker = Tracker(clock=clock)
    return tracker, DestinationResolver(client, catalog, tracker)
