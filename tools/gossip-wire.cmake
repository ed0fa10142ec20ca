# SPDX-License-Identifier: MIT
# gossip-wire: decode /iroh-gossip/1 frames to JSON and encode JSON to frames (tools/gossip-wire.c),
# plus its CLI test over every wire vector (tests/tools/gossip_wire_test.sh).
add_executable(gossip-wire ${CMAKE_CURRENT_LIST_DIR}/gossip-wire.c)
target_link_libraries(gossip-wire PRIVATE gs_proto PkgConfig::JANSSON PkgConfig::SODIUM gs_warnings
    gs_alloc)

# GS_VECTORS_DIR is a cache variable defined in tests/; the default repeats it here because tools/
# is configured first.
set(GS_VECTORS_DIR ${CMAKE_SOURCE_DIR}/../shared/vectors CACHE PATH "shared byte vectors")
add_test(NAME gossip_wire_cli
    COMMAND ${CMAKE_SOURCE_DIR}/tests/tools/gossip_wire_test.sh $<TARGET_FILE:gossip-wire>
        ${GS_VECTORS_DIR}/iroh-gossip-wire.txt)
set_tests_properties(gossip_wire_cli PROPERTIES TIMEOUT 300)
