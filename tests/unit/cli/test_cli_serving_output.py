"""What the serving verbs print, with no server: kn's lists, describe layouts, parsers."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

import pytest

from shoal.api.errors import NotFound
from shoal.cli.commands import domain, logs, revision, route, service
from shoal.cli.errors import CliError
from shoal.cli.main import build_parser, main

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
EARLIER = "2024-05-01T11:58:00Z"
GEN = "serving.knative.dev/configurationGeneration"


def parse(*argv: str) -> argparse.Namespace:
    return build_parser(list(argv)).parse_args(list(argv))


def cond(type_: str, status: str = "True", reason: str = "", **extra: str) -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "lastTransitionTime": EARLIER,
        **extra,
    }


def a_revision(name: str, generation: int, ready: str = "True", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "creationTimestamp": EARLIER,
            "labels": {"serving.knative.dev/service": "hello", GEN: str(generation)},
        },
        "spec": {"containers": [{"image": "img"}], **spec},
        "status": {"conditions": [cond("Ready", ready, "Failed" if ready == "False" else "")]},
    }


def a_service() -> dict[str, Any]:
    return {
        "metadata": {"name": "hello", "namespace": "default", "creationTimestamp": EARLIER},
        "status": {
            "url": "http://hello.default.localhost:8080",
            "latestReadyRevisionName": "hello-00002",
            "conditions": [cond("RoutesReady"), cond("Ready"), cond("ConfigurationsReady")],
            "traffic": [
                {"revisionName": "hello-00002", "latestRevision": True, "percent": 90},
                {
                    "revisionName": "hello-00001",
                    "latestRevision": False,
                    "percent": 10,
                    "tag": "old",
                    "url": "http://old-hello.default.localhost:8080",
                },
            ],
        },
    }


def test_every_verb_has_a_handler() -> None:
    for argv in (
        ["service", "create", "s", "--image", "i"],
        ["service", "update", "s", "--image", "i"],
        ["service", "apply", "s", "--image", "i"],
        ["service", "list"],
        ["service", "ls", "-A"],
        ["service", "describe", "s", "-o", "url"],
        ["service", "delete", "s", "--wait"],
        ["revision", "list", "-s", "hello"],
        ["revision", "describe", "r"],
        ["revision", "delete", "r", "q"],
        ["route", "list"],
        ["route", "describe", "r"],
        ["domain", "create", "a.example.com", "--ref", "hello"],
        ["domain", "list"],
        ["domain", "describe", "a.example.com"],
        ["domain", "delete", "a.example.com"],
        ["logs", "hello", "-f", "--revision", "hello-00001"],
    ):
        assert callable(parse(*argv).handler), argv


def test_revision_list_s_is_the_service_and_server_keeps_its_long_name() -> None:
    args = parse("revision", "list", "-s", "hello", "--server", "http://x:1")
    assert (args.service, args.server) == ("hello", "http://x:1")
    # and -s still means --server for the commands registered after it
    assert parse("route", "list", "-s", "http://y:2").server == "http://y:2"
    assert parse("logs", "hello", "-s", "http://y:2").server == "http://y:2"


def test_wait_defaults() -> None:
    create = parse("service", "create", "s", "--image", "i")
    assert (create.wait, create.wait_timeout) == (True, 600)
    assert parse("service", "create", "s", "--no-wait").wait is False
    assert parse("service", "delete", "s").wait is False


def test_update_without_flags_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["service", "update", "s", "--server", "http://127.0.0.1:9"]) == 1
    assert "at least one flag" in capsys.readouterr().err


# -- kn's blocks -----------------------------------------------------------------------------


def test_condition_table_puts_ready_first() -> None:
    lines = revision.condition_lines(
        {
            "conditions": [
                cond("RoutesReady"),
                cond("Ready", "False", "RevisionFailed", message="m"),
                cond("Active", "False", "NoTraffic", severity="Info"),
                cond("ConfigurationsReady", "Unknown"),
            ]
        },
        NOW,
        verbose=True,
    )
    assert lines[0] == "Conditions:"
    assert [line.split()[:2] for line in lines[2:]] == [
        ["!!", "Ready"],
        ["I", "Active"],
        ["??", "ConfigurationsReady"],
        ["++", "RoutesReady"],
    ]
    assert lines[1].split() == ["OK", "TYPE", "AGE", "REASON", "MESSAGE"]
    assert lines[2].split()[2:] == ["2m", "RevisionFailed", "m"]
    assert revision.condition_lines({}, NOW) == ["Conditions:  <none>"]


def test_bullets() -> None:
    assert service.bullet(100, "True") == "100%"
    assert service.bullet(5, "Unknown") == "  5?"
    assert service.bullet(0, "True") == "   +"
    assert service.bullet(0, "False") == "   !"


def test_service_describe_layout() -> None:
    views = [
        service.RevisionView(a_revision("hello-00001", 1), percent=10, tag="old"),
        service.RevisionView(
            a_revision("hello-00002", 2), percent=90, follows_latest=True, latest_ready=True
        ),
    ]
    views.sort(key=lambda v: -revision.generation_of(v.revision))
    text = service.describe_text(a_service(), views, NOW)
    assert text.splitlines() == [
        "Name:       hello",
        "Namespace:  default",
        "Age:        2m",
        "URL:        http://hello.default.localhost:8080",
        "",
        "Revisions:",
        "   90%  @latest (hello-00002) [2] (2m)",
        "        Image:  img",
        "   10%  hello-00001 #old [1] (2m)",
        "        Image:  img",
        "",
        "Conditions:",
        "  OK TYPE                AGE REASON",
        "  ++ Ready               2m",
        "  ++ ConfigurationsReady 2m",
        "  ++ RoutesReady         2m",
    ]


def test_a_failed_revision_shows_its_error() -> None:
    view = service.RevisionView(a_revision("hello-00003", 3, "False"), latest_created=True)
    lines = service.revision_lines([view], NOW, verbose=False)
    assert lines[1] == "     !  hello-00003 (latest created) [3] (2m)"
    assert lines[2] == "        Error:  Failed"


def test_revision_list_columns_come_from_the_services_traffic() -> None:
    revisions = revision.sorted_revisions(
        [a_revision("hello-00001", 1), a_revision("hello-00002", 2)]
    )
    services = {("default", "hello"): a_service()}
    lines = revision.list_lines(revisions, services, NOW, False)
    assert lines[0].split() == [
        "NAME",
        "SERVICE",
        "TRAFFIC",
        "TAGS",
        "GENERATION",
        "AGE",
        "CONDITIONS",
        "READY",
        "REASON",
    ]
    assert lines[1].split() == [
        "hello-00002",
        "hello",
        "90%",
        "2",
        "2m",
        "1",
        "OK",
        "/",
        "1",
        "True",
    ]
    assert lines[2].split() == [
        "hello-00001",
        "hello",
        "10%",
        "old",
        "1",
        "2m",
        "1",
        "OK",
        "/",
        "1",
        "True",
    ]


def test_revision_describe_shows_what_it_runs() -> None:
    rev = a_revision("hello-00001", 1, containerConcurrency=5, timeoutSeconds=30)
    rev["metadata"]["annotations"] = {
        "autoscaling.knative.dev/minScale": "1",
        "autoscaling.knative.dev/max-scale": "4",
    }
    container = rev["spec"]["containers"][0]
    container.update(
        image="",
        command=["python3"],
        args=["-m", "http.server"],
        ports=[{"containerPort": 8000}],
        env=[
            {"name": "A", "value": "1"},
            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        ],
        envFrom=[{"configMapRef": {"name": "cfg"}}],
    )
    rev["status"]["actualReplicas"] = 1
    text = revision.describe_text(rev, NOW)
    assert "Command:      python3 -m http.server\n" in text
    assert "Port:         8000\n" in text
    assert "Env:          A=1, B=secret:s:k\n" in text
    assert "EnvFrom:      config-map:cfg\n" in text
    assert "Scale:        1 ... 4\n" in text
    assert "Concurrency:  limit 5\n" in text
    assert "Replicas:     1/?\n" in text
    assert "Timeout:      30s\n" in text
    assert "Service:      hello\n" in text


def test_pinned_image() -> None:
    rev = a_revision("r", 1)
    rev["status"]["imageDigest"] = "img@sha256:5ea96ba4b8"
    assert revision.image_text(rev) == "img (pinned to 5ea96b)"


def test_route_targets() -> None:
    lines = route.target_lines(a_service()["status"]["traffic"])
    assert lines == [
        "Traffic Targets:",
        "   90%  @latest (hello-00002)",
        "   10%  hello-00001 #old",
        "        URL:  http://old-hello.default.localhost:8080",
    ]


# -- domain mappings and logs ----------------------------------------------------------------


def test_domain_refs() -> None:
    assert domain.parse_ref("hello", "dev") == {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "name": "hello",
        "namespace": "dev",
    }
    assert domain.parse_ref("kroute:r:other", "dev")["kind"] == "Route"
    assert domain.parse_ref("kroute:r:other", "dev")["namespace"] == "other"
    for bad in ("broker:b", "ksvc:", "a:b:c:d"):
        with pytest.raises(CliError, match="for --ref"):
            domain.parse_ref(bad, "dev")
    mapping = domain.build_mapping("shop.example.com", "ksvc:hello", "cert", "dev")
    assert mapping["spec"]["tls"] == {"secretName": "cert"}
    assert domain.ref_text(mapping) == "ksvc:hello"


def test_a_bare_404_means_the_log_endpoint_is_missing() -> None:
    bare = b'{"kind": "Status", "code": 404, "reason": "NotFound", "message": "nope"}'
    assert isinstance(logs._answer_error(404, bare, "http://s"), logs.LogsUnavailable)
    assert isinstance(logs._answer_error(404, b"404: Not Found", "http://s"), logs.LogsUnavailable)
    named = (
        b'{"kind": "Status", "code": 404, "reason": "NotFound", "message": "no revision",'
        b' "details": {"name": "r", "kind": "revisions"}}'
    )
    assert isinstance(logs._answer_error(404, named, "http://s"), NotFound)
    assert logs.logs_path("default", "hello-00001") == "/logs/default/hello-00001"
