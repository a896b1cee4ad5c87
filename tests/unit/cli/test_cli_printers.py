"""Tables, names and documents as the CLI prints them."""

from __future__ import annotations

import json
from typing import Any

import yaml

from shoal.api.catalog import default_catalog
from shoal.cli.printers import (
    Aligner,
    align,
    as_list,
    cell_text,
    dump_json,
    dump_yaml,
    no_resources,
    object_ref,
    quoted_ref,
    render_table,
    typed,
)


def table() -> dict[str, Any]:
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": "9"},
        "columnDefinitions": [
            {"name": "Name", "type": "string", "priority": 0},
            {"name": "URL", "type": "string", "priority": 0},
            {"name": "Latest Created", "type": "string", "priority": 1},
            {"name": "Ready", "type": "string", "priority": 0},
        ],
        "rows": [
            {
                "cells": ["hello", "http://hello.default.localhost", "hello-00001", "True"],
                "object": {"metadata": {"name": "hello", "namespace": "default"}},
            },
            {
                "cells": ["a", None, None, None],
                "object": {"metadata": {"name": "a", "namespace": "team-b"}},
            },
        ],
    }


def test_names_of_resources() -> None:
    ksvc = default_catalog().resolve("ksvc")
    cm = default_catalog().resolve("cm")
    assert ksvc is not None and cm is not None
    assert object_ref(ksvc, "hello") == "service.serving.knative.dev/hello"
    assert quoted_ref(ksvc, "hello") == 'service.serving.knative.dev "hello"'
    assert object_ref(cm, "x") == "configmap/x"
    assert quoted_ref(cm, "x") == 'configmap "x"'


def test_cells() -> None:
    assert cell_text(None) == ""
    assert cell_text(True) == "true"
    assert cell_text(3) == "3"
    assert cell_text(2.0) == "2"
    assert cell_text(["a", 1]) == '["a",1]'


def test_align_pads_three_spaces_and_trims_the_end() -> None:
    assert align([["NAME", "READY"], ["hello", ""], ["a", "True"]]) == [
        "NAME    READY",
        "hello",
        "a       True",
    ]


def test_aligner_keeps_widths_for_later_rows() -> None:
    aligner = Aligner()
    aligner.lines([["NAME", "AGE"], ["longer-name", "1s"]])
    assert aligner.lines([["b", "2s"]]) == ["b" + " " * 13 + "2s"]


def test_table_hides_priority_columns_unless_wide() -> None:
    assert render_table(table()) == [
        "NAME    URL                              READY",
        "hello   http://hello.default.localhost   True",
        "a",
    ]
    wide = render_table(table(), wide=True)
    assert wide[0].split() == ["NAME", "URL", "LATEST", "CREATED", "READY"]
    assert "hello-00001" in wide[1]


def test_table_with_namespace_column_and_no_header() -> None:
    lines = render_table(table(), with_namespace=True, header=False)
    assert [line.split()[:2] for line in lines] == [["default", "hello"], ["team-b", "a"]]


def test_no_resources_message() -> None:
    assert no_resources("default", True) == "No resources found in default namespace."
    assert no_resources(None, True) == "No resources found"
    assert no_resources("default", False) == "No resources found"


def test_yaml_is_sorted_block_style_with_quoted_lookalikes() -> None:
    text = dump_yaml(
        {
            "metadata": {
                "resourceVersion": "12",
                "name": "x",
                "creationTimestamp": "2024-01-01T00:00:00Z",
            },
            "data": {"script": "line one\nline two\n", "flag": "true"},
        }
    )
    assert text.splitlines()[:3] == ["data:", '  flag: "true"', "  script: |"]
    assert 'resourceVersion: "12"' in text
    assert 'creationTimestamp: "2024-01-01T00:00:00Z"' in text
    assert yaml.safe_load(text)["data"]["script"] == "line one\nline two\n"


def test_json_and_lists() -> None:
    assert dump_json({"a": [1]}) == '{\n    "a": [\n        1\n    ]\n}'
    listed = as_list([{"kind": "ConfigMap"}], "5")
    assert json.loads(dump_json(listed))["kind"] == "List"
    assert listed["metadata"] == {"resourceVersion": "5"}


def test_typed_fills_api_version_and_kind_without_mutating() -> None:
    cm = default_catalog().resolve("cm")
    assert cm is not None
    item = {"metadata": {"name": "x"}}
    out = typed(cm, item)
    assert (out["apiVersion"], out["kind"]) == ("v1", "ConfigMap")
    assert "kind" not in item
