#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# proto_is_sans_io: fails if libgs_proto.a references any undefined symbol outside the allow-list
# (memory functions, allocation, assert, and the sanitizer / fortify runtimes).  A socket, clock,
# thread, file or RNG call in proto/ shows up here as an undefined symbol.
set -euo pipefail
lib=${1:?usage: proto_is_sans_io.sh libgs_proto.a}
allow='^((mem(cpy|move|set|cmp|chr)|bcmp)|__mem(cpy|move|set)_chk|malloc|calloc|realloc|free|strlen|strnlen|strcmp|strncmp|__assert_fail|abort|__stack_chk_fail|__(a|ub|t)san_.*|__sanitizer_.*|__asan_.*|__ubsan_.*|__tsan_.*|_GLOBAL_OFFSET_TABLE_|__sancov.*|__llvm.*)$'
# Symbols defined inside the archive are internal references, not dependencies.
defined=$(nm --defined-only "$lib" 2>/dev/null | awk 'NF==3{print $3}' | sort -u)
undef=$(nm -u "$lib" | awk '{print $NF}' | grep -v ':$' | sort -u)
bad=$(comm -23 <(echo "$undef") <(echo "$defined") | grep -Ev "$allow" || true)
if [ -n "$bad" ]; then
    echo "proto_is_sans_io: FAIL, libgs_proto.a references non-pure symbols:" >&2
    echo "$bad" | sed 's/^/  /' >&2
    exit 1
fi
echo "proto_is_sans_io: OK ($(echo "$undef" | grep -c . || true) external symbols, all allowed)"
