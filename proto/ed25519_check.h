/* SPDX-License-Identifier: MIT */
/*
 * ed25519_check.h: internals of the Ed25519 key check (proto/ed25519_check.c) exposed for tests
 * and benchmarks.  The protocol code uses gs_ed25519_key_is_valid (codec.h) only.
 */
#ifndef GS_ED25519_CHECK_H
#define GS_ED25519_CHECK_H

#include <stdbool.h>
#include <stdint.h>

/*
 * gs_ed25519_key_is_valid_euler gives the same answer as gs_ed25519_key_is_valid, computed the
 * slow way (Euler's criterion, one 254-squaring exponentiation; also the fallback of the fast
 * path).
 */
bool gs_ed25519_key_is_valid_euler(const uint8_t key[32]);

/*
 * gs_ed25519_legendre returns the Legendre symbol mod p = 2^255 - 19 of the 32 bytes at |x| read
 * little-endian with bit 255 cleared (values >= p are reduced), computed by the fast path only:
 * 1 for a non-zero square, -1 for a non-square, 0 for zero, or 2 if the binary Jacobi algorithm
 * gave up after its batch limit (where the key check would use Euler's criterion instead).
 */
int gs_ed25519_legendre(const uint8_t x[32]);

#endif
