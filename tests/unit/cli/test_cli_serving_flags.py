"""kn's service flags with no server: flags to Service specs, and the traffic algebra."""

from __future__ import annotations

import argparse
import copy
import random
from typing import Any

import pytest

from shoal.cli.errors import CliError
from shoal.cli.main import build_parser
from shoal.cli.serviceflags import (
    ServiceFlags,
    TrafficFlags,
    compute_traffic,
    edited_service,
    edited_template,
    expand_revision_name,
    new_service,
    parse_port,
    parse_scale,
)

MIN = "autoscaling.knative.dev/min-scale"
MAX = "autoscaling.knative.dev/max-scale"
INIT = "autoscaling.knative.dev/initial-scale"
VISIBILITY = "networking.knative.dev/visibility"


def parse(*argv: str) -> argparse.Namespace:
    return build_parser(list(argv)).parse_args(list(argv))


def flags(*argv: str, verb: str = "update") -> ServiceFlags:
    return ServiceFlags.from_args(parse("service", verb, "hello", *argv))


def stored(**container: Any) -> dict[str, Any]:
    """A Service as the server stores it (defaults filled in)."""
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "hello", "namespace": "default", "generation": 4},
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "user-container", "image": "img:1", **container}],
                    "containerConcurrency": 0,
                    "timeoutSeconds": 300,
                }
            },
            "traffic": [{"latestRevision": True, "percent": 100}],
        },
        "status": {"latestReadyRevisionName": "hello-00004"},
    }


def container_of(service: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = service["spec"]["template"]["spec"]["containers"][0]
    return result


# -- create ----------------------------------------------------------------------------------


def test_create_builds_a_service_from_kn_flags() -> None:
    service = new_service(
        "hello",
        "dev",
        flags(
            "--image",
            "ghcr.io/x/hello:1",
            "-e",
            "TARGET=world",
            "-e",
            "MODE=fast",
            "--env-from",
            "config-map:settings",
            "--env-from",
            "secret:keys",
            "-p",
            "h2c:9090",
            "--concurrency-limit",
            "10",
            "--timeout",
            "30",
            "--scale-min",
            "1",
            "--scale-max",
            "5",
            "--scale-init",
            "2",
            "-a",
            "team=web",
            "-l",
            "app=shop",
            "--cluster-local",
            verb="create",
        ),
    )
    assert service["metadata"] == {
        "name": "hello",
        "namespace": "dev",
        "annotations": {"team": "web"},
        "labels": {"app": "shop", VISIBILITY: "cluster-local"},
    }
    template = service["spec"]["template"]
    assert template["metadata"] == {
        "annotations": {"team": "web", MIN: "1", MAX: "5", INIT: "2"},
        "labels": {"app": "shop"},
    }
    assert template["spec"]["containerConcurrency"] == 10
    assert template["spec"]["timeoutSeconds"] == 30
    assert container_of(service) == {
        "image": "ghcr.io/x/hello:1",
        "env": [{"name": "TARGET", "value": "world"}, {"name": "MODE", "value": "fast"}],
        "envFrom": [{"configMapRef": {"name": "settings"}}, {"secretRef": {"name": "keys"}}],
        "ports": [{"name": "h2c", "containerPort": 9090}],
    }
    assert "traffic" not in service["spec"]


def test_cmd_and_args_run_a_plain_process_without_an_image() -> None:
    service = new_service(
        "hello", "default", flags("--cmd", "python3", "--arg=-m", "--arg", "http.server")
    )
    assert container_of(service) == {"command": ["python3"], "args": ["-m", "http.server"]}


def test_create_needs_an_image_or_a_command() -> None:
    with pytest.raises(CliError, match=r"--image.*--cmd"):
        new_service("hello", "default", flags("-e", "A=1", verb="create"))


def test_create_with_a_tag_keeps_all_traffic_on_latest() -> None:
    service = new_service("hello", "default", flags("--image", "i", "--tag", "@latest=current"))
    assert service["spec"]["traffic"] == [
        {"tag": "current", "latestRevision": True, "percent": 100}
    ]


# -- env, env-from, ports --------------------------------------------------------------------


def test_env_updates_in_place_appends_and_removes() -> None:
    service = stored(
        env=[
            {"name": "A", "value": "1"},
            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            {"name": "C", "value": "3"},
        ]
    )
    before = copy.deepcopy(service)
    out = edited_service(service, flags("-e", "B=2", "-e", "C-", "-e", "D=4", "-e", "A=one"))
    assert container_of(out)["env"] == [
        {"name": "A", "value": "one"},
        {"name": "B", "value": "2"},
        {"name": "D", "value": "4"},
    ]
    assert service == before  # the caller's object is left alone
    assert "status" not in out


def test_removing_the_last_env_variable_drops_the_list() -> None:
    out = edited_service(stored(env=[{"name": "A", "value": "1"}]), flags("-e", "A-"))
    assert "env" not in container_of(out)


@pytest.mark.parametrize(
    ("value", "message"),
    [("NOEQUALS", "--env: expected KEY=VALUE"), ("=v", "--env: the name before")],
)
def test_bad_env_values_name_the_flag(value: str, message: str) -> None:
    with pytest.raises(CliError, match=message):
        edited_service(stored(), flags("-e", value))


def test_env_from_adds_once_and_removes_with_a_dash() -> None:
    service = stored(envFrom=[{"configMapRef": {"name": "a"}}])
    out = edited_service(
        service, flags("--env-from", "cm:a", "--env-from", "secret:b", "--env-from", "cm:a-")
    )
    assert container_of(out)["envFrom"] == [{"secretRef": {"name": "b"}}]


def test_env_from_refuses_other_kinds() -> None:
    with pytest.raises(CliError, match="'volume:x' for --env-from"):
        edited_service(stored(), flags("--env-from", "volume:x"))


def test_ports() -> None:
    assert parse_port("8080") == {"containerPort": 8080}
    assert parse_port("h2c:8080") == {"name": "h2c", "containerPort": 8080}
    for bad in ("grpc:80", "http", "0", "70000"):
        with pytest.raises(CliError, match="for --port"):
            parse_port(bad)


# -- scale, annotations, labels --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "bounds"),
    [("5", (5, 5)), ("1..5", (1, 5)), ("2..", (2, None)), ("..7", (None, 7)), ("0", (0, 0))],
)
def test_scale_ranges(text: str, bounds: tuple[int | None, int | None]) -> None:
    assert parse_scale(text) == bounds


@pytest.mark.parametrize("text", ["", "..", "a", "1..b", "-1", "3...4"])
def test_bad_scale_names_the_flag(text: str) -> None:
    with pytest.raises(CliError, match="for --scale"):
        parse_scale(text)


def test_scale_sets_both_bounds_and_replaces_old_spellings() -> None:
    template = {"metadata": {"annotations": {"autoscaling.knative.dev/minScale": "0"}}}
    out = edited_template(template, flags("--scale", "3"))
    assert out["metadata"]["annotations"] == {MIN: "3", MAX: "3"}
    out = edited_template(template, flags("--scale", "..4"))
    assert out["metadata"]["annotations"] == {"autoscaling.knative.dev/minScale": "0", MAX: "4"}


def test_scale_and_scale_min_together_are_refused() -> None:
    with pytest.raises(CliError, match="--scale or --scale-min"):
        edited_template({}, flags("--scale", "3", "--scale-min", "1"))


def test_concurrency_target_is_an_autoscaling_annotation() -> None:
    out = edited_template({}, flags("--concurrency-target", "20"))
    assert out["metadata"]["annotations"] == {"autoscaling.knative.dev/target": "20"}


def test_autoscaling_annotations_go_on_the_template_only() -> None:
    service = stored()
    service["metadata"]["annotations"] = {"keep": "1", "old": "x"}
    out = edited_service(
        service, flags("-a", "autoscaling.knative.dev/window=60s", "-a", "note=hi", "-a", "old-")
    )
    assert out["metadata"]["annotations"] == {"keep": "1", "note": "hi"}
    assert out["spec"]["template"]["metadata"]["annotations"] == {
        "autoscaling.knative.dev/window": "60s",
        "note": "hi",
    }


def test_labels_and_cluster_local_on_update() -> None:
    service = stored()
    service["metadata"]["labels"] = {"app": "a", VISIBILITY: "cluster-local"}
    out = edited_service(service, flags("-l", "app-", "-l", "tier=web", "--no-cluster-local"))
    assert out["metadata"]["labels"] == {"tier": "web"}
    assert out["spec"]["template"]["metadata"]["labels"] == {"tier": "web"}


def test_cmd_empty_removes_the_command_and_args_replace() -> None:
    out = edited_service(stored(command=["run"], args=["a"]), flags("--cmd", "", "--arg", "b"))
    assert "command" not in container_of(out)
    assert container_of(out)["args"] == ["b"]


# -- revision names --------------------------------------------------------------------------


def test_revision_name_templates() -> None:
    rng = random.Random(7)
    name = expand_revision_name("{{.Service}}-{{.Random 5}}-{{.Generation}}", "hello", 3, rng)
    prefix, random_part, generation = name.split("-")
    assert (prefix, generation, len(random_part)) == ("hello", "3", 5)
    assert set(random_part) <= set("bcdfghjklmnpqrstvwxz")
    assert expand_revision_name("v2", "hello", 1) == "hello-v2"
    assert expand_revision_name("hello-V2", "hello", 1) == "hello-v2"
    assert expand_revision_name("", "hello", 1) == ""
    with pytest.raises(CliError, match="--revision-name"):
        expand_revision_name("{{.Nope}}", "hello", 1)


def test_revision_name_on_update_uses_the_next_generation() -> None:
    out = edited_service(stored(), flags("--revision-name", "{{.Service}}-g{{.Generation}}"))
    assert out["spec"]["template"]["metadata"]["name"] == "hello-g5"


def test_a_brought_name_is_dropped_when_the_template_changes_without_a_new_one() -> None:
    service = stored()
    service["spec"]["template"]["metadata"] = {"name": "hello-v1"}
    changed = edited_service(service, flags("--image", "img:2"))
    assert "metadata" not in changed["spec"]["template"]
    traffic_only = edited_service(service, flags("--tag", "@latest=cur"))
    assert traffic_only["spec"]["template"]["metadata"] == {"name": "hello-v1"}


# -- traffic ---------------------------------------------------------------------------------


def traffic(
    current: list[dict[str, Any]] | None,
    traffic: tuple[str, ...] = (),
    tags: tuple[str, ...] = (),
    untags: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    return compute_traffic(current, TrafficFlags(traffic, tags, untags), "hello")


LATEST_ALL = [{"latestRevision": True, "percent": 100}]


def test_tagging_a_revision_adds_a_zero_percent_target() -> None:
    assert traffic(LATEST_ALL, tags=("hello-00001=v1",)) == [
        {"latestRevision": True, "percent": 100},
        {"tag": "v1", "revisionName": "hello-00001", "latestRevision": False, "percent": 0},
    ]


def test_tag_at_latest_and_split_by_tag() -> None:
    out = traffic(
        LATEST_ALL, traffic=("v1=10", "@latest=90"), tags=("hello-00001=v1", "@latest=cur")
    )
    assert out == [
        {"latestRevision": True, "percent": 90, "tag": "cur"},
        {"tag": "v1", "revisionName": "hello-00001", "latestRevision": False, "percent": 10},
    ]


def test_traffic_resets_every_percent_and_drops_untagged_zero_targets() -> None:
    current = [
        {"revisionName": "hello-00001", "latestRevision": False, "percent": 50},
        {"revisionName": "hello-00002", "latestRevision": False, "percent": 50, "tag": "b"},
    ]
    assert traffic(current, traffic=("hello-00003=100",)) == [
        {"revisionName": "hello-00002", "latestRevision": False, "percent": 0, "tag": "b"},
        {"revisionName": "hello-00003", "latestRevision": False, "percent": 100},
    ]


def test_untag_then_retag_moves_a_tag() -> None:
    current = [
        {"latestRevision": True, "percent": 100, "tag": "testing"},
        {"revisionName": "hello-00001", "latestRevision": False, "percent": 0, "tag": "old"},
    ]
    out = traffic(current, tags=("@latest=staging",), untags=("testing", "old"))
    assert out == [{"latestRevision": True, "percent": 100, "tag": "staging"}]


def test_a_tagged_revision_can_get_a_second_tag() -> None:
    current = [{"revisionName": "r-1", "latestRevision": False, "percent": 100, "tag": "a"}]
    out = traffic(current, tags=("r-1=b",))
    assert [t.get("tag") for t in out] == ["a", "b"]
    assert traffic(current, tags=("r-1=a",)) == current  # tagging again changes nothing


def test_latest_revision_unset_in_stored_traffic_is_understood() -> None:
    out = traffic([{"percent": 100}], tags=("@latest=x",))
    assert out == [{"percent": 100, "latestRevision": True, "tag": "x"}]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"traffic": ("@latest=50", "r-1=40")}, "for --traffic: the percents sum to 90"),
        ({"traffic": ("r-1=50", "r-1=50")}, "'r-1=50' for --traffic: r-1 is given more"),
        ({"traffic": ("r-1=half", "@latest=50")}, "'r-1=half' for --traffic: the percent"),
        ({"traffic": ("r-1=101",)}, "for --traffic: the percent is a whole number"),
        ({"traffic": ("=5",)}, "'=5' for --traffic: expected REVISION=PERCENT"),
        ({"tags": ("@latest=a", "@latest=b")}, "'@latest=b' for --tag: @latest can be tagged"),
        ({"untags": ("nope", "gone")}, "for --untag: tag\\(s\\) nope, gone not present"),
    ],
)
def test_traffic_errors_name_the_flag(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(CliError, match=message):
        traffic(LATEST_ALL, **kwargs)


def test_a_tag_cannot_be_taken_from_another_target() -> None:
    current = [
        {"latestRevision": True, "percent": 100, "tag": "cur"},
        {"revisionName": "r-1", "latestRevision": False, "percent": 0, "tag": "old"},
    ]
    with pytest.raises(CliError, match="'r-2=old' for --tag: tag 'old' is on another target"):
        traffic(current, tags=("r-2=old",))
    with pytest.raises(CliError, match="latest ready revision has the tag 'cur'"):
        traffic(current, tags=("@latest=new",))


def test_comma_separated_values_are_split() -> None:
    given = flags("--traffic", "a=10,@latest=90", "--tag", "r-1=a, r-2=b", "--untag", "x,y")
    assert given.traffic == TrafficFlags(("a=10", "@latest=90"), ("r-1=a", "r-2=b"), ("x", "y"))


def test_update_writes_traffic_into_the_spec() -> None:
    out = edited_service(stored(), flags("--tag", "hello-00004=stable", "--traffic", "stable=100"))
    assert out["spec"]["traffic"] == [
        {"tag": "stable", "revisionName": "hello-00004", "latestRevision": False, "percent": 100}
    ]
