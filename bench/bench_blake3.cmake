# SPDX-License-Identifier: MIT
# bench_blake3: BLAKE3 throughput vs Debian's b3sum (same run) and the codec's Gossip decode /
# encode rate (bench/bench_blake3.c; figures in docs/bench/blake3.md).
add_executable(bench_blake3 ${CMAKE_CURRENT_LIST_DIR}/bench_blake3.c)
target_link_libraries(bench_blake3 PRIVATE gs_proto gs_warnings gs_alloc)
