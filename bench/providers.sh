#!/usr/bin/env bash
# shellcheck disable=SC2016  # jq programs are single-quoted on purpose
# What the Vertex AI, Azure Foundry and Bedrock request paths cost against the Anthropic
# passthrough: four relays of the same binary, one provider type each, against one mock, measured
# interleaved in one run. Builds nothing: uses the build tree's binaries. See bench/README.md,
# "Issue 12: Vertex and Azure against the passthrough".
#
#   bash bench/providers.sh [--reps N] [--duration S] [--conns C] [--quiet-wait S]
#                           [--build-dir DIR] [--relay-bin PATH] [--targets "T..."] [--out FILE] [--keep]
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

PB_NAME=providers
PB_TARGETS="anthropic vertex azure bedrock"
OUT=$BENCH_DIR/results/issue12-providers.json
pb_defaults
pb_parse_args "$@"
pb_start
pb_measure

pb_summarize_vs_base
pb_print_vs_base "Provider request paths"
log "saved $OUT"
[[ $ERRORS == 0 ]] || { log "$ERRORS errors"; exit 1; }
