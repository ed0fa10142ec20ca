# SPDX-License-Identifier: MIT
# bench_ed25519: Ed25519 key check cost per key, binary Jacobi symbol vs the old Euler
# exponentiation in the same run (bench/bench_ed25519.c; figures in docs/bench/blake3.md).
add_executable(bench_ed25519 ${CMAKE_CURRENT_LIST_DIR}/bench_ed25519.c)
target_link_libraries(bench_ed25519 PRIVATE gs_proto gs_warnings gs_alloc)
# it benchmarks an internal of proto/ (ed25519_check.h), so it adds proto/ explicitly
target_include_directories(bench_ed25519 PRIVATE ${CMAKE_SOURCE_DIR}/proto)
