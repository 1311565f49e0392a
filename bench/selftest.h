/* selftest.h — `tollgate-bench selftest`: the tool's arithmetic checked (histogram, parsers). */
#ifndef TG_BENCH_SELFTEST_H
#define TG_BENCH_SELFTEST_H

/* 0 when every check passed, -1 otherwise (failures printed on stderr). */
int tg_bench_selftest(void);

#endif
