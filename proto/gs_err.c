/* SPDX-License-Identifier: MIT */
/*
 * gs_err.c: static descriptions of status codes.  errno values get a small fixed table so that
 * proto/ stays free of strerror (not thread-safe) and of any libc locale machinery.
 */
#include "gs_err.h"

static const char *errno_str(int e)
{
    switch (e) {
    case 1:
        return "operation not permitted";
    case 2:
        return "no such file or directory";
    case 4:
        return "interrupted system call";
    case 5:
        return "input/output error";
    case 9:
        return "bad file descriptor";
    case 11:
        return "resource temporarily unavailable";
    case 12:
        return "cannot allocate memory";
    case 13:
        return "permission denied";
    case 16:
        return "device or resource busy";
    case 17:
        return "file exists";
    case 22:
        return "invalid argument";
    case 24:
        return "too many open files";
    case 28:
        return "no space left on device";
    case 32:
        return "broken pipe";
    case 38:
        return "function not implemented";
    case 62:
        return "timer expired";
    case 90:
        return "message too long";
    case 95:
        return "operation not supported";
    case 97:
        return "address family not supported";
    case 98:
        return "address already in use";
    case 99:
        return "cannot assign requested address";
    case 101:
        return "network is unreachable";
    case 105:
        return "no buffer space available";
    case 110:
        return "connection timed out";
    case 111:
        return "connection refused";
    case 125:
        return "operation canceled";
    default:
        return "system error";
    }
}

const char *gs_strerror(int rv)
{
    if (rv == 0) {
        return "success";
    }
    if (rv < 0 && rv > -200) {
        return errno_str(-rv);
    }
    switch ((enum gs_err)rv) {
    case GS_OK:
        return "success";
    case GS_ERR_NOMEM:
        return "out of memory";
    case GS_ERR_INVAL:
        return "invalid argument";
    case GS_ERR_PROTO:
        return "protocol violation by peer";
    case GS_ERR_NOBUF:
        return "output buffer too small";
    case GS_ERR_LIMIT:
        return "configured limit reached";
    case GS_ERR_NOTFOUND:
        return "not found";
    case GS_ERR_EXISTS:
        return "already exists";
    case GS_ERR_AGAIN:
        return "try again";
    case GS_ERR_IO:
        return "input/output error";
    case GS_ERR_TRUNCATED:
        return "truncated: body ended before the value was complete";
    case GS_ERR_VARINT_OVERFLOW:
        return "varint exceeds its type's width";
    case GS_ERR_BAD_TAG:
        return "enum tag out of range";
    case GS_ERR_BAD_BOOL:
        return "bool byte is not 00 or 01";
    case GS_ERR_BAD_OPTION:
        return "Option tag is not 00 or 01";
    case GS_ERR_BAD_KEY:
        return "public key does not decompress";
    case GS_ERR_FRAME_TOO_LARGE:
        return "frame length prefix above max_message_size";
    case GS_ERR_BAD_UTF8:
        return "string is not valid UTF-8";
    case GS_ERR_MSG_TOO_LARGE:
        return "message body would reach max_message_size";
    case GS_ERR_BAD_HEADER:
        return "malformed stream header";
    case GS_ERR_BAD_LENGTH:
        return "count or length impossible for the remaining bytes";
    case GS_ERR_BAD_ADDR:
        return "malformed address info";
    case GS_ERR_NOT_JOINED:
        return "topic not joined";
    case GS_ERR_SELF:
        return "operation names our own id";
    case GS_ERR_BAD_ID:
        return "gossip id is not BLAKE3(content)";
    case GS_ERR_TLS:
        return "TLS failure";
    case GS_ERR_QUIC:
        return "QUIC failure";
    case GS_ERR_PEER_MISMATCH:
        return "peer key is not the endpoint id dialed";
    case GS_ERR_KEY_PERM:
        return "key file is readable by group or others";
    case GS_ERR_KEY_FORMAT:
        return "malformed key or endpoint id";
    case GS_ERR_CLOSED:
        return "closed";
    case GS_ERR_TIMEOUT:
        return "timed out";
    case GS_ERR_REFUSED:
        return "refused by a limit";
    case GS_ERR_UNSUPPORTED:
        return "not supported by this kernel";
    case GS_ERR_FATAL:
        return "fatal error";
    case GS_ERR_INTERNAL:
        return "internal error";
    }
    return "unknown error";
}
