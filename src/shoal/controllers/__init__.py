"""Controllers: the generic engine and, beside it, one reconciler per kind.

The engine, bottom up (each module's docstring says more):

    clock        the Clock seam (SystemClock, FakeClock)
    cache        ObjectCache: objects by "namespace/name", indexed by owner UID
    informer     Informer: list, watch, relist on 410, resync; handlers get InformerEvents
    factory      InformerFactory: one shared informer per resource
    workqueue    WorkQueue: deduped keys, per-key backoff, add_after, workers
    errors       TemporaryError / PermanentError: what a reconciler raises
    reconciler   the Reconciler contract, ModelReconciler / DictReconciler, Watch
    status       observedGeneration and lastTransitionTime bookkeeping
    conditions   ConditionSet and ConditionManager (Knative's condition rules)
    events       EventRecorder: core/v1 Events with repeat aggregation
    tracker      Tracker: enqueue referrers when a referenced object changes
    engine       Controller: runs one reconciler
    manager      Manager: runs all controllers over shared informers
"""

from shoal.controllers.cache import ObjectCache, make_key, object_key, split_key
from shoal.controllers.clock import Clock, FakeClock, SystemClock, rfc3339
from shoal.controllers.conditions import ConditionManager, ConditionSet
from shoal.controllers.engine import Controller
from shoal.controllers.errors import PermanentError, ReconcileError, TemporaryError
from shoal.controllers.events import EventRecorder
from shoal.controllers.factory import InformerFactory
from shoal.controllers.informer import Informer, InformerEvent
from shoal.controllers.manager import Manager
from shoal.controllers.reconciler import (
    DictReconciler,
    ModelReconciler,
    Reconciler,
    ReconcileResult,
    Watch,
    label_keys,
    owner_keys,
)
from shoal.controllers.tracker import Reference, Tracker
from shoal.controllers.workqueue import ExponentialBackoff, WorkQueue

__all__ = [
    "Clock",
    "ConditionManager",
    "ConditionSet",
    "Controller",
    "DictReconciler",
    "EventRecorder",
    "ExponentialBackoff",
    "FakeClock",
    "Informer",
    "InformerEvent",
    "InformerFactory",
    "Manager",
    "ModelReconciler",
    "ObjectCache",
    "PermanentError",
    "ReconcileError",
    "ReconcileResult",
    "Reconciler",
    "Reference",
    "SystemClock",
    "TemporaryError",
    "Tracker",
    "Watch",
    "WorkQueue",
    "label_keys",
    "make_key",
    "object_key",
    "owner_keys",
    "rfc3339",
    "split_key",
]
