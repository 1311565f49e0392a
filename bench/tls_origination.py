"""bench/tls_origination.py — TLS origination figures (docs/tls.md): requests/s through one data-plane worker
(wrk -t1 -c8 -d6s, plain listener) to nginx backends: TLS with a new connection per request (nginx
keepalive_timeout 0) and session reuse (tickets on) vs forced full handshakes (tickets and cache off), the same over
plain HTTP, and pooled keep-alive connections over TLS and plain HTTP. Needs nginx and wrk.
    TOLLGATE_BUILD=build python3 bench/tls_origination.py"""
import os, subprocess, sys, tempfile
from pathlib import Path
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "integration"))
os.environ.setdefault("TOLLGATE_BUILD", str(REPO / "build"))
import tollgate_it as it
from tls_pki import Pki
d = Path(tempfile.mkdtemp(prefix="tg-bench-tlsorig-"))
pki = Pki(d / "pki"); be = pki.issue("backend", ["backend.tls.test"])
ports = {"resumed": it.free_port(), "full": it.free_port(), "plain": it.free_port(), "tlska": it.free_port(), "plainka": it.free_port()}
conf = d / "nginx.conf"
conf.write_text(f"""daemon off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 256; }}
http {{ access_log off; client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};
  keepalive_timeout 0;
  server {{ listen 127.0.0.1:{ports['resumed']} ssl; ssl_certificate {be.cert}; ssl_certificate_key {be.key};
    ssl_session_tickets on; location / {{ return 200 "reused=$ssl_session_reused\\n"; }} }}
  server {{ listen 127.0.0.1:{ports['full']} ssl; ssl_certificate {be.cert}; ssl_certificate_key {be.key};
    ssl_session_tickets off; ssl_session_cache off; location / {{ return 200 "reused=$ssl_session_reused\\n"; }} }}
  server {{ listen 127.0.0.1:{ports['plain']}; location / {{ return 200 "plain\\n"; }} }}
  server {{ listen 127.0.0.1:{ports['tlska']} ssl; ssl_certificate {be.cert}; ssl_certificate_key {be.key}; keepalive_timeout 60; keepalive_requests 100000;
    location / {{ return 200 "reused=$ssl_session_reused\\n"; }} }}
  server {{ listen 127.0.0.1:{ports['plainka']}; keepalive_timeout 60; keepalive_requests 100000; location / {{ return 200 "plain\\n"; }} }}
}}""")
ng = it.Proc("nginx", ["nginx", "-c", str(conf), "-p", str(d)], d)
for p in ports.values():
    it.wait_until(lambda: it.port_open(p), 10)
def tp(pid, base, port, tls):
    p = it.proxy(pid, base, [it.endpoint(port)], strip=False)
    if tls:
        p["target"]["tls"] = {"enabled": True, "serverName": "backend.tls.test", "caPem": pki.ca.cert_pem}
    return p
snap = it.snapshot(1, [it.group("b/g", [it.MAIN_HOST])], [tp("b/r", "/r", ports["resumed"], 1), tp("b/f", "/f", ports["full"], 1), tp("b/p", "/p", ports["plain"], 0), tp("b/k", "/k", ports["tlska"], 1), tp("b/q", "/q", ports["plainka"], 0)])
dp = it.Dataplane(d, "dp", workers=1).start(snap)
try:
    for name, path in (("plain", "/p"), ("resumed", "/r"), ("full", "/f"), ("plain-keepalive", "/q"), ("tls-keepalive", "/k")):
        out = subprocess.run(["wrk", "-t1", "-c8", "-d6s", "-H", f"Host: {it.MAIN_HOST}", f"http://127.0.0.1:{dp.port}{path}/x"], capture_output=True, text=True).stdout
        rps = [l for l in out.splitlines() if "Requests/sec" in l]
        lat = [l for l in out.splitlines() if "Latency" in l]
        errs = [l for l in out.splitlines() if "Non-2xx" in l or "errors" in l]
        print(f"{name:16} {rps[0].split()[-1] if rps else '?':>10} req/s  {lat[0].strip() if lat else ''}  {' '.join(errs)}")
    print("TLS failures:", dp.metrics().get("tollgate_upstream_tls_failures_total"))
finally:
    dp.stop(); ng.kill()
    import shutil
    shutil.rmtree(d, ignore_errors=True)
