"""Who created and who last changed a Service, Configuration, Route or DomainMapping.

Knative stamps ``serving.knative.dev/creator`` when an object is created and
``serving.knative.dev/lastModifier`` when its spec changes, and refuses a change of either
by hand. Defaulting here cannot see the stored object, so the work is split in two:

- ``apply_defaults`` calls ``stamp``: a missing annotation is set to the caller, and the
  object remembers which ones it filled in;
- ``check`` calls ``settle`` on update: annotations the body left out are carried over from
  the stored object, ``lastModifier`` becomes the caller when the spec changed, and an
  explicit change by hand is an error, at ``metadata.annotations.<key>``.

Objects a Service owns (its Configuration and Route) carry their parent's annotations and
are left alone, as in Knative.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import PrivateAttr

from shoal.api.config import AdmissionContext
from shoal.api.errors import FieldErrors
from shoal.api.model import KObject
from shoal.api.serving import keys

_KEYS = (keys.CREATOR, keys.LAST_MODIFIER)


class UserStamped(KObject):
    """A kind whose creator and last modifier Serving records."""

    # A Service is stamped even with owner references; its children are not.
    stamp_when_owned: ClassVar[bool] = False

    _stamped: set[str] = PrivateAttr(default_factory=set)

    def _skipped(self) -> bool:
        return bool(self.metadata.owner_references) and not self.stamp_when_owned

    def spec_dump(self) -> Any:
        """The spec as stored, to tell whether an update changed it."""
        spec = getattr(self, "spec", None)
        return spec.dump() if spec is not None else None

    def stamp(self, ctx: AdmissionContext) -> None:
        if self._skipped():
            return
        annotations = dict(self.metadata.annotations or {})
        for key in _KEYS:
            if key not in annotations:
                annotations[key] = ctx.user
                self._stamped.add(key)
        self.metadata.annotations = annotations

    def settle(self, old: UserStamped, ctx: AdmissionContext, errs: FieldErrors) -> None:
        """On update: carry over, restamp or refuse; ``errs`` at the object's root."""
        if self._skipped():
            return
        before = old.metadata.annotations or {}
        after = dict(self.metadata.annotations or {})
        spec_changed = old.spec_dump() != self.spec_dump()
        for key in _KEYS:
            if key in self._stamped:
                if key in before:
                    after[key] = before[key]
                else:
                    after.pop(key, None)
        if spec_changed:
            after[keys.LAST_MODIFIER] = ctx.user
        self.metadata.annotations = after
        self._stamped.clear()
        at = errs.at("metadata").at("annotations")
        for key in _KEYS:
            if key == keys.LAST_MODIFIER and spec_changed:
                continue
            if before.get(key) != after.get(key):
                at.add("annotation value is immutable", key)
