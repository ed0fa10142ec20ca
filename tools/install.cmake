# SPDX-License-Identifier: MIT
# Install rules (`cmake --install BUILD [--prefix P]`): gossipd, gossipctl, gossip-bench, the
# example configuration (every key explained, generated from gossipd --check-config), the
# hardened systemd unit and the operator docs.  Tested by tests/ops/install_test.sh.
include(GNUInstallDirs)
if(TARGET gossipd AND TARGET gossipctl AND TARGET gossip-bench)
    set(GS_BINDIR ${CMAKE_INSTALL_FULL_BINDIR})
    set(GS_DOCDIR ${CMAKE_INSTALL_FULL_DOCDIR})
    set(GS_EXAMPLE_CONF ${CMAKE_INSTALL_FULL_DOCDIR}/gossipd.conf.example)
    configure_file(${CMAKE_CURRENT_LIST_DIR}/gossipd.service.in
        ${CMAKE_BINARY_DIR}/gossipd.service @ONLY)
    add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/gossipd.conf.example
        COMMAND ${CMAKE_CURRENT_LIST_DIR}/gen-example-config.sh $<TARGET_FILE:gossipd>
            ${CMAKE_BINARY_DIR}/gossipd.conf.example
        DEPENDS gossipd ${CMAKE_CURRENT_LIST_DIR}/gen-example-config.sh
        COMMENT "example configuration from gossipd --check-config")
    add_custom_target(gossipd_example_conf ALL DEPENDS ${CMAKE_BINARY_DIR}/gossipd.conf.example)

    install(TARGETS gossipd gossipctl gossip-bench RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
    install(FILES ${CMAKE_BINARY_DIR}/gossipd.conf.example DESTINATION ${CMAKE_INSTALL_DOCDIR})
    install(FILES ${CMAKE_BINARY_DIR}/gossipd.service
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/systemd/system)
    foreach(doc config.md control.md metrics.md gossipctl.md BENCHMARKS.md)
        if(EXISTS ${CMAKE_SOURCE_DIR}/docs/${doc})
            install(FILES ${CMAKE_SOURCE_DIR}/docs/${doc} DESTINATION ${CMAKE_INSTALL_DOCDIR})
        endif()
    endforeach()
endif()
