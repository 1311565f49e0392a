/* duration.c — see duration.h. Integer-only arithmetic in nanoseconds; every multiply/add is checked. */
#include "duration.h"

#include <stddef.h>
#include <string.h>

#define NS_PER_MS 1000000ULL

static int set_err(const char **err, const char *msg)
{
    if (err)
        *err = msg;
    return -1;
}

/* Unit table: longest names first so "ms" is not read as "m" followed by garbage. */
static const struct {
    const char *name;
    uint64_t ns;
} units[] = {
    {"ns", 1ULL},
    {"us", 1000ULL},
    {"\xc2\xb5s", 1000ULL}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000ULL}, /* U+03BC greek mu */
    {"ms", 1000000ULL},
    {"s", 1000000000ULL},
    {"m", 60ULL * 1000000000ULL},
    {"h", 3600ULL * 1000000000ULL},
};

static int add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a > UINT64_MAX - b)
        return -1;
    *out = a + b;
    return 0;
}

static int mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a != 0 && b > UINT64_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

int tg_duration_parse_ms(const char *s, uint64_t max_ms, uint64_t *out_ms, const char **err)
{
    if (!s || !*s)
        return set_err(err, "empty duration");
    if (strcmp(s, "0") == 0) {
        *out_ms = 0;
        return 0;
    }
    if (*s == '-' || *s == '+')
        return set_err(err, "a duration has no sign");
    const char *p = s;
    uint64_t total = 0;
    while (*p) {
        /* integer part */
        uint64_t whole = 0;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            if (mul_u64(whole, 10, &whole) < 0 || add_u64(whole, (uint64_t)(*p - '0'), &whole) < 0)
                return set_err(err, "duration out of range");
            p++;
            digits++;
        }
        /* fraction: kept as numerator/denominator, at most 18 significant digits (enough for ns of hours) */
        uint64_t frac = 0, scale = 1;
        int frac_digits = 0;
        if (*p == '.') {
            p++;
            while (*p >= '0' && *p <= '9') {
                if (scale < 1000000000000000000ULL) {
                    frac = frac * 10 + (uint64_t)(*p - '0');
                    scale *= 10;
                } else if (*p != '0') {
                    return set_err(err, "duration has too many fractional digits");
                }
                p++;
                frac_digits++;
            }
        }
        if (digits == 0 && frac_digits == 0)
            return set_err(err, "expected a number in duration");
        size_t best = 0;
        uint64_t unit = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            size_t n = strlen(units[i].name);
            if (n > best && strncmp(p, units[i].name, n) == 0) {
                best = n;
                unit = units[i].ns;
            }
        }
        if (best == 0)
            return set_err(err, *p ? "unknown unit in duration (use ns, us, ms, s, m, h)"
                                   : "missing unit in duration (use ns, us, ms, s, m, h)");
        p += best;
        uint64_t part;
        if (mul_u64(whole, unit, &part) < 0 || add_u64(total, part, &total) < 0)
            return set_err(err, "duration out of range");
        if (frac) {
            /* frac/scale of a unit: exact in 128-bit (frac < scale <= 1e18, unit <= 3.6e12). */
            unsigned __int128 prod = (unsigned __int128)frac * unit;
            if (prod % scale != 0)
                return set_err(err, "duration must be a whole number of milliseconds");
            prod /= scale;
            if (prod > UINT64_MAX || add_u64(total, (uint64_t)prod, &total) < 0)
                return set_err(err, "duration out of range");
        }
    }
    if (total % NS_PER_MS != 0)
        return set_err(err, "duration must be a whole number of milliseconds");
    if (total / NS_PER_MS > max_ms)
        return set_err(err, "duration too large");
    *out_ms = total / NS_PER_MS;
    return 0;
}

int tg_rate_parse(const char *s, uint64_t *count, uint64_t *per_ms, const char **err)
{
    if (!s || !*s)
        return set_err(err, "empty rate");
    uint64_t n = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9') {
        n = n * 10 + (uint64_t)(*p - '0');
        if (n > UINT32_MAX)
            return set_err(err, "rate out of range");
        p++;
    }
    if (p == s)
        return set_err(err, "a rate starts with a count, e.g. 20ps or 10pm");
    if (n == 0)
        return set_err(err, "a rate must be at least 1");
    if (strcmp(p, "ps") == 0)
        *per_ms = 1000;
    else if (strcmp(p, "pm") == 0)
        *per_ms = 60000;
    else
        return set_err(err, "a rate ends in ps (per second) or pm (per minute)");
    *count = n;
    return 0;
}
