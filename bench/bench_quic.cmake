# SPDX-License-Identifier: MIT
# bench_quic: the QUIC endpoint's own cost per core (no sockets): bulk frames on one connection,
# and handshakes per second (server and client sides timed apart).
if(TARGET gs_io)
    add_executable(bench_quic ${CMAKE_CURRENT_LIST_DIR}/bench_quic.c)
    target_link_libraries(bench_quic PRIVATE gs_io gs_alloc gs_warnings)
endif()
