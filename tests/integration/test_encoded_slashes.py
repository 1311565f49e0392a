"""--encoded-slashes (issue 11 item 3; docs/security.md "Path normalisation"): issue 11's encoded-slash bypass
spellings against the three modes, in issue 11's setting (an API key on /chat, / open, one backend), each vector
asserting the client's answer and what the backend received, byte for byte (RawBackend), and where nginx — a
backend that decodes %2F — maps what it got (its location and $uri).

- reject (default): 400 request.encoded_slash, nothing reaches the backend;
- decode (Envoy UNESCAPE_AND_FORWARD): "%2F"/"%5C" are '/', so every spelling is "/chat/secret": 401 without the
  key, and the backend receives the decoded path;
- keep (Envoy KEEP_UNCHANGED): kept encoded and forwarded so — but a path whose decoded form would route to another
  proxy than the encoded one is refused (400), so a decoding backend never sees a /chat path the gateway routed
  to the open proxy.

Per proxy (ApiProxy spec.encodedSlashes, snapshot "encodedSlashes"): a path with an encoded slash is routed by
its decoded form and the proxy found decides by its own mode (else the gateway's). With the gateway at its
default (reject), an open "/" proxy opting into decode and a "/files" proxy opting into keep must not open any
way to the protected /chat proxy, which did not opt in.
"""

from __future__ import annotations

import subprocess

import pytest

import auth_helpers as ah
import raw_backend as rb
import tollgate_it as it

API_KEY = "k-slashes-7d2c9e41aa"
H = it.MAIN_HOST
NGX = "nginx.test"

# issue 11's encoded-slash spellings of /chat/secret (and the backslash one)
BYPASS = ["/chat%2fsecret", "/%2Fchat/secret", "/x%2f..%2fchat/secret", "/x%2F%2E%2E%2Fchat/secret",
          "/x/..%2fchat/secret", "/x%5c..%5cchat/secret", "/chat/x%2F..%2F..%2Fopen/y"]


@pytest.fixture(scope="module")
def peers(run_dir):
    raw = rb.RawBackend("raw-slashes").start()
    ngx = rb.NginxBackend(run_dir, "nginx-slashes").start()
    yield raw, ngx
    raw.stop()
    ngx.stop()


def _snapshot(raw: rb.RawBackend, ngx: rb.NginxBackend) -> dict:
    key = ah.verify_api_key_policy([ah.api_key_entry(API_KEY, "apis/slashes", "slashes")])
    proxies = [
        ah.with_policies(it.proxy("sl/chat", "/chat", [raw.endpoint()], strip=False), key),
        it.proxy("sl/open", "/", [raw.endpoint()], strip=False),
        ah.with_policies(it.proxy("sl/ngx-chat", "/chat", [ngx.endpoint()], strip=False, environments=("ngx",)),
                         key),
        it.proxy("sl/ngx-open", "/", [ngx.endpoint()], strip=False, environments=("ngx",)),
    ]
    return it.snapshot(1, [it.group("sl/main", [H], ["prod"]), it.group("sl/ngx", [NGX], ["ngx"])], proxies)


def _dp(run_dir, peers, mode: str | None):
    args = ["--encoded-slashes", mode] if mode else []
    return it.Dataplane(run_dir, f"dataplane-slashes-{mode or 'default'}", workers=1, args=args).start(
        _snapshot(*peers))


@pytest.fixture(scope="module")
def reject_dp(run_dir, peers):
    d = _dp(run_dir, peers, None)
    yield d
    d.check_clean_exit()


@pytest.fixture(scope="module")
def keep_dp(run_dir, peers):
    d = _dp(run_dir, peers, "keep")
    yield d
    d.check_clean_exit()


@pytest.fixture(scope="module")
def decode_dp(run_dir, peers):
    d = _dp(run_dir, peers, "decode")
    yield d
    d.check_clean_exit()


@pytest.fixture
def raw(peers):
    peers[0].reset()
    return peers[0]


@pytest.fixture
def ngx(peers):
    return peers[1]


def _get(dp, target: str, host: str = H, headers=()) -> it.Response:
    with it.RawHttp(dp.port) as c:
        c.send((f"GET {target} HTTP/1.1\r\nHost: {host}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
                + "\r\n").encode())
        return c.read_response()


def _code(r: it.Response) -> str:
    return r.json()["error"]["code"]


def _forwarded(target: str, host: str = H, extra: str = "") -> bytes:
    return (f"GET {target} HTTP/1.1\r\nHost: {host}\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\n"
            f"X-Forwarded-Host: {host}\r\n{extra}\r\n").encode()


def _only(raw: rb.RawBackend, want: bytes) -> None:
    raw.settle()
    assert raw.received() == want, raw.received()
    assert len(raw.requests()) == (1 if want else 0)


def _ngx_new(ngx: rb.NginxBackend, before: int) -> list[tuple[str, str]]:
    return ngx.settled_access_lines()[before:]


# ---------------------------------------------------------------------------------------------- reject (default)

@pytest.mark.parametrize("target", BYPASS + ["/open%2Fthing"])
def test_reject_refuses_every_encoded_slash(reject_dp, raw, ngx, target):
    r = _get(reject_dp, target)
    assert r.status == 400 and _code(r) == "request.encoded_slash", (r.status, r.body)
    _only(raw, b"")
    before = len(ngx.settled_access_lines())
    r = _get(reject_dp, target, host=NGX)
    assert r.status == 400 and _ngx_new(ngx, before) == []


# ---------------------------------------------------------------------------------------------- decode

@pytest.mark.parametrize("target", BYPASS[:6])
def test_decode_lands_every_spelling_on_the_key_check(decode_dp, raw, ngx, target):
    r = _get(decode_dp, target)
    assert r.status == 401, (r.status, r.body)
    _only(raw, b"")
    before = len(ngx.settled_access_lines())
    assert _get(decode_dp, target, host=NGX).status == 401 and _ngx_new(ngx, before) == []


def test_decode_forwards_the_decoded_path(decode_dp, raw, ngx):
    r = _get(decode_dp, "/x%2f..%2fchat/secret", headers=[("x-api-key", API_KEY)])
    assert r.status == 200, (r.status, r.body)
    raw.settle()
    reqs = raw.requests()
    assert len(reqs) == 1 and reqs[0].target == "/chat/secret", [q.target for q in reqs]
    # a path the decoding moves from /chat to /: the open proxy, the decoded path, byte for byte
    raw.reset()
    assert _get(decode_dp, "/chat/x%2F..%2F..%2Fopen/y").status == 200
    _only(raw, _forwarded("/open/y"))
    raw.reset()
    assert _get(decode_dp, "/open%2Fthing%5Cmore?q=%2F").status == 200
    _only(raw, _forwarded("/open/thing/more?q=%2F"))
    raw.reset()
    assert _get(decode_dp, "/open%252Fthing").status == 200  # decoded once, never twice
    _only(raw, _forwarded("/open%252Fthing"))
    before = len(ngx.settled_access_lines())
    assert _get(decode_dp, "/open%2Fthing", host=NGX).status == 200
    assert _ngx_new(ngx, before) == [("GET /open/thing HTTP/1.1", "/open/thing")]


# ---------------------------------------------------------------------------------------------- keep

@pytest.mark.parametrize("target", BYPASS)
def test_keep_refuses_a_path_its_decoding_routes_elsewhere(keep_dp, raw, ngx, target):
    r = _get(keep_dp, target, headers=[("x-api-key", API_KEY)])
    assert r.status == 400 and _code(r) == "request.encoded_slash", (r.status, r.body)
    _only(raw, b"")
    before = len(ngx.settled_access_lines())
    r = _get(keep_dp, target, host=NGX)
    assert r.status == 400 and _ngx_new(ngx, before) == []


def test_keep_forwards_encoded_slashes_unchanged(keep_dp, raw, ngx):
    assert _get(keep_dp, "/open%2fthing?q=%2F").status == 200
    _only(raw, _forwarded("/open%2Fthing?q=%2F"))  # hex digits upper-cased, nothing else changed
    raw.reset()
    assert _get(keep_dp, "/x%2F..%2Fy").status == 200  # decodes to /y: the open proxy both ways
    _only(raw, _forwarded("/x%2F..%2Fy"))
    # under /chat both ways: the key is still checked, then the path goes on encoded
    raw.reset()
    r = _get(keep_dp, "/chat/a%2Fb")
    assert r.status == 401 and raw.received() == b""
    assert _get(keep_dp, "/chat/a%2Fb", headers=[("x-api-key", API_KEY)]).status == 200
    raw.settle()
    assert [q.target for q in raw.requests()] == ["/chat/a%2Fb"]
    # nginx decodes what it gets: it lands where the gateway routed
    before = len(ngx.settled_access_lines())
    assert _get(keep_dp, "/open%2Fthing", host=NGX).status == 200
    assert _get(keep_dp, "/chat/a%2Fb", host=NGX, headers=[("x-api-key", API_KEY)]).body == b"chat"
    assert _ngx_new(ngx, before) == [("GET /open%2Fthing HTTP/1.1", "/open/thing"),
                                     ("GET /chat/a%2Fb HTTP/1.1", "/chat/a/b")]


def test_bad_flag_value_is_refused():
    r = subprocess.run([str(it.BUILD / "tollgate-dataplane"), "--encoded-slashes", "maybe"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 2 and "reject|keep|decode" in r.stderr


# ---------------------------------------------------------------------------------------------- per proxy

MIX = "mix.test"
NGX_MIX = "nginx-mix.test"

# spellings whose decoded form is under /chat (the protected proxy that did not opt in), through the opted-in ones
MIX_BYPASS = BYPASS[:6] + ["/files/..%2fchat/secret", "/files/a%2f..%2f..%2fchat/secret", "/files%2f..%2fchat/secret",
                           "/files/%2e%2e%2fchat/secret", "/open%2F..%2Fchat%2Fsecret", "/%5Cchat%5Csecret"]


def _mixed_proxies(endpoint: dict, env: str, prefix: str) -> list[dict]:
    key = ah.verify_api_key_policy([ah.api_key_entry(API_KEY, "apis/slashes", "slashes")])
    chat = ah.with_policies(it.proxy(f"{prefix}-chat", "/chat", [endpoint], strip=False, environments=(env,)), key)
    files = it.proxy(f"{prefix}-files", "/files", [endpoint], strip=False, environments=(env,))
    files["encodedSlashes"] = "keep"
    strict = it.proxy(f"{prefix}-strict", "/strict", [endpoint], strip=False, environments=(env,))
    strict["encodedSlashes"] = "reject"
    opened = it.proxy(f"{prefix}-open", "/", [endpoint], strip=False, environments=(env,))
    opened["encodedSlashes"] = "decode"
    return [chat, files, strict, opened]


@pytest.fixture(scope="module")
def mixed_dp(run_dir, peers):
    raw_peer, ngx_peer = peers
    snap = it.snapshot(1, [it.group("sl/mix", [MIX], ["mix"]), it.group("sl/ngx-mix", [NGX_MIX], ["ngxmix"])],
                       _mixed_proxies(raw_peer.endpoint(), "mix", "sl/mix")
                       + _mixed_proxies(ngx_peer.endpoint(), "ngxmix", "sl/ngx-mix"))
    d = it.Dataplane(run_dir, "dataplane-slashes-per-proxy", workers=1).start(snap)  # --encoded-slashes: default
    yield d
    d.check_clean_exit()


@pytest.fixture(scope="module")
def override_dp(run_dir, peers):
    """--encoded-slashes decode for the gateway, the protected /chat proxy back at reject."""
    key = ah.verify_api_key_policy([ah.api_key_entry(API_KEY, "apis/slashes", "slashes")])
    chat = ah.with_policies(it.proxy("sl/ov-chat", "/chat", [peers[0].endpoint()], strip=False), key)
    chat["encodedSlashes"] = "reject"
    snap = it.snapshot(1, [it.group("sl/ov", [H], ["prod"])],
                       [chat, it.proxy("sl/ov-open", "/", [peers[0].endpoint()], strip=False)])
    d = it.Dataplane(run_dir, "dataplane-slashes-override", workers=1, args=["--encoded-slashes", "decode"]).start(snap)
    yield d
    d.check_clean_exit()


@pytest.mark.parametrize("target", MIX_BYPASS)
def test_per_proxy_opt_in_opens_no_way_to_a_proxy_that_did_not(mixed_dp, raw, ngx, target):
    for headers in ([], [("x-api-key", API_KEY)]):  # refused for the slash, not for the key
        r = _get(mixed_dp, target, host=MIX, headers=headers)
        assert r.status == 400 and _code(r) == "request.encoded_slash", (target, r.status, r.body)
    _only(raw, b"")
    before = len(ngx.settled_access_lines())
    r = _get(mixed_dp, target, host=NGX_MIX, headers=[("x-api-key", API_KEY)])
    assert r.status == 400 and _ngx_new(ngx, before) == []


def test_per_proxy_reject_and_default(mixed_dp, raw):
    # /strict says reject (the gateway's default too); /chat did not opt in: both refuse, even with the key
    for target in ("/strict/a%2Fb", "/strict%2fa", "/chat/a%2Fb"):
        r = _get(mixed_dp, target, host=MIX, headers=[("x-api-key", API_KEY)])
        assert r.status == 400 and _code(r) == "request.encoded_slash", (target, r.status, r.body)
    _only(raw, b"")
    # paths without an encoded slash are untouched by any mode
    assert _get(mixed_dp, "/strict/a%2541?q=%2F", host=MIX).status == 200
    _only(raw, _forwarded("/strict/a%2541?q=%2F", MIX))
    raw.reset()
    assert _get(mixed_dp, "/chat/secret", host=MIX).status == 401 and raw.received() == b""
    assert _get(mixed_dp, "/chat/secret", host=MIX, headers=[("x-api-key", API_KEY)]).status == 200
    raw.settle()
    assert [q.target for q in raw.requests()] == ["/chat/secret"]


def test_per_proxy_decode_forwards_decoded(mixed_dp, raw, ngx):
    assert _get(mixed_dp, "/open%2fthing%5Cmore?q=%2F", host=MIX).status == 200
    _only(raw, _forwarded("/open/thing/more?q=%2F", MIX))
    raw.reset()
    # decoded out of /chat into / : the open proxy, which opted into decode, serves the decoded path
    assert _get(mixed_dp, "/chat/x%2F..%2F..%2Fopen/y", host=MIX).status == 200
    _only(raw, _forwarded("/open/y", MIX))
    raw.reset()
    assert _get(mixed_dp, "/open%252Fthing", host=MIX).status == 200  # no encoded slash: decoded never twice
    _only(raw, _forwarded("/open%252Fthing", MIX))
    before = len(ngx.settled_access_lines())
    assert _get(mixed_dp, "/open%2Fthing", host=NGX_MIX).body == b"open"
    assert _ngx_new(ngx, before) == [("GET /open/thing HTTP/1.1", "/open/thing")]


def test_per_proxy_keep_forwards_encoded(mixed_dp, raw, ngx):
    assert _get(mixed_dp, "/files/a%2fb?q=%2f", host=MIX).status == 200
    _only(raw, _forwarded("/files/a%2Fb?q=%2f", MIX))  # hex digits of the path upper-cased, nothing else
    raw.reset()
    assert _get(mixed_dp, "/files/a%2F..%2Fb", host=MIX).status == 200  # /files/b decoded: /files both ways
    _only(raw, _forwarded("/files/a%2F..%2Fb", MIX))
    raw.reset()
    assert _get(mixed_dp, "/files/%5Cx", host=MIX).status == 200
    _only(raw, _forwarded("/files/%5Cx", MIX))
    before = len(ngx.settled_access_lines())
    assert _get(mixed_dp, "/files/a%2Fb", host=NGX_MIX).status == 200
    assert _ngx_new(ngx, before) == [("GET /files/a%2Fb HTTP/1.1", "/files/a/b")]


@pytest.mark.parametrize("target", ["/x%2f..%2ffiles/a", "/%2ffiles/a", "/open/..%2ffiles/a", "/files%2fa"])
def test_per_proxy_keep_refuses_a_spelling_routed_elsewhere(mixed_dp, raw, target):
    """Decoded, these are under /files (keep); kept encoded they would be the open proxy's: refused."""
    r = _get(mixed_dp, target, host=MIX)
    assert r.status == 400 and _code(r) == "request.encoded_slash", (target, r.status, r.body)
    _only(raw, b"")


def test_per_proxy_reject_overrides_a_decoding_gateway(override_dp, raw):
    for target in ("/chat/a%2Fb", "/x%2f..%2fchat/secret", "/%2Fchat/secret", "/chat%2fsecret"):
        r = _get(override_dp, target, headers=[("x-api-key", API_KEY)])
        assert r.status == 400 and _code(r) == "request.encoded_slash", (target, r.status, r.body)
    _only(raw, b"")
    assert _get(override_dp, "/open%2Fthing").status == 200  # the gateway's decode for the open proxy
    _only(raw, _forwarded("/open/thing"))
