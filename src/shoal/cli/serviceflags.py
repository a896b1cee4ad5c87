"""kn's service flags and what they do to a Knative Service (``service create|update|apply``).

``add_service_options`` declares the flags, ``ServiceFlags.from_args`` collects them, and
three pure functions turn them into objects: ``new_service`` builds the Service that
``service create`` sends, ``edited_service`` returns a changed copy of a stored Service for
``service update``, and ``compute_traffic`` is kn's traffic algebra over ``spec.traffic``.
Nothing here talks to the server, and nothing changes what the caller passed in.

Where the flags go, as in kn:

- ``--image``, ``--cmd`` (``command: [CMD]``), ``--arg`` (all of ``args``), ``-e/--env``,
  ``--env-from``, ``-p/--port`` on the serving container of ``spec.template``;
- ``--concurrency-limit`` and ``--timeout`` on the template's spec
  (``containerConcurrency``, ``timeoutSeconds``);
- ``--scale``, ``--scale-min``, ``--scale-max``, ``--scale-init`` and
  ``--concurrency-target`` as ``autoscaling.knative.dev/*`` annotations of the template;
- ``-a/--annotation`` on the Service and the template (autoscaling keys on the template
  only), ``-l/--label`` on both, ``--cluster-local`` as the Service's
  ``networking.knative.dev/visibility`` label;
- ``--revision-name`` as the template's name: kn's template with ``{{.Service}}``,
  ``{{.Generation}}`` (the generation the Service will have) and ``{{.Random N}}``
  (N lower-case consonants), prefixed with ``NAME-`` when it does not start with it.

``KEY-`` removes an env variable, label or annotation, and ``config-map:NAME-`` an
``--env-from`` source. Every error names the flag and the value that was given.

Traffic (``--traffic REF=PERCENT``, ``--tag REF=TAG``, ``--untag TAG``, where ``REF`` is a
revision name, a tag, or ``@latest`` for the latest ready revision) follows kn: untag
first, then tag (a revision that already has a tag gets a second target; a new target
gets 0 percent), then, when ``--traffic`` is given, every percent is reset and set from
the flag, whose percents must sum to 100. Targets left with no tag and 0 percent go.
"""

from __future__ import annotations

import argparse
import copy
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from shoal.api.serving import annotation_rules as autoscaling
from shoal.api.serving import keys
from shoal.cli.errors import CliError
from shoal.cli.sinks import non_negative

Obj = dict[str, Any]

LATEST = "@latest"
API_VERSION = "serving.knative.dev/v1"
DEFAULT_WAIT_TIMEOUT = 600
_CONSONANTS = "bcdfghjklmnpqrstvwxz"
_PLACEHOLDER = re.compile(r"{{\s*(.*?)\s*}}")
_RANDOM = re.compile(r"^\.Random\s+(\d+)$")
_ENV_FROM_KINDS = {
    "config-map": "configMapRef",
    "cm": "configMapRef",
    "secret": "secretRef",
    "sc": "secretRef",
}
_PORT_NAMES = ("http1", "h2c")


def bad(flag: str, value: str, why: str) -> CliError:
    return CliError(f"invalid value {value!r} for {flag}: {why}")


def positive(text: str) -> int:
    """An argparse type: a whole number greater than zero."""
    value = non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("0 is not allowed, give 1 or more")
    return value


# -- the flags -------------------------------------------------------------------------------


def add_service_options(parser: argparse.ArgumentParser, *, updating: bool = False) -> None:
    """kn's flags of ``service create``, ``update`` and ``apply``."""
    unset = "; KEY- removes one (repeatable)" if updating else " (repeatable)"
    box = parser.add_argument_group("container")
    box.add_argument("--image", metavar="IMAGE", help="the OCI image to run")
    box.add_argument(
        "--cmd",
        metavar="CMD",
        help="the container's command (its entrypoint); with no image the service runs "
        "as a plain process on this machine" + ("; '' removes it" if updating else ""),
    )
    box.add_argument(
        "--arg",
        dest="args",
        action="append",
        metavar="ARG",
        help="an argument of the command (repeatable; all of them replace the old ones; "
        "write --arg=--flag for one that starts with a dash)",
    )
    box.add_argument(
        "-e",
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable" + unset,
    )
    box.add_argument(
        "--env-from",
        action="append",
        default=[],
        metavar="SOURCE",
        help="all keys of a ConfigMap or Secret as variables: config-map:NAME (or cm:NAME) "
        "or secret:NAME" + ("; append - to remove one" if updating else "") + " (repeatable)",
    )
    box.add_argument(
        "-p",
        "--port",
        metavar="[NAME:]PORT",
        help="the port the app listens on (else $PORT, 8080); NAME h2c for HTTP/2",
    )
    scaling = parser.add_argument_group("scaling and limits")
    scaling.add_argument(
        "--concurrency-limit",
        type=non_negative,
        metavar="N",
        help="hard limit of requests in flight per instance (0: no limit)",
    )
    scaling.add_argument(
        "--concurrency-target",
        type=positive,
        metavar="N",
        help="requests in flight per instance the autoscaler aims at",
    )
    scaling.add_argument(
        "--scale",
        metavar="N|MIN..MAX",
        help="both scale bounds: 5 (min = max = 5), 1..5, 1.. or ..5",
    )
    scaling.add_argument("--scale-min", type=non_negative, metavar="N", help="fewest instances")
    scaling.add_argument(
        "--scale-max", type=non_negative, metavar="N", help="most instances (0: no limit)"
    )
    scaling.add_argument(
        "--scale-init", type=non_negative, metavar="N", help="instances a new revision starts with"
    )
    scaling.add_argument(
        "--timeout",
        type=positive,
        metavar="SECONDS",
        help="longest time a request may take (timeoutSeconds, default 300)",
    )
    meta = parser.add_argument_group("metadata")
    meta.add_argument(
        "--revision-name",
        metavar="NAME",
        help="the new revision's name: a name or a template with {{.Service}}, "
        "{{.Generation}} and {{.Random N}}, e.g. {{.Service}}-{{.Random 5}}-{{.Generation}}; "
        "prefixed with the service's name and a dash when it lacks them "
        "(default: the server names it NAME-00001, NAME-00002, ...)",
    )
    meta.add_argument(
        "-a",
        "--annotation",
        dest="annotations",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an annotation of the service and its revisions" + unset,
    )
    meta.add_argument(
        "-l",
        "--label",
        dest="labels",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a label of the service and its revisions" + unset,
    )
    meta.add_argument(
        "--cluster-local",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="only reachable on the machine's local names (networking.knative.dev/visibility"
        "=cluster-local); --no-cluster-local makes it public again",
    )
    add_traffic_options(parser)
    add_wait_options(parser, "ready")


def add_traffic_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("traffic")
    group.add_argument(
        "--traffic",
        action="append",
        default=[],
        metavar="REF=PERCENT",
        help="share of the traffic for a revision, a tag or @latest (the latest ready "
        "revision); the percents of all --traffic flags sum to 100 (repeatable, or "
        "comma-separated)",
    )
    group.add_argument(
        "--tag",
        dest="tags",
        action="append",
        default=[],
        metavar="REF=TAG",
        help="give a revision (or @latest) a tag and its own URL, TAG-NAME.NAMESPACE...; "
        "a new target gets 0 percent (repeatable, or comma-separated)",
    )
    group.add_argument(
        "--untag",
        dest="untags",
        action="append",
        default=[],
        metavar="TAG",
        help="remove a tag (repeatable, or comma-separated)",
    )


def add_wait_options(parser: argparse.ArgumentParser, until: str, *, default: bool = True) -> None:
    group = parser.add_argument_group("waiting")
    group.add_argument(
        "--wait",
        action=argparse.BooleanOptionalAction,
        default=default,
        help=f"wait until the service is {until} (default {'wait' if default else 'no-wait'})",
    )
    group.add_argument(
        "--wait-timeout",
        type=non_negative,
        default=DEFAULT_WAIT_TIMEOUT,
        metavar="SECONDS",
        help=f"give up waiting after this long (default {DEFAULT_WAIT_TIMEOUT})",
    )


def _split_commas(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class TrafficFlags:
    """``--traffic``, ``--tag`` and ``--untag``, comma-separated values split."""

    traffic: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    untags: tuple[str, ...] = ()

    @property
    def given(self) -> bool:
        return bool(self.traffic or self.tags or self.untags)


@dataclass(frozen=True)
class ServiceFlags:
    """What the flags of one ``service create|update|apply`` asked for; None is not given."""

    image: str | None = None
    cmd: str | None = None
    args: tuple[str, ...] | None = None
    env: tuple[str, ...] = ()
    env_from: tuple[str, ...] = ()
    port: str | None = None
    concurrency_limit: int | None = None
    concurrency_target: int | None = None
    scale: str | None = None
    scale_min: int | None = None
    scale_max: int | None = None
    scale_init: int | None = None
    timeout: int | None = None
    revision_name: str | None = None
    annotations: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    cluster_local: bool | None = None
    traffic: TrafficFlags = field(default_factory=TrafficFlags)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ServiceFlags:
        given = vars(args)
        return cls(
            image=given.get("image"),
            cmd=given.get("cmd"),
            args=tuple(given["args"]) if given.get("args") is not None else None,
            env=tuple(given.get("env") or ()),
            env_from=tuple(given.get("env_from") or ()),
            port=given.get("port"),
            concurrency_limit=given.get("concurrency_limit"),
            concurrency_target=given.get("concurrency_target"),
            scale=given.get("scale"),
            scale_min=given.get("scale_min"),
            scale_max=given.get("scale_max"),
            scale_init=given.get("scale_init"),
            timeout=given.get("timeout"),
            revision_name=given.get("revision_name"),
            annotations=tuple(given.get("annotations") or ()),
            labels=tuple(given.get("labels") or ()),
            cluster_local=given.get("cluster_local"),
            traffic=TrafficFlags(
                _split_commas(given.get("traffic") or ()),
                _split_commas(given.get("tags") or ()),
                _split_commas(given.get("untags") or ()),
            ),
        )

    def changes_anything(self) -> bool:
        return self != ServiceFlags()


# -- KEY=VALUE and KEY- ----------------------------------------------------------------------


def parse_pairs(values: Iterable[str], flag: str) -> tuple[dict[str, str], list[str]]:
    """``KEY=VALUE`` values to set (the last one wins) and ``KEY-`` keys to remove."""
    setting: dict[str, str] = {}
    removing: list[str] = []
    for text in values:
        key, sep, value = text.partition("=")
        if not sep:
            if len(key) > 1 and key.endswith("-"):
                name = key[:-1]
                setting.pop(name, None)
                removing.append(name)
                continue
            raise bad(flag, text, "expected KEY=VALUE, or KEY- to remove it")
        if not key:
            raise bad(flag, text, "the name before '=' is empty")
        if key in removing:
            removing.remove(key)
        setting[key] = value
    return setting, removing


def _edit_map(current: Any, setting: dict[str, str], removing: list[str]) -> dict[str, str]:
    out = dict(current) if isinstance(current, dict) else {}
    for key in removing:
        out.pop(key, None)
    out.update(setting)
    return out


def _store_map(owner: Obj, key: str, values: dict[str, str]) -> None:
    if values:
        owner[key] = values
    else:
        owner.pop(key, None)


# -- the revision template -------------------------------------------------------------------


def serving_container(containers: list[Obj]) -> Obj:
    """The container that receives requests: the only one, else the one with a port."""
    if len(containers) == 1:
        return containers[0]
    return next((c for c in containers if c.get("ports")), containers[0])


def parse_port(text: str) -> Obj:
    name, sep, number = text.rpartition(":")
    if sep and name not in _PORT_NAMES:
        raise bad("--port", text, f"the port's name is one of {', '.join(_PORT_NAMES)}")
    try:
        port = int(number)
    except ValueError:
        raise bad("--port", text, "expected PORT or NAME:PORT, e.g. 8080 or h2c:8080") from None
    if not 0 < port < 65536:
        raise bad("--port", text, "a port is a number from 1 to 65535")
    return {"name": name, "containerPort": port} if name else {"containerPort": port}


def _edit_env(container: Obj, values: tuple[str, ...]) -> None:
    setting, removing = parse_pairs(values, "--env")
    env = [dict(e) for e in container.get("env") or [] if e.get("name") not in removing]
    for name, value in setting.items():
        for entry in env:
            if entry.get("name") == name:
                entry.pop("valueFrom", None)
                entry["value"] = value
                break
        else:
            env.append({"name": name, "value": value})
    _store_list(container, "env", env)


def parse_env_from(text: str) -> tuple[str, str, bool]:
    """``config-map:NAME`` or ``secret:NAME`` (``-`` at the end removes) as
    (``configMapRef`` or ``secretRef``, name, removing)."""
    kind, sep, name = text.partition(":")
    ref = _ENV_FROM_KINDS.get(kind)
    if not sep or ref is None:
        raise bad("--env-from", text, "expected config-map:NAME, cm:NAME or secret:NAME")
    removing = name.endswith("-")
    if removing:
        name = name[:-1]
    if not name:
        raise bad("--env-from", text, "the name after ':' is empty")
    return ref, name, removing


def _edit_env_from(container: Obj, values: tuple[str, ...]) -> None:
    sources = [copy.deepcopy(s) for s in container.get("envFrom") or []]
    for text in values:
        ref, name, removing = parse_env_from(text)
        present = [s for s in sources if (s.get(ref) or {}).get("name") == name]
        if removing:
            sources = [s for s in sources if s not in present]
        elif not present:
            sources.append({ref: {"name": name}})
    _store_list(container, "envFrom", sources)


def _store_list(owner: Obj, key: str, values: list[Any]) -> None:
    if values:
        owner[key] = values
    else:
        owner.pop(key, None)


def parse_scale(text: str) -> tuple[int | None, int | None]:
    """``--scale``: ``5`` (both bounds), ``1..5``, ``1..`` or ``..5``."""
    low, sep, high = text.partition("..")
    if not sep:
        low = high = text
    try:
        bounds = [int(v) if v.strip() else None for v in (low, high)]
    except ValueError:
        bounds = []
    if len(bounds) != 2 or bounds == [None, None] or any(b is not None and b < 0 for b in bounds):
        raise bad("--scale", text, "expected N, MIN..MAX, MIN.. or ..MAX with N >= 0")
    return bounds[0], bounds[1]


def autoscaling_changes(flags: ServiceFlags) -> dict[str, str]:
    """The ``autoscaling.knative.dev/*`` annotations the scale flags set."""
    low, high = flags.scale_min, flags.scale_max
    if flags.scale is not None:
        for given, name in ((low, "--scale-min"), (high, "--scale-max")):
            if given is not None:
                raise CliError(f"give either --scale or {name}, not both")
        low, high = parse_scale(flags.scale)
    out: dict[str, str] = {}
    for key, value in (
        (autoscaling.MIN_SCALE, low),
        (autoscaling.MAX_SCALE, high),
        (autoscaling.INITIAL_SCALE, flags.scale_init),
        (autoscaling.TARGET, flags.concurrency_target),
    ):
        if value is not None:
            out[key] = str(value)
    return out


def _is_autoscaling(key: str) -> bool:
    return key.startswith(keys.AUTOSCALING_GROUP + "/")


def edited_template(template: Any, flags: ServiceFlags) -> Obj:
    """A copy of ``spec.template`` with the container, scaling and metadata flags applied
    (the revision name is left as it was)."""
    out: Obj = copy.deepcopy(template) if isinstance(template, dict) else {}
    meta: Obj = out.setdefault("metadata", {})
    spec: Obj = out.setdefault("spec", {})
    containers: list[Obj] = spec.setdefault("containers", [])
    if not containers:
        containers.append({})
    container = serving_container(containers)
    if flags.image is not None:
        container["image"] = flags.image
    if flags.cmd is not None:
        if flags.cmd:
            container["command"] = [flags.cmd]
        else:
            container.pop("command", None)
    if flags.args is not None:
        _store_list(container, "args", list(flags.args))
    _edit_env(container, flags.env)
    _edit_env_from(container, flags.env_from)
    if flags.port is not None:
        container["ports"] = [parse_port(flags.port)]
    if flags.concurrency_limit is not None:
        spec["containerConcurrency"] = flags.concurrency_limit
    if flags.timeout is not None:
        spec["timeoutSeconds"] = flags.timeout
    setting, removing = parse_pairs(flags.annotations, "--annotation")
    scale = autoscaling_changes(flags)
    stale = [old for key in scale for old in autoscaling.ALIASES.get(key, (key,)) if old != key]
    annotations = _edit_map(meta.get("annotations"), {**setting, **scale}, removing + stale)
    _store_map(meta, "annotations", annotations)
    setting, removing = parse_pairs(flags.labels, "--label")
    _store_map(meta, "labels", _edit_map(meta.get("labels"), setting, removing))
    return out


def _edit_service_metadata(meta: Obj, flags: ServiceFlags) -> None:
    setting, removing = parse_pairs(flags.annotations, "--annotation")
    setting = {k: v for k, v in setting.items() if not _is_autoscaling(k)}
    _store_map(meta, "annotations", _edit_map(meta.get("annotations"), setting, removing))
    setting, removing = parse_pairs(flags.labels, "--label")
    if flags.cluster_local is True:
        setting[keys.VISIBILITY_LABEL] = keys.VISIBILITY_CLUSTER_LOCAL
    elif flags.cluster_local is False:
        removing.append(keys.VISIBILITY_LABEL)
    _store_map(meta, "labels", _edit_map(meta.get("labels"), setting, removing))


def expand_revision_name(
    text: str, service: str, generation: int, rng: random.Random | None = None
) -> str:
    """kn's ``--revision-name``: placeholders filled in, ``SERVICE-`` prefixed when absent,
    lower case. An empty result means the server names the revision."""
    chooser = rng or random.Random()

    def fill(match: re.Match[str]) -> str:
        word = match.group(1)
        if word == ".Service":
            return service
        if word == ".Generation":
            return str(generation)
        random_word = _RANDOM.match(word)
        if random_word:
            return "".join(chooser.choice(_CONSONANTS) for _ in range(int(random_word.group(1))))
        raise bad(
            "--revision-name",
            text,
            f"unknown placeholder {match.group(0)!r}: use {{{{.Service}}}}, "
            "{{.Generation}} or {{.Random N}}",
        )

    name = _PLACEHOLDER.sub(fill, text).strip()
    if "{{" in name or "}}" in name:
        raise bad("--revision-name", text, "an unclosed {{ or }}")
    if not name:
        return ""
    if not name.startswith(service + "-"):
        name = f"{service}-{name}"
    return name.lower()


def _without_name(template: Obj) -> Obj:
    meta = {k: v for k, v in (template.get("metadata") or {}).items() if k != "name"}
    return {**template, "metadata": meta}


# -- whole services --------------------------------------------------------------------------


def new_service(
    name: str,
    namespace: str,
    flags: ServiceFlags,
    rng: random.Random | None = None,
    *,
    generation: int = 1,
) -> Obj:
    """The Service that ``service create NAME`` (or ``service apply NAME``) sends;
    ``generation`` is the one it will have (more than 1 when it replaces one)."""
    if not flags.image and not flags.cmd:
        raise CliError(
            "a service needs an image to run, given with --image, "
            "or a command to run as a plain process, given with --cmd"
        )
    template = edited_template({"metadata": {}, "spec": {"containers": [{}]}}, flags)
    if flags.revision_name:
        revision = expand_revision_name(flags.revision_name, name, generation, rng)
        if revision:
            template["metadata"]["name"] = revision
    if not template["metadata"]:
        del template["metadata"]
    meta: Obj = {"name": name, "namespace": namespace}
    _edit_service_metadata(meta, flags)
    spec: Obj = {"template": template}
    if flags.traffic.given:
        spec["traffic"] = compute_traffic(None, flags.traffic, name)
    return {"apiVersion": API_VERSION, "kind": "Service", "metadata": meta, "spec": spec}


def edited_service(service: Obj, flags: ServiceFlags, rng: random.Random | None = None) -> Obj:
    """A copy of a stored Service with ``service update``'s flags applied (no status).

    A brought revision name must change whenever the template does: with no
    ``--revision-name``, a changed template loses its old name and the server names the
    new revision (``NAME-0000N``).
    """
    out = {k: copy.deepcopy(v) for k, v in service.items() if k != "status"}
    meta: Obj = out.setdefault("metadata", {})
    spec: Obj = out.setdefault("spec", {})
    name = str(meta.get("name", ""))
    old_template = spec.get("template") or {}
    template = edited_template(old_template, flags)
    template_meta: Obj = template["metadata"]
    if flags.revision_name is not None:
        generation = int(meta.get("generation") or 0) + 1
        revision = expand_revision_name(flags.revision_name, name, generation, rng)
        if revision:
            template_meta["name"] = revision
        else:
            template_meta.pop("name", None)
    elif template_meta.get("name") and _without_name(template) != _without_name(
        {"metadata": {}, **old_template}
    ):
        del template_meta["name"]
    if not template_meta:
        del template["metadata"]
    spec["template"] = template
    _edit_service_metadata(meta, flags)
    if flags.traffic.given:
        spec["traffic"] = compute_traffic(spec.get("traffic"), flags.traffic, name)
    return out


# -- traffic ---------------------------------------------------------------------------------


def _split_ref(text: str, flag: str, what: str) -> tuple[str, str]:
    """``REF=VALUE``; a bare value is about ``@latest``, as in kn."""
    ref, sep, value = text.partition("=")
    if not sep:
        return LATEST, text
    if not ref or not value or "=" in value:
        raise bad(flag, text, f"expected REVISION={what}, TAG={what} or @latest={what}")
    return ref, value


def _parse_percents(values: tuple[str, ...]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    seen: set[str] = set()
    for text in values:
        ref, value = _split_ref(text, "--traffic", "PERCENT")
        if ref in seen:
            raise bad("--traffic", text, f"{ref} is given more than once")
        seen.add(ref)
        try:
            percent = int(value.removesuffix("%"))
        except ValueError:
            percent = -1
        if not 0 <= percent <= 100:
            raise bad("--traffic", text, "the percent is a whole number from 0 to 100")
        out.append((ref, percent))
    total = sum(p for _, p in out)
    if out and total != 100:
        raise CliError(
            f"invalid values for --traffic: the percents sum to {total}, they must sum to 100"
        )
    return out


def _parse_tags(values: tuple[str, ...]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for text in values:
        ref, tag = _split_ref(text, "--tag", "TAG")
        if ref == LATEST and any(r == LATEST for r, _ in out):
            raise bad("--tag", text, "@latest can be tagged only once")
        out.append((ref, tag))
    return out


def _normalised(targets: Any) -> list[Obj]:
    out: list[Obj] = []
    for target in targets or []:
        if not isinstance(target, dict):
            continue
        entry = {k: copy.deepcopy(v) for k, v in target.items() if k not in ("url",)}
        if entry.get("latestRevision") is None:
            entry["latestRevision"] = not entry.get("revisionName")
        entry.setdefault("percent", 0)
        out.append(entry)
    return out


def _target(*, tag: str = "", revision: str = "", percent: int = 0) -> Obj:
    out: Obj = {"tag": tag} if tag else {}
    if revision:
        out.update(revisionName=revision, latestRevision=False)
    else:
        out["latestRevision"] = True
    out["percent"] = percent
    return out


def _find(targets: list[Obj], **match: Any) -> Obj | None:
    return next((t for t in targets if all(t.get(k) == v for k, v in match.items())), None)


def _tag(targets: list[Obj], ref: str, tag: str, text: str) -> None:
    if ref == LATEST:
        latest = _find(targets, latestRevision=True)
        current = str((latest or {}).get("tag") or "")
        if current == tag:
            return
        if _find(targets, tag=tag) is not None:
            raise bad("--tag", text, f"tag {tag!r} is on another target; --untag {tag} first")
        if current:
            raise bad(
                "--tag",
                text,
                f"the latest ready revision has the tag {current!r} already; "
                f"--untag {current} first",
            )
        if latest is not None:
            latest["tag"] = tag
        else:
            targets.append(_target(tag=tag))
        return
    if _find(targets, tag=tag, revisionName=ref) is not None:
        return
    if _find(targets, tag=tag) is not None:
        raise bad("--tag", text, f"tag {tag!r} is on another target; --untag {tag} first")
    target = _find(targets, revisionName=ref)
    if target is not None and not target.get("tag"):
        target["tag"] = tag
    else:  # not routed yet, or a second tag for the same revision
        targets.append(_target(tag=tag, revision=ref))


def _set_percent(targets: list[Obj], ref: str, percent: int) -> None:
    if ref == LATEST:
        target = _find(targets, latestRevision=True)
    else:  # a tag wins over a revision of the same name, as tags are unique
        target = _find(targets, tag=ref) or _find(targets, revisionName=ref)
    if target is None:
        target = _target() if ref == LATEST else _target(revision=ref)
        targets.append(target)
    target["percent"] = percent


def compute_traffic(current: Any, flags: TrafficFlags, service: str) -> list[Obj]:
    """kn's traffic algebra: ``spec.traffic`` after ``--untag``, ``--tag``, ``--traffic``.

    ``current`` is the stored ``spec.traffic`` (None on create: all traffic to
    ``@latest``). Percents are kept unless ``--traffic`` is given, which resets them all.
    """
    percents = _parse_percents(flags.traffic)
    tags = _parse_tags(flags.tags)
    targets = _normalised(current) or [_target(percent=100)]
    missing = []
    for tag in flags.untags:
        target = _find(targets, tag=tag)
        if target is None:
            missing.append(tag)
        else:
            del target["tag"]
    if missing:
        raise CliError(
            f"invalid value for --untag: tag(s) {', '.join(missing)} not present for any "
            f"revision of service '{service}'"
        )
    for (ref, tag), text in zip(tags, flags.tags, strict=True):
        _tag(targets, ref, tag, text)
    if percents:
        for target in targets:
            target["percent"] = 0
        for ref, percent in percents:
            _set_percent(targets, ref, percent)
    return [t for t in targets if t.get("tag") or t.get("percent")]
