/* SPDX-License-Identifier: MIT */
/*
 * gs_err.h: status codes shared by every module.
 *
 * 0 is success, a negative value is an error.  -1 .. -199 are negated errno values passed through
 * unchanged by io/ (cqe->res already holds them).  Our own codes start at -200 and are grouped by
 * module so that modules can add codes without colliding:
 *   -200 .. -209  general
 *   -210 .. -259  codec (decoder and encoder)
 *   -260 .. -299  protocol state machine (proto/)
 *   -300 .. -399  io/ (identity, TLS, QUIC, io_uring)
 *   -400 .. -499  server/
 * Anything at or below GS_ERR_FATAL means "tear the object down" (gs_err_is_fatal).
 */
#ifndef GS_PROTO_GS_ERR_H
#define GS_PROTO_GS_ERR_H

#include <stdbool.h>
#include <stddef.h>

/* gs_ssize: what byte producers return (bytes written, or a negative status). */
typedef ptrdiff_t gs_ssize;

enum gs_err {
    GS_OK = 0,
    /* general */
    GS_ERR_NOMEM = -200,    /* an allocation failed */
    GS_ERR_INVAL = -201,    /* the caller passed an invalid argument */
    GS_ERR_PROTO = -202,    /* the peer violated the protocol; drop the peer */
    GS_ERR_NOBUF = -203,    /* the output buffer is too small */
    GS_ERR_LIMIT = -204,    /* a configured bound was reached; the input was refused and counted */
    GS_ERR_NOTFOUND = -205, /* no such object (topic, peer, connection) */
    GS_ERR_EXISTS = -206,   /* the object already exists */
    GS_ERR_AGAIN = -207,    /* try again later (queue full, not ready) */
    GS_ERR_IO = -208,       /* an I/O operation failed without a more precise errno */
    /* codec */
    GS_ERR_TRUNCATED = -210,       /* the body ended before the value was complete */
    GS_ERR_VARINT_OVERFLOW = -211, /* a varint exceeds its type's width */
    GS_ERR_BAD_TAG = -212,         /* an enum tag is out of range */
    GS_ERR_BAD_BOOL = -213,        /* a bool byte is not 00/01 */
    GS_ERR_BAD_OPTION = -214,      /* an Option tag is not 00/01 */
    GS_ERR_BAD_KEY = -215,         /* a public key does not decompress */
    GS_ERR_FRAME_TOO_LARGE = -216, /* a received length prefix is above max_message_size */
    GS_ERR_BAD_UTF8 = -217,        /* a string is not valid UTF-8 */
    GS_ERR_MSG_TOO_LARGE = -218,   /* an encoded body would be >= max_message_size (sender rule) */
    GS_ERR_BAD_HEADER = -219,      /* a stream header is malformed */
    GS_ERR_BAD_LENGTH = -220,      /* a count or length is impossible for the bytes that remain */
    GS_ERR_BAD_ADDR = -221,        /* an AddrInfo / SocketAddr is malformed */
    /* protocol state machine */
    GS_ERR_NOT_JOINED = -260, /* the topic is not joined */
    GS_ERR_SELF = -261,       /* the operation names our own id */
    GS_ERR_BAD_ID = -262,     /* a Gossip id is not BLAKE3(content) */
    /* io */
    GS_ERR_TLS = -300,           /* TLS failed (GnuTLS error) */
    GS_ERR_QUIC = -301,          /* QUIC failed (ngtcp2 error) */
    GS_ERR_PEER_MISMATCH = -302, /* the server's key is not the endpoint id we dialed */
    GS_ERR_KEY_PERM = -303,      /* a key file is readable by group or others */
    GS_ERR_KEY_FORMAT = -304,    /* a key file or endpoint id string is malformed */
    GS_ERR_CLOSED = -305,        /* the connection or stream is closed */
    GS_ERR_TIMEOUT = -306,       /* a handshake or idle timeout expired */
    GS_ERR_REFUSED = -307,       /* refused by a limit (connections, streams, per-address) */
    GS_ERR_UNSUPPORTED = -308,   /* the kernel lacks a feature (io_uring op, GSO, GRO) */
    /* fatal: tear down */
    GS_ERR_FATAL = -500,
    GS_ERR_INTERNAL = -501, /* an invariant broke; the object is unusable */
};

/*
 * gs_strerror returns a static description of |rv|, which is 0, a negated errno value or a
 * gs_err code.  It is thread-safe and never returns NULL.
 */
const char *gs_strerror(int rv);

/* gs_err_is_fatal returns true if |rv| means the object that returned it must be torn down. */
static inline bool gs_err_is_fatal(int rv)
{
    return rv <= GS_ERR_FATAL;
}

#if defined(__GNUC__)
#    define gs_unreachable() __builtin_unreachable()
#else
#    define gs_unreachable() ((void)0)
#endif

#endif /* GS_PROTO_GS_ERR_H */
