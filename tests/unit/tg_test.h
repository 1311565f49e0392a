/* tg_test.h — the unit tests' tiny assertion kit: CHECK records a failure and goes on, the main prints
 * "N passed, N failed" for its file and exits non-zero on any failure. Header-only, used by tests/unit/. */
#ifndef TG_TEST_H
#define TG_TEST_H

#include <stdio.h>
#include <string.h>

static int tg_test_passed, tg_test_failed;

#define CHECK(cond)                                                                                         \
    do {                                                                                                    \
        if (cond) {                                                                                         \
            tg_test_passed++;                                                                               \
        } else {                                                                                            \
            tg_test_failed++;                                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                      \
        }                                                                                                   \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                                  \
    do {                                                                                                    \
        long long tg_a_ = (long long)(a), tg_b_ = (long long)(b);                                           \
        if (tg_a_ == tg_b_) {                                                                               \
            tg_test_passed++;                                                                               \
        } else {                                                                                            \
            tg_test_failed++;                                                                               \
            fprintf(stderr, "%s:%d: CHECK_EQ_INT failed: %s == %lld, expected %s == %lld\n", __FILE__,     \
                    __LINE__, #a, tg_a_, #b, tg_b_);                                                        \
        }                                                                                                   \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                                  \
    do {                                                                                                    \
        const char *tg_a_ = (a), *tg_b_ = (b);                                                              \
        if (tg_a_ && tg_b_ && strcmp(tg_a_, tg_b_) == 0) {                                                  \
            tg_test_passed++;                                                                               \
        } else {                                                                                            \
            tg_test_failed++;                                                                               \
            fprintf(stderr, "%s:%d: CHECK_EQ_STR failed: %s = \"%s\", expected \"%s\"\n", __FILE__,        \
                    __LINE__, #a, tg_a_ ? tg_a_ : "(null)", tg_b_ ? tg_b_ : "(null)");                      \
        }                                                                                                   \
    } while (0)

#define TG_TEST_MAIN_END()                                                                                  \
    do {                                                                                                    \
        printf("%s: %d passed, %d failed\n", __FILE__, tg_test_passed, tg_test_failed);                    \
        return tg_test_failed ? 1 : 0;                                                                      \
    } while (0)

#endif
