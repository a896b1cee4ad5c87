"""kn's sink syntax and delivery flags, turned into Knative's ``Destination`` and ``DeliverySpec``.

The eventing commands (``broker``, ``trigger``, ``subscription``, ``event send``) call
``parse_sink`` for every flag that names where events go, and ``add_delivery_options`` /
``delivery_changes`` for the delivery flags brokers and triggers share. ``sink_text`` turns
a destination back into the short form kn prints in lists.

A sink is written as kn writes it:

- ``http://host/path`` or ``https://...``: the URI itself;
- ``NAME``: the Knative Service ``NAME`` (kn's default prefix is ``ksvc``);
- ``PREFIX:NAME`` or ``PREFIX:NAME:NAMESPACE``, where ``PREFIX`` is ``ksvc``, ``broker``,
  ``channel`` (kn's mappings), another name of an addressable kind Shoal serves (``imc``,
  ``sequence``, ``parallel``, ``inmemorychannels``, ...) or a ``GROUP/VERSION/RESOURCE``
  (``messaging.knative.dev/v1/channels:pipe``);
- ``KIND:APIVERSION:NAME`` (``Service:serving.knative.dev/v1:hello``), for a kind Shoal
  does not know itself.

Parsing is pure: nothing is looked up on the server, so a sink may be created after the
trigger that points at it (its ``Ready`` condition says so until then). Every error
names the flag and the value that was given.
"""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import urlsplit

from shoal.api.catalog import default_catalog
from shoal.api.duck import BACKOFF_POLICIES, parse_iso8601_duration
from shoal.api.types import ResourceType
from shoal.cli.errors import CliError

Obj = dict[str, Any]

# kn's built-in prefixes; other names of the kinds below are accepted as well.
PREFIXES: dict[str, str] = {"ksvc": "services", "broker": "brokers", "channel": "channels"}
ADDRESSABLE: frozenset[tuple[str, str]] = frozenset(
    {
        ("serving.knative.dev", "services"),
        ("eventing.knative.dev", "brokers"),
        ("messaging.knative.dev", "channels"),
        ("messaging.knative.dev", "inmemorychannels"),
        ("flows.knative.dev", "sequences"),
        ("flows.knative.dev", "parallels"),
    }
)
_KUBERNETES_SERVICE = ("svc", "service", "services")


def _bad(flag: str, text: str, why: str) -> CliError:
    return CliError(f"invalid value {text!r} for {flag}: {why}")


def _prefix_type(prefix: str, flag: str, text: str) -> ResourceType:
    """The resource type a sink prefix names: kn's mappings, a name, or a GVR."""
    catalog = default_catalog()
    lowered = prefix.lower()
    if lowered in _KUBERNETES_SERVICE:
        raise _bad(
            flag, text, f"unsupported sink prefix '{prefix}', use 'ksvc' for a Knative Service"
        )
    rt: ResourceType | None
    if lowered in PREFIXES:
        rt = catalog.resolve(PREFIXES[lowered])
    elif "/" in prefix:
        group_version, _, resource = prefix.rpartition("/")
        group, _, version = group_version.rpartition("/")
        plural = resource.lower()
        if not plural.endswith("s"):  # kn's best effort at a plural
            plural += "s"
        rt = catalog.lookup(group, version, plural)
        if rt is None:
            raise _bad(flag, text, f"no resource {plural!r} in {group_version!r}")
    else:
        rt = catalog.resolve(lowered)
    if rt is None or (rt.group, rt.plural) not in ADDRESSABLE:
        raise _bad(
            flag,
            text,
            f"unknown sink prefix '{prefix}' (use ksvc:, broker:, "
            "channel:, imc:, sequence:, parallel: or an http(s) URL)",
        )
    return rt


def parse_sink(text: str, namespace: str, flag: str = "--sink") -> Obj:
    """The ``Destination`` (camelCase, as stored) that ``text`` names, for ``flag``.

    References get the namespace the sink names, else ``namespace`` (the command's).
    """
    text = text.strip()
    if not text:
        raise _bad(flag, text, "a sink must not be empty")
    scheme = text.split(":", 1)[0].lower()
    if scheme in ("http", "https"):
        parts = urlsplit(text)
        if not parts.hostname:
            raise _bad(flag, text, "a URL sink needs a host")
        return {"uri": text}
    pieces = text.split(":", 2)
    if len(pieces) == 1:
        pieces = ["ksvc", pieces[0]]
    if len(pieces) == 3 and "/" in pieces[1]:
        return _generic(pieces[0], pieces[1], pieces[2], namespace, flag, text)
    prefix, name = pieces[0], pieces[1]
    ns = pieces[2] if len(pieces) == 3 else namespace
    if not prefix:
        raise _bad(flag, text, "the prefix before ':' is empty")
    if not name:
        raise _bad(flag, text, "the name after ':' is empty")
    if not ns:
        raise _bad(flag, text, "the namespace after the name is empty")
    rt = _prefix_type(prefix, flag, text)
    return {"ref": {"apiVersion": rt.api_version, "kind": rt.kind, "name": name, "namespace": ns}}


def _generic(kind: str, api_version: str, name: str, namespace: str, flag: str, text: str) -> Obj:
    """``KIND:APIVERSION:NAME``: any kind, named in full (the kind's spelling is kept)."""
    if not kind or not name or api_version.startswith("/") or api_version.endswith("/"):
        raise _bad(flag, text, "expected KIND:APIVERSION:NAME")
    known = default_catalog().resolve(kind)
    if known is not None and known.api_version == api_version:
        kind = known.kind
    return {"ref": {"apiVersion": api_version, "kind": kind, "name": name, "namespace": namespace}}


def sink_text(dest: Any, namespace: str = "") -> str:
    """A destination as kn shows it: ``ksvc:hello``, ``broker:default``, or its URI.

    A reference into another namespace than ``namespace`` ends with ``:NAMESPACE``; a URI
    relative to a reference follows it.
    """
    if not isinstance(dest, dict):
        return ""
    ref = dest.get("ref")
    uri = str(dest.get("uri") or "")
    if not isinstance(ref, dict):
        return uri
    kind = str(ref.get("kind") or "")
    api_version = str(ref.get("apiVersion") or "")
    if kind == "Service" and api_version.startswith("serving.knative.dev/"):
        prefix = "ksvc"
    else:
        prefix = kind.lower()
    text = f"{prefix}:{ref.get('name', '')}"
    ref_ns = ref.get("namespace")
    if ref_ns and namespace and ref_ns != namespace:
        text += f":{ref_ns}"
    return text + uri


# -- delivery --------------------------------------------------------------------------------


def iso_duration(text: str) -> str:
    """An argparse type: an ISO-8601 duration (``PT0.2S``, ``PT1M``), kept as written."""
    seconds = parse_iso8601_duration(text)
    if seconds is None:
        raise argparse.ArgumentTypeError(
            f"invalid ISO-8601 duration {text!r} (e.g. PT0.2S, PT10S, PT1M)"
        )
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"duration {text!r} must not be negative")
    return text


def non_negative(text: str) -> int:
    """An argparse type: a whole number of zero or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be 0 or more")
    return value


def add_delivery_options(parser: argparse.ArgumentParser, dl_flag: str = "--dl-sink") -> None:
    """kn's delivery flags (as on ``kn broker create``)."""
    group = parser.add_argument_group("delivery options")
    group.add_argument(
        dl_flag,
        dest="dl_sink",
        metavar="SINK",
        help="where events go that could not be delivered (a sink, as --sink)",
    )
    group.add_argument(
        "--retry",
        type=non_negative,
        metavar="N",
        help="the minimum number of retries before an event goes to the dead letter sink",
    )
    group.add_argument(
        "--backoff-policy", choices=BACKOFF_POLICIES, help="the retry backoff policy"
    )
    group.add_argument(
        "--backoff-delay",
        type=iso_duration,
        metavar="DURATION",
        help="the delay before retrying, an ISO-8601 duration (e.g. PT0.2S)",
    )
    group.add_argument(
        "--timeout",
        type=iso_duration,
        metavar="DURATION",
        help="the timeout of each single request, greater than zero (e.g. PT10S)",
    )
    group.add_argument(
        "--retry-after-max",
        type=iso_duration,
        metavar="DURATION",
        help="an upper bound on the Retry-After of 429 and 503 answers; PT0S ignores it "
        "(needs the delivery-retryafter feature)",
    )


def delivery_changes(args: argparse.Namespace, namespace: str, dl_flag: str = "--dl-sink") -> Obj:
    """The ``spec.delivery`` fields the delivery flags set (camelCase), nothing else."""
    changes: Obj = {}
    if args.dl_sink is not None:
        changes["deadLetterSink"] = parse_sink(args.dl_sink, namespace, dl_flag)
    if args.retry is not None:
        changes["retry"] = args.retry
    if args.backoff_policy is not None:
        changes["backoffPolicy"] = args.backoff_policy
    if args.backoff_delay is not None:
        changes["backoffDelay"] = args.backoff_delay
    if args.timeout is not None:
        changes["timeout"] = args.timeout
    if args.retry_after_max is not None:
        changes["retryAfterMax"] = args.retry_after_max
    return changes


def merged_delivery(existing: Any, changes: Obj) -> Obj | None:
    """``existing`` delivery with ``changes`` applied; None when both are empty."""
    out = dict(existing) if isinstance(existing, dict) else {}
    out.update(changes)
    return out or None


def delivery_view(delivery: Any, namespace: str = "") -> Obj:
    """A delivery spec for ``describe``: the dead letter sink in kn's short form."""
    if not isinstance(delivery, dict):
        return {}
    view = dict(delivery)
    if "deadLetterSink" in view:
        view["deadLetterSink"] = sink_text(view["deadLetterSink"], namespace)
    return view
