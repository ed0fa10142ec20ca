#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gossip_wire_test.sh: runs gossip-wire over every wire vector.
#   valid and drop- vectors: decode -> encode gives the same bytes (recv-only needs --max-size 4097)
#   accept- vectors: decode succeeds and decode(encode(decode(x))) == decode(x) minus trailing_bytes
#   invalid- vectors: decode fails with exit 1 and the expected error name on stderr
#   peerdata- vectors: decode --peerdata -> encode gives the same bytes
# plus CLI checks (usage errors, strict JSON, the header rule, the sender rule).
# Usage: gossip_wire_test.sh path/to/gossip-wire path/to/iroh-gossip-wire.txt
set -uo pipefail
bin=${1:?usage: gossip_wire_test.sh GOSSIP_WIRE VECTORS}
vectors=${2:?usage: gossip_wire_test.sh GOSSIP_WIRE VECTORS}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

expected_error() {
    case "$1" in
    invalid-empty-body | invalid-truncated-body | invalid-truncated-key) echo GS_ERR_TRUNCATED ;;
    invalid-bad-enum-tag-* | invalid-bad-priority | invalid-bad-scope-tag) echo GS_ERR_BAD_TAG ;;
    invalid-bad-option-tag) echo GS_ERR_BAD_OPTION ;;
    invalid-bad-bool) echo GS_ERR_BAD_BOOL ;;
    invalid-round-varint-overflow) echo GS_ERR_VARINT_OVERFLOW ;;
    invalid-ed25519-point*) echo GS_ERR_BAD_KEY ;;
    invalid-header-short) echo GS_ERR_BAD_HEADER ;;
    invalid-length-over-limit) echo GS_ERR_FRAME_TOO_LARGE ;;
    *) echo UNKNOWN ;;
    esac
}

nvec=0
while read -r name hex; do
    case "$name" in '' | '#'*) continue ;; esac
    nvec=$((nvec + 1))
    mode=()
    case "$name" in *[Hh]eader*) mode=(--header) ;; esac
    case "$name" in
    peerdata-*)
        if ! json=$("$bin" decode --peerdata "$hex" 2>"$tmp/err"); then
            bad "$name: decode --peerdata failed: $(cat "$tmp/err")"; continue
        fi
        if [ "$("$bin" encode "$json" 2>&1)" = "$hex" ]; then ok; else bad "$name: re-encode differs"; fi
        ;;
    invalid-*)
        want=$(expected_error "$name")
        [ "$want" = UNKNOWN ] && { bad "$name: no expected error listed"; continue; }
        "$bin" decode "${mode[@]}" "$hex" >"$tmp/out" 2>"$tmp/err"
        rc=$?
        if [ $rc -ne 1 ]; then bad "$name: exit $rc, want 1"; continue; fi
        if [ -s "$tmp/out" ]; then bad "$name: printed output on error"; continue; fi
        if grep -q "$want" "$tmp/err"; then ok; else bad "$name: want $want, got: $(cat "$tmp/err")"; fi
        ;;
    accept-*)
        if ! json=$("$bin" decode "${mode[@]}" "$hex" 2>"$tmp/err"); then
            bad "$name: decode failed: $(cat "$tmp/err")"; continue
        fi
        if ! frame=$("$bin" encode "$json" 2>"$tmp/err"); then
            bad "$name: encode failed: $(cat "$tmp/err")"; continue
        fi
        json2=$("$bin" decode "${mode[@]}" "$frame" 2>&1)
        strip() { sed -E 's/,"trailing_bytes":[0-9]+//'; }
        if [ "$(echo "$json" | strip)" = "$json2" ]; then ok; else bad "$name: $json vs $json2"; fi
        ;;
    *)
        # the recv-only vector is accepted at 4096 but a sender needs a larger limit
        enc_max=()
        case "$name" in *recv-only*) enc_max=(--max-size 4097) ;; esac
        if ! json=$("$bin" decode "$hex" 2>"$tmp/err"); then
            bad "$name: decode failed: $(cat "$tmp/err")"; continue
        fi
        # the header rule picks the right kind without --header
        case "$name" in
        *[Hh]eader*) echo "$json" | grep -q '"type":"StreamHeader"' || { bad "$name: not a header: $json"; continue; } ;;
        *) echo "$json" | grep -q '"type":"StreamHeader"' && { bad "$name: taken for a header"; continue; } ;;
        esac
        if ! frame=$("$bin" encode "${enc_max[@]}" "$json" 2>"$tmp/err"); then
            bad "$name: encode failed: $(cat "$tmp/err")"; continue
        fi
        if [ "$frame" = "$hex" ]; then ok; else bad "$name: re-encode differs"; fi
        if [ ${#enc_max[@]} -gt 0 ]; then
            if "$bin" encode "$json" >/dev/null 2>"$tmp/err"; then
                bad "$name: sender rule not applied"
            elif grep -q GS_ERR_MSG_TOO_LARGE "$tmp/err"; then ok; else bad "$name: $(cat "$tmp/err")"; fi
        fi
        ;;
    esac
done <"$vectors"
[ "$nvec" -ge 50 ] || bad "only $nvec vectors read from $vectors"

# expect_fail EXIT_CODE PATTERN ARGS...: the command fails with that code and message.
expect_fail() {
    local want_rc=$1 pattern=$2
    shift 2
    "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ $rc -ne "$want_rc" ]; then bad "gossip-wire $*: exit $rc, want $want_rc"; return; fi
    if grep -q -- "$pattern" "$tmp/err"; then ok; else bad "gossip-wire $*: stderr lacks '$pattern': $(cat "$tmp/err")"; fi
}
expect_fail 2 usage
expect_fail 2 usage frobnicate 00
expect_fail 2 usage decode
expect_fail 2 max-size decode --max-size x 000000020101
expect_fail 1 'odd number' decode 0000000201010
expect_fail 1 'not a hex digit' decode 0000000201zz
expect_fail 1 'length prefix says' decode 00000003010100ff
expect_fail 1 GS_ERR_FRAME_TOO_LARGE decode --max-size 1 000000020101
expect_fail 1 'JSON syntax' encode '{"type":"Prune",}'
expect_fail 1 'JSON syntax' encode '{"type":"Prune"} x'
expect_fail 1 'duplicate' encode '{"type":"Prune","type":"Prune"}'
expect_fail 1 'unknown field' encode '{"type":"Prune","extra":1}'
expect_fail 1 'unknown message type' encode '{"type":"Nope"}'
expect_fail 1 'hex digits' encode '{"type":"Graft","id":"85","round":1}'
expect_fail 1 '0..65535' encode '{"type":"Graft","id":null,"round":65536}'
expect_fail 1 'only integers' encode '{"type":"Graft","id":null,"round":1.5}'
expect_fail 1 'nesting too deep' encode "$(printf '%.0s[' {1..40})"
expect_fail 1 'obsolete' encode '{"type":"Disconnect","alive":true,"respond":true}'
expect_fail 1 GS_ERR_MSG_TOO_LARGE encode --max-size 2 '{"type":"Prune"}'

# strictness of the jansson reader: each case names what is wrong and where
expect_fail 1 'duplicate member name at line 1 column 22' encode '{"type":"Prune","type":"Prune"}'
expect_fail 1 'duplicate member name' encode '{"type":"Join","data":{"hex":"00","hex":"01"}}'
expect_fail 1 'unknown field "extra"' encode '{"type":"Join","data":{"addr_info":{"addrs":[],"extra":1}}}'
expect_fail 1 'unknown field "Relay_url"' encode '{"type":"AddrInfo","Relay_url":null,"addrs":[]}'
expect_fail 1 'unknown field "x"' encode '{"type":"IHave","entries":[{"id":"00","round":1,"x":2}]}'
expect_fail 1 'NUL) is not supported' encode '{"type":"Join","data":{"hex":"00\u0000"}}'
expect_fail 1 'NUL) is not supported' encode '{"type":"Join","data":{"h\u0000ex":"00"}}'
expect_fail 1 'invalid Unicode' encode '{"type":"AddrInfo","relay_url":"\ud800","addrs":[]}'
# raw bytes go through standard input: a NUL byte, a stray continuation byte, an overlong form
expect_stdin_fail() {
    local pattern=$1 input=$2
    printf "$input" | "$bin" encode - >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ $rc -ne 1 ]; then bad "encode of $input: exit $rc, want 1"; return; fi
    if [ -s "$tmp/out" ]; then bad "encode of $input: printed output on error"; return; fi
    if grep -q -- "$pattern" "$tmp/err"; then ok; else bad "encode of $input: stderr lacks '$pattern': $(cat "$tmp/err")"; fi
}
expect_stdin_fail 'embedded NUL byte at offset 16' '{"type":"Prune"}\0'
expect_stdin_fail 'embedded NUL byte at offset 33' '{"type":"AddrInfo","relay_url":"a\0b","addrs":[]}'
expect_stdin_fail 'invalid UTF-8 at line 1 column 32 (offset 32): unable to decode byte 0x80' '{"type":"AddrInfo","relay_url":"\x80","addrs":[]}'
expect_stdin_fail 'invalid UTF-8' '{"type":"AddrInfo","relay_url":"\xc0\x80","addrs":[]}'
expect_stdin_fail 'invalid UTF-8' '{"type":"AddrInfo","relay_url":"\xed\xa0\x80","addrs":[]}'
expect_stdin_fail 'invalid UTF-8' '{"\xff":1}'
expect_fail 1 'number too large' encode '{"type":"Graft","id":null,"round":123456789012345678901234567890}'
expect_fail 1 '0..65535' encode '{"type":"Graft","id":null,"round":-1}'
expect_fail 1 'alive' encode '{"type":"Disconnect","alive":1}'
expect_fail 1 'must be an object' encode '[{"type":"Prune"}]'
expect_fail 1 'not a hex digit' encode '{"type":"Graft","id":"85052e9aab1b67b6622d94a08441b09fd5b7aca61ee360416d70de5da67d86cg","round":1}'
expect_fail 1 'not a hex digit at position 10' decode 0000000201z1
expect_fail 1 'not a hex digit at position 11' decode 00000002011z
# well-formed nesting at the cap is accepted by the reader (and then refused by the schema)
expect_fail 1 'unknown field' encode '{"type":"Prune","x":[[[[[[[[[[[[[[1]]]]]]]]]]]]]]}'

# the output is sized from the encoded length: 16 short IPv6 addresses encode to more bytes than
# their JSON text has, as an AddrInfo and as a Join's PeerData
addrs=$(for i in 1 2 3 4 5 6 7 8 9 a b c d e f 10; do printf '"[::%s]:0",' "$i"; done)
addrs=${addrs%,}
j="{\"type\":\"AddrInfo\",\"relay_url\":null,\"addrs\":[$addrs]}"
if out=$("$bin" encode "$j" 2>"$tmp/err"); then
    [ "${#out}" = $(((1 + 1 + 16 * 18) * 2)) ] && ok || bad "16 IPv6 AddrInfo: length ${#out}"
    [ "$("$bin" decode --peerdata "$out")" = "$j" ] && ok || bad "16 IPv6 AddrInfo round trip"
else
    bad "16 IPv6 AddrInfo: $(cat "$tmp/err")"
fi
j="{\"type\":\"Join\",\"data\":{\"addr_info\":{\"relay_url\":null,\"addrs\":[$addrs]}}}"
if out=$("$bin" encode "$j" 2>"$tmp/err"); then
    "$bin" decode "$out" | grep -q '"addrs":\["\[::1\]:0",.*"\[::10\]:0"\]' && ok || bad "16 IPv6 Join: $("$bin" decode "$out")"
else
    bad "16 IPv6 Join: $(cat "$tmp/err")"
fi
expect_fail 1 'more than 16 addresses' encode "{\"type\":\"AddrInfo\",\"relay_url\":null,\"addrs\":[$addrs,\"[::11]:0\"]}"

# the JSON of the brief encodes to the vector, also from standard input
gossip_hi='{"type":"Gossip","id":"85052e9aab1b67b6622d94a08441b09fd5b7aca61ee360416d70de5da67d86ca","content":"6869","scope":{"Swarm":0}}'
want=00000027010085052e9aab1b67b6622d94a08441b09fd5b7aca61ee360416d70de5da67d86ca0268690000
[ "$(echo "$gossip_hi" | "$bin" encode -)" = "$want" ] && ok || bad "encode from stdin"
[ "$("$bin" decode "$want")" = "$gossip_hi" ] && ok || bad "decode prints the brief's JSON"
# PeerData given as addr_info encodes canonically (sorted, deduplicated)
j='{"type":"Join","data":{"addr_info":{"relay_url":null,"addrs":["[2001:db8::1]:4433","192.0.2.1:4433","192.0.2.1:4433"]}}}'
want=000000200000011c000200c0000201d1220120010db8000000000000000000000001d122
[ "$("$bin" encode "$j")" = "$want" ] && ok || bad "addr_info encode: $("$bin" encode "$j" 2>&1)"
# a 32-byte body that is a complete message is a message; --header forces a header
j='{"type":"Join","data":{"hex":"00000000000000000000000000000000000000000000000000000000"}}'
f=$("$bin" encode "$j")
[ "${#f}" = 72 ] || bad "test frame should be 36 bytes: $f"
"$bin" decode "$f" | grep -q '"type":"Join"' && ok || bad "32-byte message taken for a header"
"$bin" decode --header "$f" | grep -q '"type":"StreamHeader"' && ok || bad "--header ignored"
# a JSON string with escapes and non-ASCII decodes correctly (relay URL)
j='{"type":"AddrInfo","relay_url":"https://r\u00e9lay.example./\u002f","addrs":[]}'
out=$("$bin" encode "$j")
[ "$("$bin" decode --peerdata "$out")" = '{"type":"AddrInfo","relay_url":"https://rélay.example.//","addrs":[]}' ] && ok ||
    bad "unicode relay: $out / $("$bin" decode --peerdata "$out")"

echo "gossip_wire_test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
