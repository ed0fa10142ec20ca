# SPDX-License-Identifier: MIT
# gossipctl: the control-socket client (tools/gossipctl.c, docs/gossipctl.md), tested against a
# fake daemon that speaks docs/control.md (tests/tools/gossipctl_test.sh, fake_gossipd.py).
add_executable(gossipctl ${CMAKE_CURRENT_LIST_DIR}/gossipctl.c ${CMAKE_CURRENT_LIST_DIR}/gossipctl_top.c)
target_link_libraries(gossipctl PRIVATE PkgConfig::JANSSON PkgConfig::SODIUM gs_warnings gs_alloc)

find_program(GS_PYTHON3 python3)
if(GS_PYTHON3)
    add_test(NAME gossipctl_cli
        COMMAND ${CMAKE_SOURCE_DIR}/tests/tools/gossipctl_test.sh $<TARGET_FILE:gossipctl>
            ${CMAKE_SOURCE_DIR}/tests/tools/fake_gossipd.py)
    set_tests_properties(gossipctl_cli PROPERTIES TIMEOUT 120)
endif()
