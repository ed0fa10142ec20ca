/* SPDX-License-Identifier: MIT */
/*
 * gossipctl_top.h: `gossipctl top` (tools/gossipctl_top.c), the live view.
 */
#ifndef GS_TOOLS_GOSSIPCTL_TOP_H
#define GS_TOOLS_GOSSIPCTL_TOP_H

/*
 * gc_top_main runs `gossipctl top` with the arguments after "top" (|argc|, |argv|), watching
 * |control| when no SOCKET argument is given.  Returns the exit status: 0, 2 (usage) or 3 (no
 * node answered, or stdout failed).
 */
int gc_top_main(const char *control, int argc, char **argv);

#endif /* GS_TOOLS_GOSSIPCTL_TOP_H */
