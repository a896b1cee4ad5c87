"""Where the CLI finds the server: flags, environment, server.json; and the kubeconfig."""

from __future__ import annotations

import argparse
import stat
from pathlib import Path

import pytest
import yaml

from shoal.cli.config import (
    DEFAULT_SERVER,
    data_dir,
    kubeconfig_yaml,
    load_server,
    read_server_file,
    remove_server_file,
    server_file,
    write_server_file,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("SHOAL_SERVER", "SHOAL_TOKEN", "SHOAL_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def args(**values: str | None) -> argparse.Namespace:
    return argparse.Namespace(**{"server": None, "token": None, "data_dir": None, **values})


def test_defaults_with_nothing_running(tmp_path: Path) -> None:
    server = load_server(args())
    assert server.url == DEFAULT_SERVER and server.token is None
    assert server.data_dir == tmp_path / "home" / ".shoal"


def test_server_file_round_trip_is_private(tmp_path: Path) -> None:
    path = write_server_file(tmp_path / "d", "http://127.0.0.1:9999", "tok")
    assert path == server_file(tmp_path / "d")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_server_file(tmp_path / "d") == ("http://127.0.0.1:9999", "tok")
    remove_server_file(tmp_path / "d")
    remove_server_file(tmp_path / "d")  # already gone: no error
    assert read_server_file(tmp_path / "d") is None


def test_unreadable_server_file_is_ignored(tmp_path: Path) -> None:
    server_file(tmp_path).write_text("{not json")
    assert read_server_file(tmp_path) is None
    assert load_server(args(data_dir=str(tmp_path))).url == DEFAULT_SERVER


def test_server_file_of_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_server_file(tmp_path, "http://127.0.0.1:9999/", "tok")
    server = load_server(args(data_dir=str(tmp_path)))
    assert (server.url, server.token) == ("http://127.0.0.1:9999", "tok")
    monkeypatch.setenv("SHOAL_DATA_DIR", str(tmp_path))
    assert load_server(args()).token == "tok"
    assert data_dir(args()) == tmp_path


def test_flags_beat_environment_beat_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_server_file(tmp_path, "http://127.0.0.1:9999", "file-token")
    monkeypatch.setenv("SHOAL_SERVER", "http://env:1")
    monkeypatch.setenv("SHOAL_TOKEN", "env-token")
    server = load_server(args(data_dir=str(tmp_path)))
    assert (server.url, server.token) == ("http://env:1", "env-token")
    server = load_server(args(data_dir=str(tmp_path), server="http://flag:2", token="t"))
    assert (server.url, server.token) == ("http://flag:2", "t")


def test_file_token_goes_only_to_its_own_server(tmp_path: Path) -> None:
    write_server_file(tmp_path, "http://127.0.0.1:9999", "secret")
    elsewhere = load_server(args(data_dir=str(tmp_path), server="http://other:1"))
    assert elsewhere.token is None
    same = load_server(args(data_dir=str(tmp_path), server="http://127.0.0.1:9999/"))
    assert same.token == "secret"


def test_kubeconfig_yaml() -> None:
    config = yaml.safe_load(kubeconfig_yaml("http://127.0.0.1:8090", "tok", "mine", "dev"))
    assert config["current-context"] == "mine"
    assert config["clusters"] == [{"name": "mine", "cluster": {"server": "http://127.0.0.1:8090"}}]
    assert config["users"] == [{"name": "mine", "user": {"token": "tok"}}]
    assert config["contexts"][0]["context"] == {
        "cluster": "mine",
        "user": "mine",
        "namespace": "dev",
    }
    anonymous = yaml.safe_load(kubeconfig_yaml("http://x", None))
    assert anonymous["users"][0]["user"] == {}
