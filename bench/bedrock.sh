#!/usr/bin/env bash
# shellcheck disable=SC2016  # jq programs are single-quoted on purpose
# What the Bedrock transcoding (AWS event stream -> Anthropic SSE) costs per event, against the
# SSE passthrough of an Anthropic provider. Builds nothing: uses the build tree's binaries. See
# bench/README.md, "Bedrock transcoding".
#
#   bash bench/bedrock.sh [--reps N] [--duration S] [--conns C] [--quiet-wait S]
#                         [--build-dir DIR] [--relay-bin PATH] [--out FILE] [--keep]
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

REPS=3
DURATION=5
CONNS=10             # wrk connections (issue 10's c10 load)
SMALL_BYTES=3072
LARGE_BYTES=204800
PROBE_REQUESTS=200   # streams per probe run, 8 at a time, 5 ms between the mock's events
PROBE_CONC=8
PROBE_DELAY_MS=5
# The probe's headers to the mock (timestamps, delay) under the name the Bedrock provider
# forwards; the Anthropic provider forwards them too, so both targets get the same request.
PROBE_HEADERS=(--header-prefix x-amzn-bedrock-mock-)
QUIET_WAIT=30        # before each run, wait up to S seconds for a quiet machine (lib.sh)
QUIET_PCT=15
BUILD_DIR=$REPO/build/release
RELAY_BIN=""
OUT=$BENCH_DIR/results/bedrock-transcode.json
KEEP=0

usage() { sed -n '7,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --reps) REPS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --conns) CONNS=$2; shift ;;
    --quiet-wait) QUIET_WAIT=$2; shift ;;
    --build-dir) BUILD_DIR=$2; shift ;;
    --relay-bin) RELAY_BIN=$2; shift ;;
    --out) OUT=$2; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) usage ;;
    *) echo "bedrock.sh: unknown option $1" >&2; usage ;;
  esac
  shift
done

log() { printf '[bedrock %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
for tool in wrk taskset jq; do command -v "$tool" >/dev/null || die "$tool not found"; done
BIN=$BUILD_DIR/bench
RELAY=${RELAY_BIN:-$BUILD_DIR/controlplane/cc-relay}
for tool in ccr_mock_upstream ccr_bench_body ccr_stream_probe ccr_cold_start; do
  [[ -x $BIN/$tool ]] || die "$BIN/$tool missing: cmake --build --preset release --target $tool"
done
[[ -x $RELAY ]] || die "$RELAY missing"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ccr-bedrock.XXXXXX")
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ $KEEP == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
raise_nofile

# Same placement as run.sh: the relays on the first allowed CPU (only one is loaded at a time),
# wrk, the probe and the mock on the others.
allowed_cpus
if [[ ${#CPUS[@]} -ge 2 ]]; then
  TARGET_CPUS=${CPUS[0]}
  LOAD_CPUS=$(IFS=,; echo "${CPUS[*]:1}")
  WRK_THREADS=$(( ${#CPUS[@]} - 1 > 4 ? 4 : ${#CPUS[@]} - 1 ))
  ON_TARGET=(taskset -c "$TARGET_CPUS")
  ON_LOAD=(taskset -c "$LOAD_CPUS")
  PINNING="relays on CPU $TARGET_CPUS; wrk, probe and mock on CPU $LOAD_CPUS"
else
  WRK_THREADS=1 ON_TARGET=() ON_LOAD=() PINNING="one CPU: nothing pinned"
fi
log "$PINNING"

wait_until() {  # TEST PID: wait until `eval TEST` succeeds (10 s), fail if PID died
  local i
  for ((i = 0; i < 1000; i++)); do
    eval "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.01
  done
  return 1
}
CLK_TCK=$(getconf CLK_TCK)
cpu_ms() {  # PID: user + system CPU time consumed so far, in ms (all threads)
  local t
  t=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}')
  echo $((${t:-0} * 1000 / CLK_TCK))
}

# Cases: body size x answer. `small`, `large`: "stream": true (the transcoded event stream);
# `small_json`, `large_json`: "stream": false (Bedrock's InvokeModel answer passes through), so
# bedrock - anthropic there is what the Bedrock request costs without any transcoding (the body
# rewrite, the head), to be subtracted from the streamed cases' difference.
CASES="small large small_json large_json"
declare -A BODY=([small]=$WORK/body_small.json [large]=$WORK/body_large.json
  [small_json]=$WORK/body_small_json.json [large_json]=$WORK/body_large_json.json)
"$BIN/ccr_bench_body" --bytes "$SMALL_BYTES" --out "${BODY[small]}"
"$BIN/ccr_bench_body" --bytes "$LARGE_BYTES" --out "${BODY[large]}"
"$BIN/ccr_bench_body" --bytes "$SMALL_BYTES" --no-stream --out "${BODY[small_json]}"
"$BIN/ccr_bench_body" --bytes "$LARGE_BYTES" --no-stream --out "${BODY[large_json]}"

"${ON_LOAD[@]}" "$BIN/ccr_mock_upstream" --listen 127.0.0.1:0 --threads 1 \
  --port-file "$WORK/mock.port" >"$WORK/mock.log" 2>&1 &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
wait_until "[[ -s $WORK/mock.port ]]" "$MOCK_PID" || die "mock did not start: $(cat "$WORK/mock.log")"
MOCK_PORT=$(cat "$WORK/mock.port")

# Two relays, same binary, same flags: `anthropic` (type: anthropic, the SSE passed through) and
# `bedrock` (type: bedrock, the event stream transcoded to SSE); configs in lib.sh.
declare -A PORT=() TPID=()
for t in anthropic bedrock; do
  PORT[$t]=$("$BIN/ccr_cold_start" --free-port)
  if [[ $t == anthropic ]]; then
    relay_conf "127.0.0.1:${PORT[$t]}" >"$WORK/$t.yaml"
  else
    relay_bedrock_conf "127.0.0.1:${PORT[$t]}" >"$WORK/$t.yaml"
  fi
  "${ON_TARGET[@]}" "$RELAY" serve --config "$WORK/$t.yaml" --workers 1 --log-level warn \
    >"$WORK/$t.log" 2>&1 &
  TPID[$t]=$!
  PIDS+=("${TPID[$t]}")
  wait_until "(exec 3<>/dev/tcp/127.0.0.1/${PORT[$t]})" "${TPID[$t]}" ||
    die "relay $t did not start: $(tail -20 "$WORK/$t.log")"
  log "relay $t on 127.0.0.1:${PORT[$t]} (pid ${TPID[$t]})"
done

RECORDS=$WORK/records.jsonl
: >"$RECORDS"
ERRORS=0
# Both must answer complete streams (every event, timestamps intact) before anything is measured.
for t in anthropic bedrock; do
  "${ON_LOAD[@]}" "$BIN/ccr_stream_probe" --port "${PORT[$t]}" --body "${BODY[small]}" --requests 3 \
    --concurrency 1 --delay-ms 0 --label "$t" "${PROBE_HEADERS[@]}" >"$WORK/preflight_$t.json" 2>&1 ||
    die "$t failed the preflight: $(cat "$WORK/preflight_$t.json") $(tail -5 "$WORK/$t.log")"
done
EVENTS=$(jq .events_max "$WORK/preflight_bedrock.json")
[[ $EVENTS == "$(jq .events_max "$WORK/preflight_anthropic.json")" &&
   $(jq -s 'all(.stamped == .events)' "$WORK"/preflight_*.json) == true ]] ||
  die "the streams differ: $(cat "$WORK"/preflight_*.json)"
log "$EVENTS events per stream on both"

run_wrk() {  # REP CASE TARGET
  local rep=$1 case=$2 t=$3 out cpu0 cpu1 line errs
  out=$WORK/wrk_${rep}_${case}_$t.txt
  wait_quiet
  cpu0=$(cpu_ms "${TPID[$t]}")
  "${ON_LOAD[@]}" wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency \
    -s "$BENCH_DIR/claude_code.lua" "http://127.0.0.1:${PORT[$t]}" -- "${BODY[$case]}" >"$out" 2>&1 || true
  cpu1=$(cpu_ms "${TPID[$t]}")
  line=$(sed -n 's/^WRK_JSON //p' "$out")
  if [[ -z $line ]]; then
    log "wrk failed for $t $case: $(cat "$out")"
    ERRORS=$((ERRORS + 1))
    return
  fi
  jq -c --argjson rep "$rep" --arg case "$case" --arg t "$t" --argjson cpu "$((cpu1 - cpu0))" \
    --argjson waited "$QUIET_WAITED" \
    '{kind:"wrk",rep:$rep,case:$case,target:$t,cpu_ms:$cpu,quiet_wait_s:$waited} + .
     | .rps = (.requests / (.duration_us / 1e6))
     | .cpu_us_per_request = (if .requests > 0 then $cpu * 1000 / .requests else null end)
     | .error_count = (.errors | add)' <<<"$line" >>"$RECORDS"
  errs=$(jq '.errors | add' <<<"$line")
  if [[ $errs != 0 ]]; then
    log "$t $case: $errs errors ($(jq -c .errors <<<"$line"))"
    ERRORS=$((ERRORS + errs))
  fi
}
run_probe() {  # REP TARGET
  local out=$WORK/probe_$1_$2.json
  wait_quiet
  if ! "${ON_LOAD[@]}" "$BIN/ccr_stream_probe" --port "${PORT[$2]}" --body "${BODY[small]}" \
      --requests "$PROBE_REQUESTS" --concurrency "$PROBE_CONC" --delay-ms "$PROBE_DELAY_MS" \
      --label "$2" "${PROBE_HEADERS[@]}" >"$out" 2>&1; then
    log "stream probe failed for $2: $(cat "$out")"
    ERRORS=$((ERRORS + 1))
  fi
  jq -c --argjson rep "$1" '{kind:"probe",rep:$rep,target:.label} + .' <"$out" >>"$RECORDS" || true
}

# Interleaved: every repetition runs both targets, in alternating order.
for ((rep = 1; rep <= REPS; rep++)); do
  order="anthropic bedrock"
  ((rep % 2 == 0)) && order="bedrock anthropic"
  for case in $CASES; do
    for t in $order; do
      log "rep $rep/$REPS: $case body, $t"
      run_wrk "$rep" "$case" "$t"
    done
  done
  for t in $order; do run_probe "$rep" "$t"; done
done

# Summary: medians (min-max) over the repetitions. Per repetition and case, bedrock's CPU per
# request minus anthropic's, and that over the events per stream; for the streamed cases also
# the transcoding alone: (that difference - the same body's JSON-answer difference) / events.
mkdir -p "$(dirname "$OUT")"
jq -s --arg commit "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg pinning "$PINNING" \
  --argjson events "$EVENTS" --argjson reps "$REPS" --argjson duration "$DURATION" \
  --argjson conns "$CONNS" --argjson errors "$ERRORS" \
  --argjson sizes "$(for c in $CASES; do printf '{"%s":%s}' "$c" "$(wc -c <"${BODY[$c]}")"; done | jq -s add)" '
  def med: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
           else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def rnd($k): if . == null then null else (. * $k | round) / $k end;
  def stat($k): map(select(. != null))
    | {median: (med | rnd($k)), min: (min | rnd($k)), max: (max | rnd($k))};
  def cpu($x; $r; $t): $x | map(select(.rep == $r and .target == $t))[0].cpu_us_per_request;
  def diffs($x): [range(1; $reps + 1) as $r | [cpu($x; $r; "bedrock"), cpu($x; $r; "anthropic")]
    | if .[0] != null and .[1] != null then .[0] - .[1] else null end];
  . as $all
  | ($all | map(select(.kind == "wrk"))) as $w
  | ($all | map(select(.kind == "probe"))) as $p
  | {date: $date, commit: $commit, pinning: $pinning, reps: $reps, duration_s: $duration,
     wrk_connections: $conns, events_per_stream: $events, errors: $errors,
     cases: ([$w[].case] | unique | sort_by([(if startswith("small") then 0 else 1 end), endswith("_json")]) | map(. as $c
       | ($w | map(select(.case == $c))) as $wc
       | diffs($wc) as $diff
       | diffs($w | map(select(.case == $c + "_json"))) as $jdiff
       | {case: $c, stream: ($c | endswith("_json") | not), body_bytes: $sizes[$c],
          targets: (["anthropic", "bedrock"] | map(. as $t | ($wc | map(select(.target == $t))) as $x
            | {target: $t, rps: ($x | map(.rps) | stat(10)),
               cpu_us_per_request: ($x | map(.cpu_us_per_request) | stat(10)),
               latency_p50_us: ($x | map(.latency_us.p50) | stat(1)),
               latency_p99_us: ($x | map(.latency_us.p99) | stat(1)),
               errors: ($x | map(.error_count) | add)})),
          bedrock_minus_anthropic_cpu_us_per_request: ($diff | stat(10)),
          bedrock_minus_anthropic_cpu_us_per_event:
            (if $c | endswith("_json") then null else $diff | map(select(. != null) / $events) | stat(100) end),
          transcode_cpu_us_per_event: (if $c | endswith("_json") then null else
            [range(0; $reps) as $i | if $diff[$i] != null and $jdiff[$i] != null
              then ($diff[$i] - $jdiff[$i]) / $events else null end] | stat(100) end)})),
     probe: (["anthropic", "bedrock"] | map(. as $t | ($p | map(select(.target == $t))) as $x
       | {target: $t, streams: ($x | map(.requests) | add), events: ($x | map(.events) | add),
          held: ($x | map(.held) | add), failures: ($x | map(.failures) | add),
          ttfe_p50_us: ($x | map(.ttfe_us.p50) | stat(10)),
          ttfe_p99_us: ($x | map(.ttfe_us.p99) | stat(10)),
          event_p50_us: ($x | map(.event_us.p50) | stat(10)),
          event_p99_us: ($x | map(.event_us.p99) | stat(10))})),
     records: $all}' "$RECORDS" >"$OUT"

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
