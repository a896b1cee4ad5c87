"""The runtime contract's environment and argv, and the choice of runtime."""

from __future__ import annotations

from typing import Any

from shoal.runtime.base import InstanceSpec, choose_runtime, exit_reason
from shoal.runtime.contract import command_line, expand, instance_env


def spec(container: dict[str, Any], env: dict[str, str] | None = None) -> InstanceSpec:
    return InstanceSpec(revision="default/hello-00002", namespace="default", service="hello",
                        configuration="hello-config", container=container, env=env or {})


def test_contract_variables_and_layering() -> None:
    container = {"env": [{"name": "A", "value": "from-container"},
                         {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                         {"name": "PORT", "value": "1"}]}
    env = instance_env(spec(container, {"A": "from-envFrom", "B": "secret", "C": "c"}),
                       {"PATH": "/bin", "C": "base"})
    assert env == {"PATH": "/bin", "A": "from-container", "B": "secret", "C": "c",
                   "PORT": "8080", "K_REVISION": "hello-00002",
                   "K_CONFIGURATION": "hello-config", "K_SERVICE": "hello"}


def test_port_override_for_local_processes() -> None:
    assert instance_env(spec({}), port=43210)["PORT"] == "43210"


def test_caller_spec_is_not_changed() -> None:
    extra = {"X": "1"}
    container = {"env": [{"name": "Y", "value": "$(X)"}]}
    instance_env(spec(container, extra))
    assert extra == {"X": "1"}
    assert container == {"env": [{"name": "Y", "value": "$(X)"}]}


def test_expansion_as_kubernetes() -> None:
    env = {"NAME": "world"}
    assert expand("hello $(NAME)", env) == "hello world"
    assert expand("$(MISSING) stays", env) == "$(MISSING) stays"
    assert expand("$$(NAME) escaped", env) == "$(NAME) escaped"
    container = {"env": [{"name": "A", "value": "a"}, {"name": "B", "value": "$(A)-b"}],
                 "command": ["echo", "$(B)"], "args": ["$(K_SERVICE)"]}
    full = instance_env(spec(container))
    assert full["B"] == "a-b"
    assert command_line(container, full) == (["echo", "a-b"], ["hello"])


def test_choose_runtime() -> None:
    assert choose_runtime({"command": ["python3", "app.py"]}) == "process"
    assert choose_runtime({"image": "ghcr.io/x/y", "command": ["app"]}) == "podman"
    assert choose_runtime({"image": "ghcr.io/x/y"}, "docker") == "docker"
    assert choose_runtime({}) == "podman"


def test_exit_reason() -> None:
    assert exit_reason(3) == "ExitCode3"
