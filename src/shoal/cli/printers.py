"""Output formats of the CLI: kubectl's aligned tables, YAML, JSON and resource names.

Pure functions over JSON-shaped objects and ``meta.k8s.io/v1`` Tables, used by ``get``,
``apply``, ``delete`` and ``describe``; they return text and never print.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import yaml

from shoal.api.types import ResourceType

Obj = dict[str, Any]
PADDING = 3  # kubectl's tabwriter: three spaces between columns


def resource_name(rt: ResourceType) -> str:
    """How kubectl names a kind in its messages: ``service.serving.knative.dev``."""
    return f"{rt.singular}.{rt.group}" if rt.group else rt.singular


def object_ref(rt: ResourceType, name: str) -> str:
    """``service.serving.knative.dev/hello``: ``apply`` and ``get -o name``."""
    return f"{resource_name(rt)}/{name}"


def quoted_ref(rt: ResourceType, name: str) -> str:
    """``service.serving.knative.dev "hello"``: ``delete``."""
    return f'{resource_name(rt)} "{name}"'


def no_resources(namespace: str | None, namespaced: bool) -> str:
    if namespaced and namespace is not None:
        return f"No resources found in {namespace} namespace."
    return "No resources found"


# -- tables ----------------------------------------------------------------------------------


def cell_text(value: Any) -> str:
    """A table cell as kubectl prints it (None as an empty cell)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


class Aligner:
    """Pads columns to a common width; remembers widths so later rows (``get -w``) line up."""

    def __init__(self, padding: int = PADDING) -> None:
        self.padding = padding
        self.widths: list[int] = []

    def lines(self, rows: list[list[str]]) -> list[str]:
        for row in rows:
            for i, text in enumerate(row):
                if i < len(self.widths):
                    self.widths[i] = max(self.widths[i], len(text))
                else:
                    self.widths.append(len(text))
        out = []
        for row in rows:
            padded = [text.ljust(self.widths[i] + self.padding) for i, text in enumerate(row[:-1])]
            out.append(("".join(padded) + (row[-1] if row else "")).rstrip())
        return out


def align(rows: list[list[str]], padding: int = PADDING) -> list[str]:
    return Aligner(padding).lines(rows)


def table_columns(table: Obj, wide: bool = False) -> list[tuple[int, str]]:
    """(cell index, header) of the columns to show; priority > 0 only with ``-o wide``."""
    out = []
    for i, col in enumerate(table.get("columnDefinitions") or []):
        if wide or int(col.get("priority") or 0) == 0:
            out.append((i, str(col.get("name", "")).upper()))
    return out


def table_header(columns: list[tuple[int, str]], with_namespace: bool) -> list[str]:
    header = [name for _, name in columns]
    return ["NAMESPACE", *header] if with_namespace else header


def table_rows(
    table: Obj,
    columns: list[tuple[int, str]],
    with_namespace: bool,
) -> list[list[str]]:
    rows = []
    for row in table.get("rows") or []:
        cells = row.get("cells") or []
        texts = [cell_text(cells[i]) if i < len(cells) else "" for i, _ in columns]
        if with_namespace:
            meta = (row.get("object") or {}).get("metadata") or {}
            texts.insert(0, str(meta.get("namespace", "")))
        rows.append(texts)
    return rows


def render_table(
    table: Obj, *, wide: bool = False, with_namespace: bool = False, header: bool = True
) -> list[str]:
    """The lines ``kubectl get`` prints for a server-side Table."""
    columns = table_columns(table, wide)
    rows = table_rows(table, columns, with_namespace)
    if header:
        rows.insert(0, table_header(columns, with_namespace))
    return align(rows)


# -- documents -------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """SafeDumper that quotes and folds strings the way kubectl's YAML does."""


_STR = "tag:yaml.org,2002:str"


def _plain_tag(dumper: yaml.SafeDumper, value: str) -> str:
    """The type a YAML reader gives ``value`` written unquoted (``"12"`` reads as an int)."""
    resolve: Callable[[type[yaml.Node], str, tuple[bool, bool]], str] = dumper.resolve
    return resolve(yaml.ScalarNode, value, (True, False))


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    """Multi-line strings as ``|`` blocks; strings that read as other types in ``"..."``."""
    style: str | None = None
    if "\n" in value:
        style = "|"
    elif _plain_tag(dumper, value) != _STR:
        style = '"'
    return dumper.represent_scalar(_STR, value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(obj: Any) -> str:
    """YAML as ``kubectl get -o yaml`` writes it (keys sorted, block style)."""
    text: str = yaml.dump(
        obj,
        Dumper=_Dumper,
        default_flow_style=False,
        sort_keys=True,
        allow_unicode=True,
        width=1 << 16,
    )
    return text


def dump_json(obj: Any) -> str:
    """JSON as ``kubectl get -o json`` writes it (four-space indent)."""
    return json.dumps(obj, indent=4, ensure_ascii=False)


def as_list(items: list[Obj], resource_version: str = "") -> Obj:
    """A ``v1`` List, what ``kubectl get -o yaml`` prints for several objects."""
    return {
        "apiVersion": "v1",
        "kind": "List",
        "items": items,
        "metadata": {"resourceVersion": resource_version},
    }


def typed(rt: ResourceType, obj: Obj) -> Obj:
    """``obj`` with ``apiVersion`` and ``kind`` (list items may come without them)."""
    if obj.get("apiVersion") and obj.get("kind"):
        return obj
    return {"apiVersion": rt.api_version, "kind": rt.kind, **obj}
