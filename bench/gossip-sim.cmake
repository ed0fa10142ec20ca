# SPDX-License-Identifier: MIT
# gossip-sim: the swarm simulator CLI (library gs_sim lives in tests/sim; CMake resolves the
# target at generate time, so it may be defined after this fragment).
add_executable(gossip-sim ${CMAKE_CURRENT_LIST_DIR}/gossip_sim.c)
target_link_libraries(gossip-sim PRIVATE gs_sim gs_warnings gs_alloc)
