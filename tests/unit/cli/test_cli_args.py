"""Command-line handling with no server: options, kinds, durations, errors, ``shoal up``."""

from __future__ import annotations

import argparse
import types
from pathlib import Path

import pytest

from shoal.api.errors import Invalid, NotFound
from shoal.cli.context import parse_duration, resolve_kind, targets
from shoal.cli.errors import CliError, format_error
from shoal.cli.main import build_parser, main
from shoal.client.base import Client
from shoal.client.rest import RestClient, ServerUnreachable, parse_warnings


def parse(*argv: str) -> argparse.Namespace:
    return build_parser(list(argv)).parse_args(list(argv))


def test_global_options_before_or_after_the_command() -> None:
    before = parse("--server", "http://a:1", "get", "ksvc")
    assert before.server == "http://a:1" and before.kind == "ksvc"
    after = parse("get", "ksvc", "hello", "-s", "http://b:2", "--token", "t")
    assert (after.server, after.token, after.names) == ("http://b:2", "t", ["hello"])
    both = parse("--server", "http://a:1", "get", "ksvc", "--server", "http://b:2")
    assert both.server == "http://b:2"
    assert parse("get", "ksvc").server is None


def test_every_command_has_a_handler() -> None:
    for argv in (
        ["kubeconfig"],
        ["apply", "-f", "x.yaml"],
        ["get", "cm"],
        ["describe", "cm", "x"],
        ["delete", "cm", "x"],
    ):
        assert callable(parse(*argv).handler)


def test_get_and_delete_flags() -> None:
    args = parse(
        "get", "ksvc", "-A", "-l", "app=web", "-o", "wide", "-w", "--request-timeout", "2m"
    )
    assert (args.all_namespaces, args.selector, args.output, args.watch) == (
        True,
        "app=web",
        "wide",
        True,
    )
    assert args.request_timeout == 120.0
    deleted = parse("delete", "ksvc", "a", "b", "-n", "team", "--cascade", "orphan")
    assert (deleted.names, deleted.namespace, deleted.cascade) == (["a", "b"], "team", "orphan")
    applied = parse("apply", "-f", "a.yaml", "-f", "dir", "--dry-run")
    assert (applied.filename, applied.dry_run) == (["a.yaml", "dir"], "server")
    assert parse("apply", "-f", "-", "--dry-run=client").dry_run == "client"


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get"]) == 2
    assert main(["get", "ksvc", "-o", "xml"]) == 2
    assert main(["--help"]) == 0
    capsys.readouterr()


def test_unknown_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get", "widgets", "--server", "http://127.0.0.1:1"]) == 1
    assert capsys.readouterr().err == 'error: the server doesn\'t have a resource type "widgets"\n'


def test_kinds_by_every_name() -> None:
    for name in (
        "ksvc",
        "services",
        "service",
        "Service",
        "service.serving.knative.dev",
        "services.serving.knative.dev",
    ):
        assert resolve_kind(name).kind == "Service"
    assert resolve_kind("cm").kind == "ConfigMap"
    with pytest.raises(CliError, match='resource type "foo"'):
        resolve_kind("foo")


def test_targets_in_both_forms() -> None:
    ((rt, names),) = targets(["ksvc", "a", "b"])
    assert (rt.kind, names) == ("Service", ["a", "b"])
    groups = targets(["ksvc/a", "ksvc/b", "cm/c"])
    assert [(rt.kind, names) for rt, names in groups] == [
        ("Service", ["a", "b"]),
        ("ConfigMap", ["c"]),
    ]
    assert [(rt.kind, names) for rt, names in targets(["ksvc,cm", "x"])] == [
        ("Service", ["x"]),
        ("ConfigMap", ["x"]),
    ]
    with pytest.raises(CliError, match="no need to specify a resource type"):
        targets(["ksvc", "cm/c"])
    with pytest.raises(CliError):
        targets(["ksvc/"])


def test_durations() -> None:
    assert parse_duration("30") == 30.0
    assert parse_duration("500ms") == 0.5
    assert parse_duration("2m") == 120.0
    assert parse_duration("1h") == 3600.0
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration("soon")


def test_error_texts() -> None:
    invalid = Invalid(
        'Service.serving.knative.dev "x" is invalid: [a: Required value, '
        "b: Invalid value: 1: too small]",
        {
            "causes": [
                {"field": "a", "message": "Required value"},
                {"field": "b", "message": "Invalid value: 1: too small"},
            ]
        },
    )
    assert format_error(invalid, 'error when creating "x.yaml"').splitlines() == [
        'Error from server (Invalid): error when creating "x.yaml": '
        'Service.serving.knative.dev "x" is invalid:',
        "* a: Required value",
        "* b: Invalid value: 1: too small",
    ]
    assert format_error(NotFound('configmaps "x" not found')) == (
        'Error from server (NotFound): configmaps "x" not found'
    )
    assert format_error(CliError("bad")) == "error: bad"
    assert format_error(ServerUnreachable("refused")) == "refused"


def test_warning_headers() -> None:
    assert parse_warnings(['299 - "unknown field \\"spec.x\\""', '299 - "a, b", 299 - "c"']) == [
        'unknown field "spec.x"',
        "a, b",
        "c",
    ]


def test_rest_client_is_a_client() -> None:
    client: Client = RestClient("http://127.0.0.1:1")
    assert client is not None


def test_rest_paths() -> None:
    ksvc, cm, ns = resolve_kind("ksvc"), resolve_kind("cm"), resolve_kind("ns")
    assert RestClient.path(ksvc, "default", "hello", "status") == (
        "/apis/serving.knative.dev/v1/namespaces/default/services/hello/status"
    )
    assert RestClient.path(ksvc, None) == "/apis/serving.knative.dev/v1/services"
    assert RestClient.path(cm, "") == "/api/v1/namespaces/default/configmaps"
    assert RestClient.path(ns, "default", "team") == "/api/v1/namespaces/team"


def test_up_is_delegated(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[argparse.Namespace] = []
    up = types.ModuleType("shoal.cli.up")

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--api-port", type=int, default=8090)
        parser.add_argument("--data-dir", dest="up_data_dir")

    def run(args: argparse.Namespace) -> int:
        seen.append(args)
        return 7

    up.add_arguments = add_arguments  # type: ignore[attr-defined]
    up.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(__import__("sys").modules, "shoal.cli.up", up)
    assert main(["up", "--api-port", "0", "--data-dir", "/tmp/x"]) == 7
    assert seen[0].api_port == 0 and seen[0].up_data_dir == "/tmp/x"


def test_up_that_cannot_be_imported_leaves_the_rest_working(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "shoal.cli.up", None)
    assert main(["up", "--api-port", "1"]) == 1
    assert "shoal up is not available" in capsys.readouterr().err
    monkeypatch.delenv("SHOAL_SERVER", raising=False)
    assert main(["kubeconfig", "--data-dir", str(tmp_path)]) == 0
    assert "current-context: shoal" in capsys.readouterr().out
