"""HTTP/1.1 heads as the gateway rewrites them: the quick paths against the general ones."""

from __future__ import annotations

import httptools
import pytest

from shoal.serving import http1
from shoal.serving.http1 import Fields, Framing

IP = b"127.0.0.1"
FOR = http1.forwarded_for("127.0.0.1")


class _Head:
    """What httptools reports of one request head (the general path's input)."""

    def __init__(self, raw: bytes) -> None:
        self.url = b""
        self.fields: Fields = []
        self.complete = False
        self.parser = httptools.HttpRequestParser(self)
        self.parser.feed_data(raw)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.fields.append((name, value))

    def on_headers_complete(self) -> None:
        self.complete = True


def general(raw: bytes) -> bytes:
    head = _Head(raw)
    assert head.complete
    return http1.request_head(head.parser.get_method(), head.url, head.fields, IP, FOR,
                              upgrade=False).data


def quick(raw: bytes, start: int = 0) -> bytes | None:
    """The forwarded head the quick path makes of the request at ``raw[start:]``."""
    read = http1.quick_request(raw, start)
    if read is None:
        return None
    end, host, _, _, cut_from, cut_to = read
    kept = raw[start:cut_from] + raw[cut_to:end - 2] if cut_to else raw[start:end - 2]
    return kept + http1.forwarding_fields(host, IP, FOR)


TAKEN = [
    b"GET / HTTP/1.1\r\nHost: hello.default.localhost\r\n\r\n",
    b"GET /a/b?c=d&e=%20 HTTP/1.1\r\nhost: Hello.Default.localhost:8080\r\n"
    b"User-Agent: wrk\r\nAccept: */*\r\n\r\n",
    b"HEAD /h HTTP/1.1\r\nAccept:\r\nHOST:  hello.default.localhost \t\r\nX-Kept: a, b\r\n\r\n",
    b"DELETE /x HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nCookie: a=b; c=d\r\n\r\n",
    b"POST /x HTTP/1.1\r\nConnection: Close\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
    b"OPTIONS /x HTTP/1.1\r\nHost: h\r\nKnative-Serving-Tag: candidate\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nX-Obs-Text: caf\xc3\xa9\r\nX-Contest: 1\r\n\r\n",
]


@pytest.mark.parametrize("raw", TAKEN)
def test_a_quick_request_is_forwarded_as_the_general_path_forwards_it(raw: bytes) -> None:
    forwarded = quick(raw)
    assert forwarded is not None
    # the same fields in the same order; the general path also rewrites the spaces
    # around values, which the quick path leaves as they came
    for one, other in ((forwarded, general(raw)), (general(raw), forwarded)):
        head = _Head(one)
        assert (head.url, head.fields) == (_Head(other).url, _Head(other).fields)
    if b": \r\n" not in general(raw) and b"  " not in raw and b"\t" not in raw:
        assert forwarded == general(raw)


def test_quick_request_reads_host_tag_and_keep_alive() -> None:
    raw = (b"GET / HTTP/1.1\r\nHost: \tHello.default.localhost:8080 \r\n"
           b"knative-serving-tag:  candidate \r\nConnection: close\r\n\r\n")
    read = http1.quick_request(raw, 0)
    assert read is not None
    end, host, tag, keep_alive, cut_from, cut_to = read
    assert (end, host, tag, keep_alive) == (len(raw), b"Hello.default.localhost:8080 ",
                                            b"candidate ", False)
    assert raw[cut_from:cut_to] == b"Connection: close\r\n"
    assert http1.quick_request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 0)[3] is True  # type: ignore[index]


def test_pipelined_quick_requests_are_read_one_after_the_other() -> None:
    first = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
    second = b"GET /2 HTTP/1.1\r\nConnection: close\r\nHost: b\r\n\r\n"
    data = first + second + b"GET /3 HTTP/1.1\r\nHo"
    read = http1.quick_request(data, 0)
    assert read is not None and read[0] == len(first) and read[1] == b"a"
    assert quick(data, len(first)) == general(second)
    assert http1.quick_request(data, len(first + second)) is None  # not complete yet


LEFT = {
    "HTTP/1.0": b"GET / HTTP/1.0\r\nHost: h\r\n\r\n",
    "no Host": b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n",
    "empty Host": b"GET / HTTP/1.1\r\nHost: \r\n\r\n",
    "two Hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "a body": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
    "chunked": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
    "expect": b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n",
    "upgrade": b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    "connection options": b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-A\r\n\r\n",
    "keep-alive header": b"GET / HTTP/1.1\r\nHost: h\r\nKeep-Alive: timeout=5\r\n\r\n",
    "te": b"GET / HTTP/1.1\r\nHost: h\r\nTE: trailers\r\n\r\n",
    "x-forwarded-for": b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n",
    "x-forwarded-proto": b"GET / HTTP/1.1\r\nHost: h\r\nx-forwarded-proto: https\r\n\r\n",
    "forwarded": b"GET / HTTP/1.1\r\nHost: h\r\nForwarded: for=10.0.0.1\r\n\r\n",
    "space before colon": b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n",
    "space in name": b"GET / HTTP/1.1\r\nHost: h\r\nX Y: z\r\n\r\n",
    "obs-fold": b"GET / HTTP/1.1\r\nHost: h\r\nX-A: b\r\n c\r\n\r\n",
    "bare LF": b"GET / HTTP/1.1\r\nHost: h\nX-A: b\r\n\r\n",
    "bare CR": b"GET / HTTP/1.1\r\nHost: h\rX-A: b\r\n\r\n",
    "control character": b"GET / HTTP/1.1\r\nHost: h\r\nX-A: b\x00c\r\n\r\n",
    "lower-case method": b"get / HTTP/1.1\r\nHost: h\r\n\r\n",
    "other method": b"PROPFIND / HTTP/1.1\r\nHost: h\r\n\r\n",
    "absolute form": b"GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n",
    "space in target": b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n",
    "leading CRLF": b"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
    "incomplete": b"GET / HTTP/1.1\r\nHost: h\r\n",
}


@pytest.mark.parametrize("raw", LEFT.values(), ids=LEFT.keys())
def test_what_the_quick_path_leaves_to_the_general_one(raw: bytes) -> None:
    assert http1.quick_request(raw, 0) is None


def test_forwarding_fields_match_the_general_path_for_ipv6() -> None:
    ip, client_for = b"::1", http1.forwarded_for("::1")
    assert client_for == b'for="[::1]"'
    raw = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
    head = _Head(raw)
    expected = http1.request_head(b"GET", head.url, head.fields, ip, client_for,
                                  upgrade=False).data
    assert raw[:-2] + http1.forwarding_fields(b"h", ip, client_for) == expected


@pytest.mark.parametrize(("raw", "read"), [
    (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n",
     (200, 3)),
    (b"HTTP/1.1 204 No Content\r\nDate: today\r\n\r\n", (204, -1)),
    (b"HTTP/1.1 404\r\ncontent-length:  12 \r\n\r\n", (404, 12)),
    (b"HTTP/1.1 503 Busy\r\nX-Why: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n", (503, 0)),
])
def test_quick_response_reads_status_head_and_length(raw: bytes, read: tuple[int, int]) -> None:
    status, length = read
    assert http1.quick_response(raw) == (status, raw.index(b"\r\n\r\n") + 4, length)


@pytest.mark.parametrize("raw", [
    b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nX-A: b\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n",
    b"HTTP/1.1 2000 OK\r\n\r\n",
])
def test_what_the_quick_response_path_leaves_to_the_general_one(raw: bytes) -> None:
    assert http1.quick_response(raw) is None


@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n",
    b"HTTP/1.1 404\r\ncontent-length:  12 \r\n\r\n",
])
def test_a_quick_response_head_is_what_the_general_path_sends(raw: bytes) -> None:
    status, end, _ = http1.quick_response(raw) or (0, 0, 0)
    general_head = http1.forward_response_head(status, raw, head_request=False, http11=True,
                                               close=False)
    assert general_head.data == raw[:end]
    assert general_head.framing is Framing.LENGTH
