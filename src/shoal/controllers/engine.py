"""The generic engine: runs one reconciler over the keys its informers put on a work queue.

``Manager`` creates one ``Controller`` per reconciler (tests may create one directly). The
controller subscribes to the informer of the reconciled resource (every change enqueues
the object's key) and to the informers of the reconciler's ``watches`` (a change enqueues
whatever keys the watch maps it to), then runs workers that call ``process(key)``:

1. read the object from the informer cache (gone: tell ``reconciler.deleted`` and stop);
2. being deleted: if it still carries the reconciler's finalizer, ``finalize`` it and
   remove the finalizer; otherwise nothing to do;
3. otherwise add the finalizer first if the reconciler has one (a merge patch guarded by
   the resourceVersion), then ``reconcile`` a private copy;
4. whatever came of it, settle the status (observedGeneration, lastTransitionTime) and
   write it with ``update_status`` only if it differs from what was read;
5. act on the outcome as ``errors`` describes: forget the key's backoff on success,
   ``add_after`` for ``requeue_after`` or a ``TemporaryError`` with a delay, backoff for
   conflicts and other errors, nothing more for a ``PermanentError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from shoal.api.errors import Conflict, NotFound
from shoal.client.base import Client
from shoal.controllers.cache import Obj, object_key, split_key
from shoal.controllers.clock import Clock, rfc3339
from shoal.controllers.errors import PermanentError, ReconcileError, TemporaryError
from shoal.controllers.events import EventRecorder
from shoal.controllers.factory import InformerFactory
from shoal.controllers.informer import Handler, Informer, InformerEvent
from shoal.controllers.reconciler import Reconciler, ReconcileResult, Watch
from shoal.controllers.status import (
    clone,
    mark_new_generation,
    settle_status,
    status_changed,
)
from shoal.controllers.workqueue import RateLimiter, WorkQueue

log = logging.getLogger(__name__)


class Controller:
    """Runs ``reconciler`` with ``workers`` concurrent keys (never two on the same key).

    ``informers`` is shared with other controllers (the ``Manager`` passes its own);
    ``namespace`` limits the reconciled objects to one namespace; ``recorder`` gets Warning
    events for failed reconciles and Normal ones for finalizer updates. With
    ``mark_new_generation`` (the default, as Knative's ``PreProcessReconcile``) the copy
    handed to the reconciler has ``Ready`` reset to Unknown (``NewObservedGenFailure``)
    when its generation was not observed yet; turn it off for kinds whose status has no
    conditions.
    """

    def __init__(
        self,
        client: Client,
        reconciler: Reconciler[Any],
        *,
        informers: InformerFactory | None = None,
        clock: Clock | None = None,
        workers: int = 2,
        namespace: str | None = None,
        recorder: EventRecorder | None = None,
        rate_limiter: RateLimiter | None = None,
        mark_new_generation: bool = True,
        name: str = "",
    ) -> None:
        self.client = client
        self.reconciler = reconciler
        self.rt = reconciler.rt
        self.informers = informers or InformerFactory(client, clock=clock)
        self.clock: Clock = clock or self.informers.clock
        self.workers = workers
        self.recorder = recorder
        self.mark_new_generation = mark_new_generation
        self.name = name or self.rt.plural
        self.queue = WorkQueue(clock=self.clock, rate_limiter=rate_limiter, name=self.name)
        self.informer = self.informers.informer(self.rt, namespace)
        self.informer.add_handler(self._on_primary)
        self.watched: list[Informer] = []
        for watch in reconciler.watches:
            informer = self.informers.informer(watch.rt, watch.namespace, watch.label_selector)
            informer.add_handler(self._mapper(watch))
            self.watched.append(informer)

    def __repr__(self) -> str:
        return f"<Controller {self.name}>"

    # -- enqueueing ------------------------------------------------------------------------

    def enqueue(self, key: str) -> None:
        self.queue.add(key)

    def enqueue_after(self, key: str, delay: float) -> None:
        self.queue.add_after(key, delay)

    def _on_primary(self, event: InformerEvent) -> None:
        self.queue.add(event.key)

    def _mapper(self, watch: Watch) -> Handler:
        def handle(event: InformerEvent) -> None:
            keys = set(watch.keys(event.obj))
            if event.type == "MODIFIED" and event.old is not None:
                keys.update(watch.keys(event.old))
            for key in sorted(keys):
                self.queue.add(key)

        return handle

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, timeout: float | None = None) -> None:
        """Start the informers, wait until this controller's have synced, start workers."""
        self.informers.start()
        async with asyncio.timeout(timeout):
            for informer in (self.informer, *self.watched):
                await informer.wait_synced()
        self.queue.start(self.process, self.workers)

    async def stop(self, timeout: float | None = None) -> None:
        """Stop taking keys; finish the queued and in-flight ones within ``timeout``."""
        await self.queue.shutdown(drain=True, timeout=timeout)

    # -- one key ---------------------------------------------------------------------------

    async def process(self, key: str) -> None:
        """Reconcile ``key`` once and requeue it as the outcome says. Never raises, except
        ``CancelledError``."""
        try:
            result = await self._reconcile_key(key)
        except Conflict as err:
            log.debug("%r: conflict on %s, requeueing: %s", self, key, err)
            self.queue.add_rate_limited(key)
        except TemporaryError as err:
            log.info("%r: %s will be retried: %s", self, key, err)
            if err.delay is not None:
                self.queue.add_after(key, err.delay)
            else:
                self.queue.add_rate_limited(key)
        except PermanentError as err:
            log.warning("%r: %s failed permanently: %s", self, key, err)
            self.queue.forget(key)
        except Exception:
            log.exception("%r: reconcile of %s failed", self, key)
            self.queue.add_rate_limited(key)
        else:
            self.queue.forget(key)
            if result is not None and result.requeue_after is not None:
                self.queue.add_after(key, result.requeue_after)

    async def _reconcile_key(self, key: str) -> ReconcileResult | None:
        read = self.informer.get(key)
        if read is None:
            await self.reconciler.deleted(key)
            return None
        meta = read.get("metadata") or {}
        finalizer = self.reconciler.finalizer
        if meta.get("deletionTimestamp"):
            if finalizer and finalizer in (meta.get("finalizers") or []):
                await self._finalize(read)
            return None
        if finalizer and finalizer not in (meta.get("finalizers") or []):
            read = await self._set_finalizers(read, [*(meta.get("finalizers") or []), finalizer])
        working = clone(read)
        if self.mark_new_generation and self.rt.status_subresource:
            mark_new_generation(working)
        obj = self.reconciler.decode(working)
        try:
            result = await self.reconciler.reconcile(obj)
        except Exception as err:
            await self._record_failure(read, err)
            await self._write_status_quietly(read, obj)
            raise
        await self._write_status(read, obj)
        return result

    async def _finalize(self, read: Obj) -> None:
        obj = self.reconciler.decode(clone(read))
        try:
            await self.reconciler.finalize(obj)
        except Exception as err:
            await self._record_failure(read, err)
            await self._write_status_quietly(read, obj)
            raise
        rest = [
            f for f in read["metadata"].get("finalizers") or [] if f != self.reconciler.finalizer
        ]
        with contextlib.suppress(NotFound):
            await self._set_finalizers(read, rest)

    async def _set_finalizers(self, read: Obj, finalizers: list[str]) -> Obj:
        meta = read["metadata"]
        patch = {
            "metadata": {"finalizers": finalizers, "resourceVersion": meta.get("resourceVersion")}
        }
        namespace, name = split_key(object_key(read))
        updated = await self.client.patch(self.rt, name, namespace, patch, "merge")
        if self.recorder is not None:
            await self.recorder.normal(updated, "FinalizerUpdate", f'Updated "{name}" finalizers')
        return updated

    # -- status ----------------------------------------------------------------------------

    async def _write_status(self, read: Obj, obj: Any) -> None:
        encoded = self.reconciler.encode(obj)
        status = settle_status(read, encoded.get("status"), rfc3339(self.clock.now()))
        if not status_changed(read, status):
            return
        body = clone(read)
        body["status"] = status
        try:
            if self.rt.status_subresource:
                await self.client.update_status(self.rt, body)
            else:
                await self.client.update(self.rt, body)
        except Conflict:
            raise
        except NotFound:
            log.debug("%r: %s was deleted before its status was written", self,
                      object_key(read))
        except Exception as err:
            if self.recorder is not None:
                await self.recorder.warning(
                    read, "UpdateFailed", f'Failed to update status for "{self._name(read)}": {err}'
                )
            raise

    async def _write_status_quietly(self, read: Obj, obj: Any) -> None:
        """Write what status a failed reconcile left; the reconcile's error is what counts."""
        try:
            await self._write_status(read, obj)
        except Exception as err:
            log.debug(
                "%r: status write after failed reconcile of %s: %s", self, object_key(read), err
            )

    async def _record_failure(self, read: Obj, err: Exception) -> None:
        if self.recorder is None or isinstance(err, Conflict):
            return
        reason = err.reason if isinstance(err, ReconcileError) else "InternalError"
        await self.recorder.warning(read, reason, str(err))

    def _name(self, obj: Obj) -> str:
        return str((obj.get("metadata") or {}).get("name") or "")
