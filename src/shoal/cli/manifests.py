"""Reading the objects of ``-f FILE|DIR|-``: multi-document YAML, JSON, and ``List`` kinds.

Used by ``apply -f`` and ``delete -f``. A directory gives its ``.yaml``, ``.yml`` and
``.json`` files in name order (its subdirectories too with ``-R``); ``-`` reads standard
input. Empty documents are skipped and a ``v1`` ``List`` stands for its items, as kubectl
does. A path that is missing or a document that does not parse is a ``CliError``;
``resolve`` finds a document's resource type and namespace, or says why it cannot.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from shoal.api.catalog import default_catalog
from shoal.api.types import ResourceType
from shoal.cli.errors import CliError

Obj = dict[str, Any]
EXTENSIONS = (".yaml", ".yml", ".json")
DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True)
class Document:
    """One object to apply or delete, and the file it came from (``STDIN`` for ``-``)."""

    source: str
    body: Obj

    @property
    def name(self) -> str:
        return str((self.body.get("metadata") or {}).get("name") or "")

    @property
    def namespace(self) -> str:
        return str((self.body.get("metadata") or {}).get("namespace") or "")


def add_file_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """``-f FILE|DIR|-`` (repeatable) and ``-R``, for the commands that read manifests."""
    parser.add_argument(
        "-f",
        "--filename",
        action="append",
        required=required,
        metavar="FILE|DIR|-",
        help="file, directory or - for stdin",
    )
    parser.add_argument(
        "-R",
        "--recursive",
        action="store_true",
        help="also read the subdirectories of a directory given with -f",
    )


def read(
    paths: list[str], *, recursive: bool = False, stdin: TextIO | None = None
) -> list[Document]:
    """Every document of every path, in order."""
    docs: list[Document] = []
    for given in paths:
        if given == "-":
            source = stdin if stdin is not None else sys.stdin
            docs += parse(source.read(), "STDIN")
            continue
        path = Path(given)
        if not path.exists():
            raise CliError(f'the path "{given}" does not exist')
        for file in _files(path, recursive):
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CliError(f'cannot read "{file}": {exc}') from None
            docs += parse(text, str(file), as_json=file.suffix == ".json")
    return docs


def _files(path: Path, recursive: bool) -> Iterator[Path]:
    if path.is_file():
        yield path
        return
    for child in sorted(path.iterdir()):
        if child.is_dir():
            if recursive:
                yield from _files(child, recursive)
        elif child.suffix in EXTENSIONS:
            yield child


def parse(text: str, source: str, *, as_json: bool = False) -> list[Document]:
    """The documents of one file's text (YAML, which also reads JSON)."""
    try:
        loaded = [json.loads(text)] if as_json else list(yaml.safe_load_all(text))
    except (ValueError, yaml.YAMLError) as exc:
        raise CliError(f"error parsing {source}: {exc}") from None
    docs: list[Document] = []
    for body in loaded:
        docs += _expand(body, source)
    return docs


def _expand(body: Any, source: str) -> list[Document]:
    if body is None:
        return []
    if not isinstance(body, dict):
        raise CliError(
            f"error parsing {source}: a document must be an object, not {type(body).__name__}"
        )
    if body.get("kind") == "List" or (
        str(body.get("kind", "")).endswith("List") and isinstance(body.get("items"), list)
    ):
        out: list[Document] = []
        for item in body.get("items") or []:
            out += _expand(item, source)
        return out
    return [Document(source, body)]


def resolve(doc: Document, namespace_flag: str | None) -> tuple[ResourceType, Obj]:
    """The resource type of a document and a copy of it with its namespace filled in."""
    body = doc.body
    missing = [f"{key} not set" for key in ("apiVersion", "kind") if not body.get(key)]
    if missing:
        raise CliError(
            f'error validating "{doc.source}": error validating data: [{", ".join(missing)}]'
        )
    rt = default_catalog().by_kind(str(body["apiVersion"]), str(body["kind"]))
    if rt is None:
        raise CliError(
            f'resource mapping not found for name: "{doc.name}" namespace: '
            f'"{doc.namespace}" from "{doc.source}": no matches for kind '
            f'"{body["kind"]}" in version "{body["apiVersion"]}"'
        )
    if not doc.name:
        raise CliError(
            f'error when retrieving current configuration from "{doc.source}": '
            f"resource name may not be empty"
        )
    out = copy.deepcopy(body)
    if rt.namespaced:
        if namespace_flag and doc.namespace and doc.namespace != namespace_flag:
            raise CliError(
                f'the namespace from the provided object "{doc.namespace}" does '
                f'not match the namespace "{namespace_flag}". You must pass '
                f"'--namespace={doc.namespace}' to perform this operation."
            )
        out["metadata"]["namespace"] = doc.namespace or namespace_flag or DEFAULT_NAMESPACE
    return rt, out
