# SPDX-License-Identifier: MIT
# bench_ring: cross-shard SPSC ring throughput (records/s) and one-way latency between two
# threads, busy-polling and through the doorbell (bench/bench_ring.c; figures in BENCHMARKS.md).
add_executable(bench_ring ${CMAKE_CURRENT_LIST_DIR}/bench_ring.c)
target_link_libraries(bench_ring PRIVATE gs_server_core gs_warnings gs_alloc)
