"""Reading -f FILE|DIR|-: multi-document YAML, JSON, Lists, and what goes wrong."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from shoal.cli import manifests
from shoal.cli.errors import CliError

TWO = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
---
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: b, namespace: team}
"""


def test_multi_document_yaml_skips_empty_documents(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text(TWO)
    docs = manifests.read([str(path)])
    assert [(d.name, d.namespace, d.source) for d in docs] == [
        ("a", "", str(path)),
        ("b", "team", str(path)),
    ]


def test_directory_json_and_lists(tmp_path: Path) -> None:
    (tmp_path / "1.yaml").write_text(TWO)
    (tmp_path / "2.json").write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}],
            }
        )
    )
    (tmp_path / "notes.txt").write_text("not a manifest")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "3.yml").write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: d}")
    assert [d.name for d in manifests.read([str(tmp_path)])] == ["a", "b", "c"]
    assert [d.name for d in manifests.read([str(tmp_path)], recursive=True)] == ["a", "b", "c", "d"]


def test_stdin() -> None:
    docs = manifests.read(["-"], stdin=io.StringIO(TWO))
    assert [d.source for d in docs] == ["STDIN", "STDIN"]


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(CliError, match=r'the path "nope\.yaml" does not exist'):
        manifests.read(["nope.yaml"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [unclosed")
    with pytest.raises(CliError, match="error parsing"):
        manifests.read([str(bad)])
    bad.write_text("- just\n- a list\n")
    with pytest.raises(CliError, match="must be an object"):
        manifests.read([str(bad)])


def test_resolve_fills_the_namespace_without_touching_the_document() -> None:
    (doc,) = manifests.parse(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: s}\n", "f.yaml"
    )
    rt, body = manifests.resolve(doc, None)
    assert rt.kind == "Service" and body["metadata"]["namespace"] == "default"
    assert "namespace" not in doc.body["metadata"]
    _, body = manifests.resolve(doc, "team")
    assert body["metadata"]["namespace"] == "team"


def test_resolve_refuses_what_kubectl_refuses() -> None:
    def one(text: str) -> manifests.Document:
        return manifests.parse(text, "f.yaml")[0]

    with pytest.raises(CliError, match=r"\[apiVersion not set, kind not set\]"):
        manifests.resolve(one("metadata: {name: x}"), None)
    with pytest.raises(CliError, match=r'no matches for kind "Widget" in version "x\.io/v1"'):
        manifests.resolve(one("apiVersion: x.io/v1\nkind: Widget\nmetadata: {name: w}"), None)
    with pytest.raises(CliError, match="resource name may not be empty"):
        manifests.resolve(one("apiVersion: v1\nkind: ConfigMap\nmetadata: {}"), None)
    with pytest.raises(CliError, match="--namespace=a"):
        manifests.resolve(
            one("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}"), "b"
        )
    _, body = manifests.resolve(one("apiVersion: v1\nkind: Namespace\nmetadata: {name: n}"), "b")
    assert "namespace" not in body["metadata"]
