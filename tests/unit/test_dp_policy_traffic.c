/* test_dp_policy_traffic.c — the traffic policies' building blocks and their verdicts: strict IPv4/IPv6 and
 * CIDR parsing and matching, the client address behind trusted proxies (X-Forwarded-For), CORS origins and
 * wildcard patterns, rates and spike-arrest intervals, fixed-window arithmetic, the process-wide counters
 * (window roll-over, spike admission, bounded size), identifiers, header-edit rules, HOST:PORT — and each
 * policy compiled from snapshot JSON and run through the real pipeline on parsed requests (quota local
 * counting and its headers, spikeArrest, cors preflight/actual/upgrade, accessControl with XFF, assignMessage). */
#include "cors_origin.h"
#include "duration.h"
#include "header_rules.h"
#include "host_port.h"
#include "ip_cidr.h"
#include "policy/traffic/local_counters.h"
#include "policy/policy.h"
#include "rate_identifier.h"
#include "policy/traffic/rate_limit.h"
#include "config/snapshot.h"
#include "policy/traffic/traffic_identifier.h"
#include "tg_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- addresses and CIDRs -------------------------------------------------------------------------------- */

static int ip_ok(const char *s)
{
    struct tg_ip ip;
    return tg_ip_parse(s, strlen(s), &ip) == 0;
}

static int cidr_ok(const char *s)
{
    struct tg_cidr c;
    const char *why = NULL;
    return tg_cidr_parse(s, &c, &why) == 0;
}

static int in_cidr(const char *cidr, const char *ip)
{
    struct tg_cidr c;
    struct tg_ip a;
    const char *why = NULL;
    if (tg_cidr_parse(cidr, &c, &why) < 0 || tg_ip_parse(ip, strlen(ip), &a) < 0)
        return -1;
    return tg_cidr_match(&c, &a);
}

static void test_ip_parse(void)
{
    CHECK(ip_ok("0.0.0.0"));
    CHECK(ip_ok("255.255.255.255"));
    CHECK(ip_ok("10.1.2.3"));
    CHECK(!ip_ok("256.1.1.1"));
    CHECK(!ip_ok("010.1.1.1"));   /* leading zero: octal in some parsers, refused */
    CHECK(!ip_ok("1.2.3"));
    CHECK(!ip_ok("1.2.3.4.5"));
    CHECK(!ip_ok("1.2.3.4 "));
    CHECK(!ip_ok(" 1.2.3.4"));
    CHECK(!ip_ok("1.2.3.-4"));
    CHECK(!ip_ok("0x7f.0.0.1"));
    CHECK(!ip_ok("2130706433"));  /* integer form of 127.0.0.1 */
    CHECK(!ip_ok(""));
    CHECK(ip_ok("::"));
    CHECK(ip_ok("::1"));
    CHECK(ip_ok("2001:db8::8a2e:370:7334"));
    CHECK(ip_ok("2001:DB8::1"));
    CHECK(ip_ok("::ffff:192.0.2.1"));
    CHECK(!ip_ok("fe80::1%eth0")); /* zone ids */
    CHECK(!ip_ok("[::1]"));
    CHECK(!ip_ok("2001:db8::1::2"));
    CHECK(!ip_ok("::ffff:192.0.02.1"));
    CHECK(!ip_ok("12345::"));
    /* v4-mapped IPv6 is the IPv4 address */
    struct tg_ip a;
    CHECK(tg_ip_parse("::ffff:10.0.0.1", 15, &a) == 0);
    CHECK_EQ_INT(a.family, 4);
    char text[TG_IP_TEXT_MAX];
    tg_ip_format(&a, text);
    CHECK_EQ_STR(text, "10.0.0.1");
    CHECK(tg_ip_parse("2001:0db8:0:0::1", 16, &a) == 0);
    tg_ip_format(&a, text);
    CHECK_EQ_STR(text, "2001:db8::1");
}

static void test_cidr(void)
{
    CHECK(cidr_ok("10.0.0.0/8"));
    CHECK(cidr_ok("0.0.0.0/0"));
    CHECK(cidr_ok("192.0.2.7"));
    CHECK(cidr_ok("192.0.2.7/32"));
    CHECK(cidr_ok("2001:db8::/32"));
    CHECK(cidr_ok("::/0"));
    CHECK(cidr_ok("::1/128"));
    CHECK(cidr_ok("::ffff:10.0.0.0/104"));   /* = 10.0.0.0/8 */
    CHECK(!cidr_ok("10.0.0.1/8"));           /* host bits */
    CHECK(!cidr_ok("10.0.0.0/33"));
    CHECK(!cidr_ok("10.0.0.0/08"));
    CHECK(!cidr_ok("10.0.0.0/"));
    CHECK(!cidr_ok("10.0.0.0/-1"));
    CHECK(!cidr_ok("10.0.0.0/8/8"));
    CHECK(!cidr_ok("2001:db8::/129"));
    CHECK(!cidr_ok("2001:db8::1/32"));
    CHECK(!cidr_ok("::ffff:10.0.0.0/80"));   /* covers the mapping prefix only partly */
    CHECK(!cidr_ok("10.0.0.0 /8"));
    CHECK(!cidr_ok("example.com/8"));
    CHECK_EQ_INT(in_cidr("10.0.0.0/8", "10.255.1.2"), 1);
    CHECK_EQ_INT(in_cidr("10.0.0.0/8", "11.0.0.1"), 0);
    CHECK_EQ_INT(in_cidr("10.128.0.0/9", "10.127.255.255"), 0);
    CHECK_EQ_INT(in_cidr("10.128.0.0/9", "10.128.0.0"), 1);
    CHECK_EQ_INT(in_cidr("192.0.2.7", "192.0.2.7"), 1);
    CHECK_EQ_INT(in_cidr("192.0.2.7", "192.0.2.8"), 0);
    CHECK_EQ_INT(in_cidr("0.0.0.0/0", "203.0.113.9"), 1);
    CHECK_EQ_INT(in_cidr("0.0.0.0/0", "2001:db8::1"), 0);  /* families never mix */
    CHECK_EQ_INT(in_cidr("::/0", "2001:db8::1"), 1);
    CHECK_EQ_INT(in_cidr("::/0", "10.0.0.1"), 0);
    CHECK_EQ_INT(in_cidr("::/0", "::ffff:10.0.0.1"), 0);  /* a mapped peer is IPv4 */
    CHECK_EQ_INT(in_cidr("10.0.0.0/8", "::ffff:10.0.0.1"), 1);
    CHECK_EQ_INT(in_cidr("::ffff:10.0.0.0/104", "10.9.9.9"), 1);
    CHECK_EQ_INT(in_cidr("2001:db8::/33", "2001:db8:7fff::1"), 1);
    CHECK_EQ_INT(in_cidr("2001:db8::/33", "2001:db8:8000::1"), 0);
    CHECK_EQ_INT(in_cidr("2001:db8::/127", "2001:db8::1"), 1);
    CHECK_EQ_INT(in_cidr("2001:db8::/127", "2001:db8::2"), 0);
}

/* The client behind trusted proxies; xff: the X-Forwarded-For fields. */
static const char *client_of(const char *peer, const char *trusted_csv, const char *const *xff, size_t n,
                             enum tg_xff_result *res)
{
    static char out[TG_IP_TEXT_MAX];
    struct tg_cidr trusted[8];
    size_t nt = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", trusted_csv);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        const char *why;
        if (tg_cidr_parse(t, &trusted[nt], &why) == 0)
            nt++;
    }
    struct tg_ip p, c;
    tg_ip_parse(peer, strlen(peer), &p);
    size_t lens[8];
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(xff[i]);
    *res = tg_client_address(&p, trusted, nt, xff, lens, n, &c);
    tg_ip_format(&c, out);
    return out;
}

static void test_xff(void)
{
    enum tg_xff_result r;
    const char *one[] = {"203.0.113.9"};
    /* untrusted peer: XFF ignored */
    CHECK_EQ_STR(client_of("198.51.100.1", "10.0.0.0/8", one, 1, &r), "198.51.100.1");
    CHECK_EQ_INT(r, TG_XFF_PEER);
    /* trusted peer: the right-most entry */
    CHECK_EQ_STR(client_of("10.0.0.5", "10.0.0.0/8", one, 1, &r), "203.0.113.9");
    CHECK_EQ_INT(r, TG_XFF_FORWARDED);
    /* spoofed left part is skipped: the right-most untrusted wins */
    const char *chain[] = {"1.1.1.1, 203.0.113.9, 10.0.0.7"};
    CHECK_EQ_STR(client_of("10.0.0.5", "10.0.0.0/8", chain, 1, &r), "203.0.113.9");
    /* several fields are one list, in order */
    const char *fields[] = {"1.1.1.1", "203.0.113.9", "10.0.0.7,10.0.0.8"};
    CHECK_EQ_STR(client_of("10.0.0.5", "10.0.0.0/8", fields, 3, &r), "203.0.113.9");
    /* all trusted: the left-most */
    const char *all[] = {"10.0.0.1, 10.0.0.2"};
    CHECK_EQ_STR(client_of("10.0.0.5", "10.0.0.0/8", all, 1, &r), "10.0.0.1");
    CHECK_EQ_INT(r, TG_XFF_FORWARDED);
    /* no XFF from a trusted peer: the peer */
    CHECK_EQ_STR(client_of("10.0.0.5", "10.0.0.0/8", NULL, 0, &r), "10.0.0.5");
    CHECK_EQ_INT(r, TG_XFF_PEER);
    /* ports and brackets, OWS, empty elements */
    const char *ported[] = {" , [2001:db8::9]:443 ,  203.0.113.9:8080 , "};
    CHECK_EQ_STR(client_of("10.0.0.5", "10.0.0.0/8", ported, 1, &r), "203.0.113.9");
    const char *v6[] = {"[2001:db8::9]:443"};
    CHECK_EQ_STR(client_of("::1", "::1/128", v6, 1, &r), "2001:db8::9");
    /* garbage where the walk reaches it: malformed (fail closed) */
    const char *bad[] = {"203.0.113.9, garbage"};
    client_of("10.0.0.5", "10.0.0.0/8", bad, 1, &r);
    CHECK_EQ_INT(r, TG_XFF_MALFORMED);
    /* garbage left of the client is never read */
    const char *bad_left[] = {"garbage, 203.0.113.9"};
    CHECK_EQ_STR(client_of("10.0.0.5", "10.0.0.0/8", bad_left, 1, &r), "203.0.113.9");
    const char *unknown[] = {"unknown"};
    client_of("10.0.0.5", "10.0.0.0/8", unknown, 1, &r);
    CHECK_EQ_INT(r, TG_XFF_MALFORMED);
    const char *v4port_bad[] = {"203.0.113.9:"};
    client_of("10.0.0.5", "10.0.0.0/8", v4port_bad, 1, &r);
    CHECK_EQ_INT(r, TG_XFF_MALFORMED);
}

/* ---- CORS origins ----------------------------------------------------------------------------------------- */

static int origin_match(const char *pattern, const char *origin)
{
    struct tg_origin_pattern p;
    const char *why = NULL;
    if (tg_origin_pattern_parse(pattern, &p, &why) < 0)
        return -1;
    return tg_origin_pattern_match(&p, origin, strlen(origin));
}

static void test_origins(void)
{
    struct tg_origin_pattern p;
    const char *why = NULL;
    CHECK(tg_origin_pattern_parse("*", &p, &why) == 0 && p.any);
    CHECK(tg_origin_pattern_parse("https://app.example.com", &p, &why) == 0);
    CHECK(tg_origin_pattern_parse("http://127.0.0.1:8080", &p, &why) == 0);
    CHECK(tg_origin_pattern_parse("https://[2001:db8::1]", &p, &why) == 0);
    CHECK(tg_origin_pattern_parse("https://*.example.com", &p, &why) == 0 && p.wildcard);
    CHECK(tg_origin_pattern_parse("https://*.example.com:8443", &p, &why) == 0);
    CHECK(tg_origin_pattern_parse("https://app.example.com/", &p, &why) < 0);
    CHECK(tg_origin_pattern_parse("https://user@app.example.com", &p, &why) < 0);
    CHECK(tg_origin_pattern_parse("ftp://app.example.com", &p, &why) < 0);
    CHECK(tg_origin_pattern_parse("app.example.com", &p, &why) < 0);
    CHECK(tg_origin_pattern_parse("https://*.com", &p, &why) < 0);
    CHECK(tg_origin_pattern_parse("https://a.*.example.com", &p, &why) < 0);
    CHECK(tg_origin_pattern_parse("https://*example.com", &p, &why) < 0);
    CHECK(tg_origin_pattern_parse("https://**.example.com", &p, &why) < 0);
    CHECK(tg_origin_pattern_parse("https://app.example.com:0", &p, &why) < 0);
    CHECK(tg_origin_pattern_parse("https://app.example.com:65536", &p, &why) < 0);
    CHECK(tg_origin_pattern_parse("https://-app.example.com", &p, &why) < 0);
    CHECK(tg_origin_pattern_parse("https://app..example.com", &p, &why) < 0);

    CHECK_EQ_INT(origin_match("https://app.example.com", "https://app.example.com"), 1);
    CHECK_EQ_INT(origin_match("https://app.example.com", "HTTPS://App.Example.COM"), 1);
    CHECK_EQ_INT(origin_match("https://app.example.com", "http://app.example.com"), 0);
    CHECK_EQ_INT(origin_match("https://app.example.com", "https://app.example.com:8443"), 0);
    CHECK_EQ_INT(origin_match("https://app.example.com", "https://app.example.com:443"), 1); /* default port */
    CHECK_EQ_INT(origin_match("https://app.example.com:443", "https://app.example.com"), 1);
    CHECK_EQ_INT(origin_match("https://app.example.com", "https://app.example.com.evil.net"), 0);
    CHECK_EQ_INT(origin_match("https://app.example.com", "https://evilapp.example.com"), 0);
    CHECK_EQ_INT(origin_match("https://app.example.com", "null"), 0);
    CHECK_EQ_INT(origin_match("https://*.example.com", "https://a.example.com"), 1);
    CHECK_EQ_INT(origin_match("https://*.example.com", "https://a.b.example.com"), 1);
    CHECK_EQ_INT(origin_match("https://*.example.com", "https://example.com"), 0);
    CHECK_EQ_INT(origin_match("https://*.example.com", "https://.example.com"), 0);
    CHECK_EQ_INT(origin_match("https://*.example.com", "https://evilexample.com"), 0);
    CHECK_EQ_INT(origin_match("https://*.example.com", "https://a.example.com.evil.net"), 0);
    CHECK_EQ_INT(origin_match("https://*.example.com", "http://a.example.com"), 0);
    CHECK_EQ_INT(origin_match("https://*.example.com", "https://a.example.com:8443"), 0);
    CHECK_EQ_INT(origin_match("https://*.example.com:8443", "https://a.example.com:8443"), 1);
    CHECK_EQ_INT(origin_match("*", "null"), 1);
    CHECK_EQ_INT(origin_match("*", "https://anything.test"), 1);
    CHECK_EQ_INT(origin_match("http://[::1]:3000", "http://[::1]:3000"), 1);
}

/* ---- rates, windows, counters ------------------------------------------------------------------------------- */

static void test_rates_and_windows(void)
{
    uint64_t count, per;
    const char *why;
    CHECK(tg_rate_parse("10ps", &count, &per, &why) == 0 && count == 10 && per == 1000);
    CHECK(tg_rate_parse("600pm", &count, &per, &why) == 0 && count == 600 && per == 60000);
    CHECK(tg_rate_parse("0ps", &count, &per, &why) < 0);
    CHECK(tg_rate_parse("10ph", &count, &per, &why) < 0);
    CHECK(tg_rate_parse("ps", &count, &per, &why) < 0);
    CHECK(tg_rate_parse("-1ps", &count, &per, &why) < 0);
    CHECK(tg_rate_parse("99999999999ps", &count, &per, &why) < 0);
    CHECK_EQ_INT(tg_spike_interval_us(10, 1000), 100000);   /* 10ps: one per 100 ms */
    CHECK_EQ_INT(tg_spike_interval_us(600, 60000), 100000); /* 600pm: the same */
    CHECK_EQ_INT(tg_spike_interval_us(7, 1000), 142857);
    CHECK_EQ_INT(tg_spike_interval_us(1, 60000), 60000000);
    CHECK_EQ_INT(tg_spike_interval_us(4000000000u, 1000), 1); /* never 0 */

    uint64_t next = 0, wait = 0;
    CHECK(tg_spike_admit(&next, 1000000, 100000, &wait) == 1);
    CHECK_EQ_INT(next, 1100000);
    CHECK(tg_spike_admit(&next, 1050000, 100000, &wait) == 0);
    CHECK_EQ_INT(wait, 50000);
    CHECK_EQ_INT(next, 1100000); /* a refusal does not push the next admission back */
    CHECK(tg_spike_admit(&next, 1100000, 100000, &wait) == 1);

    /* fixed windows aligned to the epoch */
    struct tg_window w = tg_window_at(1800000012345ULL, 60000);
    CHECK_EQ_INT(w.start_ms, 1800000000000ULL);
    CHECK_EQ_INT(w.end_ms, 1800000060000ULL);
    CHECK_EQ_INT(tg_window_reset_s(&w, 1800000012345ULL), 48); /* 47.655 s → 48 */
    w = tg_window_at(3600000, 3600000);
    CHECK_EQ_INT(w.start_ms, 3600000);
    CHECK_EQ_INT(w.end_ms, 7200000);
    w = tg_window_at(7199999, 3600000);
    CHECK_EQ_INT(w.start_ms, 3600000);
    CHECK_EQ_INT(tg_window_reset_s(&w, 7199999), 1);
    CHECK_EQ_INT(tg_window_reset_s(&w, 7200000), 0);
    CHECK_EQ_INT(tg_retry_after_s(0), 1);
    CHECK_EQ_INT(tg_retry_after_s(1), 1);
    CHECK_EQ_INT(tg_retry_after_s(1000), 1);
    CHECK_EQ_INT(tg_retry_after_s(1001), 2);
    CHECK_EQ_INT(tg_retry_after_s(59001), 60);
}

static void key_of(const char *s, uint8_t key[TG_COUNTER_KEY_LEN])
{
    /* any 16 well-spread bytes do: a tiny FNV mix of s (the policies use SHA-256) */
    uint64_t h1 = 1469598103934665603ULL, h2 = 0x9e3779b97f4a7c15ULL;
    for (const char *p = s; *p; p++) {
        h1 = (h1 ^ (uint8_t)*p) * 1099511628211ULL;
        h2 = (h2 ^ h1) * 0xff51afd7ed558ccdULL;
    }
    memcpy(key, &h1, 8);
    memcpy(key + 8, &h2, 8);
}

static void test_local_counters(void)
{
    uint8_t a[16], b[16];
    key_of("quota-a", a);
    key_of("quota-b", b);
    CHECK_EQ_INT(tg_local_quota_incr(a, 60000, 1000), 1);
    CHECK_EQ_INT(tg_local_quota_incr(a, 60000, 2000), 2);
    CHECK_EQ_INT(tg_local_quota_incr(b, 60000, 2000), 1);
    CHECK_EQ_INT(tg_local_quota_incr(a, 60000, 59999), 3);
    CHECK_EQ_INT(tg_local_quota_incr(a, 120000, 60000), 1); /* the next window starts over */
    CHECK_EQ_INT(tg_local_quota_incr(a, 120000, 60001), 2);

    uint64_t wait;
    uint8_t s[16];
    key_of("spike", s);
    CHECK(tg_local_spike_admit(s, 10000000, 100000, &wait) == 1);
    CHECK(tg_local_spike_admit(s, 10050000, 100000, &wait) == 0 && wait == 50000);
    CHECK(tg_local_spike_admit(s, 10099999, 100000, &wait) == 0 && wait == 1);
    CHECK(tg_local_spike_admit(s, 10100000, 100000, &wait) == 1);

    /* bounded: a flood of distinct identifiers never holds more than the shards' cap, and a live entry that was
     * not evicted keeps counting */
    size_t before = tg_local_quota_entries();
    for (int i = 0; i < TG_COUNTER_SHARDS * TG_COUNTER_SHARD_MAX + 5000; i++) {
        char name[32];
        snprintf(name, sizeof name, "flood-%d", i);
        uint8_t k[16];
        key_of(name, k);
        tg_local_quota_incr(k, 10000000 + (uint64_t)i, 5000);
    }
    size_t after = tg_local_quota_entries();
    CHECK(after <= (size_t)TG_COUNTER_SHARDS * TG_COUNTER_SHARD_MAX);
    CHECK(after > before);
    /* expired entries are swept first: with the clock past every window, new keys reuse the room */
    for (int i = 0; i < 1000; i++) {
        char name[32];
        snprintf(name, sizeof name, "late-%d", i);
        uint8_t k[16];
        key_of(name, k);
        CHECK_EQ_INT(tg_local_quota_incr(k, 99000000000ULL, 90000000000ULL), 1);
    }
    CHECK(tg_local_quota_entries() <= (size_t)TG_COUNTER_SHARDS * TG_COUNTER_SHARD_MAX);
}

/* ---- identifiers, header rules, HOST:PORT ---------------------------------------------------------------------- */

static void test_identifiers_and_rules(void)
{
    struct tg_identifier id;
    char err[160], buf[300];
    CHECK(tg_identifier_parse(NULL, &id, err, sizeof err) == 0 && id.kind == TG_IDENT_ALL);
    CHECK(tg_identifier_parse("apikey", &id, err, sizeof err) == 0 && id.kind == TG_IDENT_APIKEY);
    CHECK(tg_identifier_parse("client_ip", &id, err, sizeof err) == 0 && id.kind == TG_IDENT_CLIENT_IP);
    CHECK(tg_identifier_parse("claim:sub", &id, err, sizeof err) == 0 && id.kind == TG_IDENT_CLAIM);
    CHECK(tg_identifier_parse("jwt:tenant", &id, err, sizeof err) == 0 && id.kind == TG_IDENT_CLAIM);
    CHECK_EQ_STR(tg_identifier_canonical(&id, buf, sizeof buf), "claim:tenant");
    CHECK(tg_identifier_parse("header:x-user", &id, err, sizeof err) == 0 && id.kind == TG_IDENT_HEADER);
    CHECK(tg_identifier_parse("header:", &id, err, sizeof err) < 0);
    CHECK(tg_identifier_parse("header:x user", &id, err, sizeof err) < 0);
    CHECK(tg_identifier_parse("cookie:sid", &id, err, sizeof err) < 0);
    CHECK(tg_identifier_parse("APIKEY", &id, err, sizeof err) < 0);

    CHECK(tg_header_edit_name_check("x-env", 1) == NULL);
    CHECK(tg_header_edit_name_check("Host", 1) != NULL);
    CHECK(tg_header_edit_name_check("Host", 0) == NULL);
    CHECK(tg_header_edit_name_check("Transfer-Encoding", 0) != NULL);
    CHECK(tg_header_edit_name_check("connection", 1) != NULL);
    CHECK(tg_header_edit_name_check("Sec-WebSocket-Accept", 0) != NULL);
    CHECK(tg_header_edit_name_check("x env", 1) != NULL);
    CHECK(tg_header_edit_name_check("x:a", 1) != NULL);
    CHECK(tg_header_edit_name_check("", 1) != NULL);
    CHECK(tg_header_edit_name_check("a123456789012345678901234567890123456789012345678901234567890123", 1) != NULL);
    CHECK(tg_header_edit_value_check("prod", 4) == NULL);
    CHECK(tg_header_edit_value_check("a\tb", 3) == NULL);
    CHECK(tg_header_edit_value_check("a\r\nSet-Cookie: x", 16) != NULL);
    CHECK(tg_header_edit_value_check("a\0b", 3) != NULL);
    CHECK(tg_header_edit_value_check("\x7f", 1) != NULL);
    CHECK(tg_header_edit_value_check(" a", 2) != NULL);
    CHECK(tg_header_edit_value_check("caf\xc3\xa9", 5) == NULL); /* obs-text */

    char host[TG_HOST_MAX + 1];
    uint16_t port;
    const char *why;
    CHECK(tg_host_port_parse("redis:6379", host, &port, &why) == 0 && port == 6379 && strcmp(host, "redis") == 0);
    CHECK(tg_host_port_parse("redis.apis.svc.cluster.local:1", host, &port, &why) == 0);
    CHECK(tg_host_port_parse("127.0.0.1:6379", host, &port, &why) == 0);
    CHECK(tg_host_port_parse("[::1]:6380", host, &port, &why) == 0 && strcmp(host, "::1") == 0);
    CHECK(tg_host_port_parse("::1:6379", host, &port, &why) < 0);
    CHECK(tg_host_port_parse("redis", host, &port, &why) < 0);
    CHECK(tg_host_port_parse("redis:0", host, &port, &why) < 0);
    CHECK(tg_host_port_parse("redis:65536", host, &port, &why) < 0);
    CHECK(tg_host_port_parse("redis:06379", host, &port, &why) < 0);
    CHECK(tg_host_port_parse("-redis:6379", host, &port, &why) < 0);
    CHECK(tg_host_port_parse("re dis:6379", host, &port, &why) < 0);
    CHECK(tg_host_port_parse("[nothex]:6379", host, &port, &why) < 0);
}

static void test_claims(void)
{
    struct tg_policy_ctx *ctx = calloc(1, sizeof *ctx);
    char v[64];
    CHECK(tg_policy_claim(ctx, "sub", v, sizeof v) < 0);
    ctx->credential.kind = TG_CRED_JWT;
    snprintf(ctx->credential.subject, sizeof ctx->credential.subject, "alice");
    CHECK_EQ_INT(tg_policy_claim(ctx, "sub", v, sizeof v), 5); /* fallback before claims are recorded */
    CHECK_EQ_STR(v, "alice");
    json_t *claims = json_pack("{s:s,s:I,s:b,s:[s],s:f,s:s}", "sub", "bob", "n", (json_int_t)42, "admin", 1, "aud",
                               "x", "r", 1.5, "tenant", "acme");
    tg_policy_set_claims(ctx, claims);
    json_decref(claims);
    CHECK_EQ_INT(tg_policy_claim(ctx, "sub", v, sizeof v), 3);
    CHECK_EQ_STR(v, "bob");
    CHECK(tg_policy_claim(ctx, "n", v, sizeof v) == 2 && strcmp(v, "42") == 0);
    CHECK(tg_policy_claim(ctx, "admin", v, sizeof v) == 4 && strcmp(v, "true") == 0);
    CHECK(tg_policy_claim(ctx, "tenant", v, sizeof v) == 4 && strcmp(v, "acme") == 0);
    CHECK(tg_policy_claim(ctx, "aud", v, sizeof v) < 0); /* arrays are left out */
    CHECK(tg_policy_claim(ctx, "r", v, sizeof v) < 0);
    CHECK(tg_policy_claim(ctx, "tenant", v, 4) < 0);      /* does not fit */
    /* a claim that does not fit the buffer is left out, the others stay */
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    claims = json_pack("{s:s,s:s}", "big", big, "small", "ok");
    tg_policy_set_claims(ctx, claims);
    json_decref(claims);
    CHECK(tg_policy_claim(ctx, "big", v, sizeof v) < 0);
    CHECK(tg_policy_claim(ctx, "small", v, sizeof v) == 2);
    free(ctx);
}

/* ---- policies through the pipeline ------------------------------------------------------------------------------ */

struct run {
    char raw[4096];
    struct tg_http_head head;
    struct tg_compiled_policy policies[4];
    struct tg_proxy_cfg proxy;
    struct tg_policy_ctx ctx;
    int finished;
};

static void on_done(struct tg_policy_ctx *ctx, void *arg)
{
    (void)ctx;
    ((struct run *)arg)->finished = 1;
}

static void *compile(const char *type, const char *json, char *err, size_t err_size)
{
    json_error_t je;
    json_t *spec = json_loads(json, 0, &je);
    int failed = 0;
    err[0] = '\0';
    void *st = tg_policy_type_find(type)->compile(spec, err, err_size, &failed);
    json_decref(spec);
    return failed ? (void *)-1 : st;
}

static int compiles(const char *type, const char *json)
{
    char err[256];
    void *st = compile(type, json, err, sizeof err);
    if (st == (void *)-1)
        return 0;
    tg_policy_type_find(type)->free_state(st);
    return 1;
}

/* Runs policies (type, spec pairs) on request for client ip; returns the outcome. */
static enum tg_policy_outcome run_policies(struct run *r, const char *request, const char *ip, int upgrade,
                                           uint64_t now_ms, const char *type1, const char *spec1,
                                           const char *type2, const char *spec2)
{
    memset(r, 0, sizeof *r);
    snprintf(r->raw, sizeof r->raw, "%s", request);
    if (tg_http1_parse_request(r->raw, strlen(r->raw), sizeof r->raw, &r->head) != TG_HTTP_OK)
        return (enum tg_policy_outcome)-1;
    const char *types[2] = {type1, type2}, *specs[2] = {spec1, spec2};
    for (int i = 0; i < 2 && types[i]; i++) {
        char err[256];
        void *st = compile(types[i], specs[i], err, sizeof err);
        if (st == (void *)-1) {
            fprintf(stderr, "compile %s: %s\n", types[i], err);
            return (enum tg_policy_outcome)-1;
        }
        r->policies[i].type = tg_policy_type_find(types[i]);
        r->policies[i].state = st;
        r->proxy.num_policies++;
    }
    r->proxy.id = "unit/traffic";
    r->proxy.policies = r->policies;
    r->ctx.request = &r->head;
    r->ctx.proxy = &r->proxy;
    r->ctx.environment = "prod";
    r->ctx.client_ip = ip;
    r->ctx.is_upgrade = upgrade;
    r->ctx.now_wall_ms = now_ms;
    tg_policy_pipeline_start(&r->ctx, on_done, r);
    return tg_policy_outcome(&r->ctx);
}

static void run_free(struct run *r)
{
    for (size_t i = 0; i < r->proxy.num_policies; i++)
        r->policies[i].type->free_state(r->policies[i].state);
}

static const char *resp_edit(const struct run *r, const char *name)
{
    for (size_t i = 0; i < r->ctx.num_response_edits; i++)
        if (strcasecmp(r->ctx.response_edits[i].name, name) == 0)
            return r->ctx.response_edits[i].value;
    return NULL;
}

static const char *req_edit(const struct run *r, const char *name, int *removed)
{
    for (size_t i = 0; i < r->ctx.num_request_edits; i++)
        if (strcasecmp(r->ctx.request_edits[i].name, name) == 0) {
            *removed = r->ctx.request_edits[i].remove;
            return r->ctx.request_edits[i].value;
        }
    return NULL;
}

#define GET(path, extra) "GET " path " HTTP/1.1\r\nHost: t\r\n" extra "\r\n"
#define UPGRADE(extra)                                                                                           \
    "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"                              \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" extra "\r\n"

static void test_compile_errors(void)
{
    CHECK(compiles("quota", "{\"limit\":5,\"intervalMs\":60000}"));
    CHECK(!compiles("quota", "{\"limit\":0,\"intervalMs\":60000}"));
    CHECK(!compiles("quota", "{\"limit\":5}"));
    CHECK(!compiles("quota", "{\"limit\":5,\"intervalMs\":60000,\"x\":1}"));
    CHECK(!compiles("quota", "{\"limit\":5,\"intervalMs\":60000,\"identifier\":\"ip\"}"));
    CHECK(compiles("quota", "{\"limit\":5,\"intervalMs\":1000,\"distributed\":{\"redisAddress\":\"[::1]:6379\"}}"));
    CHECK(!compiles("quota", "{\"limit\":5,\"intervalMs\":1000,\"distributed\":{\"redisAddress\":\"redis\"}}"));
    CHECK(!compiles("quota", "{\"limit\":5,\"intervalMs\":1000,\"distributed\":{\"redisAddress\":\"r:1\","
                             "\"keyPrefix\":\"a b\"}}"));
    CHECK(!compiles("quota", "{\"limit\":5,\"intervalMs\":1000,\"distributed\":{\"redisAddress\":\"r:1\","
                             "\"failOpen\":\"no\"}}"));
    CHECK(compiles("spikeArrest", "{\"rate\":\"20ps\",\"identifier\":\"client_ip\"}"));
    CHECK(!compiles("spikeArrest", "{\"rate\":\"20\"}"));
    CHECK(!compiles("spikeArrest", "{}"));
    CHECK(compiles("cors", "{\"allowOrigins\":[\"https://*.example.com\"]}"));
    CHECK(!compiles("cors", "{\"allowOrigins\":[]}"));
    CHECK(!compiles("cors", "{\"allowOrigins\":[\"*\"],\"allowCredentials\":true}"));
    CHECK(!compiles("cors", "{\"allowOrigins\":[\"*\"],\"allowMethods\":[\"TRACE\"]}"));
    CHECK(!compiles("cors", "{\"allowOrigins\":[\"*\"],\"maxAge\":86401}"));
    CHECK(compiles("accessControl", "{\"allow\":[\"10.0.0.0/8\"]}"));
    CHECK(!compiles("accessControl", "{\"trustedProxies\":[\"10.0.0.0/8\"]}"));
    CHECK(!compiles("accessControl", "{\"allow\":[\"10.0.0.1/8\"]}"));
    CHECK(compiles("assignMessage", "{\"setRequestHeaders\":{\"x-env\":\"prod\"}}"));
    CHECK(!compiles("assignMessage", "{\"setRequestHeaders\":{\"host\":\"x\"}}"));
    CHECK(!compiles("assignMessage", "{\"setResponseHeaders\":{\"x\":\"a\\r\\nb: c\"}}"));
    CHECK(!compiles("assignMessage", "{\"removeResponseHeaders\":[\"content-length\"]}"));
}

static void test_quota_run(void)
{
    struct run r;
    const char *spec = "{\"limit\":2,\"intervalMs\":60000,\"identifier\":\"header:x-user\"}";
    uint64_t now = 1800000012345ULL;
    CHECK_EQ_INT(run_policies(&r, GET("/", "X-User: alice\r\n"), "10.0.0.1", 0, now, "quota", spec, NULL, NULL),
                 TG_POLICY_OUTCOME_CONTINUE);
    CHECK_EQ_STR(resp_edit(&r, "X-RateLimit-Limit"), "2");
    CHECK_EQ_STR(resp_edit(&r, "X-RateLimit-Remaining"), "1");
    CHECK_EQ_STR(resp_edit(&r, "X-RateLimit-Reset"), "48");
    run_free(&r);
    CHECK_EQ_INT(run_policies(&r, GET("/", "X-User: alice\r\n"), "10.0.0.1", 0, now + 1, "quota", spec, NULL, NULL),
                 TG_POLICY_OUTCOME_CONTINUE);
    CHECK_EQ_STR(resp_edit(&r, "X-RateLimit-Remaining"), "0");
    run_free(&r);
    CHECK_EQ_INT(run_policies(&r, GET("/", "X-User: alice\r\n"), "10.0.0.1", 1, now + 2, "quota", spec, NULL, NULL),
                 TG_POLICY_OUTCOME_REJECT);
    CHECK_EQ_INT(r.ctx.status, 429);
    CHECK_EQ_STR(r.ctx.code, "quota.exceeded");
    CHECK(strstr(r.ctx.extra_headers, "Retry-After: 48\r\n") != NULL);
    CHECK(strstr(r.ctx.extra_headers, "X-RateLimit-Remaining: 0\r\n") != NULL);
    run_free(&r);
    /* another identifier has its own count; a missing header falls back to the client address */
    CHECK_EQ_INT(run_policies(&r, GET("/", "X-User: bob\r\n"), "10.0.0.1", 0, now + 3, "quota", spec, NULL, NULL),
                 TG_POLICY_OUTCOME_CONTINUE);
    run_free(&r);
    CHECK_EQ_INT(run_policies(&r, GET("/", ""), "10.0.0.1", 0, now + 3, "quota", spec, NULL, NULL),
                 TG_POLICY_OUTCOME_CONTINUE);
    run_free(&r);
    /* the next window admits alice again */
    CHECK_EQ_INT(run_policies(&r, GET("/", "X-User: alice\r\n"), "10.0.0.1", 0, now + 60000, "quota", spec, NULL,
                              NULL),
                 TG_POLICY_OUTCOME_CONTINUE);
    run_free(&r);
}

static void test_spike_run(void)
{
    struct run r;
    const char *spec = "{\"rate\":\"1pm\",\"identifier\":\"client_ip\"}";
    CHECK_EQ_INT(run_policies(&r, GET("/", ""), "192.0.2.44", 0, 0, "spikeArrest", spec, NULL, NULL),
                 TG_POLICY_OUTCOME_CONTINUE);
    run_free(&r);
    CHECK_EQ_INT(run_policies(&r, GET("/", ""), "192.0.2.44", 0, 0, "spikeArrest", spec, NULL, NULL),
                 TG_POLICY_OUTCOME_REJECT);
    CHECK_EQ_INT(r.ctx.status, 429);
    CHECK_EQ_STR(r.ctx.code, "spike_arrest.exceeded");
    CHECK(strstr(r.ctx.extra_headers, "Retry-After: 60\r\n") || strstr(r.ctx.extra_headers, "Retry-After: 59\r\n"));
    run_free(&r);
    CHECK_EQ_INT(run_policies(&r, GET("/", ""), "192.0.2.45", 0, 0, "spikeArrest", spec, NULL, NULL),
                 TG_POLICY_OUTCOME_CONTINUE);
    run_free(&r);
}

static void test_cors_run(void)
{
    struct run r;
    const char *spec = "{\"allowOrigins\":[\"https://app.example.com\",\"https://*.example.org\"],"
                       "\"allowMethods\":[\"GET\",\"PUT\"],\"allowHeaders\":[\"Content-Type\",\"x-a\"],"
                       "\"exposeHeaders\":[\"x-b\"],\"allowCredentials\":true,\"maxAge\":600}";
    /* preflight */
    CHECK_EQ_INT(run_policies(&r,
                              "OPTIONS /x HTTP/1.1\r\nHost: t\r\nOrigin: https://a.example.org\r\n"
                              "Access-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: content-type,X-A\r\n\r\n",
                              "10.0.0.1", 0, 0, "cors", spec, NULL, NULL),
                 TG_POLICY_OUTCOME_ANSWER);
    CHECK_EQ_INT(r.ctx.status, 204);
    CHECK(strstr(r.ctx.extra_headers, "Access-Control-Allow-Origin: https://a.example.org\r\n") != NULL);
    CHECK(strstr(r.ctx.extra_headers, "Access-Control-Allow-Methods: GET, PUT\r\n") != NULL);
    CHECK(strstr(r.ctx.extra_headers, "Access-Control-Allow-Headers: content-type, x-a\r\n") != NULL);
    CHECK(strstr(r.ctx.extra_headers, "Access-Control-Allow-Credentials: true\r\n") != NULL);
    CHECK(strstr(r.ctx.extra_headers, "Access-Control-Max-Age: 600\r\n") != NULL);
    run_free(&r);
    CHECK_EQ_INT(run_policies(&r,
                              "OPTIONS /x HTTP/1.1\r\nHost: t\r\nOrigin: https://evil.example\r\n"
                              "Access-Control-Request-Method: GET\r\n\r\n",
                              "10.0.0.1", 0, 0, "cors", spec, NULL, NULL),
                 TG_POLICY_OUTCOME_REJECT);
    CHECK_EQ_STR(r.ctx.code, "cors.origin_not_allowed");
    run_free(&r);
    CHECK_EQ_INT(run_policies(&r,
                              "OPTIONS /x HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example.com\r\n"
                              "Access-Control-Request-Method: DELETE\r\n\r\n",
                              "10.0.0.1", 0, 0, "cors", spec, NULL, NULL),
                 TG_POLICY_OUTCOME_REJECT);
    CHECK_EQ_STR(r.ctx.code, "cors.method_not_allowed");
    run_free(&r);
    CHECK_EQ_INT(run_policies(&r,
                              "OPTIONS /x HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example.com\r\n"
                              "Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: x-secret\r\n\r\n",
                              "10.0.0.1", 0, 0, "cors", spec, NULL, NULL),
                 TG_POLICY_OUTCOME_REJECT);
    CHECK_EQ_STR(r.ctx.code, "cors.headers_not_allowed");
    run_free(&r);
    /* actual request from an allowed origin: response edits */
    CHECK_EQ_INT(run_policies(&r, GET("/x", "Origin: https://app.example.com\r\n"), "10.0.0.1", 0, 0, "cors", spec,
                              NULL, NULL),
                 TG_POLICY_OUTCOME_CONTINUE);
    CHECK_EQ_STR(resp_edit(&r, "Access-Control-Allow-Origin"), "https://app.example.com");
    CHECK_EQ_STR(resp_edit(&r, "Vary"), "Origin");
    CHECK_EQ_STR(resp_edit(&r, "Access-Control-Allow-Credentials"), "true");
    CHECK_EQ_STR(resp_edit(&r, "Access-Control-Expose-Headers"), "x-b");
    run_free(&r);
    /* from another origin: passes without them; an upgrade from it is refused; without Origin passes */
    CHECK_EQ_INT(run_policies(&r, GET("/x", "Origin: https://evil.example\r\n"), "10.0.0.1", 0, 0, "cors", spec, NULL,
                              NULL),
                 TG_POLICY_OUTCOME_CONTINUE);
    CHECK(resp_edit(&r, "Access-Control-Allow-Origin") == NULL);
    run_free(&r);
    CHECK_EQ_INT(run_policies(&r, UPGRADE("Origin: https://evil.example\r\n"), "10.0.0.1", 1, 0, "cors", spec, NULL,
                              NULL),
                 TG_POLICY_OUTCOME_REJECT);
    CHECK_EQ_INT(r.ctx.status, 403);
    CHECK_EQ_STR(r.ctx.code, "cors.origin_not_allowed");
    run_free(&r);
    CHECK_EQ_INT(run_policies(&r, UPGRADE("Origin: https://b.example.org\r\n"), "10.0.0.1", 1, 0, "cors", spec, NULL,
                              NULL),
                 TG_POLICY_OUTCOME_CONTINUE);
    run_free(&r);
    CHECK_EQ_INT(run_policies(&r, UPGRADE(""), "10.0.0.1", 1, 0, "cors", spec, NULL, NULL), TG_POLICY_OUTCOME_CONTINUE);
    run_free(&r);
    /* "*" without credentials answers "*" */
    CHECK_EQ_INT(run_policies(&r, GET("/x", "Origin: null\r\n"), "10.0.0.1", 0, 0, "cors", "{\"allowOrigins\":[\"*\"]}",
                              NULL, NULL),
                 TG_POLICY_OUTCOME_CONTINUE);
    CHECK_EQ_STR(resp_edit(&r, "Access-Control-Allow-Origin"), "*");
    CHECK(resp_edit(&r, "Vary") == NULL);
    run_free(&r);
    /* a later 429 carries the CORS fields, so the page can read it */
    CHECK_EQ_INT(run_policies(&r, GET("/x", "Origin: https://app.example.com\r\n"), "10.0.0.1", 0, 0, "cors", spec,
                              "spikeArrest", "{\"rate\":\"1pm\",\"identifier\":\"header:origin\"}"),
                 TG_POLICY_OUTCOME_CONTINUE);
    run_free(&r);
    CHECK_EQ_INT(run_policies(&r, GET("/x", "Origin: https://app.example.com\r\n"), "10.0.0.1", 0, 0, "cors", spec,
                              "spikeArrest", "{\"rate\":\"1pm\",\"identifier\":\"header:origin\"}"),
                 TG_POLICY_OUTCOME_REJECT);
    CHECK(strstr(r.ctx.extra_headers, "Access-Control-Allow-Origin: https://app.example.com\r\n") != NULL);
    run_free(&r);
}

static void test_access_control_run(void)
{
    struct run r;
    const char *spec = "{\"allow\":[\"203.0.113.0/24\",\"2001:db8::/32\"],\"deny\":[\"203.0.113.66\"],"
                       "\"trustedProxies\":[\"10.0.0.0/8\"]}";
    CHECK_EQ_INT(run_policies(&r, GET("/", ""), "203.0.113.5", 0, 0, "accessControl", spec, NULL, NULL),
                 TG_POLICY_OUTCOME_CONTINUE);
    run_free(&r);
    CHECK_EQ_INT(run_policies(&r, GET("/", ""), "203.0.113.66", 0, 0, "accessControl", spec, NULL, NULL),
                 TG_POLICY_OUTCOME_REJECT); /* deny wins */
    CHECK_EQ_INT(r.ctx.status, 403);
    CHECK_EQ_STR(r.ctx.code, "access.denied");
    run_free(&r);
    CHECK_EQ_INT(run_policies(&r, GET("/", ""), "198.51.100.1", 0, 0, "accessControl", spec, NULL, NULL),
                 TG_POLICY_OUTCOME_REJECT); /* not in allow */
    run_free(&r);
    CHECK_EQ_INT(run_policies(&r, GET("/", ""), "::ffff:203.0.113.5", 0, 0, "accessControl", spec, NULL, NULL),
                 TG_POLICY_OUTCOME_CONTINUE);
    run_free(&r);
    /* XFF only from a trusted proxy; the derived address becomes the client address for later policies */
    CHECK_EQ_INT(run_policies(&r, GET("/", "X-Forwarded-For: 6.6.6.6, 203.0.113.5\r\n"), "10.1.1.1", 0, 0,
                              "accessControl", spec, NULL, NULL),
                 TG_POLICY_OUTCOME_CONTINUE);
    CHECK_EQ_STR(r.ctx.client_ip, "203.0.113.5");
    run_free(&r);
    CHECK_EQ_INT(run_policies(&r, GET("/", "X-Forwarded-For: 203.0.113.5\r\n"), "198.51.100.1", 0, 0, "accessControl",
                              spec, NULL, NULL),
                 TG_POLICY_OUTCOME_REJECT); /* an untrusted peer cannot claim an address */
    run_free(&r);
    CHECK_EQ_INT(run_policies(&r, GET("/", "X-Forwarded-For: 203.0.113.66\r\n"), "10.1.1.1", 0, 0, "accessControl",
                              spec, NULL, NULL),
                 TG_POLICY_OUTCOME_REJECT);
    run_free(&r);
    CHECK_EQ_INT(run_policies(&r, GET("/", "X-Forwarded-For: nonsense\r\n"), "10.1.1.1", 0, 0, "accessControl", spec,
                              NULL, NULL),
                 TG_POLICY_OUTCOME_REJECT);
    run_free(&r);
    CHECK_EQ_INT(run_policies(&r, GET("/", ""), "2001:db8:1::1", 0, 0, "accessControl", spec, NULL, NULL),
                 TG_POLICY_OUTCOME_CONTINUE);
    run_free(&r);
}

static void test_assign_message_run(void)
{
    struct run r;
    const char *spec = "{\"setRequestHeaders\":{\"x-env\":\"prod\"},\"removeRequestHeaders\":[\"x-api-key\"],"
                       "\"setResponseHeaders\":{\"x-served-by\":\"tollgate\"},\"removeResponseHeaders\":[\"server\"]}";
    CHECK_EQ_INT(run_policies(&r, GET("/", "X-Api-Key: k\r\n"), "10.0.0.1", 0, 0, "assignMessage", spec, NULL, NULL),
                 TG_POLICY_OUTCOME_CONTINUE);
    int removed = -1;
    CHECK_EQ_STR(req_edit(&r, "x-env", &removed), "prod");
    CHECK_EQ_INT(removed, 0);
    CHECK(req_edit(&r, "x-api-key", &removed) != NULL && removed == 1);
    CHECK_EQ_STR(resp_edit(&r, "x-served-by"), "tollgate");
    run_free(&r);
}

int main(void)
{
    test_ip_parse();
    test_cidr();
    test_xff();
    test_origins();
    test_rates_and_windows();
    test_local_counters();
    test_identifiers_and_rules();
    test_claims();
    test_compile_errors();
    test_quota_run();
    test_spike_run();
    test_cors_run();
    test_access_control_run();
    test_assign_message_run();
    TG_TEST_MAIN_END();
}
