#!/usr/bin/env bash
# What each routing strategy (and the scenario rules) adds per request, against failover: one
# relay of the same binary per strategy, each with three providers (anthropic, zai, ollama) on one
# mock, measured interleaved in one run. Builds nothing: uses the build tree's binaries. See
# bench/README.md, "Issue 13: routing strategies".
#
#   bash bench/strategies.sh [--reps N] [--duration S] [--conns C] [--quiet-wait S]
#                            [--build-dir DIR] [--relay-bin PATH] [--targets "T..."] [--out FILE] [--keep]
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

PB_NAME=strategies
PB_TARGETS="failover shuffle round-robin least-busy cost-based latency-based rules"
OUT=$BENCH_DIR/results/issue13-strategies.json
pb_defaults
PB_CASES="small large"   # Claude Code's answers are streams; the JSON cases add nothing here
pb_parse_args "$@"
pb_start
pb_measure

pb_summarize_vs_base
pb_print_vs_base "Routing strategies"
log "saved $OUT"
[[ $ERRORS == 0 ]] || { log "$ERRORS errors"; exit 1; }
