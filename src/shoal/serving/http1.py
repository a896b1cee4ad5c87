"""HTTP/1.1 heads as a reverse proxy rewrites them: hop-by-hop headers, forwarding headers,
body framing, and the small responses the gateway answers itself.

Pure functions over raw header fields (``(name, value)`` bytes as httptools reports them),
called by ``shoal.serving.gateway`` once per request and once per response. Everything
stays in bytes: decoding every header costs more than the rest of the rewrite.

Requests go upstream as HTTP/1.1 with the client's Host kept, hop-by-hop headers (and
those the Connection header names) dropped, ``X-Forwarded-For`` and ``Forwarded``
appended to, and ``X-Forwarded-Proto`` / ``X-Forwarded-Host`` set. Responses come back with
their hop-by-hop headers dropped and the framing the client can read: a Content-Length
passes through; a chunked or close-delimited body is re-chunked for an HTTP/1.1 client and
sent close-delimited to an HTTP/1.0 one.

Most requests and responses need far less than that, so each side has a quick path that
reads the raw head without the general parser, as long as the head is one it can take as
it is:

- ``quick_request``: a complete HTTP/1.1 request head with a common method, an
  origin-form target, strictly well-formed fields, one Host, no body (no
  Content-Length but 0, no Transfer-Encoding, no Expect), no Upgrade, no forwarding
  headers of its own, and a Connection header if any of just ``close`` or
  ``keep-alive``. The head goes upstream as it came, less its Connection line, with
  ``forwarding_fields`` spliced in before the blank line: the fields ``request_head``
  makes of it, in the same order (``request_head`` also rewrites the spaces around
  values, which the quick path leaves as they came).
- ``quick_response``: a strictly well-formed HTTP/1.1 final response head (2xx-5xx) with
  no hop-by-hop headers and at most one Content-Length; it passes through unchanged, or
  with just a Connection header added.

Anything else (and whatever the quick path is unsure of) takes the general path.
"""

from __future__ import annotations

import enum
import re
from http import HTTPStatus

Fields = list[tuple[bytes, bytes]]

HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer",
                        b"transfer-encoding", b"upgrade"})
_CONNECTION_OPTIONS = frozenset({b"close", b"keep-alive", b"upgrade"})
# request headers the rewrite reads or replaces
_REQUEST_SPECIAL = HOP_BY_HOP | {b"host", b"x-forwarded-for", b"x-forwarded-proto",
                                 b"x-forwarded-host", b"forwarded", b"knative-serving-tag",
                                 b"content-length"}
_RESPONSE_SPECIAL = HOP_BY_HOP | {b"content-length"}
CRLF = b"\r\n"
LAST_CHUNK = b"0\r\n\r\n"


class Framing(enum.Enum):
    """How a response body is delimited towards the client."""

    NONE = 0  # no body (HEAD, 1xx, 204, 304)
    LENGTH = 1  # Content-Length passed through, bytes copied as they are
    CHUNKED = 2  # re-encoded as chunks
    CLOSE = 3  # the body ends when the connection closes (HTTP/1.0 clients)


class RequestHead:
    """The rewritten request head and what the gateway needs to know of the request
    (``body``: whether a body follows the head)."""

    __slots__ = ("body", "chunked", "data", "host", "tag")

    def __init__(self, data: bytes, host: str, tag: str | None, chunked: bool,
                 body: bool) -> None:
        self.data = data
        self.host = host
        self.tag = tag
        self.chunked = chunked
        self.body = body


def _tokens(value: bytes) -> set[bytes]:
    return {token.strip().lower() for token in value.split(b",") if token.strip()}


def forwarded_for(ip: str) -> bytes:
    """The ``for=`` parameter of a Forwarded element for a client at ``ip``."""
    return (f'for="[{ip}]"' if ":" in ip else f"for={ip}").encode("latin-1")


def request_head(method: bytes, target: bytes, fields: Fields, client_ip: bytes,
                 client_for: bytes, *, upgrade: bool,
                 drop: frozenset[bytes] = frozenset()) -> RequestHead:
    """The head to send upstream for a request from ``client_ip`` (see the module doc);
    ``client_for`` is ``forwarded_for(client_ip)``, computed once per connection."""
    lines = [method + b" " + target + b" HTTP/1.1"]
    host = xff = forwarded = upgrade_to = tag = b""
    connection = b""
    chunked = length = False
    for name, value in fields:
        lname = name.lower()
        if lname not in _REQUEST_SPECIAL:
            if lname not in drop:
                lines.append(name + b": " + value)
        elif lname == b"host":
            host = value
            lines.append(name + b": " + value)
        elif lname == b"knative-serving-tag":
            tag = value
            lines.append(name + b": " + value)
        elif lname == b"content-length":
            length = length or value.strip() != b"0"
            lines.append(name + b": " + value)
        elif lname == b"x-forwarded-for":
            xff = xff + b", " + value if xff else value
        elif lname == b"forwarded":
            forwarded = forwarded + b", " + value if forwarded else value
        elif lname == b"connection":
            connection = connection + b"," + value if connection else value
        elif lname == b"transfer-encoding":
            chunked = chunked or b"chunked" in _tokens(value)
        elif lname == b"upgrade":
            upgrade_to = value
    if connection and not drop:
        extra = frozenset(_tokens(connection) - _CONNECTION_OPTIONS)
        if extra:  # headers the client named hop-by-hop: once more without them
            return request_head(method, target, fields, client_ip, client_for,
                                upgrade=upgrade, drop=extra)
    lines.append(b"x-forwarded-for: " + (xff + b", " + client_ip if xff else client_ip))
    lines.append(b"x-forwarded-proto: http")
    if host:
        lines.append(b"x-forwarded-host: " + host)
    element = client_for + b';host="' + host + b'";proto=http'
    lines.append(b"forwarded: " + (forwarded + b", " + element if forwarded else element))
    if chunked:
        lines.append(b"transfer-encoding: chunked")
    if upgrade and upgrade_to:
        lines.append(b"connection: upgrade")
        lines.append(b"upgrade: " + upgrade_to)
    lines.append(b"\r\n")
    return RequestHead(b"\r\n".join(lines), host.decode("latin-1"),
                       tag.decode("latin-1") or None, chunked, chunked or length)


class ResponseHead:
    """The rewritten response head, its framing towards the client, and whether the
    upstream body runs until the upstream closes the connection."""

    __slots__ = ("close", "data", "framing", "until_close")

    def __init__(self, data: bytes, framing: Framing, close: bool, until_close: bool) -> None:
        self.data = data
        self.framing = framing
        self.close = close
        self.until_close = until_close


_REASONS = {status.value: status.phrase.encode("latin-1") for status in HTTPStatus}
_STATUS_LINES = {code: b"HTTP/1.1 %d %s" % (code, reason) for code, reason in _REASONS.items()}


def _status_line(status: int, reason: bytes) -> bytes:
    """The status line without its CRLF; the standard one when ``reason`` is standard."""
    if not reason or reason == _REASONS.get(status):
        line = _STATUS_LINES.get(status)
        if line is not None:
            return line
    return b"HTTP/1.1 %d %s" % (status, reason)


def response_head(status: int, reason: bytes, fields: Fields, *, head_request: bool,
                  http11: bool, close: bool, drop: frozenset[bytes] = frozenset()
                  ) -> ResponseHead:
    """The head to send the client for an upstream's final (non-1xx) response.

    ``close``: the client connection closes after this response (it may also come out
    True when the body can only be delimited by closing)."""
    lines = [_status_line(status, reason)]
    length = chunked = False
    connection = upgrade_to = b""
    for name, value in fields:
        lname = name.lower()
        if lname not in _RESPONSE_SPECIAL:
            if lname not in drop:
                lines.append(name + b": " + value)
        elif lname == b"content-length":
            length = True
            lines.append(name + b": " + value)
        elif lname == b"transfer-encoding":
            chunked = b"chunked" in _tokens(value)
        elif lname == b"connection":
            connection = connection + b"," + value if connection else value
        elif lname == b"upgrade":
            upgrade_to = value
    if connection and not drop:
        extra = frozenset(_tokens(connection) - _CONNECTION_OPTIONS)
        if extra:
            return response_head(status, reason, fields, head_request=head_request,
                                 http11=http11, close=close, drop=extra)
    until_close = False
    if status == 101:
        framing = Framing.NONE
        lines.append(b"connection: upgrade")
        lines.append(b"upgrade: " + upgrade_to)
        close = False
    elif head_request or status in (204, 304):
        framing = Framing.NONE
    elif length and not chunked:
        framing = Framing.LENGTH
    else:
        until_close = not chunked
        if http11:
            framing = Framing.CHUNKED
            lines.append(b"transfer-encoding: chunked")
        else:
            framing = Framing.CLOSE
            close = True
    if close:
        lines.append(b"connection: close")
    elif not http11:
        lines.append(b"connection: keep-alive")
    lines.append(b"\r\n")
    return ResponseHead(b"\r\n".join(lines), framing, close, until_close)


def split_head(head: bytes) -> tuple[bytes, Fields]:
    """The reason phrase and header fields of a raw response head that httptools has
    accepted (so lines end in CRLF and every header line has a colon)."""
    lines = head.split(b"\r\n")
    status_line = lines[0].split(b" ", 2)
    reason = status_line[2] if len(status_line) > 2 else b""
    fields: Fields = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(b":")
            fields.append((name.rstrip(), value.strip(b" \t")))
    return reason, fields


# in a lower-cased response head: headers that make it need more than a copy (group 1)
# and the Content-Length header (group 2)
_SCAN = re.compile(
    rb"\r\n(?:(connection|keep-alive|proxy-connection|te|trailer|transfer-encoding|upgrade)"
    rb"|(content-length))[ \t]*:")


def forward_response_head(status: int, head: bytes, *, head_request: bool, http11: bool,
                          close: bool) -> ResponseHead:
    """``response_head`` for the raw head (CRLF CRLF included) of a final response.

    The common response (HTTP/1.1, a Content-Length or no body, no hop-by-hop headers)
    goes out as it came, with at most a Connection header added; others are rebuilt."""
    if head.startswith(b"HTTP/1.1 ") and status != 101:
        length = False
        for hop, content_length in _SCAN.findall(head.lower()):
            if hop:
                break
            length = length or bool(content_length)
        else:
            if head_request or status in (204, 304):
                framing = Framing.NONE
            elif length:
                framing = Framing.LENGTH
            else:
                framing = Framing.CHUNKED  # a close-delimited body: re-framed below
            if framing is not Framing.CHUNKED:
                if close:
                    head = head[:-2] + b"connection: close\r\n\r\n"
                elif not http11:
                    head = head[:-2] + b"connection: keep-alive\r\n\r\n"
                return ResponseHead(head, framing, close, False)
    reason, fields = split_head(head)
    return response_head(status, reason, fields, head_request=head_request, http11=http11,
                         close=close)


def interim_head(status: int, head: bytes) -> bytes:
    """A raw 1xx response head (100 Continue, 103 Early Hints) as passed on to the client."""
    reason, fields = split_head(head)
    lines = [_status_line(status, reason)]
    for name, value in fields:
        if name.lower() not in HOP_BY_HOP:
            lines.append(name + b": " + value)
    lines.append(CRLF)
    return b"\r\n".join(lines)


def chunk(data: bytes) -> tuple[bytes, bytes, bytes]:
    """``data`` as one chunk of a chunked body, in three pieces (no copy of ``data``)."""
    return b"%x\r\n" % len(data), data, CRLF


def local_response(status: int, text: str, *, close: bool) -> bytes:
    """A small plain-text response the gateway answers itself."""
    body = text.encode()
    head = (_status_line(status, b"") + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
            + b"content-length: %d\r\n" % len(body))
    if close:
        head += b"connection: close\r\n"
    return head + CRLF + body


# -- the quick path (see the module doc) ------------------------------------------------

_TOKEN = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]++"
_VALUE = rb"[\t\x20-\x7e\x80-\xff]*+"
_FIELD_LINES = rb"(?:" + _TOKEN + rb":" + _VALUE + rb"\r\n)*+\r\n"
# (group 1: the value of a Host field that comes first, as it mostly does)
_QUICK_REQUEST = re.compile(
    rb"(?:GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH) /[\x21-\x7e]*+ HTTP/1\.1\r\n"
    rb"(?:[Hh][Oo][Ss][Tt]:[ \t]*+(" + _VALUE + rb")\r\n)?" + _FIELD_LINES)
# in a lower-cased quick request head (where a field name is always followed by its
# colon): the fields the quick path reads, and those that take a request off it
_QUICK_REQUEST_FIELDS = re.compile(
    rb"\r\n(host|connection|content-length|knative-serving-tag|transfer-encoding|upgrade|"
    rb"expect|keep-alive|proxy-connection|te|trailer|x-forwarded-for|x-forwarded-proto|"
    rb"x-forwarded-host|forwarded):")
_QUICK_RESPONSE = re.compile(rb"HTTP/1\.1 [2-5]\d\d(?: " + _VALUE + rb")?\r\n" + _FIELD_LINES)
_QUICK_RESPONSE_FIELDS = re.compile(
    rb"\r\n(content-length|connection|keep-alive|proxy-connection|te|trailer|"
    rb"transfer-encoding|upgrade):")

# what ``quick_request`` reads: (end of the head, the Host value, the Knative-Serving-Tag
# value or b"", keep-alive, and the span of a Connection line to leave out, (0, 0) for none)
QuickRequest = tuple[int, bytes, bytes, bool, int, int]


def quick_request(data: bytes, start: int) -> QuickRequest | None:
    """The request head at ``data[start:]`` if the quick path takes it, else None; the
    offsets returned are into ``data``."""
    match = _QUICK_REQUEST.match(data, start)
    if match is None:
        return None
    end = match.end()
    lower = (data if start == 0 and end == len(data) else data[start:end]).lower()
    host = match.group(1)  # (leading spaces left out, trailing ones kept, as httptools does)
    if host and _QUICK_REQUEST_FIELDS.search(lower, match.end(1) - start) is None:
        return end, host, b"", True, 0, 0  # Host first, then nothing to look at
    host = tag = b""
    keep_alive = True
    cut_from = cut_to = 0
    for field in _QUICK_REQUEST_FIELDS.finditer(lower):
        name = field.group(1)
        at = field.end()
        stop = lower.index(b"\r\n", at)
        if name == b"host":
            if host:
                return None
            host = data[start + at:start + stop].lstrip(b" \t")
            if not host:
                return None
        elif name == b"connection":
            value = lower[at:stop].strip(b" \t")
            if cut_to or value not in (b"close", b"keep-alive"):
                return None
            keep_alive = value == b"keep-alive"
            cut_from, cut_to = start + field.start() + 2, start + stop + 2
        elif name == b"content-length":
            if lower[at:stop].strip(b" \t") != b"0":
                return None
        elif name == b"knative-serving-tag" and not tag:
            tag = data[start + at:start + stop].lstrip(b" \t")
        else:
            return None
    if not host:
        return None
    return end, host, tag, keep_alive, cut_from, cut_to


def forwarding_fields(host: bytes, client_ip: bytes, client_for: bytes) -> bytes:
    """The forwarding fields ``request_head`` adds to a quick request from ``client_ip``
    for ``host``, and the blank line that ends the head."""
    return (b"x-forwarded-for: " + client_ip + b"\r\nx-forwarded-proto: http\r\n"
            b"x-forwarded-host: " + host + b"\r\nforwarded: " + client_for + b';host="'
            + host + b'";proto=http\r\n\r\n')


def quick_response(data: bytes) -> tuple[int, int, int] | None:
    """(status, end of the head, Content-Length or -1 for none) of the response head that
    ``data`` starts with, if the quick path takes it, else None."""
    match = _QUICK_RESPONSE.match(data)
    if match is None:
        return None
    end = match.end()
    lower = data[:end].lower()
    length = -1
    for field in _QUICK_RESPONSE_FIELDS.finditer(lower):
        if length >= 0 or field.group(1) != b"content-length":
            return None
        at = field.end()
        value = lower[at:lower.index(b"\r\n", at)].strip(b" \t")
        if not value.isdigit():
            return None
        length = int(value)
    return int(data[9:12]), end, length
