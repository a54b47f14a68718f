#!/usr/bin/env bash
# shellcheck disable=SC2016  # jq programs are single-quoted on purpose
# What the Vertex AI, Azure Foundry and Bedrock request paths cost against the Anthropic
# passthrough: four relays of the same binary, one provider type each, against one mock, measured
# interleaved in one run. Builds nothing: uses the build tree's binaries. See bench/README.md,
# "Issue 12: Vertex and Azure against the passthrough".
#
#   bash bench/providers.sh [--reps N] [--duration S] [--conns C] [--quiet-wait S]
#                           [--build-dir DIR] [--relay-bin PATH] [--out FILE] [--keep]
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

# Summary: medians (min-max) over the repetitions; per repetition, each target's CPU per request
# over (and minus) the passthrough's, and its stream probe's TTFE minus the passthrough's.
pb_summarize '
  def probe_minus($x; $t; f): [range(1; $reps + 1) as $r
    | [$x | map(select(.rep == $r and (.target == $t or .target == "anthropic")))
          | sort_by(.target != $t)[] | f]
    | if length == 2 and .[0] != null and .[1] != null then .[0] - .[1] else null end];
  {cases: ($w | cases | map(. as $c | ($w | map(select(.case == $c))) as $wc
     | {case: $c, stream: ($c | endswith("_json") | not), body_bytes: $sizes[$c],
        targets: ($targets | map(. as $t | {target: $t} + wrk_stats($wc | map(select(.target == $t)))
          + {cpu_vs_anthropic: (per_rep($wc; $t; "anthropic"; .[0] / .[1]) | stat(100)),
             cpu_minus_anthropic_us: (per_rep($wc; $t; "anthropic"; .[0] - .[1]) | stat(10))}))})),
   probe: ($targets | map(. as $t | {target: $t} + probe_stats($p | map(select(.target == $t)))
     + {ttfe_p50_minus_anthropic_us: (probe_minus($p; $t; .ttfe_us.p50) | stat(10)),
        ttfe_p99_minus_anthropic_us: (probe_minus($p; $t; .ttfe_us.p99) | stat(10))}))}'

jq -r 'def num: if . == null then "–" elif . == (. | floor) then tostring
    else ((. * 10 | round) / 10 | tostring) end;
  def s: if . == null or .median == null then "–" elif .min == .max then (.median | num)
    else "\(.median | num) (\(.min | num)–\(.max | num))" end;
  def x: if . == null or .median == null then "–" elif .min == .max then "\(.median)×"
    else "\(.median)× (\(.min)–\(.max))" end;
  def pct: if . == null or .median == null then "–"
    else "\(.median * 100 | round)%, \(.max * 100 | round)%" end;
  "Provider request paths · \(.date) · commit \(.commit), cc-relay \(.relay.sha256_12) · \(.machine.cpus) CPUs (\(.machine.cpu)) · Linux \(.machine.kernel)",
  "",
  "\(.pinning). Each cell: median over \(.reps) repetitions (min–max); wrk \(.wrk_connections) connections, \(.duration_s) s per run; \(.events_per_stream) events per stream. Before each run the harness waited up to \(.quiet.wait_s) s for the machine to be at most \(.quiet.max_busy_pct)% busy; \(.quiet.runs_started_busy) runs started on a busy machine. vs / − anthropic: per repetition, then the median. Others: the share of the relay CPU that other processes took during the runs (median, max).",
  "",
  "| body | answer | target | rps | CPU µs / request | CPU vs anthropic | p50 µs | p99 µs | others |",
  "|---|---|---|---:|---:|---:|---:|---:|---:|",
  (.cases[] | .body_bytes as $b | (if .stream then "SSE" else "JSON" end) as $a | .targets[] |
    "| \($b / 1024 | floor) KB | \($a) | \(.target) | \(.rps | s) | \(.cpu_us_per_request | s) | \(if .target == "anthropic" then "1×" else (.cpu_vs_anthropic | x) end) | \(.latency_p50_us.median | num) | \(.latency_p99_us.median | num) | \(.others_on_target_cpu | pct) |"),
  "",
  "| target | TTFE p50 µs | TTFE p99 µs | TTFE − anthropic p50 / p99 µs | event delivery p50 / p99 µs | held back |",
  "|---|---:|---:|---:|---:|---:|",
  (.probe[] | "| \(.target) | \(.ttfe_p50_us | s) | \(.ttfe_p99_us | s) | \(if .target == "anthropic" then "–" else "\(.ttfe_p50_minus_anthropic_us.median | num) / \(.ttfe_p99_minus_anthropic_us.median | num)" end) | \(.event_p50_us.median | num) / \(.event_p99_us.median | num) | \(.held) of \(.events) |")' "$OUT"
log "saved $OUT"
[[ $ERRORS == 0 ]] || { log "$ERRORS errors"; exit 1; }
