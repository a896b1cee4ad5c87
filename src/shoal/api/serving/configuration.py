"""The Configuration kind: the floating head of a line of revisions.

Each change of ``spec.template`` makes the Configuration reconciler stamp a new Revision
(``{name}-00001``, ``-00002``, ...); ``status`` names the latest created and the latest ready
one. A Service owns one Configuration of its own name; users may also create them directly.
"""

from __future__ import annotations

from pydantic import Field

from shoal.api.config import AdmissionContext
from shoal.api.errors import FieldErrors
from shoal.api.model import KObject, Model, Status
from shoal.api.serving import annotation_rules, keys, metadata
from shoal.api.serving.revision import RevisionTemplateSpec
from shoal.api.serving.userinfo import UserStamped


class ConfigurationSpec(Model):
    """The template of the revisions to create."""

    template: RevisionTemplateSpec = Field(default_factory=RevisionTemplateSpec)

    def apply_defaults(self, ctx: AdmissionContext, parent_name: str) -> None:
        template = self.template
        template.apply_defaults(ctx, parent_name)
        self.template = template

    def check(
        self,
        old: ConfigurationSpec | None,
        parent: KObject,
        ctx: AdmissionContext,
        errs: FieldErrors,
    ) -> None:
        """The template's rules, at ``errs.at("template")``. On update a template that did
        not change (up to defaults changed since) is kept as stored and not re-checked."""
        at = errs.at("template")
        if old is not None:
            if self.template.same_as_stored(old.template, ctx, parent.name):
                self.template = old.template
                return
            self.template.check_name_change(old.template, at)
        self.template.check(parent.metadata, ctx, at)


class ConfigurationStatus(Status):
    """The observed state of a configuration."""

    latest_created_revision_name: str | None = Field(
        default=None, description="The revision most recently created from the template."
    )
    latest_ready_revision_name: str | None = Field(
        default=None, description="The most recent revision that became ready."
    )


class Configuration(UserStamped):
    """A stream of revisions, one for each version of its template."""

    spec: ConfigurationSpec = Field(default_factory=ConfigurationSpec)
    status: ConfigurationStatus | None = None

    def apply_defaults(self, ctx: AdmissionContext) -> None:
        spec = self.spec
        spec.apply_defaults(ctx, self.name)
        self.spec = spec
        self.stamp(ctx)

    def check(self, old: KObject | None, ctx: AdmissionContext, errs: FieldErrors) -> None:
        stored = old if isinstance(old, Configuration) else None
        meta = errs.at("metadata")
        metadata.check_name(self.metadata, meta)
        metadata.check_labels(
            self.metadata,
            meta.at("labels"),
            known=(keys.ROUTE_LABEL, keys.CONFIGURATION_UID_LABEL, keys.SERVICE_UID_LABEL),
            owners={keys.SERVICE_LABEL: "Service"},
        )
        annotation_rules.check_no_autoscaling(self.metadata.annotations, meta.at("annotations"))
        self.spec.check(stored.spec if stored else None, self, ctx, errs.at("spec"))
        if stored is not None:
            self.settle(stored, ctx, errs)
