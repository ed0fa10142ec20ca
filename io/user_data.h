/* SPDX-License-Identifier: MIT */
/*
 * user_data.h: the layout of io_uring's 64-bit sqe/cqe user_data in io/.  Every SQE the engine
 * submits carries one of these, so a CQE can be dispatched without a lookup:
 *
 *   bits 63..56  operation (GS_UD_OP_*)
 *   bits 55..32  generation: bumped each time a send slot is reused, so a stale completion
 *                (never expected, but cheap to detect) is counted instead of misattributed
 *   bits 31..0   index: the socket index for RECV, the send-slot index for SEND, 0 otherwise
 *
 * 0 is never used (an all-zero user_data marks a bug); liburing's internal timeout value
 * (LIBURING_UDATA_TIMEOUT, all ones) has the operation byte 0xff, which is not an operation.
 */
#ifndef GS_IO_USER_DATA_H
#define GS_IO_USER_DATA_H

#include <stdint.h>

enum gs_ud_op {
    GS_UD_OP_RECV = 1,     /* multishot recvmsg on a socket (index = socket) */
    GS_UD_OP_SEND = 2,     /* sendmsg of one send slot (index = slot) */
    GS_UD_OP_DOORBELL = 3, /* read of the doorbell eventfd */
    GS_UD_OP_CANCEL = 4,   /* an async cancel issued by us; its result is ignored */
    GS_UD_OP_WATCH = 5,    /* multishot poll of the watched descriptor (gs_uring_watch) */
};

#define GS_UD_OP_SHIFT  56
#define GS_UD_GEN_SHIFT 32
#define GS_UD_GEN_MASK  0xffffffu

/* GS_UD_MAKE builds a user_data from an operation, a generation and an index. */
#define GS_UD_MAKE(op, gen, idx)                                                                   \
    (((uint64_t)(op) << GS_UD_OP_SHIFT) | ((uint64_t)((gen)&GS_UD_GEN_MASK) << GS_UD_GEN_SHIFT) |  \
     (uint64_t)(uint32_t)(idx))
#define GS_UD_OP(ud)  ((unsigned)((uint64_t)(ud) >> GS_UD_OP_SHIFT))
#define GS_UD_GEN(ud) ((uint32_t)(((uint64_t)(ud) >> GS_UD_GEN_SHIFT) & GS_UD_GEN_MASK))
#define GS_UD_IDX(ud) ((uint32_t)((uint64_t)(ud)&0xffffffffu))

#endif /* GS_IO_USER_DATA_H */
