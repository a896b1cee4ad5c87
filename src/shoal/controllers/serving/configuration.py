"""The Configuration reconciler: one immutable Revision per template generation.

Each change to ``spec.template`` bumps the Configuration's generation; the reconciler
stamps the Revision of that generation (``{name}-{generation:05d}``, or the template's own
name) and follows it: ``latestCreatedRevisionName`` names it at once,
``latestReadyRevisionName`` once it is Ready, and the Configuration's Ready follows it
(``RevisionFailed`` when it fails; the last ready revision keeps serving meanwhile).
Afterwards it hands the Configuration to the revision collector (``gc``), when given.
"""

from __future__ import annotations

from shoal.api.catalog import default_catalog
from shoal.api.errors import AlreadyExists, NotFound
from shoal.api.serving.configuration import Configuration, ConfigurationStatus
from shoal.client.base import Client
from shoal.controllers.children import controlled_by
from shoal.controllers.conditions import ConditionSet
from shoal.controllers.reconciler import ModelReconciler, ReconcileResult, Watch, owner_keys
from shoal.controllers.serving.gc import RevisionCollector
from shoal.controllers.serving.resources import make_revision
from shoal.controllers.serving.service import ready_of

CONFIGURATIONS = default_catalog().require("configurations")
REVISIONS = default_catalog().require("revisions")
CONFIGURATION_CONDITIONS = ConditionSet("Ready")


class ConfigurationReconciler(ModelReconciler[Configuration]):
    rt = CONFIGURATIONS
    watches = (Watch(REVISIONS, owner_keys(CONFIGURATIONS)),)

    def __init__(self, client: Client, *, collector: RevisionCollector | None = None) -> None:
        self.client = client
        self.collector = collector

    async def reconcile(self, obj: Configuration) -> ReconcileResult | None:
        config = obj.dump()
        status = obj.status = obj.status or ConfigurationStatus()
        conditions = CONFIGURATION_CONDITIONS.manage(status)
        conditions.initialize()
        desired = make_revision(config)
        name = desired["metadata"]["name"]
        try:
            revision = await self.client.get(REVISIONS, name, obj.namespace)
        except NotFound:
            try:
                revision = await self.client.create(REVISIONS, desired)
            except AlreadyExists:
                return ReconcileResult(requeue_after=0.1)
        if not controlled_by(revision, obj.metadata.uid or ""):
            conditions.mark_false("Ready", "NotOwned",
                                  f'there is an existing Revision "{name}" that we do not own')
            return None
        status.latest_created_revision_name = name
        state, reason, message = ready_of(revision)
        if state == "True":
            status.latest_ready_revision_name = name
            conditions.mark_true("Ready")
        elif state == "False":
            conditions.mark_false("Ready", "RevisionFailed",
                                  f'Revision "{name}" failed with message: {message}'
                                  if message else f'Revision "{name}" failed: {reason}')
        else:
            conditions.mark_unknown("Ready", reason or "Deploying", message)
        if self.collector is not None:
            wait = await self.collector.collect(obj.dump())
            if wait is not None:
                return ReconcileResult(requeue_after=max(1.0, wait))
        return None
