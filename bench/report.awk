# bench/report.awk — turns bench/run.sh's results file (one "peer=NAME scenario=… label=… key=value …" line per
# measurement) into Markdown tables, one per scenario, each followed by the ratio of Tollgate to the better of
# nginx and HAProxy and whether the issue's target is met; beside each rate, the proxy's CPU time per relayed
# message or request (cpu_us_per_msg, from /proc, added by run.sh). Usage: awk -v peers="direct tollgate nginx
# haproxy" [-v plots=DIR] -f bench/report.awk results.txt. With plots=DIR it also writes the data the pictures
# are drawn from (bench/plots.sh): DIR/ratios.dat (one "figure ratio" line per ratio printed) and
# DIR/latency-LABEL.dat (per latency scenario, and per upgrade scenario for its connect-to-101 times: one line per
# percentile, one column per peer, medians of rounds).

BEGIN { NP = split(peers, P, " ") }

{
    delete kv
    for (i = 1; i <= NF; i++) {
        eq = index($i, "=")
        if (eq > 1) kv[substr($i, 1, eq - 1)] = substr($i, eq + 1)
    }
    p = kv["peer"]
    if ("skipped" in kv) { skipped[p] = 1; next }
    l = kv["label"]
    if ("failed" in kv) { failed[p, l]++; next }
    rounds[p, l]++
    for (k in kv) { n = ++CNT[p, l, k]; VALS[p, l, k, n] = kv[k]; KEYS[p, l, k] = 1 }
}

# Several rounds of one scenario against one peer: each figure is the median of the rounds (numbers) or the
# first value (words). A cell is "failed" only when no round succeeded.
function median(p, l, k,    n, i, j, t, a) {
    n = CNT[p, l, k]
    for (i = 1; i <= n; i++) {
        if (VALS[p, l, k, i] !~ /^-?[0-9.]+$/) return VALS[p, l, k, 1]
        a[i] = VALS[p, l, k, i] + 0
    }
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}

function aggregate(    key, parts) {
    for (key in KEYS) {
        split(key, parts, SUBSEP)
        V[parts[1], parts[2], parts[3]] = median(parts[1], parts[2], parts[3])
    }
    for (key in failed) if (key in rounds) delete failed[key]
}

function has(p, l, k) { return ((p, l, k) in V) }

function cell(p, l, k, fmt) {
    if (p in skipped) return "skipped"
    if ((p, l) in failed) return "failed"
    if (!has(p, l, k)) return "-"
    return sprintf(fmt, V[p, l, k])
}

# thousands separators for integers
function grp(x,    s, neg, out) {
    s = sprintf("%.0f", x); neg = ""
    if (substr(s, 1, 1) == "-") { neg = "-"; s = substr(s, 2) }
    out = ""
    while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
    return neg s out
}

function icell(p, l, k) {
    if (p in skipped) return "skipped"
    if ((p, l) in failed) return "failed"
    if (!has(p, l, k)) return "-"
    return grp(V[p, l, k])
}

function pretty(p) {
    return p == "tollgate" ? "Tollgate" : p == "nginx" ? "nginx" : p == "haproxy" ? "HAProxy" : p == "direct" ? "direct (no proxy)" : p
}

# best of nginx/HAProxy for metric k of label l; dir < 0: lower is better. "" when neither has it.
function best(l, k, dir,    b, q, cand) {
    b = ""
    split("nginx haproxy", cand, " ")
    for (q = 1; q <= 2; q++) {
        if (!has(cand[q], l, k)) continue
        if (b == "" || (dir < 0 ? V[cand[q], l, k] + 0 < b + 0 : V[cand[q], l, k] + 0 > b + 0)) { b = V[cand[q], l, k]; bestname = cand[q] }
    }
    return b
}

# min and max of the rounds of one figure, into LO and HI
function range(p, l, k,    i, v) {
    LO = HI = ""
    for (i = 1; i <= CNT[p, l, k]; i++) {
        v = VALS[p, l, k, i] + 0
        if (LO == "" || v < LO) LO = v
        if (HI == "" || v > HI) HI = v
    }
}

function ratio(l, k, dir, what,    t, b, r, ok, tlo, thi, noise) {
    b = best(l, k, dir)
    if (!has("tollgate", l, k) || b == "" || b + 0 == 0) {
        printf("- Tollgate ÷ better of nginx/HAProxy (%s): n/a (%s)\n", what,
               has("tollgate", l, k) ? "no nginx/HAProxy figure" : "no Tollgate figure")
        return
    }
    t = V["tollgate", l, k] + 0
    r = t / b
    ok = dir < 0 ? t <= b : t >= b
    noise = ""
    if (CNT["tollgate", l, k] > 1 && CNT[bestname, l, k] > 1) {
        range("tollgate", l, k); tlo = LO; thi = HI
        range(bestname, l, k)
        noise = sprintf("; rounds: Tollgate %s–%s, %s %s–%s%s", num(tlo), num(thi), pretty(bestname), num(LO), num(HI),
                        (tlo <= HI && LO <= thi) ? ", overlapping: within run-to-run noise" : "")
    }
    printf("- Tollgate ÷ better of nginx/HAProxy (%s, best: %s): **%.2f×** (%s is better) — target %s%s\n", what,
           pretty(bestname), r, dir < 0 ? "lower" : "higher", ok ? "met" : "**missed**", noise)
    if (plots != "") { # better-is-up for the bar chart: lower-is-better figures are inverted
        gsub(/ /, "_", what)
        printf("%s:%s %.4f\n", l, what, dir < 0 ? b / t : r) > (plots "/ratios.dat")
    }
}

# The percentile curve of one latency scenario for the plots: x = 1 / (1 - q), one column per peer; pre: the
# figures' key prefix ("hs_" for the upgrade scenarios' connect-to-101 times; missing percentiles are NaN).
function curve(l, pre,    q, i, keys, qs, line, f) {
    if (plots == "") return
    f = plots "/latency-" l ".dat"
    line = "# x"
    for (q = 1; q <= NP; q++) line = line " " P[q]
    print line > f
    split("p50_us p90_us p99_us p999_us p9999_us", keys, " ")
    split("2 10 100 1000 10000", qs, " ")
    for (i = 1; i <= 5; i++) {
        line = qs[i]
        for (q = 1; q <= NP; q++) line = line " " (has(P[q], l, pre keys[i]) ? V[P[q], l, pre keys[i]] : "NaN")
        print line > f
    }
    close(f)
}

function cpu_cell(p, l) {
    if (p == "direct") return "-"
    return cell(p, l, "cpu_us_per_msg", "%.2f")
}

function num(x) { return x >= 1000 ? grp(x) : sprintf("%.1f", x) }

# Markdown table from T[row, col] (row 0 = header), padded so it also reads well in a terminal.
function emit(nrows, ncols,    r, c, w, line) {
    for (c = 0; c < ncols; c++) { w[c] = 3; for (r = 0; r < nrows; r++) if (length(T[r, c]) > w[c]) w[c] = length(T[r, c]) }
    for (r = 0; r < nrows; r++) {
        line = "|"
        for (c = 0; c < ncols; c++) line = line sprintf(" %" (c == 0 ? "-" : "") w[c] "s |", T[r, c])
        print line
        if (r == 0) {
            line = "|"
            for (c = 0; c < ncols; c++) line = line " " (c == 0 ? ":" dashes(w[c] - 1) : dashes(w[c] - 1) ":") " |"
            print line
        }
    }
    delete T
    print ""
}

function dashes(n,    s) { s = ""; while (n-- > 0) s = s "-"; return s }

function nrounds(l,    q) {
    for (q = 1; q <= NP; q++) if ((P[q], l) in rounds) return rounds[P[q], l]
    return 0
}

function runs(l,    n) {
    n = nrounds(l)
    return n > 1 ? sprintf("median of %d rounds of %.1f s", n, param(l, "seconds")) : sprintf("%.1f s", param(l, "seconds"))
}

function param(l, k,    q) {
    for (q = 1; q <= NP; q++) if (has(P[q], l, k)) return V[P[q], l, k]
    return "?"
}

function added(p, l, k) {
    if (!has(p, l, k) || !has("direct", l, k) || p == "direct") return "-"
    return sprintf("%+.1f", V[p, l, k] - V["direct", l, k])
}

# 1 when some peer has a figure (or a failure) for the scenario: sections of scenarios not run are left out
function ran(l,    q) {
    for (q = 1; q <= NP; q++) if (((P[q], l) in rounds) || ((P[q], l) in failed)) return 1
    return 0
}

function latency_section(l, title,    q, n) {
    if (!ran(l)) return
    printf("### %s\n\n", title)
    printf("%s connection%s, each sending one %s-byte message and waiting for its echo (%s). Round-trip times in µs.\n\n",
           param(l, "conns"), param(l, "conns") == 1 ? "" : "s", param(l, "size"), runs(l))
    T[0, 0] = "peer"; T[0, 1] = "p50"; T[0, 2] = "p99"; T[0, 3] = "p99.9"; T[0, 4] = "added p50"; T[0, 5] = "added p99"; T[0, 6] = "round trips/s"
    T[0, 7] = "proxy CPU µs / message"
    n = 1
    for (q = 1; q <= NP; q++) {
        T[n, 0] = pretty(P[q]); T[n, 1] = cell(P[q], l, "p50_us", "%.1f"); T[n, 2] = cell(P[q], l, "p99_us", "%.1f")
        T[n, 3] = cell(P[q], l, "p999_us", "%.1f"); T[n, 4] = added(P[q], l, "p50_us"); T[n, 5] = added(P[q], l, "p99_us")
        T[n, 6] = icell(P[q], l, "msgs_per_s"); T[n, 7] = cpu_cell(P[q], l); n++
    }
    emit(n, 8)
    ratio(l, "p50_us", -1, "p50")
    ratio(l, "p99_us", -1, "p99")
    ratio(l, "cpu_us_per_msg", -1, "proxy CPU per message")
    curve(l, "")
    print ""
}

function throughput_section(l, title, unitkey, unitname, otherkey, othername,    q, n) {
    if (!ran(l)) return
    printf("### %s\n\n", title)
    printf("%s connections × %s messages in flight each, %s-byte messages echoed by the backend (%s). Counted on the way back (each message crosses the proxy twice).\n\n",
           param(l, "conns"), param(l, "window"), grp(param(l, "size")), runs(l))
    T[0, 0] = "peer"; T[0, 1] = unitname; T[0, 2] = othername; T[0, 3] = "proxy CPU µs / message"
    n = 1
    for (q = 1; q <= NP; q++) {
        T[n, 0] = pretty(P[q])
        T[n, 1] = unitkey == "mib_per_s" ? cell(P[q], l, unitkey, "%.1f") : icell(P[q], l, unitkey)
        T[n, 2] = otherkey == "mib_per_s" ? cell(P[q], l, otherkey, "%.1f") : icell(P[q], l, otherkey)
        T[n, 3] = cpu_cell(P[q], l)
        n++
    }
    emit(n, 4)
    ratio(l, unitkey, 1, unitname)
    ratio(l, "cpu_us_per_msg", -1, "proxy CPU per message")
    print ""
}

function idle_section(l,    q, n, t) {
    if (!ran(l)) return
    printf("### Idle WebSocket sessions: proxy memory per session\n\n")
    printf("%s sessions opened through the proxy, held idle; resident memory of the proxy's processes (VmRSS, summed over nginx's master and workers) read before opening and %s s after the last one opened.\n\n",
           grp(param(l, "sessions")), param(l, "settle_s"))
    T[0, 0] = "peer"; T[0, 1] = "sessions"; T[0, 2] = "RSS before (KiB)"; T[0, 3] = "RSS after (KiB)"; T[0, 4] = "bytes / session"; T[0, 5] = "open time (s)"
    n = 1
    for (q = 1; q <= NP; q++) {
        T[n, 0] = pretty(P[q]); T[n, 1] = icell(P[q], l, "sessions")
        if (P[q] == "direct") { T[n, 2] = "-"; T[n, 3] = "-"; T[n, 4] = "-" }
        else { T[n, 2] = icell(P[q], l, "rss_before_kib"); T[n, 3] = icell(P[q], l, "rss_after_kib"); T[n, 4] = icell(P[q], l, "bytes_per_session") }
        T[n, 5] = cell(P[q], l, "open_s", "%.2f"); n++
    }
    emit(n, 6)
    ratio(l, "bytes_per_session", -1, "bytes per idle session")
    if (has("tollgate", l, "bytes_per_session")) {
        t = V["tollgate", l, "bytes_per_session"] + 0
        printf("- Tollgate: %s bytes per idle relayed session — target ≤ 4 KiB %s; long-run goal 1 KiB %s\n",
               grp(t), t <= 4096 ? "met" : "**missed**", t <= 1024 ? "met" : "not yet")
    }
    print ""
}

function http_section(l,    q, n) {
    if (!ran(l)) return
    printf("### HTTP keep-alive requests/s (wrk)\n\n")
    printf("wrk, %s thread, %s keep-alive connections, GET of a 6-byte plain-text body (%s). Latency in µs.\n\n",
           param(l, "threads"), param(l, "conns"), runs(l))
    T[0, 0] = "peer"; T[0, 1] = "requests/s"; T[0, 2] = "p50"; T[0, 3] = "p99"; T[0, 4] = "errors"
    T[0, 5] = "proxy CPU µs / request"
    n = 1
    for (q = 1; q <= NP; q++) {
        T[n, 0] = pretty(P[q]); T[n, 1] = icell(P[q], l, "rps"); T[n, 2] = cell(P[q], l, "p50_us", "%.0f")
        T[n, 3] = cell(P[q], l, "p99_us", "%.0f"); T[n, 4] = icell(P[q], l, "errors"); T[n, 5] = cpu_cell(P[q], l); n++
    }
    emit(n, 6)
    ratio(l, "rps", 1, "requests/s")
    ratio(l, "cpu_us_per_msg", -1, "proxy CPU per request")
    print ""
}

function upgrade_section(l, title, note,    q, n) {
    if (!ran(l)) return
    printf("### %s\n\n", title)
    printf("%s connections, each looping connect → upgrade → 101 → close frame → close (%s)%s. Connect-to-101 time in µs.\n\n",
           param(l, "conns"), runs(l), note)
    T[0, 0] = "peer"; T[0, 1] = "upgrades/s"; T[0, 2] = "connect→101 p50"; T[0, 3] = "p99"; T[0, 4] = "p99.9"
    T[0, 5] = "proxy CPU µs / upgrade"
    n = 1
    for (q = 1; q <= NP; q++) {
        T[n, 0] = pretty(P[q]); T[n, 1] = icell(P[q], l, "msgs_per_s"); T[n, 2] = cell(P[q], l, "hs_p50_us", "%.0f")
        T[n, 3] = cell(P[q], l, "hs_p99_us", "%.0f"); T[n, 4] = cell(P[q], l, "hs_p999_us", "%.0f")
        T[n, 5] = cpu_cell(P[q], l); n++
    }
    emit(n, 6)
    ratio(l, "msgs_per_s", 1, "upgrades/s")
    ratio(l, "cpu_us_per_msg", -1, "proxy CPU per upgrade")
    curve(l, "hs_")
    print ""
}

END {
    aggregate()
    if (plots != "") printf("") > (plots "/ratios.dat")
    latency_section("lat1", "WebSocket echo round trip, 1 connection")
    latency_section("lat1same", "WebSocket echo round trip, 1 connection, proxy on the clients' CPU")
    latency_section("lat100", "WebSocket echo round trip, 100 connections")
    throughput_section("tput64", "64-byte message relay throughput", "msgs_per_s", "messages/s", "mib_per_s", "MiB/s")
    throughput_section("tput1m", "1 MiB message throughput", "mib_per_s", "MiB/s", "msgs_per_s", "messages/s")
    idle_section("idle")
    http_section("http")
    upgrade_section("upgrade", "WebSocket upgrades/s, no policy", "")
    upgrade_section("upgradekey", "WebSocket upgrades/s, Tollgate with verifyApiKey",
                    "; Tollgate checks an API key on every upgrade (`verifyApiKey`), nginx and HAProxy have no policy")
}
