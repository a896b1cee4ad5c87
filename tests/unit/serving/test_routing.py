"""The routing table: hosts, tags, visibility, the weighted split and endpoints."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from shoal.serving.routing import Backend, Route, RoutingTable, normalize_host


def hello(*, split: tuple[Backend, ...] = (Backend("default/hello-1", 100),),
          tags: dict[str, str] | None = None, cluster_local: bool = False,
          name: str = "hello") -> Route:
    return Route("default", name, (f"{name}.default.localhost",), cluster_local, split,
                 tags or {})


def revision(table: RoutingTable, host: str, tag: str | None = None) -> str | None:
    hit = table.lookup(host, tag)
    return hit[1] if hit is not None else None


@pytest.mark.parametrize(("raw", "host"), [
    ("Hello.Default.LOCALHOST:8080", "hello.default.localhost"),
    ("hello.default.localhost.", "hello.default.localhost"),
    ("[::1]:8080", "[::1]"),
    ("hello.default", "hello.default"),
])
def test_normalize_host(raw: str, host: str) -> None:
    assert normalize_host(raw) == host


def test_external_and_private_hosts_route() -> None:
    table = RoutingTable()
    table.update(hello())
    for host in ("hello.default.localhost", "HELLO.default.localhost:8080",
                 "hello.default.svc.cluster.local", "hello.default.svc", "hello.default:80"):
        assert revision(table, host) == "default/hello-1", host
    assert table.lookup("nope.default.localhost") is None
    assert table.lookup("") is None


def test_cluster_local_is_not_on_external_hosts() -> None:
    table = RoutingTable()
    table.update(hello(cluster_local=True, tags={"v2": "default/hello-2"}))
    assert table.lookup("hello.default.localhost") is None
    assert table.lookup("v2-hello.default.localhost") is None
    assert revision(table, "hello.default.svc.cluster.local") == "default/hello-1"
    assert revision(table, "v2-hello.default.svc.cluster.local") == "default/hello-2"
    assert table.external_hosts() == []


def test_tag_hosts_and_tag_header() -> None:
    table = RoutingTable()
    table.update(hello(tags={"candidate": "default/hello-2"}))
    assert revision(table, "candidate-hello.default.localhost") == "default/hello-2"
    assert revision(table, "candidate-hello.default") == "default/hello-2"
    # the header counts only when tag-header routing is enabled, as in Knative
    assert revision(table, "hello.default.localhost", "candidate") == "default/hello-1"
    table.tag_header_routing = True
    assert revision(table, "hello.default.localhost", "candidate") == "default/hello-2"
    assert revision(table, "hello.default.localhost", "unknown") == "default/hello-1"
    assert table.external_hosts() == ["candidate-hello.default.localhost",
                                      "hello.default.localhost"]


def test_weighted_split_per_request() -> None:
    table = RoutingTable(rng=random.Random(1))
    table.update(hello(split=(Backend("default/hello-1", 80), Backend("default/hello-2", 20),
                              Backend("default/hello-3", 0, "zero"))))
    counts = Counter(revision(table, "hello.default.localhost") for _ in range(10_000))
    assert set(counts) == {"default/hello-1", "default/hello-2"}
    assert 7800 <= counts["default/hello-1"] <= 8200


def test_update_replaces_and_remove_forgets_hosts() -> None:
    table = RoutingTable()
    table.update(hello(tags={"old": "default/hello-1"}))
    table.update(hello(split=(Backend("default/hello-2", 100),), tags={"new": "default/hello-2"}))
    assert revision(table, "hello.default.localhost") == "default/hello-2"
    assert table.lookup("old-hello.default.localhost") is None
    assert revision(table, "new-hello.default.localhost") == "default/hello-2"
    table.remove("default", "hello")
    assert table.lookup("hello.default.localhost") is None
    assert table.routes() == []
    table.remove("default", "hello")  # removing twice is fine


def test_a_host_claimed_twice_goes_to_the_latest_and_survives_the_other_removal() -> None:
    table = RoutingTable()
    first = Route("default", "a", ("shared.example",), False,
                  (Backend("default/a-1", 100),), {})
    second = Route("default", "b", ("shared.example",), False,
                   (Backend("default/b-1", 100),), {})
    table.update(first)
    table.update(second)
    assert revision(table, "shared.example") == "default/b-1"
    table.remove("default", "a")
    assert revision(table, "shared.example") == "default/b-1"


@pytest.mark.parametrize("split", [
    (Backend("default/hello-1", 50),),
    (Backend("default/hello-1", 120), Backend("default/hello-2", -20)),
])
def test_split_must_sum_to_100(split: tuple[Backend, ...]) -> None:
    with pytest.raises(ValueError, match="sum to 100"):
        RoutingTable().update(hello(split=split))


def test_a_mapped_host_serves_its_route_split() -> None:
    table = RoutingTable()
    table.map_host("My.Example.com", "default", "hello")
    assert table.lookup("my.example.com") is None  # the Route is not served yet
    table.update(hello(cluster_local=True))
    assert revision(table, "my.example.com:8080") == "default/hello-1"
    table.unmap_host("my.example.com", "other")  # another namespace's mapping: kept
    assert revision(table, "my.example.com") == "default/hello-1"
    table.unmap_host("my.example.com", "default")
    assert table.lookup("my.example.com") is None
