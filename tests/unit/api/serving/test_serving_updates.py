"""Updates of serving objects: who changed them, brought names, immutable revisions."""

from __future__ import annotations

import copy
from typing import Any

from tests.unit.api.serving.serving_admission import admit, context, hello

from shoal.api.serving import Configuration, DomainMapping, Revision, Route, Service

CREATOR = "serving.knative.dev/creator"
MODIFIER = "serving.knative.dev/lastModifier"


def created(body: dict[str, Any] | None = None, **maps: dict[str, str]) -> dict[str, Any]:
    admitted = admit(Service, body or hello(), ctx=context("alice", **maps))
    assert admitted.errors == []
    return admitted.stored


def changed_image(
    stored: dict[str, Any], image: str = "ghcr.io/knative/hello:v2"
) -> dict[str, Any]:
    body = copy.deepcopy(stored)
    body["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return body


def test_a_spec_change_records_the_last_modifier_and_keeps_the_creator() -> None:
    stored = created()

    admitted = admit(Service, changed_image(stored), old=stored, ctx=context("bob"))

    assert admitted.errors == []
    assert admitted.stored["metadata"]["annotations"] == {CREATOR: "alice", MODIFIER: "bob"}


def test_a_metadata_change_keeps_the_last_modifier() -> None:
    stored = created()
    body = copy.deepcopy(stored)
    body["metadata"]["labels"] = {"team": "web"}

    admitted = admit(Service, body, old=stored, ctx=context("bob"))

    assert admitted.errors == []
    assert admitted.stored["metadata"]["annotations"] == {CREATOR: "alice", MODIFIER: "alice"}


def test_a_replacement_without_annotations_carries_them_over() -> None:
    stored = created()
    body = changed_image(stored)
    del body["metadata"]["annotations"]

    admitted = admit(Service, body, old=stored, ctx=context("bob"))

    assert admitted.errors == []
    assert admitted.stored["metadata"]["annotations"] == {CREATOR: "alice", MODIFIER: "bob"}


def test_user_annotations_may_not_be_changed_by_hand() -> None:
    stored = created()
    body = copy.deepcopy(stored)
    body["metadata"]["annotations"] = {CREATOR: "mallory", MODIFIER: "mallory"}

    admitted = admit(Service, body, old=stored, ctx=context("mallory"))

    assert sorted(admitted.paths()) == [
        f"metadata.annotations.{CREATOR}",
        f"metadata.annotations.{MODIFIER}",
    ]
    assert admitted.at(f"metadata.annotations.{CREATOR}") == ["annotation value is immutable"]


def test_route_and_domain_mapping_record_users_too() -> None:
    for kind, body in (
        (
            Route,
            {
                "metadata": {"name": "r"},
                "spec": {"traffic": [{"configurationName": "c", "percent": 100}]},
            },
        ),
        (
            DomainMapping,
            {
                "metadata": {"name": "a.example.com"},
                "spec": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "s"}},
            },
        ),
    ):
        stored = admit(kind, body, ctx=context("alice")).stored
        update = copy.deepcopy(stored)
        update["metadata"]["annotations"][CREATOR] = "bob"

        admitted = admit(kind, update, old=stored, ctx=context("bob"))

        assert admitted.paths() == [f"metadata.annotations.{CREATOR}"], kind


def test_a_configuration_owned_by_a_service_is_not_stamped_on_update() -> None:
    owner = {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "hello", "uid": "1"}
    config = {
        "metadata": {
            "name": "hello",
            "ownerReferences": [owner],
            "annotations": {CREATOR: "alice", MODIFIER: "alice"},
        },
        "spec": hello()["spec"],
    }
    stored = admit(Configuration, config).stored

    admitted = admit(
        Configuration, changed_image(stored), old=stored, ctx=context("system:controller")
    )

    assert admitted.errors == []
    assert admitted.stored["metadata"]["annotations"] == {CREATOR: "alice", MODIFIER: "alice"}


def with_template_name(name: str) -> dict[str, Any]:
    body = hello()
    body["spec"]["template"]["metadata"] = {"name": name}
    return body


def test_a_brought_revision_name_must_change_with_the_template() -> None:
    stored = created(with_template_name("hello-v1"))

    admitted = admit(Service, changed_image(stored), old=stored)

    messages = admitted.at("spec.template.metadata.name")
    assert len(messages) == 1
    assert messages[0].startswith("Saw the following changes without a name change (-old +new)")
    assert "containers[0].image" in messages[0]


def test_a_brought_revision_name_may_change_with_the_template() -> None:
    stored = created(with_template_name("hello-v1"))
    body = changed_image(stored)
    body["spec"]["template"]["metadata"]["name"] = "hello-v2"

    assert admit(Service, body, old=stored).errors == []


def test_a_template_only_changed_by_new_defaults_is_kept_as_stored() -> None:
    stored = created(with_template_name("hello-v1"))
    drifted = context(
        defaults={"revision-idle-timeout-seconds": "30", "max-revision-timeout-seconds": "100"}
    )
    body = copy.deepcopy(stored)
    body["metadata"]["labels"] = {"team": "web"}

    admitted = admit(Service, body, old=stored, ctx=drifted)

    assert admitted.errors == []
    assert admitted.stored["spec"]["template"] == stored["spec"]["template"]


def revision(image: str = "ghcr.io/knative/helloworld-go") -> dict[str, Any]:
    return {"metadata": {"name": "hello-00001"}, "spec": {"containers": [{"image": image}]}}


def test_a_revision_spec_is_immutable() -> None:
    stored = admit(Revision, revision()).stored
    body = copy.deepcopy(stored)
    body["spec"]["containers"][0]["image"] = "ghcr.io/knative/other"

    admitted = admit(Revision, body, old=stored)

    assert admitted.paths() == ["spec"]
    assert admitted.errors[0].message.startswith("Immutable fields changed (-old +new)")


def test_a_revision_takes_metadata_updates_despite_new_defaults() -> None:
    stored = admit(Revision, revision()).stored
    body = copy.deepcopy(stored)
    body["metadata"]["labels"] = {"serving.knative.dev/routingState": "active"}
    drifted = context(defaults={"revision-idle-timeout-seconds": "30"})

    admitted = admit(Revision, body, old=stored, ctx=drifted)

    assert admitted.errors == []
    assert admitted.stored["spec"] == stored["spec"]
