"""The smuggling and strictness corpus (issue 11, item 8; docs/security.md "The corpus").

Every vector goes, byte for byte, over a raw socket to the real data plane, in front of backends that show what
the gateway let through: RawBackend (raw_backend.py) records every byte and parses HTTP/1.1 itself, so a request
smuggled behind another one is seen as a second request; a stock nginx judges the path vectors by its own
location matching. The setting is issue 11's: an API key policy on /chat, / open on the same backend.

Each vector asserts the client's answer AND what the backend received: a refused vector leaves the backend
without a single byte (or, for a body refused midway, without a complete request), an admitted one reaches it as
exactly one request, and a follow-up request from another client afterwards gets its own answer (never a
smuggled request's) — so no vector leaves anything behind on a pooled upstream connection.

Vectors the data plane does not withstand yet are marked xfail(strict=True) with the defect named: they turn
into failures (XPASS) the day the fix lands, and the marker is then removed.
"""

from __future__ import annotations

import socket
import time

import pytest

import auth_helpers as ah
import raw_backend as rb
import tollgate_it as it

API_KEY = "k-smuggle-5e1f0a2b9c"
BAD_KEY = "k-not-a-key-000000"
OTHER_HOST = "other.test"
NGINX_HOST = "nginx.test"
H = it.MAIN_HOST


def defect(what: str):
    return pytest.mark.xfail(strict=True, reason=f"issue 11: {what}")


# ---------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def peers(run_dir):
    raw = rb.RawBackend("raw").start()
    chunky = rb.RawBackend("chunky", answer_chunked=True).start()
    # a backend that breaks RFC 6455 §5.1 right after its 101: a masked frame toward the client
    masker = rb.RawBackend("masker", after_101=it.ws_frame(0x1, b"masked by the server", mask=True)).start()
    # a backend that drops each kept-alive connection when its second request arrives (a stale pooled connection)
    flaky = rb.RawBackend("flaky", close_on_request=2).start()
    # a backend that sends a 103 Early Hints before each (chunked) answer
    early = rb.RawBackend("early", answer_chunked=True,
                          interim=b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n").start()
    ngx = rb.NginxBackend(run_dir, "nginx-corpus").start()
    yield {"raw": raw, "chunky": chunky, "masker": masker, "flaky": flaky, "early": early, "nginx": ngx}
    for b in (raw, chunky, masker, flaky, early):
        b.stop()
    ngx.stop()


def _snapshot(p) -> dict:
    key_policy = ah.verify_api_key_policy([ah.api_key_entry(API_KEY, "apis/smuggle", "corpus")])
    raw, ngx = p["raw"].endpoint(), p["nginx"].endpoint()
    proxies = [
        # issue 11's setting: the key on /chat, / open, one backend; paths reach the backend as received
        ah.with_policies(it.proxy("it/smug-chat", "/chat", [raw], strip=False), key_policy),
        it.proxy("it/smug-open", "/", [raw], strip=False),
        it.proxy("it/smug-chunky", "/chunky", [p["chunky"].endpoint()], strip=False),
        it.proxy("it/smug-masker", "/masker", [p["masker"].endpoint()], strip=False),
        it.proxy("it/smug-flaky", "/flaky", [p["flaky"].endpoint()], strip=False),
        it.proxy("it/smug-early", "/early", [p["early"].endpoint()], strip=False),
        # another host's group, no policy at all (absolute-form target vector)
        it.proxy("it/smug-other", "/", [raw], strip=False, environments=("other",)),
        # the same setting in front of nginx
        ah.with_policies(it.proxy("it/ngx-chat", "/chat", [ngx], strip=False, environments=("ngx",)), key_policy),
        it.proxy("it/ngx-open", "/", [ngx], strip=False, environments=("ngx",)),
    ]
    # forwardNormalizedPath: false — routed on the normal form, forwarded as spelled
    raw_path = it.proxy("it/smug-rawpath", "/rawpath", [raw], strip=False)
    raw_path["forwardNormalizedPath"] = False
    proxies.append(raw_path)
    groups = [it.group("it/main", [H], ["prod"]), it.group("it/other", [OTHER_HOST], ["other"]),
              it.group("it/ngx", [NGINX_HOST], ["ngx"])]
    return it.snapshot(1, groups, proxies)


@pytest.fixture(scope="module")
def dp(run_dir, peers):
    # one worker: every request shares one upstream pool, so a smuggled leftover would meet the next client
    d = it.Dataplane(run_dir, "dataplane-smuggling", workers=1).start(_snapshot(peers))
    yield d
    d.check_clean_exit()


@pytest.fixture(scope="module")
def trusting_dp(run_dir, peers):
    """The same setting behind a data plane that trusts the proxy at 127.0.0.2 (--trusted-proxies)."""
    d = it.Dataplane(run_dir, "dataplane-smuggling-trust", workers=1,
                     args=["--trusted-proxies", "127.0.0.2/32,10.0.0.0/8"]).start(_snapshot(peers))
    yield d
    d.check_clean_exit()


@pytest.fixture
def raw(peers):
    b = peers["raw"]
    b.reset()
    return b


# ---------------------------------------------------------------------------------------------- helpers

def req(method: str, target: str, headers=(), body: bytes = b"", host: str | None = H, version: str = "1.1") -> bytes:
    """A request written out exactly (no Content-Length added: the vector says what it carries)."""
    lines = [f"{method} {target} HTTP/{version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


SMUGGLED = b"GET /chat/secret HTTP/1.1\r\nHost: " + H.encode() + b"\r\n\r\n"


def send(dp, data: bytes, check_closed: bool = False) -> tuple[it.Response | None, bool | None]:
    """Sends data on a fresh connection; returns the first response (None if the connection closed without one)
    and, when asked, whether the data plane then closed the connection (waiting up to 2 s)."""
    with it.RawHttp(dp.port) as c:
        c.send(data)
        try:
            r = c.read_response()
        except ConnectionError:
            return None, True
        return r, (c.closed_by_peer(2.0) if check_closed else None)


def follow_up(dp, backend: rb.RawBackend, tag: str) -> None:
    """Another client's ordinary request after a vector: it must get ITS answer (not a smuggled request's), and
    it must be the only request the backend parsed since the vector."""
    with it.RawHttp(dp.port) as c:
        c.send(req("GET", f"/follow-up/{tag}"))
        r = c.read_response()
    assert r.status == 200, (r.status, r.body)
    assert r.body.decode().endswith(f" GET /follow-up/{tag}"), f"another request's answer: {r.body!r}"
    backend.settle()
    targets = [q.target for q in backend.requests()]
    assert targets == [f"/follow-up/{tag}"], f"the backend parsed {targets}"
    assert not backend.errors(), backend.errors()


def assert_refused(dp, backend, data: bytes, status: int | tuple, tag: str, closed: bool = True) -> it.Response:
    """The vector is answered `status` by the gateway itself, the connection closes, the backend receives not
    one byte, and the next client is served normally."""
    r, was_closed = send(dp, data, check_closed=closed)
    assert r is not None, "no answer at all"
    statuses = status if isinstance(status, tuple) else (status,)
    assert r.status in statuses, (r.status, r.body[:300])
    assert r.header("content-type") == "application/json", r.headers  # the gateway's own answer
    if closed:
        assert was_closed, "the connection stayed open after a refused message"
    backend.settle()
    assert backend.received() == b"", f"the backend received {backend.received()[:300]!r}"
    follow_up(dp, backend, tag)
    return r


def assert_body_refused(dp, backend, data: bytes, status: int, tag: str, marker: bytes) -> None:
    """A body the gateway refuses once it sees it (the head may already be on its way): the client gets
    `status`, the backend never completes a request, never sees a byte at or after `marker`, and the next
    client is served normally."""
    r, was_closed = send(dp, data, check_closed=True)
    assert r is not None and r.status == status, (r and r.status, r and r.body[:300])
    assert was_closed
    backend.settle()
    got = backend.received()
    assert marker not in got, f"the backend received the refused part: {got[-200:]!r}"
    assert backend.requests() == [], [q.target for q in backend.requests()]
    backend.reset()
    follow_up(dp, backend, tag)


def assert_one_request(backend, method: str, target: str, body: bytes = b"") -> rb.Request:
    """The backend parsed exactly one request, and nothing else arrived: its bytes are all the backend got."""
    backend.settle()
    reqs = backend.requests()
    assert len(reqs) == 1, [(q.method, q.target) for q in reqs]
    q = reqs[0]
    assert (q.method, q.target, q.body) == (method, target, body), (q.method, q.target, q.body[:100])
    assert backend.received() == q.raw, "bytes beyond the one request reached the backend"
    assert not backend.errors(), backend.errors()
    return q


def chunked(*pieces: bytes, trailer: bytes = b"") -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n" + trailer + b"\r\n"


# ---------------------------------------------------------------------------------------------- the baseline

def test_setting_key_on_chat_open_root(dp, raw):
    """The setting itself: /chat needs the key, / does not, both reach the same backend."""
    r, _ = send(dp, req("GET", "/chat/secret"))
    assert r.status == 401 and raw.received() == b""
    r, _ = send(dp, req("GET", f"/chat/secret?apikey={API_KEY}"))
    assert r.status == 200 and r.body.endswith(f" GET /chat/secret?apikey={API_KEY}".encode())
    raw.reset()
    r, _ = send(dp, req("GET", "/open"))
    assert r.status == 200
    assert_one_request(raw, "GET", "/open")


# ---------------------------------------------------------------------------------------------- CL.TE, TE.CL, TE.TE

CL_TE = [
    ("cl.te", [("Content-Length", "6"), ("Transfer-Encoding", "chunked")], b"0\r\n\r\nG"),
    ("te.cl", [("Transfer-Encoding", "chunked"), ("Content-Length", "4")],
     b"%x\r\n" % len(SMUGGLED) + SMUGGLED + b"\r\n0\r\n\r\n"),
    ("cl.te-case", [("Content-Length", "5"), ("transfer-encoding", "CHUNKED")], b"0\r\n\r\n"),
    ("te.te-xchunked", [("Transfer-Encoding", "xchunked"), ("Content-Length", "5")], b"0\r\n\r\n"),
    ("te.te-space-before-colon", [("Transfer-Encoding ", "chunked"), ("Content-Length", "5")], b"0\r\n\r\n"),
    ("te.te-second-field", [("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "x"), ("Content-Length", "5")],
     b"0\r\n\r\n"),
    ("te.te-vtab", [("Transfer-Encoding", "\x0bchunked"), ("Content-Length", "5")], b"0\r\n\r\n"),
    ("te.te-quoted", [("Transfer-Encoding", '"chunked"')], b"0\r\n\r\n"),
    ("te.te-chunk", [("Transfer-Encoding", "chunk")], b"0\r\n\r\n"),
    ("te.te-twice", [("Transfer-Encoding", "chunked, chunked")], b"0\r\n\r\n"),
    ("te.te-trailing-comma", [("Transfer-Encoding", "chunked,")], b"0\r\n\r\n"),
    ("te-not-final", [("Transfer-Encoding", "chunked, gzip")], b"0\r\n\r\n"),
    ("te-gzip-only", [("Transfer-Encoding", "gzip")], b"0\r\n\r\n"),
]


@pytest.mark.parametrize("name,headers,body", CL_TE, ids=[v[0] for v in CL_TE])
def test_cl_te_family_is_400(dp, raw, name, headers, body):
    assert_refused(dp, raw, req("POST", "/open", headers, body), 400, name)


@pytest.mark.parametrize("name,data", [
    ("obs-fold-te", b"POST /open HTTP/1.1\r\nHost: " + H.encode() + b"\r\nX: y\r\n Transfer-Encoding: chunked\r\n"
                    b"Content-Length: 5\r\n\r\n0\r\n\r\n"),
    ("bare-lf-te", b"POST /open HTTP/1.1\r\nHost: " + H.encode() + b"\r\nX: y\nTransfer-Encoding: chunked\r\n"
                   b"Content-Length: 5\r\n\r\n0\r\n\r\n"),
    ("bare-cr", b"GET /open HTTP/1.1\r\nHost: " + H.encode() + b"\rX: y\r\n\r\n"),
    ("nul-in-value", b"GET /open HTTP/1.1\r\nHost: " + H.encode() + b"\r\nX: a\x00b\r\n\r\n"),
    ("ctl-in-value", b"GET /open HTTP/1.1\r\nHost: " + H.encode() + b"\r\nX: a\x01b\r\n\r\n"),
    ("no-host", b"GET /open HTTP/1.1\r\n\r\n"),
    ("two-hosts", b"GET /open HTTP/1.1\r\nHost: " + H.encode() + b"\r\nHost: " + OTHER_HOST.encode() + b"\r\n\r\n"),
    ("space-in-target", b"GET /open /chat/secret HTTP/1.1\r\nHost: " + H.encode() + b"\r\n\r\n"),
])
def test_malformed_heads_are_400(dp, raw, name, data):
    assert_refused(dp, raw, data, 400, name)


# ---------------------------------------------------------------------------------------------- framing leniency

def test_duplicate_content_length_is_400(dp, raw):
    assert_refused(dp, raw, req("POST", "/open", [("Content-Length", "5"), ("Content-Length", "5")], b"hello"),
                   400, "dup-cl")


def test_comma_listed_content_length_is_400(dp, raw):
    assert_refused(dp, raw, req("POST", "/open", [("Content-Length", "5, 5")], b"hello"), 400, "comma-cl")


def test_differing_content_length_is_400(dp, raw):
    assert_refused(dp, raw, req("POST", "/open", [("Content-Length", "5"), ("Content-Length", "0")], b"hello"),
                   400, "diff-cl")


def test_connection_content_length_smuggle_is_400(dp, raw):
    """Issue 11's first vector: the body is a request for /chat/secret; the gateway must neither drop the
    Content-Length nor forward the body as a request of its own."""
    data = req("POST", "/x", [("Content-Length", str(len(SMUGGLED))), ("Connection", "Content-Length")], SMUGGLED)
    assert_refused(dp, raw, data, 400, "conn-cl")


def test_connection_transfer_encoding_smuggle_is_400(dp, raw):
    data = req("POST", "/x", [("Transfer-Encoding", "chunked"), ("Connection", "Transfer-Encoding")],
               chunked(SMUGGLED))
    assert_refused(dp, raw, data, 400, "conn-te")


def test_connection_host_is_400(dp, raw):
    assert_refused(dp, raw, req("GET", "/open", [("Connection", "close, Host")]), 400, "conn-host")


def test_connection_naming_handshake_fields_is_400(dp, raw):
    data = it.ws_handshake_bytes("/open/ws", omit=["Connection"],
                                 extra=[("Connection", "Upgrade, Sec-WebSocket-Key")])
    assert_refused(dp, raw, data, 400, "conn-ws-key")


def test_response_poisoning_via_connection_content_length(dp, raw):
    """The smuggle of issue 11 with a victim: client A's body would be a second request on the pooled upstream
    connection; client B, with a valid key, must get the answer to its own request."""
    a = it.RawHttp(dp.port)
    b = it.RawHttp(dp.port)
    try:
        a.send(req("POST", "/x", [("Content-Length", str(len(SMUGGLED))), ("Connection", "Content-Length")],
                   SMUGGLED))
        b.send(req("GET", f"/chat/mine?apikey={API_KEY}"))
        ra, rb_ = a.read_response(), b.read_response()
    finally:
        a.close()
        b.close()
    assert ra.status == 400
    assert rb_.status == 200 and rb_.body.endswith(f" GET /chat/mine?apikey={API_KEY}".encode()), rb_.body
    assert_one_request(raw, "GET", f"/chat/mine?apikey={API_KEY}")


def test_unknown_transfer_coding_is_refused(dp, raw):
    """Refused before anything reaches the backend, whatever the status (see the next test for 501)."""
    assert_refused(dp, raw, req("POST", "/open", [("Transfer-Encoding", "gzip, chunked")], chunked(b"x")),
                   (400, 501), "gzip-chunked")


def test_unknown_transfer_coding_is_501(dp, raw):
    assert_refused(dp, raw, req("POST", "/open", [("Transfer-Encoding", "gzip, chunked")], chunked(b"x")),
                   501, "gzip-chunked-501")


@pytest.mark.parametrize("field", ["Content-Length: 5", "Transfer-Encoding: chunked", "Host: " + OTHER_HOST])
def test_trailer_with_framing_field_is_400(dp, raw, field):
    trailer = field.encode() + b"\r\n"
    data = req("POST", "/open", [("Transfer-Encoding", "chunked")], chunked(b"hello", trailer=trailer))
    assert_body_refused(dp, raw, data, 400, "trailer-" + field.split(":")[0].lower(), b"0\r\n" + trailer)


# ---------------------------------------------------------------------------------------------- chunk bodies

def test_chunk_extensions_pass_as_one_request(dp, raw):
    body = b"5;name=value;q=\"a;b\"\r\nhello\r\n6 ; x\r\n world\r\n0;last\r\nX-Sum: 1\r\n\r\n"
    r, _ = send(dp, req("POST", "/open/ext", [("Transfer-Encoding", "chunked")], body))
    assert r.status == 200 and r.body.endswith(b" POST /open/ext"), r.body
    q = assert_one_request(raw, "POST", "/open/ext", b"hello world")
    assert q.header("transfer-encoding") == "chunked"


@pytest.mark.parametrize("name,body,marker", [
    ("size-overflow", b"ffffffffffffffffff\r\n" + SMUGGLED, SMUGGLED),
    ("size-bare-lf", b"5\nhello\r\n0\r\n\r\n" + SMUGGLED, SMUGGLED),
    ("size-0x", b"0x5\r\nhello\r\n0\r\n\r\n" + SMUGGLED, SMUGGLED),
    ("data-overrun", b"5\r\nhelloXX0\r\n\r\n" + SMUGGLED, SMUGGLED),
    ("ext-unterminated-quote", b"5;a=\"open\r\nhello\r\n0\r\n\r\n" + SMUGGLED, SMUGGLED),
    ("ext-bare-lf", b"5;a=b\nhello\r\n0\r\n\r\n" + SMUGGLED, SMUGGLED),
    ("size-line-oversized", b"1;" + b"e" * 5000 + b"\r\nx\r\n0\r\n\r\n" + SMUGGLED, SMUGGLED),
])
def test_bad_chunked_bodies_are_400(dp, raw, name, body, marker):
    data = req("POST", "/open", [("Transfer-Encoding", "chunked")], body)
    assert_body_refused(dp, raw, data, 400, name, marker)


# ---------------------------------------------------------------------------------------------- HTTP/0.9 and 1.0

def test_http09_request_is_400(dp, raw):
    assert_refused(dp, raw, b"GET /chat/secret\r\n\r\n", 400, "http09")


def test_http2_preface_is_refused(dp, raw):
    assert_refused(dp, raw, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", (400, 505), "h2-preface")


def test_http10_transfer_encoding_is_400(dp, raw):
    data = req("POST", "/open", [("Transfer-Encoding", "chunked"), ("Connection", "keep-alive")], chunked(b"x"),
               version="1.0")
    assert_refused(dp, raw, data, 400, "http10-te")


def test_http10_without_keep_alive_serves_one_request(dp, raw):
    """An HTTP/1.0 request without keep-alive ends its connection: what follows it is never parsed."""
    data = req("GET", "/open/one", version="1.0") + SMUGGLED
    with it.RawHttp(dp.port) as c:
        c.send(data)
        r = c.read_response()
        assert r.status == 200 and r.body.endswith(b" GET /open/one")
        assert c.closed_by_peer(2.0) and c.buf == b""
    assert_one_request(raw, "GET", "/open/one")


def test_http10_client_never_receives_chunked(dp, peers):
    chunky = peers["chunky"]
    chunky.reset()
    with it.RawHttp(dp.port) as c:
        c.send(req("GET", "/chunky/x", version="1.0"))
        r = c.read_response()
    assert r.status == 200
    assert r.header("transfer-encoding") is None, r.raw_head
    assert r.body.endswith(b" GET /chunky/x")


# ---------------------------------------------------------------------------------------------- oversized lines

def test_oversized_request_line_is_431(dp, raw):
    assert_refused(dp, raw, req("GET", "/open/" + "a" * 40000), (414, 431), "long-target")


def test_oversized_header_line_is_431(dp, raw):
    assert_refused(dp, raw, req("GET", "/open", [("X-Big", "b" * 40000)]), 431, "long-header")


# ---------------------------------------------------------------------------------------------- pipelining

def test_pipelined_requests_each_get_their_answer(dp, raw):
    data = req("GET", "/open/p1") + req("POST", "/open/p2", [("Content-Length", "3")], b"abc") + req("GET", "/open/p3")
    with it.RawHttp(dp.port) as c:
        c.send(data)
        bodies = [c.read_response().body for _ in range(3)]
    assert [b.split(b" ", 2)[2] for b in bodies] == [b"GET /open/p1", b"POST /open/p2", b"GET /open/p3"]
    raw.settle()
    assert [q.target for q in raw.requests()] == ["/open/p1", "/open/p2", "/open/p3"]


def test_pipelining_across_an_upgrade(dp, raw):
    """A request written right behind a WebSocket handshake is WebSocket data after the 101, never a request:
    the backend must not parse it, the gateway closes the session as a protocol error."""
    with it.RawHttp(dp.port) as c:
        c.send(it.ws_handshake_bytes("/open/ws") + SMUGGLED)
        r = c.read_response()
        assert r.status == 101
        op, _, payload = c.read_frame()
        assert op == 0x8 and int.from_bytes(payload[:2], "big") == 1002, (op, payload)
    raw.settle()
    assert [q.target for q in raw.requests()] == ["/open/ws"]
    assert b"GET /chat/secret" not in raw.received()


def test_pipelining_behind_a_refused_upgrade(dp, raw):
    """A refused handshake ends the connection: the request behind it is never read."""
    with it.RawHttp(dp.port) as c:
        c.send(it.ws_handshake_bytes("/chat/ws") + req("GET", "/open/after"))
        r = c.read_response()
        assert r.status == 401
        assert c.closed_by_peer(2.0)
    raw.settle()
    assert raw.received() == b""


# ---------------------------------------------------------------------------------------------- absolute form

def test_absolute_form_authority_replaces_host(dp, raw):
    r, _ = send(dp, req("GET", f"http://{OTHER_HOST}/chat/secret"))
    if r.status == 200:  # routed to the other host's group: the backend must be told that host
        q = assert_one_request(raw, "GET", "/chat/secret")
        assert q.all("host") == [OTHER_HOST], q.headers
    else:
        assert r.status in (400, 401) and raw.received() == b""


def test_absolute_form_same_authority_keeps_the_policy(dp, raw):
    r, _ = send(dp, req("GET", f"http://{H}/chat/secret"))
    assert r.status == 401 and raw.received() == b""


# ---------------------------------------------------------------------------------------------- path bypass

# (vector, what a fixed gateway answers: 401 = normalised onto /chat and its key check, 400 = refused)
PATH_VECTORS = [
    ("//chat/secret", (400, 401)),
    ("/ch%61t/secret", (400, 401)),
    ("/%63hat/secret", (400, 401)),
    ("/chat%2fsecret", (400,)),
    ("/%2Fchat/secret", (400,)),
    ("/x%2f..%2fchat/secret", (400,)),
    ("/x%2F%2E%2E%2Fchat/secret", (400,)),
    ("/x/..%2fchat/secret", (400,)),
    ("/x/%2e%2e/chat/secret", (400, 401)),
    ("/x%5c..%5cchat/secret", (400,)),
    ("/x\\..\\chat/secret", (400,)),
    ("/%00/chat/secret", (400,)),
    ("/x/%c0%ae%c0%ae/chat/secret", (400,)),
]
@pytest.mark.parametrize("target,statuses", [pytest.param(v, st, id=v) for v, st in PATH_VECTORS])
def test_path_bypass_raw_backend(dp, raw, target, statuses):
    """Without a key, no spelling of /chat/secret may reach the backend through the open route."""
    r, _ = send(dp, req("GET", target))
    assert r.status in statuses, (r.status, r.body[:200])
    raw.settle()
    assert raw.received() == b"", raw.received()[:200]


def test_nginx_reads_the_vectors_as_chat(peers):
    """The interpreter behind the gateway: nginx maps these spellings onto location /chat/ — which is why the
    gateway must route them as /chat (or refuse them)."""
    ngx = peers["nginx"]
    for target in ("//chat/secret", "/ch%61t/secret", "/%63hat/secret", "/chat%2fsecret", "/%2Fchat/secret",
                   "/x%2f..%2fchat/secret", "/x%2F%2E%2E%2Fchat/secret", "/x/..%2fchat/secret",
                   "/x/%2e%2e/chat/secret"):
        with it.RawHttp(ngx.port) as c:
            c.send(req("GET", target, host="localhost"))
            r = c.read_response()
        assert (r.status, r.body) == (200, b"chat"), (target, r.status, r.body)
    assert ngx.access_lines()[-1][1] == "/chat/secret"


NGINX_VECTORS = [v for v, _ in PATH_VECTORS if v not in ("/x\\..\\chat/secret",)]


@pytest.mark.parametrize("target", [pytest.param(v, id=v) for v in NGINX_VECTORS])
def test_path_bypass_nginx_backend(dp, peers, target):
    ngx = peers["nginx"]
    before = len(ngx.settled_access_lines())
    r, _ = send(dp, req("GET", target, host=NGINX_HOST))
    assert not (r.status == 200 and r.body == b"chat"), f"nginx served /chat/ without a key for {target}"
    assert r.status in (400, 401), (r.status, r.body[:200])
    time.sleep(0.1)
    assert ngx.access_lines()[before:] == []


def test_nginx_backend_with_and_without_key(dp, peers):
    r, _ = send(dp, req("GET", "/chat/secret", host=NGINX_HOST))
    assert r.status == 401
    r, _ = send(dp, req("GET", f"/chat/secret?apikey={API_KEY}", host=NGINX_HOST))
    assert (r.status, r.body) == (200, b"chat")
    r, _ = send(dp, req("GET", "/elsewhere", host=NGINX_HOST))
    assert (r.status, r.body) == (200, b"open")


# ---------------------------------------------------------------------------------------------- parameter pollution

def test_two_api_key_headers_are_400(dp, raw):
    assert_refused(dp, raw, req("GET", "/chat/secret", [("x-api-key", API_KEY), ("x-api-key", BAD_KEY)]), 400,
                   "two-key-headers", closed=False)


def test_repeated_apikey_query_parameter_is_400(dp, raw):
    assert_refused(dp, raw, req("GET", f"/chat/secret?apikey={API_KEY}&apikey={BAD_KEY}"), 400, "two-key-params",
                   closed=False)


def test_same_key_in_two_configured_locations_is_admitted(dp, raw):
    """The seed sample's client sends its key as ?apikey= and as x-api-key: that must keep working."""
    r, _ = send(dp, req("GET", f"/chat/secret?apikey={API_KEY}", [("x-api-key", API_KEY)]))
    assert r.status == 200, (r.status, r.body)
    assert_one_request(raw, "GET", f"/chat/secret?apikey={API_KEY}")


# ---------------------------------------------------------------------------------------------- WebSocket frames

def _open_session(dp, path: str, extra=()) -> it.RawHttp:
    c = it.RawHttp(dp.port)
    c.send(it.ws_handshake_bytes(path, extra=list(extra)))
    r = c.read_response()
    assert r.status == 101, (r.status, r.body)
    return c


def _expect_close_1002(c: it.RawHttp) -> None:
    c.sock.settimeout(3 * it.SLOW)
    try:
        op, _, payload = c.read_frame()
    except (ConnectionError, socket.timeout, AssertionError) as e:
        raise AssertionError(f"no close frame: {e}") from None
    assert op == 0x8 and int.from_bytes(payload[:2], "big") == 1002, (op, payload)


def test_unmasked_client_frame_closes_1002(dp, raw):
    c = _open_session(dp, "/open/ws-unmasked")
    try:
        c.send(it.ws_frame(0x1, b"unmasked-payload", mask=False))
        _expect_close_1002(c)
    finally:
        c.close()
    raw.settle()
    assert b"unmasked-payload" not in raw.received()


def test_rsv1_without_extension_closes_1002(dp, raw):
    c = _open_session(dp, "/open/ws-rsv1")
    try:
        frame = bytearray(it.ws_frame(0x1, b"rsv1-payload"))
        frame[0] |= 0x40
        c.send(bytes(frame))
        _expect_close_1002(c)
    finally:
        c.close()
    raw.settle()
    assert bytes(frame) not in raw.received()


def test_masked_backend_frame_closes_1002(dp, peers):
    c = _open_session(dp, "/masker/ws")
    try:
        _expect_close_1002(c)
    finally:
        c.close()


def test_masked_client_frames_pass_untouched(dp, raw):
    """The control case: a well-formed masked frame reaches the backend byte for byte."""
    c = _open_session(dp, "/open/ws-ok")
    frame = it.ws_frame(0x2, b"fine-payload")
    try:
        c.send(frame)
        it.wait_until(lambda: frame in raw.received(), 3 * it.SLOW, what="frame relayed")
    finally:
        c.close()
    raw.settle()  # the tunnel's close toward the backend lands here, not in the next vector's record


# ---------------------------------------------------------------------------------------------- what is forwarded

def forwarded(target: str, host: str = H, peer: str = "127.0.0.1", extra: str = "") -> bytes:
    """The exact head the gateway writes for a bodiless request that carried no other field."""
    return (f"GET {target} HTTP/1.1\r\nHost: {host}\r\nX-Forwarded-For: {peer}\r\nX-Forwarded-Proto: http\r\n"
            f"X-Forwarded-Host: {host}\r\n{extra}\r\n").encode()


def test_absolute_form_forwarded_byte_for_byte(dp, raw):
    """RFC 9112 §3.2.2: routed on the target's authority, forwarded in origin form with that authority as Host."""
    r, _ = send(dp, req("GET", f"http://{OTHER_HOST}/open/abs?q=1"))
    assert r.status == 200 and r.body.endswith(b" GET /open/abs?q=1"), r.body
    q = assert_one_request(raw, "GET", "/open/abs?q=1")
    assert q.raw == forwarded("/open/abs?q=1", host=OTHER_HOST), q.raw


def test_absolute_form_with_empty_path(dp, raw):
    r, _ = send(dp, req("GET", f"http://{OTHER_HOST}?q=1"))
    assert r.status == 200
    assert assert_one_request(raw, "GET", "/?q=1").raw == forwarded("/?q=1", host=OTHER_HOST)


@pytest.mark.parametrize("target", ["http://user@other.test/open", "ftp://other.test/open", "other.test:80", "*",
                                    "http:///open"])
def test_bad_target_forms_are_400(dp, raw, target):
    assert_refused(dp, raw, req("GET", target), 400, "bad-target")


def test_normalised_path_is_what_the_backend_receives(dp, raw):
    r, _ = send(dp, req("GET", "/open/./a//b/%7Euser/../c?x=/../y"))
    assert r.status == 200 and r.body.endswith(b" GET /open/a/b/c?x=/../y"), r.body
    assert assert_one_request(raw, "GET", "/open/a/b/c?x=/../y").raw == forwarded("/open/a/b/c?x=/../y")


def test_connection_naming_framing_field_answers_its_code(dp, raw):
    r = assert_refused(dp, raw, req("GET", "/open", [("Connection", "Transfer-Encoding")]), 400, "conn-code")
    assert r.json()["error"]["code"] == "request.bad_connection"


# ---------------------------------------------------------------------------------------------- trusted proxies

def _send_from(dp, source: str, data: bytes) -> it.Response:
    c = it.RawHttp.__new__(it.RawHttp)
    c.sock = socket.create_connection(("127.0.0.1", dp.port), timeout=5 * it.SLOW, source_address=(source, 0))
    c.buf, c.eof = b"", False
    with c:
        c.send(data)
        return c.read_response()


SPOOFED = [("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "public.test"),
           ("Forwarded", "for=203.0.113.9;proto=https")]


def test_spoofed_forwarding_fields_from_an_untrusted_peer_are_replaced(dp, raw):
    """Default (no --trusted-proxies): the client is the edge, whatever it claims."""
    r, _ = send(dp, req("GET", "/open/xff", SPOOFED))
    assert r.status == 200
    assert assert_one_request(raw, "GET", "/open/xff").raw == forwarded("/open/xff")


def test_untrusted_peer_of_a_trusting_gateway_is_replaced(trusting_dp, raw):
    r = _send_from(trusting_dp, "127.0.0.1", req("GET", "/open/xff-untrusted", SPOOFED))
    assert r.status == 200
    assert assert_one_request(raw, "GET", "/open/xff-untrusted").raw == forwarded("/open/xff-untrusted")


def test_trusted_peer_fields_are_kept_and_appended(trusting_dp, raw):
    r = _send_from(trusting_dp, "127.0.0.2", req("GET", "/open/xff-trusted", SPOOFED))
    assert r.status == 200
    q = assert_one_request(raw, "GET", "/open/xff-trusted")
    assert q.raw == (f"GET /open/xff-trusted HTTP/1.1\r\nHost: {H}\r\nX-Forwarded-For: 203.0.113.9, 127.0.0.2\r\n"
                     "X-Forwarded-Proto: https\r\nX-Forwarded-Host: public.test\r\n"
                     "Forwarded: for=203.0.113.9;proto=https\r\n\r\n").encode(), q.raw


def test_trusted_peer_without_fields_gets_ours(trusting_dp, raw):
    r = _send_from(trusting_dp, "127.0.0.2", req("GET", "/open/xff-none"))
    assert r.status == 200
    assert assert_one_request(raw, "GET", "/open/xff-none").raw == forwarded("/open/xff-none", peer="127.0.0.2")


# ---------------------------------------------------------------------------------------------- HTTP/1.0 clients

def _read_until_close(c: it.RawHttp, timeout: float = 3.0) -> bytes:
    """Everything the server sends until it closes (a close-delimited answer)."""
    c.sock.settimeout(timeout * it.SLOW)
    data = c.buf
    while True:
        d = c.sock.recv(65536)
        if not d:
            return data
        data += d


def test_http10_client_gets_the_dechunked_body_close_delimited(dp, peers):
    """RFC 9112 §7: chunked is HTTP/1.1 only; the HTTP/1.0 client gets the decoded body and the close ends it."""
    chunky = peers["chunky"]
    chunky.reset()
    with it.RawHttp(dp.port) as c:
        c.send(req("GET", "/chunky/ten", version="1.0"))
        data = _read_until_close(c)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head == (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Raw-Backend: chunky\r\nConnection: close"), head
    assert body.startswith(b"chunky ") and body.endswith(b" GET /chunky/ten"), body
    chunky.settle()
    assert [q.raw for q in chunky.requests()] == [forwarded("/chunky/ten")]


def test_http10_keep_alive_client_still_gets_no_chunked(dp, peers):
    peers["chunky"].reset()
    with it.RawHttp(dp.port) as c:
        c.send(req("GET", "/chunky/ka", [("Connection", "keep-alive")], version="1.0"))
        data = _read_until_close(c)
    assert b"transfer-encoding" not in data.lower() and data.endswith(b" GET /chunky/ka"), data


def test_http10_client_never_receives_an_interim_response(dp, peers):
    """RFC 9110 §15.2: no 1xx to an HTTP/1.0 client — the 103 is dropped, the 200 is the first thing it reads."""
    with it.RawHttp(dp.port) as c:
        c.send(req("GET", "/early/x", version="1.0"))
        data = _read_until_close(c)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head == b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Raw-Backend: early\r\nConnection: close", data
    assert body.endswith(b" GET /early/x"), body


def test_http11_client_receives_the_interim_response(dp, peers):
    with it.RawHttp(dp.port) as c:
        c.send(req("GET", "/early/y"))
        c.sock.settimeout(3 * it.SLOW)
        data = b""
        while b"0\r\n\r\n" not in data:
            d = c.sock.recv(65536)
            assert d, data
            data += d
    assert data.startswith(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\n"), data


def test_http11_client_keeps_the_chunked_framing(dp, peers):
    peers["chunky"].reset()
    with it.RawHttp(dp.port) as c:
        c.send(req("GET", "/chunky/11"))
        r = c.read_response()
    assert r.header("transfer-encoding") == "chunked" and r.body.endswith(b" GET /chunky/11")


# ---------------------------------------------------------------------------------------------- retries

def test_stale_pooled_connection_retries_an_idempotent_request(dp, peers):
    """The backend drops the pooled connection when the second request arrives: a GET (idempotent, RFC 9110
    §9.2.2) goes again on a new connection, and the client gets its answer."""
    flaky = peers["flaky"]
    flaky.reset()
    r, _ = send(dp, req("GET", "/flaky/one"))
    assert r.status == 200
    r, _ = send(dp, req("GET", "/flaky/two"))
    assert r.status == 200 and r.body.endswith(b" GET /flaky/two"), r.body
    flaky.settle()
    assert [q.raw for q in flaky.requests()] == [forwarded("/flaky/one"), forwarded("/flaky/two"),
                                                  forwarded("/flaky/two")]


def test_stale_pooled_connection_never_retries_a_post(dp, peers):
    """A POST is not idempotent: once it may have reached the backend it is never sent again (502)."""
    flaky = peers["flaky"]
    flaky.reset()
    r, _ = send(dp, req("GET", "/flaky/first"))  # a fresh connection, kept in the pool
    assert r.status == 200
    r, _ = send(dp, req("POST", "/flaky/pay"))
    assert r.status == 502 and r.json()["error"]["code"] == "upstream.failed", (r.status, r.body)
    flaky.settle()
    assert [(q.method, q.target) for q in flaky.requests()] == [("GET", "/flaky/first"), ("POST", "/flaky/pay")]


def test_forward_normalized_path_opt_out(dp, raw):
    """forwardNormalizedPath: false — routing used the normal form (/rawpath/b), the backend gets the spelling."""
    r, _ = send(dp, req("GET", "/x/../rawpath/./a/..//b?q=/./"))
    assert r.status == 200, (r.status, r.body)
    q = assert_one_request(raw, "GET", "/x/../rawpath/./a/..//b?q=/./")
    assert q.raw == forwarded("/x/../rawpath/./a/..//b?q=/./"), q.raw
    raw.reset()
    assert_refused(dp, raw, req("GET", "/rawpath/a%2fb"), 400, "rawpath-encoded-slash")
