"""Where the CLI finds the API server: flags, environment, and the running server's file.

``shoal up`` writes ``server.json`` (``{"url": ..., "token": ...}``) into its data dir with
``write_server_file``; every other command reads it back with ``load_server``. The order is
that of kubectl's flags over its kubeconfig: ``--server``, then ``SHOAL_SERVER``, then
``server.json``, then ``http://127.0.0.1:8090``; the token likewise (``--token``,
``SHOAL_TOKEN``, ``server.json``). The token of ``server.json`` is sent only to the server
``server.json`` names, never to another URL given by flag or environment. ``kubeconfig_yaml``
is the same server and token in the form kubectl reads.
"""

from __future__ import annotations

import contextlib
import json
import os
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_SERVER = "http://127.0.0.1:8090"
SERVER_FILE = "server.json"


@dataclass(frozen=True)
class ServerConfig:
    """The API server a command talks to, and how it proves who it is."""

    url: str
    token: str | None
    data_dir: Path


def data_dir(args: Namespace | None = None) -> Path:
    """``--data-dir``, else ``SHOAL_DATA_DIR``, else ``~/.shoal``."""
    given = getattr(args, "data_dir", None) if args is not None else None
    return Path(given).expanduser() if given else default_data_dir()


def default_data_dir() -> Path:
    """``SHOAL_DATA_DIR``, else ``~/.shoal``."""
    return Path(os.environ.get("SHOAL_DATA_DIR") or "~/.shoal").expanduser()


def server_file(directory: Path) -> Path:
    return directory / SERVER_FILE


def write_server_file(directory: Path, url: str, token: str | None) -> Path:
    """Record the running server for other commands; readable by its owner only."""
    directory.mkdir(parents=True, exist_ok=True)
    path = server_file(directory)
    partial = path.with_suffix(".json.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"url": url, "token": token}, out)
        out.write("\n")
    os.replace(partial, path)
    return path


def remove_server_file(directory: Path) -> None:
    """Forget the server (when ``shoal up`` stops)."""
    with contextlib.suppress(FileNotFoundError):
        server_file(directory).unlink()


def read_server_file(directory: Path) -> tuple[str, str | None] | None:
    """(url, token) of ``server.json``, or None when there is none or it does not parse."""
    try:
        body = json.loads(server_file(directory).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("url"), str) or not body["url"]:
        return None
    token = body.get("token")
    return body["url"], token if isinstance(token, str) and token else None


def load_server(args: Namespace) -> ServerConfig:
    """The server and token a command uses, from its flags, the environment and files."""
    directory = data_dir(args)
    recorded = read_server_file(directory)
    url = getattr(args, "server", None) or os.environ.get("SHOAL_SERVER") or ""
    token = getattr(args, "token", None) or os.environ.get("SHOAL_TOKEN") or None
    if recorded is not None:
        recorded_url, recorded_token = recorded
        if not url:
            url = recorded_url
        if token is None and _same_server(url, recorded_url):
            token = recorded_token
    return ServerConfig(url.rstrip("/") if url else DEFAULT_SERVER, token, directory)


def _same_server(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def kubeconfig(
    url: str, token: str | None, name: str = "shoal", namespace: str = "default"
) -> dict[str, Any]:
    """A kubeconfig with one cluster, user and context, all called ``name``."""
    user: dict[str, Any] = {"token": token} if token else {}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": url}}],
        "users": [{"name": name, "user": user}],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}
        ],
        "current-context": name,
        "preferences": {},
    }


def kubeconfig_yaml(
    url: str, token: str | None, name: str = "shoal", namespace: str = "default"
) -> str:
    """``kubeconfig`` as YAML, what ``shoal kubeconfig`` prints and ``shoal up`` writes."""
    text: str = yaml.safe_dump(
        kubeconfig(url, token, name, namespace), sort_keys=False, default_flow_style=False
    )
    return text
