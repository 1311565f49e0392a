#!/usr/bin/env bash
# bench/policy_handshakes.sh — WebSocket handshakes per second through the data plane with no policy, with
# verifyApiKey, and with oauthV2 verifying a JWT (RS256 2048-bit, ES256, EdDSA): the cost of the handshake-time
# authentication policies. One data plane (--workers BENCH_HS_WORKERS), one tollgate-bench backend, and
# BENCH_HS_PROCS client processes with BENCH_HS_CONNS connections each, every connection looping on
# connect → upgrade request (with the key or token) → 101 → close. Each policy gets the same duration.
#
# Prints one line per scenario, in the style of tollgate-bench:
#   RESULT scenario=handshake policy=none|verifyApiKey|oauthV2-RS256|oauthV2-ES256|oauthV2-EdDSA handshakes_per_s=N
#          errors=N
# and a small table. Knobs (environment): BENCH_HS_DURATION (s per policy, default 5), BENCH_HS_PROCS (default
# 2), BENCH_HS_CONNS (per process, default 32), BENCH_HS_WORKERS (default 1), BENCH_HS_POLICIES (default
# "none verifyApiKey oauthV2-RS256 oauthV2-ES256 oauthV2-EdDSA"), BENCH_PORT_BASE (default 18680),
# TOLLGATE_BUILD (default build). The client is a small Python asyncio program (bench/lib.sh; no WebSocket
# library: raw sockets), so the clients' CPU competes with the data plane's: compare the policies with each
# other, not with other machines. Needs python3 with `cryptography` (scripts/deps.sh) for the keys and tokens.
set -uo pipefail
cd "$(dirname "$0")/.."

BUILD=${TOLLGATE_BUILD:-build}
DURATION=${BENCH_HS_DURATION:-5}
PROCS=${BENCH_HS_PROCS:-2}
CONNS=${BENCH_HS_CONNS:-32}
WORKERS=${BENCH_HS_WORKERS:-1}
POLICIES=${BENCH_HS_POLICIES:-"none verifyApiKey oauthV2-RS256 oauthV2-ES256 oauthV2-EdDSA"}
PORT_BASE=${BENCH_PORT_BASE:-18680}
DP_PORT=$PORT_BASE ADMIN_PORT=$((PORT_BASE + 1)) BACKEND_PORT=$((PORT_BASE + 2))
HOST=bench.local

NAME=policy_handshakes
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_setup tg-bench-hs

# ---- keys, tokens and the snapshot (Python: the `cryptography` package signs, as in the tests) ----------------
PYTHONPATH="$TMP" python3 - "$TMP" "$BACKEND_PORT" "$HOST" <<'PY' || exit 1
import base64, hashlib, json, sys, time
from bench_snapshot import proxy, snapshot
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

tmp, backend_port, host = sys.argv[1], int(sys.argv[2]), sys.argv[3]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
ib = lambda n, l=None: n.to_bytes(l or (n.bit_length() + 7) // 8, "big")
keys = {"RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ES256": ec.generate_private_key(ec.SECP256R1()), "EdDSA": ed25519.Ed25519PrivateKey.generate()}

def jwk(alg, k):
    p = k.public_key()
    if alg == "RS256":
        n = p.public_numbers()
        return {"kty": "RSA", "kid": alg, "n": b64(ib(n.n)), "e": b64(ib(n.e))}
    if alg == "ES256":
        n = p.public_numbers()
        return {"kty": "EC", "kid": alg, "crv": "P-256", "x": b64(ib(n.x, 32)), "y": b64(ib(n.y, 32))}
    return {"kty": "OKP", "kid": alg, "crv": "Ed25519",
            "x": b64(p.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))}

def token(alg, k):
    h = b64(json.dumps({"alg": alg, "kid": alg, "typ": "JWT"}).encode())
    c = b64(json.dumps({"iss": "https://bench.issuer", "aud": "bench", "sub": "bench", "jti": alg,
                        "exp": int(time.time()) + 86400, "scope": "chat:connect"}).encode())
    data = f"{h}.{c}".encode()
    if alg == "RS256":
        sig = k.sign(data, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        r, s = utils.decode_dss_signature(k.sign(data, ec.ECDSA(hashes.SHA256())))
        sig = ib(r, 32) + ib(s, 32)
    else:
        sig = k.sign(data)
    return f"{h}.{c}.{b64(sig)}"

api_key = "bench-key-0123456789abcdef"
jwks = {"keys": [jwk(a, k) for a, k in keys.items()]}

oauth = {"type": "oauthV2", "tokenFrom": ["header:authorization"],
         "jwt": {"issuer": "https://bench.issuer", "audiences": ["bench"], "algorithms": list(keys), "jwks": jwks},
         "introspection": None, "requiredScopes": ["chat:connect"], "revoked": []}
snap = snapshot(host, [proxy("none", [], backend_port),
                       proxy("verifyApiKey", [{"type": "verifyApiKey", "keyFrom": ["header:x-api-key"],
                                               "keys": [{"id": "bench/key", "app": "bench",
                                                         "sha256": hashlib.sha256(api_key.encode()).hexdigest(),
                                                         "expiresAtMs": 0}]}], backend_port),
                       proxy("oauthV2", [oauth], backend_port)])
json.dump(snap, open(f"{tmp}/snapshot.json", "w"))
headers = {"none": [], "verifyApiKey": [["X-Api-Key", api_key]]}
for alg, k in keys.items():
    headers[f"oauthV2-{alg}"] = [["Authorization", "Bearer " + token(alg, k)]]
json.dump(headers, open(f"{tmp}/headers.json", "w"))
PY

bench_start

for pol in $POLICIES; do
  hdrs=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))[sys.argv[2]]))' "$TMP/headers.json" "$pol") \
    || { echo "policy_handshakes: unknown policy $pol" >&2; exit 1; }
  bench_measure "$pol" "/${pol%%-*}/ws" "$hdrs"
done
# shellcheck disable=SC2086
bench_table $POLICIES
