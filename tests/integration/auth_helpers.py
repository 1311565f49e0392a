"""auth_helpers — what the authentication-policy tests (test_policy_auth*.py) need beyond tollgate_it:

  * keys and tokens: RSA / EC / Ed25519 keys from the `cryptography` package, their public JWKs, and a small JWS
    signer (compact serialization, RS/PS/ES/EdDSA, RFC 7515/7518/8037) — written here so the tests control every
    header and claim, including the malformed ones;
  * snapshot policy builders (docs/policy-auth.md) for verifyApiKey and oauthV2;
  * IntrospectionServer: a real RFC 7662 endpoint (HTTP, thread) whose answers the test flips per token, which
    records every request (Basic credentials, form fields) and can be made to fail (HTTP 500, or stopped);
  * JwksServer: a real HTTP endpoint serving a JWK Set the test can rotate, counting fetches;
  * Controller: build/tollgate-controller --source dir:PATH against a data plane's control socket (dir mode);
  * session helpers: wait_closed (the server's close of a WebSocket session) and echo (a session still relays).

Nothing here mocks the product: the data plane and controller binaries run for real and reach these servers
over loopback sockets.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.server
import json
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import websockets
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

import tollgate_it as it

ISSUER = "https://issuer.tollgate.test"
AUDIENCE = "chat-api"


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sha256_hex(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def _int_bytes(n: int, length: int | None = None) -> bytes:
    return n.to_bytes(length or (n.bit_length() + 7) // 8, "big")


class Key:
    """A signing key and its public JWK. kind: RSA, P-256, P-384, P-521, Ed25519."""

    _CURVES = {"P-256": (ec.SECP256R1, 32), "P-384": (ec.SECP384R1, 48), "P-521": (ec.SECP521R1, 66)}

    def __init__(self, kind: str = "RSA", kid: str | None = "k1", bits: int = 2048):
        self.kind = kind
        self.kid = kid
        if kind == "RSA":
            self.priv = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        elif kind in self._CURVES:
            self.priv = ec.generate_private_key(self._CURVES[kind][0]())
        elif kind == "Ed25519":
            self.priv = ed25519.Ed25519PrivateKey.generate()
        else:
            raise ValueError(kind)

    def jwk(self, **extra) -> dict:
        pub = self.priv.public_key()
        if self.kind == "RSA":
            n = pub.public_numbers()
            j = {"kty": "RSA", "n": b64u(_int_bytes(n.n)), "e": b64u(_int_bytes(n.e))}
        elif self.kind in self._CURVES:
            size = self._CURVES[self.kind][1]
            n = pub.public_numbers()
            j = {"kty": "EC", "crv": self.kind, "x": b64u(_int_bytes(n.x, size)), "y": b64u(_int_bytes(n.y, size))}
        else:
            raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            j = {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw)}
        if self.kid is not None:
            j["kid"] = self.kid
        j.update(extra)
        return j

    def sign(self, alg: str, data: bytes) -> bytes:
        h = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}.get(alg[-3:])
        if alg.startswith("RS"):
            return self.priv.sign(data, padding.PKCS1v15(), h)
        if alg.startswith("PS"):
            return self.priv.sign(data, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h)
        if alg.startswith("ES"):
            der = self.priv.sign(data, ec.ECDSA(h))
            r, s = utils.decode_dss_signature(der)
            size = self._CURVES[self.kind][1]
            return _int_bytes(r, size) + _int_bytes(s, size)
        if alg == "EdDSA":
            return self.priv.sign(data)
        raise ValueError(alg)


def jwks(*keys: Key) -> dict:
    return {"keys": [k.jwk() for k in keys]}


def make_jwt(key: Key | None, claims: dict | None = None, *, alg: str = "RS256", header: dict | None = None,
             exp_in: float | None = 300, raw_claims: bytes | None = None, hmac_secret: bytes | None = None,
             **claim_overrides) -> str:
    """A compact JWS. Defaults: iss ISSUER, aud AUDIENCE, sub "alice", exp now + exp_in, iat now, a random jti.
    claim_overrides set (or, with value None, remove) claims."""
    now = time.time()
    body: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": int(now),
                            "jti": b64u(hashlib.sha256(str(time.monotonic_ns()).encode()).digest()[:12])}
    if exp_in is not None:
        body["exp"] = int(now + exp_in) if float(exp_in).is_integer() else now + exp_in
    body.update(claims or {})
    for k, v in claim_overrides.items():
        if v is None:
            body.pop(k, None)
        else:
            body[k] = v
    hdr = {"alg": alg, "typ": "JWT"}
    if key is not None and key.kid is not None:
        hdr["kid"] = key.kid
    hdr.update(header or {})
    hdr = {k: v for k, v in hdr.items() if v is not None}
    signing_input = (b64u(json.dumps(hdr, separators=(",", ":")).encode()) + "." +
                     b64u(raw_claims if raw_claims is not None else json.dumps(body, separators=(",", ":")).encode()))
    if alg == "none":
        return it.credential(signing_input + ".")
    if alg.startswith("HS"):
        import hmac
        mac = hmac.new(hmac_secret or b"secret", signing_input.encode(),
                       {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg])
        return it.credential(signing_input + "." + b64u(mac.digest()))
    return it.credential(signing_input + "." + b64u(key.sign(alg, signing_input.encode())))


def jwt_claims(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


# ---------------------------------------------------------------------------------------------- snapshot builders

def api_key_entry(key: str, ident: str = "apis/key-1", app: str = "chat-client", expires_at_ms: int = 0) -> dict:
    return {"id": ident, "app": app, "sha256": sha256_hex(it.credential(key)), "expiresAtMs": expires_at_ms}


def verify_api_key_policy(keys: list[dict], key_from=("query:apikey", "header:x-api-key")) -> dict:
    return {"type": "verifyApiKey", "keyFrom": list(key_from), "keys": keys}


def oauth_policy(*, jwks_doc: dict | None = None, jwks_url: str | None = None, algorithms=("RS256", "ES256"),
                 audiences=(AUDIENCE,), issuer: str = ISSUER, introspection: dict | None = None,
                 token_from=("header:authorization", "query:access_token"), scopes=(), revoked=()) -> dict:
    jwt = None
    if jwks_doc is not None or jwks_url is not None:
        jwt = {"issuer": issuer, "audiences": list(audiences), "algorithms": list(algorithms)}
        if jwks_url is not None:
            jwt["jwksUrl"] = jwks_url
        else:
            jwt["jwks"] = jwks_doc
    return {"type": "oauthV2", "tokenFrom": list(token_from), "jwt": jwt, "introspection": introspection,
            "requiredScopes": list(scopes), "revoked": list(revoked)}


def introspection_cfg(url: str, client_id: str = "gateway", secret: str = "gw-secret", recheck_ms: int = 30000) -> dict:
    return {"url": url, "clientId": client_id, "clientSecret": it.credential(secret), "recheckIntervalMs": recheck_ms}


def auth_snapshot(version: int, proxies: list[dict]) -> dict:
    return it.snapshot(version, [it.group("it/main", [it.MAIN_HOST], ["prod"])], proxies)


def with_policies(px: dict, *policies: dict) -> dict:
    px["policies"] = list(policies)
    return px


# ---------------------------------------------------------------------------------------------- HTTP peers

class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 in a thread; subclasses set handler_class."""

    def __init__(self):
        self.httpd: http.server.ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None
        self.port = 0

    def start(self):
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                owner.handle(self, "GET", b"")

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                owner.handle(self, "POST", self.rfile.read(n))

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    @staticmethod
    def reply(h, status: int, body: bytes, ctype: str = "application/json"):
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class IntrospectionServer(_Server):
    """RFC 7662 endpoint at /introspect. tokens: token → answer dict (e.g. {"active": True, "scope": "chat"});
    unknown tokens answer {"active": false}. Clients must authenticate with HTTP Basic client_id:secret.
    fail_status: answer that status instead (500 → the gateway must say 503)."""

    def __init__(self, client_id: str = "gateway", secret: str = "gw-secret"):
        super().__init__()
        self.client_id, self.secret = client_id, secret
        self.tokens: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.fail_status: int | None = None
        self.delay = 0.0
        self.lock = threading.Lock()

    def set(self, token: str, answer: dict) -> None:
        with self.lock:
            self.tokens[token] = dict(answer)

    def count(self, token: str | None = None) -> int:
        with self.lock:
            return sum(1 for r in self.requests if token is None or r["form"].get("token") == [token])

    def handle(self, h, method, body):
        form = urllib.parse.parse_qs(body.decode(), keep_blank_values=True)
        auth = h.headers.get("Authorization", "")
        with self.lock:
            self.requests.append({"method": method, "path": h.path, "form": form, "auth": auth,
                                  "content_type": h.headers.get("Content-Type", "")})
            answer = dict(self.tokens.get(form.get("token", [""])[0], {"active": False}))
            fail = self.fail_status
        if self.delay:
            time.sleep(self.delay)
        want = "Basic " + base64.b64encode(f"{self.client_id}:{self.secret}".encode()).decode()
        if method != "POST" or h.path != "/introspect":
            return self.reply(h, 404, b"{}")
        if auth != want:
            return self.reply(h, 401, b'{"error":"invalid_client"}')
        if fail:
            return self.reply(h, fail, b'{"error":"server_error"}')
        self.reply(h, 200, json.dumps(answer).encode())


class JwksServer(_Server):
    """Serves self.doc at /jwks.json (status self.status); counts GETs."""

    def __init__(self, doc: dict):
        super().__init__()
        self.doc = doc
        self.status = 200
        self.fetches = 0

    def handle(self, h, method, body):
        self.fetches += 1
        if h.path != "/jwks.json":
            return self.reply(h, 404, b"{}")
        self.reply(h, self.status, json.dumps(self.doc).encode())


# ---------------------------------------------------------------------------------------------- the controller

class Controller:
    """tollgate-controller --source dir:PATH pushing to dp's control socket."""

    def __init__(self, run_dir: Path, manifests: Path, dp: it.Dataplane, name: str = "controller",
                 health: str = "off"):
        self.run_dir, self.manifests, self.dp, self.name = Path(run_dir), Path(manifests), dp, name
        self.health = health  # --health ADDR:PORT (/healthz, /readyz, /metrics) or "off"
        self.proc: it.Proc | None = None

    def start(self) -> "Controller":
        self.proc = it.dir_controller(self.name, self.manifests, self.dp.control_socket, self.run_dir,
                                      health=self.health, extra=["--log-level", "info"])
        return self

    def stop(self) -> int:
        return self.proc.stop() if self.proc else 0


def write_manifest(directory: Path, name: str, text: str) -> None:
    """Writes a manifest file atomically (rename), so the controller never reads half a file."""
    directory.mkdir(parents=True, exist_ok=True)
    it.write_atomic(directory / name, text)


async def wait_closed(ws, timeout: float) -> tuple[float, int | None, str | None]:
    """Waits for the server's close (each message within timeout s); returns (wall time it arrived, code, reason)."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except websockets.ConnectionClosed:
        pass
    rcvd = ws.close_rcvd
    return time.time(), rcvd.code if rcvd else None, rcvd.reason if rcvd else None


async def echo(ws, text: str, timeout: float = 3.0) -> None:
    """The session still relays: text comes back within timeout s."""
    await ws.send(text)
    assert await asyncio.wait_for(ws.recv(), timeout) == text
