/* trusted_proxies.h — the --trusted-proxies flag: a comma-separated list of CIDRs (common/ip_cidr) whose peers
 * may vouch for the client (their X-Forwarded-For/-Proto/-Host and Forwarded are kept and appended to; every
 * other peer is the edge and those fields are replaced). */
#ifndef TG_TRUSTED_PROXIES_H
#define TG_TRUSTED_PROXIES_H

#include "proxy/proxy_settings.h"

#define TG_TRUSTED_PROXIES_MAX 64

/* Parses value ("10.0.0.0/8,2001:db8::/32") into settings->trusted_proxies (process-lifetime storage). 0, or -1
 * after printing the reason to stderr. */
int tg_trusted_proxies_flag(const char *value, struct tg_proxy_settings *settings);

#endif
