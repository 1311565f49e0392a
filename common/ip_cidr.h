/* ip_cidr.h — strict IPv4/IPv6 address and CIDR parsing and matching (accessControl), and the client address
 * behind trusted proxies (X-Forwarded-For).
 *
 * Addresses: IPv4 dotted quads (four decimal octets 0-255, no leading zeros, RFC 6943 §3.1.1 "strict" form)
 * and IPv6 text forms of RFC 4291 §2.2 (incl. "::" and a trailing dotted quad), no zone ids. An IPv4-mapped
 * IPv6 address (::ffff:a.b.c.d, what a dual-stack listener reports for an IPv4 peer) is the IPv4 address.
 * CIDRs: ADDRESS or ADDRESS/PREFIX, PREFIX decimal without leading zeros, ≤ 32 (IPv4) or ≤ 128 (IPv6); bits
 * beyond the prefix must be zero ("10.0.0.1/8" is refused: it is ambiguous, write 10.0.0.0/8 or 10.0.0.1/32).
 * An IPv4 CIDR matches IPv4 addresses only, an IPv6 CIDR IPv6 addresses only ("::/0" is every IPv6 client,
 * "0.0.0.0/0" every IPv4 client); an IPv6 CIDR inside ::ffff:0:0/96 is read as the IPv4 CIDR it maps. */
#ifndef TG_IP_CIDR_H
#define TG_IP_CIDR_H

#include <stddef.h>
#include <stdint.h>

#define TG_IP_TEXT_MAX 46 /* INET6_ADDRSTRLEN */

struct tg_ip {
    uint8_t family;   /* 4 or 6 */
    uint8_t addr[16]; /* IPv4 in the first 4 bytes */
};

struct tg_cidr {
    struct tg_ip ip;
    uint8_t prefix;
};

/* Parses an address (len bytes, no NUL needed). 0, or -1 when it is not a strict literal. */
int tg_ip_parse(const char *s, size_t len, struct tg_ip *out);
/* Parses a CIDR or a single address (prefix 32/128). 0, or -1 with a static reason in *why. */
int tg_cidr_parse(const char *s, struct tg_cidr *out, const char **why);
int tg_cidr_match(const struct tg_cidr *c, const struct tg_ip *ip);
/* 1 when any of the n CIDRs matches ip. */
int tg_cidr_list_match(const struct tg_cidr *list, size_t n, const struct tg_ip *ip);
/* Canonical text (inet_ntop) into out[TG_IP_TEXT_MAX]. */
void tg_ip_format(const struct tg_ip *ip, char *out);

enum tg_xff_result { TG_XFF_PEER = 0, TG_XFF_FORWARDED = 1, TG_XFF_MALFORMED = -1 };

/* The client address of a request that came from peer (RFC 7239 §5.2 reasoning applied to X-Forwarded-For):
 * when the peer is not in trusted, the peer (TG_XFF_PEER). Otherwise the X-Forwarded-For values (values[0..n),
 * the fields in the order received, each a comma-separated list) are read right to left, skipping entries
 * that are trusted proxies; the first one that is not is the client (TG_XFF_FORWARDED); when every entry is
 * trusted, the left-most; when there is no entry, the peer (TG_XFF_PEER). Entries may carry a port
 * ("1.2.3.4:80", "[2001:db8::1]:80"); an entry that is not an address stops the walk (TG_XFF_MALFORMED: the
 * client cannot be known, the caller fails closed). At most 64 entries are read (more: MALFORMED). */
enum tg_xff_result tg_client_address(const struct tg_ip *peer, const struct tg_cidr *trusted, size_t num_trusted,
                                     const char *const *values, const size_t *lens, size_t n, struct tg_ip *out);

#endif
