"""The routing table: which revision answers a request for a host.

The Route reconciler publishes one ``Route`` per Knative Route (``update``/``remove``).
The gateway asks ``lookup(host, tag_header)`` once per request, then the activator
(``shoal.serving.activator``) for an instance of that revision.

Hosts follow Knative's default templates: ``{name}.{namespace}.{domain}`` for a Route
(the external hosts the reconciler lists in ``Route.hosts``) and
``{tag}-{name}.{namespace}.{domain}`` for each tag. The private hosts
``{name}.{namespace}.svc.localhost`` (Shoal's cluster-local address, which resolves with
no set-up), Knative's ``{name}.{namespace}.svc.cluster.local``, ``{name}.{namespace}.svc``
and ``{name}.{namespace}`` (and their ``{tag}-{name}`` forms) always route; the external ones
do not for a cluster-local Route (label ``networking.knative.dev/visibility:
cluster-local``). A port in the Host header is ignored and hosts match case-insensitively.

A request on a Route's own host picks a revision by weighted random choice over the
split, per request; on a tag host it goes to the tag's revision; with tag-header routing
enabled (Knative's ``tag-header-based-routing`` feature, off by default as in Knative), a
``Knative-Serving-Tag`` header naming a tag of the Route does the same, and an unknown
tag falls back to the split.

A DomainMapping adds a host of the user's own (``map_host``): a request for it is served
as one on the mapped Route's own host, looked up only when no Route claims the host.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field

PRIVATE_SUFFIXES = ("", ".svc", ".svc.cluster.local", ".svc.localhost")


@dataclass(frozen=True)
class Backend:
    """One target of a Route's split: a revision (``namespace/name``) and its share."""

    revision: str
    percent: int
    tag: str | None = None


@dataclass(frozen=True)
class Route:
    """What the gateway serves for one Knative Route."""

    namespace: str
    name: str
    hosts: tuple[str, ...]  # external hosts, e.g. ("hello.default.localhost",)
    cluster_local: bool  # not served on the external hosts
    targets: tuple[Backend, ...]  # the split; percents sum to 100
    tags: dict[str, str] = field(default_factory=dict, hash=False)  # tag -> revision

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def private_hosts(self) -> tuple[str, ...]:
        """Knative's cluster-local hosts of this Route: they always route."""
        base = f"{self.name}.{self.namespace}"
        return tuple(base + suffix for suffix in PRIVATE_SUFFIXES)


def normalize_host(host: str) -> str:
    """The host part of a Host header, lower-cased, without port or trailing dot."""
    if host.startswith("["):  # an IPv6 literal, "[::1]:8080"
        end = host.find("]")
        host = host[: end + 1] if end > 0 else host
    else:
        host = host.partition(":")[0]
    return host.rstrip(".").lower()


class _Split:
    """The weighted choice over a Route's targets, precomputed for one draw per request."""

    __slots__ = ("bounds", "only", "revisions")

    def __init__(self, targets: Iterable[Backend]) -> None:
        weighted = [t for t in targets if t.percent > 0]
        self.revisions = tuple(t.revision for t in weighted)
        bounds: list[int] = []
        total = 0
        for target in weighted:
            total += target.percent
            bounds.append(total)
        self.bounds = tuple(bounds)
        self.only = self.revisions[0] if len(self.revisions) == 1 else None

    def pick(self, rng: random.Random) -> str:
        if self.only is not None:
            return self.only
        draw = rng.random() * self.bounds[-1]
        return self.revisions[bisect_right(self.bounds, draw)]


def _check(route: Route) -> None:
    total = sum(t.percent for t in route.targets)
    if any(t.percent < 0 for t in route.targets) or total != 100:
        raise ValueError(f"route {route.key}: target percents must be non-negative and "
                         f"sum to 100, not {total}")
    for tag in route.tags:
        if not tag or tag != tag.lower():
            raise ValueError(f"route {route.key}: tag {tag!r} is not a lower-case DNS label")


def _with_tags(bases: Iterable[str], tags: Iterable[str]) -> dict[str, str | None]:
    """Each base host (tag None) and its tag hosts ``{tag}-{base}`` (tag the tag)."""
    hosts: dict[str, str | None] = {}
    for base in bases:
        hosts[base] = None
        for tag in tags:
            hosts[f"{tag}-{base}"] = tag
    return hosts


class RoutingTable:
    """Routes by host and tag; see the module doc."""

    def __init__(self, *, tag_header_routing: bool = False,
                 rng: random.Random | None = None) -> None:
        self.tag_header_routing = tag_header_routing
        self._rng = rng or random.Random()
        self._routes: dict[str, tuple[Route, tuple[str, ...], tuple[str, ...]]] = {}
        self._hosts: dict[str, tuple[Route, _Split, str | None]] = {}
        self._normalized: dict[str, str] = {}  # Host header -> host, for headers seen before
        self._mapped: dict[str, tuple[str, str]] = {}  # custom host -> (namespace, route)

    # -- routes -----------------------------------------------------------------------

    def update(self, route: Route) -> None:
        """Serve ``route`` (replacing any earlier version of it); a host claimed by two
        Routes goes to the one updated last."""
        _check(route)
        self.remove(route.namespace, route.name)
        split = _Split(route.targets)
        private = _with_tags(route.private_hosts(), route.tags)
        external = {} if route.cluster_local else _with_tags(
            (normalize_host(h) for h in route.hosts), route.tags)
        hosts = {**private, **external}
        for host, tag in hosts.items():
            self._hosts[host] = (route, split, tag)
        self._routes[route.key] = (route, tuple(hosts), tuple(external))

    def remove(self, namespace: str, name: str) -> None:
        """Stop serving the Route ``namespace/name`` (nothing if it is not served)."""
        entry = self._routes.pop(f"{namespace}/{name}", None)
        if entry is None:
            return
        route = entry[0]
        for host in entry[1]:
            current = self._hosts.get(host)
            if current is not None and current[0] is route:
                del self._hosts[host]

    def routes(self) -> list[Route]:
        return [entry[0] for entry in self._routes.values()]

    def external_hosts(self) -> list[str]:
        """The external hosts served, sorted (what a 404 page may show)."""
        return sorted({h for _, _, external in self._routes.values() for h in external})

    def lookup(self, host: str, tag_header: str | None = None) -> tuple[Route, str] | None:
        """The Route serving ``host`` and the revision this request goes to, or None."""
        key = self._normalized.get(host)
        if key is None:
            key = normalize_host(host)
            if len(self._normalized) >= 4096:
                self._normalized.clear()
            self._normalized[host] = key
        hit = self._hosts.get(key)
        if hit is None:
            mapped = self._mapped.get(key)
            if mapped is None:
                return None
            hit = self._hosts.get(f"{mapped[1]}.{mapped[0]}")
            if hit is None:
                return None
        route, split, tag = hit
        if tag is not None:
            return route, route.tags[tag]
        if tag_header and self.tag_header_routing:
            revision = route.tags.get(tag_header.strip().lower())
            if revision is not None:
                return route, revision
        return route, split.only or split.pick(self._rng)

    # -- domain mappings --------------------------------------------------------------

    def map_host(self, host: str, namespace: str, route: str) -> None:
        """Serve ``host`` as the Route ``namespace/route`` (a DomainMapping)."""
        self._mapped[normalize_host(host)] = (namespace, route)

    def unmap_host(self, host: str, namespace: str) -> None:
        """Stop serving ``host`` if the mapping of ``namespace`` holds it."""
        key = normalize_host(host)
        if key in self._mapped and self._mapped[key][0] == namespace:
            del self._mapped[key]

    def mapped_hosts(self) -> dict[str, tuple[str, str]]:
        return dict(self._mapped)
