/* Tiny test runner shared by tests/test_*.c. Each binary prints "PASS"/"FAIL" lines and ends
   with "<name>: P passed, F failed"; tests/run.sh adds them up. Run from the repository root. */
#ifndef DS_TEST_H
#define DS_TEST_H
#include <stdio.h>
#include <math.h>
#include <string.h>

static int ds_test_passed, ds_test_failed, ds_test_verbose;

#define CHECK(cond, ...) do { if (cond) { ds_test_passed++; if (ds_test_verbose) { printf("PASS "); printf(__VA_ARGS__); printf("\n"); } } \
    else { ds_test_failed++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

/* ||a - b|| / ||b|| */
static inline double ds_test_rel_l2(const float *a, const float *b, long long n) {
    double num = 0, den = 0; long long i;
    for (i = 0; i < n; i++) { double d = (double)a[i] - b[i]; num += d * d; den += (double)b[i] * b[i]; }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* xorshift for reproducible random test data */
static unsigned long long ds_test_rng = 88172645463325252ull;
static inline float ds_test_randf(void) { /* uniform in [-1, 1) */
    ds_test_rng ^= ds_test_rng << 13; ds_test_rng ^= ds_test_rng >> 7; ds_test_rng ^= ds_test_rng << 17;
    return (float)((double)(ds_test_rng >> 11) / 4503599627370496.0 - 1.0);
}

#define DS_TEST_END(name) do { printf("%s: %d passed, %d failed\n", name, ds_test_passed, ds_test_failed); return ds_test_failed ? 1 : 0; } while (0)
#endif
