/* SPDX-License-Identifier: MIT */
/* hex.h: hex decoding for tests (vectors files, expected digests). */
#ifndef GS_TESTS_HEX_H
#define GS_TESTS_HEX_H

#include <stddef.h>
#include <stdint.h>

/*
 * gs_test_unhex decodes the |slen| hex characters at |s| (either case) into |out|, which holds
 * |max| bytes.  Returns the number of bytes written, or -1 if |slen| is odd, a character is not
 * hex, or the result would exceed |max|.
 */
ptrdiff_t gs_test_unhex(const char *s, size_t slen, uint8_t *out, size_t max);

#endif /* GS_TESTS_HEX_H */
