/* SPDX-License-Identifier: MIT */
/* hex.c: see hex.h. */
#include "hex.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

ptrdiff_t gs_test_unhex(const char *s, size_t slen, uint8_t *out, size_t max)
{
    if (slen % 2 != 0 || slen / 2 > max) {
        return -1;
    }
    for (size_t i = 0; i < slen / 2; ++i) {
        int hi = hexval(s[2 * i]);
        int lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (ptrdiff_t)(slen / 2);
}
