/* SPDX-License-Identifier: MIT */
/*
 * expect_mem.h: EXPECT_MEM(got, want, n, fmt, ...) fails the current Criterion test, printing
 * both values in hex, when |n| bytes differ.  (Criterion 2.4.1's array comparisons,
 * eq(u8[N], ...), leak memory that ASan then reports.)  Include after <criterion/criterion.h>.
 */
#ifndef GS_TESTS_EXPECT_MEM_H
#define GS_TESTS_EXPECT_MEM_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static inline void gs_expect_mem(const void *got, const void *want, size_t n, int line,
                                 const char *what)
{
    if (memcmp(got, want, n) == 0) {
        return;
    }
    char hg[2 * 64 + 4];
    char hw[2 * 64 + 4];
    size_t shown = n < 64 ? n : 64;
    for (size_t i = 0; i < shown; ++i) {
        snprintf(hg + 2 * i, 3, "%02x", ((const uint8_t *)got)[i]);
        snprintf(hw + 2 * i, 3, "%02x", ((const uint8_t *)want)[i]);
    }
    cr_fatal("line %d: %s: bytes differ\n  got:  %s\n  want: %s", line, what, hg, hw);
}

#define EXPECT_MEM(got, want, n, ...)                                                              \
    do {                                                                                           \
        char what_[200];                                                                           \
        snprintf(what_, sizeof(what_), __VA_ARGS__);                                               \
        gs_expect_mem((got), (want), (n), __LINE__, what_);                                        \
    } while (0)

#endif /* GS_TESTS_EXPECT_MEM_H */
