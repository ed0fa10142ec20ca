/* SPDX-License-Identifier: MIT */
#include "ops.h"
int gs_bench_relay(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 2;
}
