"""Knative's runtime contract: the environment and argv every instance starts with.

``instance_env`` layers, lowest first: the runtime's base environment (``PATH`` and the like
for local processes, nothing for images, which bring their own), the caller's resolved
``spec.env`` (``envFrom`` and ``valueFrom``), the container's own ``env`` values, then
``PORT``, ``K_SERVICE``, ``K_CONFIGURATION`` and ``K_REVISION``, which Knative reserves.
``$(VAR)`` references in values, command and args expand as Kubernetes expands them.
Used by both runtimes; pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shoal.runtime.base import InstanceSpec

_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: defined names are replaced, others kept as
    written; ``$$`` escapes a dollar sign."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "$"
        return env.get(name, match.group(0))

    return _REFERENCE.sub(replace, text)


def instance_env(spec: InstanceSpec, base: Mapping[str, str] | None = None, *,
                 port: int | None = None) -> dict[str, str]:
    """The full environment of an instance of ``spec``; ``PORT`` is ``port`` when given
    (a local process listens where the runtime says), else the container's port."""
    env: dict[str, str] = dict(base or {})
    env.update(spec.env)
    for item in spec.container.get("env") or []:
        name = item.get("name")
        if not name or "value" not in item:
            continue  # a valueFrom entry: the caller resolved it into spec.env
        env[name] = expand(str(item["value"]), env)
    env["PORT"] = str(spec.port if port is None else port)
    env["K_REVISION"] = spec.revision_name
    env["K_CONFIGURATION"] = spec.configuration
    env["K_SERVICE"] = spec.service
    return env


def command_line(container: Mapping[str, Any],
                 env: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """The container's ``command`` and ``args``, with ``$(VAR)`` expanded from ``env``."""
    command = [expand(str(part), env) for part in container.get("command") or []]
    args = [expand(str(part), env) for part in container.get("args") or []]
    return command, args
