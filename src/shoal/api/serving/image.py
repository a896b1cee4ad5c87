"""The syntax of an OCI image reference (``registry/repo:tag@sha256:…``), checked weakly.

Container validation calls ``image_problem`` to refuse what Knative's webhook cannot parse
(go-containerregistry's weak validation: the registry and tag are optional, the repository
is lower case). Nothing is resolved here; the runtime pulls the image.
"""

from __future__ import annotations

import re

_REPO_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-./")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]+)?$|^\[[0-9a-fA-F:]+\](:[0-9]+)?$")


def image_problem(image: str) -> str | None:
    """Why ``image`` is not a valid reference, or None when it is."""
    name, _, digest = image.partition("@")
    if "@" in image and not _DIGEST.match(digest):
        return f"a digest must be sha256 followed by 64 hex characters: {digest}"
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.match(tag):
            return (
                f"tag can only contain the characters "
                f"`abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.`: {tag}"
            )
    first, sep, rest = name.partition("/")
    repo = name
    if sep and ("." in first or ":" in first or first == "localhost"):
        if not _REGISTRY.match(first):
            return f"registries must be valid RFC 3986 URI authorities: {first}"
        repo = rest
    if not repo or len(repo) > 255:
        return f"repository must be between 1 and 255 characters in length: {repo}"
    if any(ch not in _REPO_CHARS for ch in repo) or repo.startswith("/") or "//" in repo:
        return (
            "repository can only contain the characters "
            f"`abcdefghijklmnopqrstuvwxyz0123456789_-./`: {repo}"
        )
    return None
