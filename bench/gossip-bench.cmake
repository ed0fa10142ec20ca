# SPDX-License-Identifier: MIT
# gossip-bench: benchmark driver (transport server/client/throughput over the io/ engine).
if(TARGET gs_io)
    add_executable(gossip-bench
        ${CMAKE_CURRENT_LIST_DIR}/gossip_bench.c
        ${CMAKE_CURRENT_LIST_DIR}/transport_cli.c
        ${CMAKE_CURRENT_LIST_DIR}/transport_tput.c
        ${CMAKE_CURRENT_LIST_DIR}/udp_limit.c
        ${CMAKE_CURRENT_LIST_DIR}/ops_common.c
        ${CMAKE_CURRENT_LIST_DIR}/swarm.c
        ${CMAKE_CURRENT_LIST_DIR}/relay.c
        ${CMAKE_CURRENT_LIST_DIR}/nats.c)
    find_package(Threads REQUIRED)
    target_compile_definitions(gossip-bench PRIVATE
        GS_BENCH_IROH_NODE="${CMAKE_SOURCE_DIR}/bench/iroh/iroh-node.mjs")
    target_link_libraries(gossip-bench PRIVATE gs_io gs_proto gs_alloc gs_warnings Threads::Threads m
        PkgConfig::JANSSON)
endif()
