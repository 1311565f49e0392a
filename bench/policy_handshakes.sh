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
# TOLLGATE_BUILD (default build). The client is a small Python asyncio program written by this script (no
# WebSocket library: raw sockets), so the clients' CPU competes with the data plane's: compare the policies with
# each other, not with other machines. Needs python3 with `cryptography` (scripts/deps.sh) for the keys and tokens.
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

for bin in tollgate-dataplane tollgate-bench; do
  [ -x "$BUILD/$bin" ] || { echo "policy_handshakes: $BUILD/$bin is missing (make)" >&2; exit 1; }
done
TMP=$(mktemp -d /tmp/tg-bench-hs.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  [ "${BENCH_KEEP_TMP:-0}" = 1 ] || rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# ---- keys, tokens and the snapshot (Python: the `cryptography` package signs, as in the tests) ----------------
python3 - "$TMP" "$BACKEND_PORT" "$HOST" <<'PY' || exit 1
import base64, hashlib, json, sys, time
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

def proxy(name, policies):
    return {"id": f"bench/{name}", "environments": ["prod"], "basePath": f"/{name}", "stripBasePath": True,
            "maxRequestBodyBytes": 0,
            "target": {"pathPrefix": "", "endpoints": [{"address": "127.0.0.1", "port": backend_port}],
                       "tls": {"enabled": False, "serverName": "", "caPem": ""}, "connectTimeoutMs": 2000,
                       "timeoutMs": 10000, "loadBalancing": "roundRobin"},
            "websocket": {"enabled": True, "idleTimeoutMs": 0, "maxLifetimeMs": 0, "maxMessageBytes": 0},
            "policies": policies}

oauth = {"type": "oauthV2", "tokenFrom": ["header:authorization"],
         "jwt": {"issuer": "https://bench.issuer", "audiences": ["bench"], "algorithms": list(keys), "jwks": jwks},
         "introspection": None, "requiredScopes": ["chat:connect"], "revoked": []}
snap = {"version": 1, "generatedAt": "2026-01-01T00:00:00Z",
        "groups": [{"id": "bench/g", "hostnames": [host], "environments": ["prod"]}],
        "proxies": [proxy("none", []),
                    proxy("verifyApiKey", [{"type": "verifyApiKey", "keyFrom": ["header:x-api-key"],
                                            "keys": [{"id": "bench/key", "app": "bench",
                                                      "sha256": hashlib.sha256(api_key.encode()).hexdigest(),
                                                      "expiresAtMs": 0}]}]),
                    proxy("oauthV2", [oauth])]}
json.dump(snap, open(f"{tmp}/snapshot.json", "w"))
headers = {"none": [], "verifyApiKey": [["X-Api-Key", api_key]]}
for alg, k in keys.items():
    headers[f"oauthV2-{alg}"] = [["Authorization", "Bearer " + token(alg, k)]]
json.dump(headers, open(f"{tmp}/headers.json", "w"))
PY

cat >"$TMP/client.py" <<'PY'
# One client process: CONNS connections, each looping connect → upgrade → 101 → close until the deadline.
import asyncio, base64, json, os, sys, time

port, host, path, conns, duration = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
extra = "".join(f"{k}: {v}\r\n" for k, v in json.loads(sys.argv[6]))

async def worker(deadline, counts):
    while time.monotonic() < deadline:
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            key = base64.b64encode(os.urandom(16)).decode()
            w.write((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n").encode())
            head = await r.readuntil(b"\r\n\r\n")
            counts[0 if head.startswith(b"HTTP/1.1 101") else 1] += 1
            w.write(b"\x88\x82\x00\x00\x00\x00\x03\xe8")  # close 1000 (zero mask)
            w.close()
        except (OSError, asyncio.IncompleteReadError):
            counts[1] += 1

async def main():
    counts = [0, 0]
    deadline = time.monotonic() + duration
    await asyncio.gather(*(worker(deadline, counts) for _ in range(conns)))
    print(json.dumps({"ok": counts[0], "errors": counts[1]}))

asyncio.run(main())
PY

"$BUILD/tollgate-bench" backend --listen "127.0.0.1:$BACKEND_PORT" >"$TMP/backend.log" 2>&1 &
PIDS+=($!)
"$BUILD/tollgate-dataplane" --listen "127.0.0.1:$DP_PORT" --admin "127.0.0.1:$ADMIN_PORT" \
  --control-socket "$TMP/control.sock" --workers "$WORKERS" --snapshot "$TMP/snapshot.json" \
  --log-level warn >"$TMP/dataplane.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null || { echo "policy_handshakes: data plane not ready" >&2; cat "$TMP/dataplane.log" >&2; exit 1; }

declare -A RATE
for pol in $POLICIES; do
  hdrs=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))[sys.argv[2]]))' "$TMP/headers.json" "$pol") \
    || { echo "policy_handshakes: unknown policy $pol" >&2; exit 1; }
  path="/${pol%%-*}/ws"
  # warm-up (one second, not counted), then the measured run
  python3 "$TMP/client.py" "$DP_PORT" "$HOST" "$path" 4 1 "$hdrs" >/dev/null
  for p in $(seq "$PROCS"); do
    python3 "$TMP/client.py" "$DP_PORT" "$HOST" "$path" "$CONNS" "$DURATION" "$hdrs" >"$TMP/out-$pol-$p.json" &
  done
  wait $(jobs -p | grep -v -x -F "$(printf '%s\n' "${PIDS[@]}")") 2>/dev/null
  read -r ok err < <(python3 -c 'import json,sys
ok=err=0
for f in sys.argv[1:]:
    d=json.load(open(f)); ok+=d["ok"]; err+=d["errors"]
print(ok, err)' "$TMP"/out-"$pol"-*.json)
  rate=$(awk -v ok="$ok" -v d="$DURATION" 'BEGIN { printf "%.0f", ok / d }')
  RATE[$pol]=$rate
  echo "RESULT scenario=handshake policy=$pol handshakes_per_s=$rate errors=$err duration_s=$DURATION procs=$PROCS conns=$((PROCS * CONNS)) workers=$WORKERS"
done

base=${RATE[none]:-}
printf '\n%-16s %14s %10s\n' policy handshakes/s "vs none"
for pol in $POLICIES; do
  if [ -n "$base" ] && [ "$base" != 0 ]; then
    rel=$(awk -v a="${RATE[$pol]}" -v b="$base" 'BEGIN { printf "%.2f", a / b }')
  else
    rel=-
  fi
  printf '%-16s %14s %10s\n' "$pol" "${RATE[$pol]}" "$rel"
done
