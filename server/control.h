/* SPDX-License-Identifier: MIT */
/*
 * control.h: the control socket (docs/control.md): a Unix stream socket serving JSON-lines
 * requests from local applications, on its own thread.  Requests that touch a topic go to the
 * topic's shard as a gs_ctl_req through the mailbox mesh (the control thread is the mesh's last
 * endpoint); status, peers and topics go to every shard and the parts are merged.  Events from
 * the shards arrive as gs_event frames and are written to each subscribed client's bounded
 * output queue (a client that does not keep up loses events and gets `lagged`).
 *
 * Where it runs (control.thread): on a thread of its own (gs_control_run: epoll_wait, woken by
 * the mesh through gs_control_wake), or inside shard 0's turns (gs_control_poll: shard 0's
 * io_uring polls gs_control_fd, and the mesh endpoint's doorbell wakes shard 0), which saves
 * the thread hop, two context switches, for every request and every event on a one-shard node.
 *
 * Threads: gs_control_new/del on the main thread; gs_control_run or gs_control_poll on one
 * thread only (the control thread, or shard 0's); gs_control_stop and gs_control_wake from any
 * thread.
 */
#ifndef GS_SERVER_CONTROL_H
#define GS_SERVER_CONTROL_H

#include "server.h"

/*
 * gs_control_new creates the socket at srv->cfg.control_path (a stale socket file is replaced;
 * a live one is refused with -EADDRINUSE) with mode cfg.control_mode.  Returns 0 or a negated
 * errno / GS_ERR_NOMEM.
 */
int gs_control_new(gs_control **pc, gs_server *srv);

/* gs_control_del closes every client, removes the socket file and frees |c|.  NULL is a no-op. */
void gs_control_del(gs_control *c);

/* gs_control_run serves until gs_control_stop.  Returns 0. */
int gs_control_run(gs_control *c);

/* gs_control_fd returns the descriptor that becomes readable when gs_control_poll has socket
 * work (the epoll set of the listening socket and the clients). */
int gs_control_fd(const gs_control *c);

/*
 * gs_control_poll runs one pass without blocking, for a control served inside another loop:
 * socket events when |io| (gs_control_fd was readable), then the shards' answers and events,
 * paused clients and the mesh flush.  The caller owns the mesh sleep marks of the control's
 * endpoint (the last one of the mesh).
 * Returns true if a full batch of socket events was handled (poll again with |io| set: more may
 * be ready without the descriptor signalling again).
 */
bool gs_control_poll(gs_control *c, bool io);

/* gs_control_stop makes gs_control_run return (any thread). */
void gs_control_stop(gs_control *c);

/* gs_control_wake rings the control thread's doorbell (any thread; the mesh's wake function). */
void gs_control_wake(void *c);

/* gs_b64_encode writes the base64 of |len| bytes to |out| (4*ceil(len/3)+1 bytes). */
void gs_b64_encode(const uint8_t *in, size_t len, char *out);

/* gs_b64_decode decodes the |len| chars of base64 at |in| (padding required when the length is
 * not a multiple of 4... accepted either way) into |out| (at least 3*len/4 bytes).  Returns the
 * number of bytes or -1 for invalid input. */
gs_ssize gs_b64_decode(const char *in, size_t len, uint8_t *out);

#endif /* GS_SERVER_CONTROL_H */
