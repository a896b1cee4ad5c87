"""Errors that cross the API, shaped as Kubernetes ``Status`` objects.

Every layer that answers an API call (the store, the registry, the HTTP server, both API
clients) raises these, so a caller handles a conflict the same way whether it talks to the
store in-process or to a server over HTTP.

    ApiError                      any failed API call; carries the HTTP code and reason
    ├── BadRequest       400      malformed body, wrong kind, unknown field under Strict
    ├── Unauthorized     401
    ├── Forbidden        403      e.g. deleting a system namespace
    ├── NotFound         404      no such object, resource or route
    ├── MethodNotAllowed 405
    ├── Conflict         409      stale resourceVersion: re-read and try again
    ├── AlreadyExists    409      create of a name that is taken
    ├── Gone             410      watch from a resourceVersion past the change log: relist
    ├── RequestTooLarge  413
    ├── UnsupportedMediaType 415  a patch type the resource does not take
    └── Invalid          422      the object breaks a rule; ``causes`` name every bad field
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

# Kubernetes' cause types (metav1.CauseType), used as ``reason`` of each cause.
REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
FORBIDDEN = "FieldValueForbidden"
DUPLICATE = "FieldValueDuplicate"
TYPE_INVALID = "FieldValueTypeInvalid"
UNKNOWN_FIELD = "FieldValueUnknownField"
IMMUTABLE = "FieldValueInvalid"


@dataclass(frozen=True)
class FieldError:
    """One broken rule, at one field path such as ``spec.template.spec.containers[0].image``."""

    field: str
    message: str
    reason: str = INVALID

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def cause(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


class FieldErrors:
    """Collects field errors while walking an object; paths are built with ``at``.

    >>> errs = FieldErrors()
    >>> errs.at("spec").at("containers", 0).required("image")
    >>> [str(e) for e in errs]
    ['spec.containers[0].image: Required value']
    """

    def __init__(self, path: str = "", sink: list[FieldError] | None = None) -> None:
        self.path = path
        self._errors: list[FieldError] = [] if sink is None else sink

    def at(self, name: str, index: int | str | None = None) -> FieldErrors:
        path = f"{self.path}.{name}" if self.path else name
        if index is not None:
            path += f"[{index}]"
        return FieldErrors(path, self._errors)

    def index(self, i: int | str) -> FieldErrors:
        return FieldErrors(f"{self.path}[{i}]", self._errors)

    def _child(self, name: str | None) -> str:
        if not name:
            return self.path
        return f"{self.path}.{name}" if self.path else name

    def add(self, message: str, name: str | None = None, reason: str = INVALID) -> None:
        self._errors.append(FieldError(self._child(name), message, reason))

    def required(self, name: str | None = None, detail: str = "") -> None:
        msg = "Required value" + (f": {detail}" if detail else "")
        self.add(msg, name, REQUIRED)

    def invalid(self, name: str | None, value: Any, detail: str) -> None:
        self.add(f"Invalid value: {_show(value)}: {detail}", name, INVALID)

    def not_supported(self, name: str | None, value: Any, allowed: list[str]) -> None:
        options = ", ".join(f'"{a}"' for a in allowed)
        self.add(f"Unsupported value: {_show(value)}: supported values: {options}", name,
                 NOT_SUPPORTED)

    def forbidden(self, name: str | None = None, detail: str = "") -> None:
        self.add("Forbidden" + (f": {detail}" if detail else ""), name, FORBIDDEN)

    def duplicate(self, name: str | None, value: Any) -> None:
        self.add(f"Duplicate value: {_show(value)}", name, DUPLICATE)

    def immutable(self, name: str | None = None, detail: str = "field is immutable") -> None:
        self.add(f"Invalid value: {detail}", name, IMMUTABLE)

    def extend(self, errors: list[FieldError]) -> None:
        self._errors.extend(errors)

    @property
    def errors(self) -> list[FieldError]:
        return self._errors

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._errors)

    def __len__(self) -> int:
        return len(self._errors)

    def __bool__(self) -> bool:
        return bool(self._errors)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


@dataclass
class ApiError(Exception):
    """A failed API call. ``status()`` renders the Kubernetes ``Status`` body."""

    message: str
    details: dict[str, Any] = field(default_factory=dict)
    code: ClassVar[int] = 500
    reason: ClassVar[str] = "InternalError"

    def __str__(self) -> str:
        return self.message

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body

    @staticmethod
    def from_status(body: dict[str, Any], http_code: int) -> ApiError:
        code = int(body.get("code") or http_code)
        reason = str(body.get("reason") or "")
        cls = _BY_REASON.get(reason) or _BY_CODE.get(code) or ApiError
        err = cls(str(body.get("message", "")), dict(body.get("details") or {}))
        if cls is ApiError:
            err.code = code  # type: ignore[misc]
        return err


class BadRequest(ApiError):
    code = 400
    reason = "BadRequest"


class Unauthorized(ApiError):
    code = 401
    reason = "Unauthorized"


class Forbidden(ApiError):
    code = 403
    reason = "Forbidden"


class NotFound(ApiError):
    code = 404
    reason = "NotFound"


class MethodNotAllowed(ApiError):
    code = 405
    reason = "MethodNotAllowed"


class Conflict(ApiError):
    code = 409
    reason = "Conflict"


class AlreadyExists(ApiError):
    code = 409
    reason = "AlreadyExists"


class Gone(ApiError):
    code = 410
    reason = "Expired"


class RequestTooLarge(ApiError):
    code = 413
    reason = "RequestEntityTooLarge"


class UnsupportedMediaType(ApiError):
    code = 415
    reason = "UnsupportedMediaType"


class Invalid(ApiError):
    code = 422
    reason = "Invalid"

    @classmethod
    def of(cls, kind: str, group: str, name: str, errors: list[FieldError]) -> Invalid:
        qualified = f"{kind}.{group}" if group else kind
        listing = ", ".join(str(e) for e in errors)
        message = f'{qualified} "{name}" is invalid: '
        message += listing if len(errors) == 1 else f"[{listing}]"
        details = {
            "name": name,
            "group": group,
            "kind": kind,
            "causes": [e.cause() for e in errors],
        }
        return cls(message, details)

    @property
    def causes(self) -> list[FieldError]:
        return [
            FieldError(c.get("field", ""), c.get("message", ""), c.get("reason", INVALID))
            for c in self.details.get("causes", [])
        ]


class InternalError(ApiError):
    code = 500
    reason = "InternalError"


_BY_REASON: dict[str, type[ApiError]] = {
    "BadRequest": BadRequest,
    "Unauthorized": Unauthorized,
    "Forbidden": Forbidden,
    "NotFound": NotFound,
    "MethodNotAllowed": MethodNotAllowed,
    "Conflict": Conflict,
    "AlreadyExists": AlreadyExists,
    "Expired": Gone,
    "Gone": Gone,
    "RequestEntityTooLarge": RequestTooLarge,
    "UnsupportedMediaType": UnsupportedMediaType,
    "Invalid": Invalid,
    "InternalError": InternalError,
}
_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 405: MethodNotAllowed,
    409: Conflict, 410: Gone, 413: RequestTooLarge, 415: UnsupportedMediaType, 422: Invalid,
    500: InternalError,
}
