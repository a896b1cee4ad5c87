"""The PingSource kind (``sources.knative.dev/v1``): a fixed event sent on a cron schedule.

``spec.schedule`` is a cron expression (see ``cron``), read in ``spec.timezone`` when set;
each fire sends ``dev.knative.sources.ping`` with ``data`` (or the bytes of ``dataBase64``)
to the sink. Called by admission in the API server; the ping adapter reuses ``schedule``.
"""

from __future__ import annotations

import base64
import binascii
import json

from pydantic import Field

from shoal.api.config import EVENTING_NS, AdmissionContext
from shoal.api.errors import FieldErrors
from shoal.api.model import KObject
from shoal.api.sources import cron
from shoal.api.sources.base import (
    SourceSpec,
    SourceStatus,
    check_source_spec,
    default_source_spec,
)

DEFAULT_SCHEDULE = "* * * * *"
JSON = "application/json"


class PingSourceSpec(SourceSpec):
    """The desired state of a PingSource."""

    schedule: str | None = Field(
        default=None,
        description="Schedule is the cron schedule, e.g. '*/2 * * * *', with an "
        "optional leading seconds field; @hourly, @daily and the like are accepted. Defaults "
        "to every minute.",
    )
    timezone: str | None = Field(
        default=None,
        description="Timezone modifies the actual time relative to the "
        "specified timezone, an IANA name (e.g. Europe/Berlin). Defaults to UTC.",
    )
    content_type: str | None = Field(
        default=None, description="ContentType is the media type of data or dataBase64."
    )
    data: str | None = Field(
        default=None,
        description="Data is data used as the body of the event posted to the "
        "sink. Mutually exclusive with dataBase64.",
    )
    data_base64: str | None = Field(
        default=None,
        description="DataBase64 is the base64-encoded string of the actual "
        "event's body posted to the sink. Mutually exclusive with data.",
    )


def schedule(spec: PingSourceSpec) -> cron.Schedule:
    """The parsed schedule of a PingSource, in its time zone; raises ``cron.CronError``."""
    text = spec.schedule or DEFAULT_SCHEDULE
    if spec.timezone:
        text = f"CRON_TZ={spec.timezone} {text}"
    return cron.parse(text)


def _json_problem(text: str) -> str | None:
    try:
        value = json.loads(text)
    except ValueError as e:
        return f"invalid JSON: {e}"
    if value is not None and not isinstance(value, dict):
        return "must be a JSON object"
    return None


def _data_max_size(ctx: AdmissionContext) -> int:
    """``dataMaxSize`` of ``config-ping-defaults``: the largest payload in bytes, -1 for any."""
    raw = ctx.config.value(EVENTING_NS, "config-ping-defaults", "dataMaxSize")
    try:
        return int(raw.strip())
    except ValueError:
        return -1


class PingSource(KObject):
    """PingSource sends an event with a fixed payload on a cron schedule."""

    spec: PingSourceSpec = Field(default_factory=PingSourceSpec)
    status: SourceStatus | None = None

    def apply_defaults(self, ctx: AdmissionContext) -> None:
        self.model_fields_set.add("spec")
        if not self.spec.schedule:
            self.spec.schedule = DEFAULT_SCHEDULE
        default_source_spec(self.spec, self.namespace)

    def check(self, old: KObject | None, ctx: AdmissionContext, errs: FieldErrors) -> None:
        spec = self.spec
        at = errs.at("spec")
        try:
            schedule(spec)
        except cron.CronLocationError as e:
            at.invalid("timezone", spec.timezone, str(e))
        except cron.CronError as e:
            at.invalid("schedule", spec.schedule, str(e))
        check_source_spec(spec, ctx, at)
        max_size = _data_max_size(ctx)
        if spec.data and spec.data_base64:
            at.forbidden("dataBase64", "expected exactly one, got both: data, dataBase64")
        elif spec.data_base64:
            self._check_data_base64(spec.data_base64, max_size, at)
        elif spec.data:
            if max_size > -1 and len(spec.data.encode()) > max_size:
                at.invalid(
                    "data",
                    "<data>",
                    f"the data length of {len(spec.data.encode())} "
                    f"bytes exceeds limit set at {max_size}.",
                )
            problem = _json_problem(spec.data) if spec.content_type == JSON else None
            if problem:
                at.invalid("data", spec.data, problem)

    def _check_data_base64(self, value: str, max_size: int, at: FieldErrors) -> None:
        if max_size > -1 and len(value) > max_size:
            at.invalid(
                "dataBase64",
                "<dataBase64>",
                f"the dataBase64 length of {len(value)} bytes exceeds limit set at {max_size}.",
            )
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as e:
            at.invalid("dataBase64", value, f"illegal base64 data: {e}")
            return
        if self.spec.content_type == JSON:
            try:
                problem = _json_problem(decoded.decode())
            except UnicodeDecodeError:
                problem = "invalid JSON: not UTF-8"
            if problem:
                at.invalid("dataBase64", value, problem)
