#!/usr/bin/env bash
# shellcheck disable=SC2016  # jq programs are single-quoted on purpose
# What the Bedrock transcoding (AWS event stream -> Anthropic SSE) costs per event, against the
# SSE passthrough of an Anthropic provider. Builds nothing: uses the build tree's binaries. See
# bench/README.md, "Bedrock transcoding".
#
#   bash bench/bedrock.sh [--reps N] [--duration S] [--conns C] [--quiet-wait S]
#                         [--build-dir DIR] [--relay-bin PATH] [--targets "T..."] [--out FILE] [--keep]
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

PB_NAME=bedrock
PB_TARGETS="anthropic bedrock"
OUT=$BENCH_DIR/results/bedrock-transcode.json
pb_defaults
pb_parse_args "$@"
# Cases `small`, `large`: "stream": true (the transcoded event stream); `small_json`,
# `large_json`: "stream": false (Bedrock's InvokeModel answer passes through), so bedrock -
# anthropic there is what the Bedrock request costs without any transcoding (the body rewrite,
# the head), to be subtracted from the streamed cases' difference.
pb_start
pb_measure

# Summary: medians (min-max) over the repetitions. Per repetition and case, bedrock's CPU per
# request minus anthropic's, and that over the events per stream; for the streamed cases also
# the transcoding alone: (that difference - the same body's JSON-answer difference) / events.
pb_summarize '
  {cases: ($w | cases | map(. as $c
     | ($w | map(select(.case == $c))) as $wc
     | per_rep($wc; "bedrock"; "anthropic"; .[0] - .[1]) as $diff
     | per_rep($w | map(select(.case == $c + "_json")); "bedrock"; "anthropic"; .[0] - .[1]) as $jdiff
     | {case: $c, stream: ($c | endswith("_json") | not), body_bytes: $sizes[$c],
        targets: ($targets | map(. as $t | {target: $t} + wrk_stats($wc | map(select(.target == $t))))),
        bedrock_minus_anthropic_cpu_us_per_request: ($diff | stat(10)),
        bedrock_minus_anthropic_cpu_us_per_event:
          (if $c | endswith("_json") then null else $diff | map(select(. != null) / $events) | stat(100) end),
        transcode_cpu_us_per_event: (if $c | endswith("_json") then null else
          [range(0; $reps) as $i | if $diff[$i] != null and $jdiff[$i] != null
            then ($diff[$i] - $jdiff[$i]) / $events else null end] | stat(100) end)})),
   probe: ($targets | map(. as $t | {target: $t} + probe_stats($p | map(select(.target == $t)))))}'

jq -r 'def s: "\(.median) (\(.min)–\(.max))";
  "Bedrock transcoding · \(.date) · commit \(.commit) · \(.reps) reps × \(.duration_s) s, wrk \(.wrk_connections) connections, \(.events_per_stream) events per stream",
  "",
  "| body | answer | target | rps | CPU µs / request | p50 µs | p99 µs |", "|---|---|---|---:|---:|---:|---:|",
  (.cases[] | .body_bytes as $b | (if .stream then "stream" else "JSON" end) as $a | .targets[] |
    "| \($b / 1024 | floor) KB | \($a) | \(.target) | \(.rps | s) | \(.cpu_us_per_request | s) | \(.latency_p50_us.median) | \(.latency_p99_us.median) |"),
  "",
  "| body | answer | bedrock − anthropic CPU µs / request | ÷ events | transcoding alone µs / event |", "|---|---|---:|---:|---:|",
  (.cases[] | "| \(.body_bytes / 1024 | floor) KB | \(if .stream then "stream" else "JSON" end) | \(.bedrock_minus_anthropic_cpu_us_per_request | s) | \(if .stream then (.bedrock_minus_anthropic_cpu_us_per_event | s) else "–" end) | \(if .stream then (.transcode_cpu_us_per_event | s) else "–" end) |"),
  "",
  "| target | TTFE p50 / p99 µs | event delivery p50 / p99 µs | held back |", "|---|---:|---:|---:|",
  (.probe[] | "| \(.target) | \(.ttfe_p50_us.median) / \(.ttfe_p99_us.median) | \(.event_p50_us.median) / \(.event_p99_us.median) | \(.held) of \(.events) |")' "$OUT"
log "saved $OUT"
[[ $ERRORS == 0 ]] || { log "$ERRORS errors"; exit 1; }
