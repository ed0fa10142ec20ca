#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run_fuzz.sh FUZZER CORPUS SECONDS ARTIFACT_DIR: fuzz for SECONDS over a temporary copy of CORPUS
# (the repository's corpus is never written); crash inputs go to ARTIFACT_DIR (the build tree).
set -euo pipefail
fuzzer=${1:?usage: run_fuzz.sh FUZZER CORPUS SECONDS ARTIFACT_DIR}
corpus=${2:?}
seconds=${3:?}
artifacts=${4:?}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$corpus"/. "$work"/
mkdir -p "$artifacts"
echo "run_fuzz: $(ls "$work" | wc -l) seed inputs, ${seconds}s"
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -print_final_stats=1 -artifact_prefix="$artifacts"/ "$work"
