# SPDX-License-Identifier: MIT
# bench_proto: messages per second through one node's state machine (decode, BLAKE3, dedup,
# forward decisions, encode of the outgoing frames).
add_executable(bench_proto ${CMAKE_CURRENT_LIST_DIR}/bench_proto.c)
target_link_libraries(bench_proto PRIVATE gs_proto gs_alloc gs_warnings)
