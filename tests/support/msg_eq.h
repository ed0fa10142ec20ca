/* SPDX-License-Identifier: MIT */
/* msg_eq.h: value equality of decoded or caller-built messages (tests and fuzz targets). */
#ifndef GS_TESTS_MSG_EQ_H
#define GS_TESTS_MSG_EQ_H

#include <stdbool.h>

#include "codec.h"

/*
 * gs_test_msg_eq returns true if |a| and |b| carry the same message: same type and fields, byte
 * strings and lists compared by content (a decoded list equals a caller-built one with the same
 * entries); the round of a Neighbors-scope Gossip and Disconnect's obsolete |respond| are ignored.
 */
bool gs_test_msg_eq(const gs_msg *a, const gs_msg *b);

#endif /* GS_TESTS_MSG_EQ_H */
