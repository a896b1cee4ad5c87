"""The Revision kind, and the revision template that Configurations and Services stamp from.

A Revision is an immutable snapshot of code and configuration; the Configuration
reconciler creates one from ``spec.template`` on each change, and the Revision reconciler
runs its instances. ``RevisionTemplateSpec`` (with its defaulting and validation) is shared by
Configuration and Service; its ``metadata.name`` lets a user bring a revision name of their
own, which must start with the parent's name and change whenever the template does.
"""

from __future__ import annotations

from pydantic import Field

from shoal.api.config import AdmissionContext
from shoal.api.errors import FieldErrors
from shoal.api.model import KObject, Model, ObjectMeta, Status, TemplateMeta
from shoal.api.serving import annotation_rules, keys, metadata
from shoal.api.serving import messages as m
from shoal.api.serving.container import ContainerStatus
from shoal.api.serving.diff import short_diff
from shoal.api.serving.podspec import RevisionSpec
from shoal.api.serving.podspec_defaults import default_revision_spec
from shoal.api.serving.podspec_validation import check_revision_spec


class RevisionTemplateSpec(Model):
    """The template each new revision is made from."""

    metadata: TemplateMeta = Field(
        default_factory=TemplateMeta,
        description="Labels and annotations of the revisions (autoscaling annotations go "
        "here); name brings a revision name of your own.",
    )
    spec: RevisionSpec = Field(default_factory=RevisionSpec)

    def apply_defaults(self, ctx: AdmissionContext, parent_name: str) -> None:
        meta = self.metadata
        if meta.creation_timestamp is None:
            meta.model_fields_set.discard("creation_timestamp")
        spec = self.spec
        default_revision_spec(spec, ctx, parent_name)
        self.spec = spec

    def check(self, parent: ObjectMeta, ctx: AdmissionContext, errs: FieldErrors) -> None:
        """Knative's RevisionTemplateSpec.Validate; ``errs`` at the template."""
        check_revision_spec(self.spec, ctx, errs.at("spec"))
        at_annotations = errs.at("metadata").at("annotations")
        annotation_rules.check_autoscaling(self.metadata.annotations, ctx, at_annotations)
        annotation_rules.check_serving(self.metadata.annotations, at_annotations, template=True)
        self._check_name(parent, errs.at("metadata"))

    def _check_name(self, parent: ObjectMeta, errs: FieldErrors) -> None:
        meta = self.metadata
        if meta.generate_name:
            problems = metadata.dns1035_problems(meta.generate_name, prefix=True)
            if problems:
                m.invalid_value(errs, "generateName", metadata.not_dns1035(problems, prefix=True))
        if not meta.name:
            return
        problems = metadata.dns1035_problems(meta.name)
        if problems:
            m.invalid_value(errs, "name", metadata.not_dns1035(problems))
            return
        if not parent.name and parent.generate_name:
            m.disallowed(errs, "name")
            return
        prefix = f"{parent.name or ''}-"
        if not meta.name.startswith(prefix):
            m.invalid_value(errs, "name", f'"{meta.name}" must have prefix "{prefix}"')

    def same_as_stored(
        self, old: RevisionTemplateSpec, ctx: AdmissionContext, parent_name: str
    ) -> bool:
        """Whether this template is the stored one, up to defaults changed since it was
        stored; callers then keep the stored template, so no new revision is stamped."""
        stored = old.model_copy(deep=True)
        stored.apply_defaults(ctx, parent_name)
        return stored.dump() == self.dump()

    def check_name_change(self, old: RevisionTemplateSpec, errs: FieldErrors) -> None:
        """A brought name must change whenever the template does; ``errs`` at the template."""
        if not self.metadata.name or self.metadata.name != old.metadata.name:
            return
        diff = short_diff(old.dump(), self.dump())
        if diff:
            errs.at("metadata").add(
                f"Saw the following changes without a name change (-old +new): {diff}", "name"
            )


class RevisionStatus(Status):
    """The observed state of a revision."""

    log_url: str | None = Field(default=None, description="Where the revision's logs are.")
    image_digest: str | None = Field(
        default=None, description="The digest the serving container's image resolved to."
    )
    container_statuses: list[ContainerStatus] | None = None
    init_container_statuses: list[ContainerStatus] | None = None
    actual_replicas: int | None = Field(
        default=None, description="How many instances are running and ready."
    )
    desired_replicas: int | None = Field(
        default=None, description="How many instances the autoscaler wants."
    )


_KNOWN_LABELS = (
    keys.ROUTING_STATE_LABEL,
    keys.ROUTE_LABEL,
    keys.SERVICE_LABEL,
    keys.CONFIGURATION_UID_LABEL,
    keys.SERVICE_UID_LABEL,
    keys.CONFIGURATION_GENERATION_LABEL,
)


class Revision(KObject):
    """An immutable snapshot of code and configuration, run by the autoscaler's instances."""

    spec: RevisionSpec = Field(default_factory=RevisionSpec)
    status: RevisionStatus | None = None

    def _parent_name(self) -> str:
        return (self.metadata.labels or {}).get(keys.CONFIGURATION_LABEL, self.name)

    def apply_defaults(self, ctx: AdmissionContext) -> None:
        spec = self.spec
        default_revision_spec(spec, ctx, self._parent_name())
        self.spec = spec

    def check(self, old: KObject | None, ctx: AdmissionContext, errs: FieldErrors) -> None:
        meta = errs.at("metadata")
        metadata.check_name(self.metadata, meta)
        metadata.check_labels(
            self.metadata,
            meta.at("labels"),
            known=_KNOWN_LABELS,
            owners={keys.CONFIGURATION_LABEL: "Configuration"},
        )
        if not isinstance(old, Revision) or old.metadata.annotations != self.metadata.annotations:
            at_annotations = meta.at("annotations")
            annotation_rules.check_autoscaling(self.metadata.annotations, ctx, at_annotations)
            annotation_rules.check_serving(self.metadata.annotations, at_annotations, template=True)
        if not isinstance(old, Revision):
            check_revision_spec(self.spec, ctx, errs.at("spec"))
            return
        # Defaults that changed since the revision was stored are no change of the user's.
        stored = old.spec.model_copy(deep=True)
        default_revision_spec(stored, ctx, self._parent_name())
        if stored.dump() == self.spec.dump():
            self.spec = old.spec
            return
        diff = short_diff(old.spec.dump(), self.spec.dump())
        errs.add(f"Immutable fields changed (-old +new): {diff}", "spec")
