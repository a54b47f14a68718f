#!/usr/bin/env bash
# cc-relay soak: a bounded mix of requests through one `cc-relay serve` for N minutes, with the
# relay's RSS, open descriptors and threads sampled over time (issue 14, bench/README.md).
#
#   bash bench/soak.sh [--minutes N] [--interval-s S] [--reload-s R] [--concurrency C]
#                      [--rate Q] [--relay-bin PATH] [--build-dir DIR] [--no-build] [--out FILE] [--keep]
#
# --minutes may be a fraction (ctest runs --minutes 0.75). Defaults: 30 minutes, a sample every
# 10 s, a config reload every 30 s, 4 client threads sending at most Q = 200 requests/s in all
# (0: back to back), result in bench/results/soak-latest.json.
# The mix (bench/soak_client.py): SSE streams with 3 KB and 200 KB bodies, JSON answers of both,
# upstream 500 / 529 / 429 (the mock's x-mock-status) on providers of their own, clients that
# hang up mid-stream, and the config swapped between two provider weightings (file watch, and
# every second time SIGHUP). Exits non-zero if the relay died, a request that should have
# succeeded failed (or an error request succeeded), a reload was not applied, or the relay ended
# with more descriptors than at the start of the steady state + C + 8. Memory is not judged:
# read rss_kb and the slope in the result.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
PB_NAME=soak
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

MINUTES=30
INTERVAL_S=10
RELOAD_S=30
CONCURRENCY=4
RATE=200
RELAY_BIN=${CCR_RELAY_BINARY:-}
BUILD_DIR=""
NO_BUILD=0
OUT=$REPO/bench/results/soak-latest.json
KEEP=0
usage() {
  sed -n '/^#   bash bench\//,/^[^#]/{/^#   /s/^# \{0,1\}//p}' "$0"
  exit 2
}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --minutes) MINUTES=$2; shift ;;
    --interval-s) INTERVAL_S=$2; shift ;;
    --reload-s) RELOAD_S=$2; shift ;;
    --concurrency) CONCURRENCY=$2; shift ;;
    --rate) RATE=$2; shift ;;
    --relay-bin) RELAY_BIN=$2; shift ;;
    --build-dir) BUILD_DIR=$2; shift ;;
    --no-build) NO_BUILD=1 ;;
    --out) OUT=$2; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) usage ;;
    *) echo "soak: unknown option $1" >&2; usage ;;
  esac
  shift
done

command -v jq >/dev/null || { log "jq not found: skipped"; exit 77; }
[[ -x /usr/bin/python3 ]] || { log "/usr/bin/python3 not found: skipped"; exit 77; }

BUILD_DIR=${BUILD_DIR:-$REPO/build/release}
if [[ $NO_BUILD == 0 ]]; then
  [[ -f $BUILD_DIR/CMakeCache.txt ]] || (cd "$REPO" && cmake --preset release >&2)
  targets="ccr_mock_upstream ccr_bench_body ccr_cold_start"
  [[ -z $RELAY_BIN ]] && targets="$targets cc-relay"
  log "building $targets in $BUILD_DIR"
  # shellcheck disable=SC2086
  cmake --build "$BUILD_DIR" -j "${BENCH_BUILD_JOBS:-2}" --target $targets >&2
fi
BIN=${CCR_BENCH_BIN_DIR:-$BUILD_DIR/bench}
RELAY=${RELAY_BIN:-$BUILD_DIR/controlplane/cc-relay}
for tool in ccr_mock_upstream ccr_bench_body ccr_cold_start; do
  [[ -x $BIN/$tool ]] || die "$BIN/$tool missing: cmake --build --preset release --target $tool"
done
[[ -x $RELAY ]] || die "$RELAY missing"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ccr-soak.XXXXXX")
PIDS=()
trap pb_cleanup EXIT
trap 'exit 130' INT TERM
raise_nofile

mkdir -p "$WORK/bodies"
"$BIN/ccr_bench_body" --bytes 3072 --out "$WORK/bodies/stream_small.json"
"$BIN/ccr_bench_body" --bytes 204800 --out "$WORK/bodies/stream_large.json"
"$BIN/ccr_bench_body" --bytes 3072 --no-stream --out "$WORK/bodies/json_small.json"
"$BIN/ccr_bench_body" --bytes 102400 --no-stream --out "$WORK/bodies/json_large.json"
"$BIN/ccr_bench_body" --bytes 3072 --model claude-soak-errors --out "$WORK/bodies/error.json"
"$BIN/ccr_bench_body" --bytes 3072 --model claude-soak-429 --out "$WORK/bodies/error_429.json"

"$BIN/ccr_mock_upstream" --listen 127.0.0.1:0 --threads 1 --port-file "$WORK/mock.port" \
  >"$WORK/mock.log" 2>&1 &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
wait_for_file "$WORK/mock.port" "$MOCK_PID" || die "mock did not start: $(cat "$WORK/mock.log")"
MOCK_PORT=$(cat "$WORK/mock.port")

# Two providers for the Claude Code model (two keys each; weights swapped by each reload), and
# for the scripted errors two of their own (500 and 529; 429 with retry-after: 1, which cools
# its key for a second), so that their cooldowns and breakers never touch the requests that must
# succeed.
PORT=$("$BIN/ccr_cold_start" --free-port)
soak_conf() {  # WEIGHT_A WEIGHT_B
  local name weight model keys
  echo "server: {listen: \"127.0.0.1:$PORT\"}"
  echo "providers:"
  while read -r name weight model keys; do
    cat <<EOF
  - name: $name
    type: anthropic
    base_url: "http://127.0.0.1:$MOCK_PORT"
    weight: $weight
    models: [$model]
    keys: [$keys]
EOF
  done <<EOF
main-a $1 claude-sonnet-4-5-20250929 {key: "soak-key-a1"}, {key: "soak-key-a2"}
main-b $2 claude-sonnet-4-5-20250929 {key: "soak-key-b1"}, {key: "soak-key-b2"}
errors 1 claude-soak-errors {key: "soak-key-e"}
limited 1 claude-soak-429 {key: "soak-key-l"}
EOF
}
soak_conf 1 3 >"$WORK/relay.yaml.a"
soak_conf 3 1 >"$WORK/relay.yaml.b"
cp "$WORK/relay.yaml.a" "$WORK/relay.yaml"

# serve with its in-process control plane only (no listeners), like bench/lib.sh's pb_start; it
# watches relay.yaml and reloads on SIGHUP.
"$RELAY" serve --config "$WORK/relay.yaml" --workers 2 --log-level warn \
  --control-plane-listen none --control-plane-http-listen none >"$WORK/relay.log" 2>&1 &
RELAY_PID=$!
PIDS+=("$RELAY_PID")
wait_for_port "$PORT" "$RELAY_PID" || die "relay did not start: $(tail -20 "$WORK/relay.log")"
log "relay pid $RELAY_PID on 127.0.0.1:$PORT, mock on $MOCK_PORT; $MINUTES min, $CONCURRENCY clients, at most $RATE requests/s"

SECONDS_TOTAL=$(awk -v m="$MINUTES" 'BEGIN {print m * 60}')
status=0
/usr/bin/python3 "$BENCH_DIR/soak_client.py" --port "$PORT" --pid "$RELAY_PID" \
  --seconds "$SECONDS_TOTAL" --bodies "$WORK/bodies" --config "$WORK/relay.yaml" \
  --interval-s "$INTERVAL_S" --reload-s "$RELOAD_S" --concurrency "$CONCURRENCY" --rate "$RATE" \
  --out "$WORK/client.json" || status=$?
[[ -s $WORK/client.json ]] || die "soak client wrote no result (exit $status)"

relay_exit=running
if ! kill -0 "$RELAY_PID" 2>/dev/null; then
  wait "$RELAY_PID" && relay_exit=0 || relay_exit=$?
  log "relay exited ($relay_exit): $(tail -20 "$WORK/relay.log")"
  status=1
fi

mkdir -p "$(dirname "$OUT")"
jq --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --arg commit "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  --arg relay_sha "$(sha256sum "$RELAY" | cut -c1-12)" --arg relay_exit "$relay_exit" \
  --argjson cpus "$(nproc)" --arg kernel "$(uname -r)" \
  --arg cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
  --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
  --argjson warn_lines "$(grep -c . "$WORK/relay.log" || true)" \
  '{date: $date, commit: $commit, relay_sha256_12: $relay_sha, relay_exit: $relay_exit,
    relay_log_lines: $warn_lines,
    machine: {cpus: $cpus, cpu: $cpu, kernel: $kernel, loadavg_at_end: $load}} + .' \
  "$WORK/client.json" >"$OUT"

jq -r 'def mb: . / 1024 | . * 10 | round / 10 | tostring + " MB";
  .summary as $s |
  "Soak · \(.date) · commit \(.commit), cc-relay \(.relay_sha256_12) · \(.machine.cpus) CPUs · load \(.machine.loadavg_at_end)",
  "\($s.duration_s / 60) min, \($s.concurrency) clients, \($s.requests) requests (\($s.requests_per_s)/s), reloads \($s.reloads.file) (\($s.reloads.sighup) also with SIGHUP; snapshot version +\($s.snapshot_versions)), failures \($s.failures)",
  "",
  "| | RSS | fds | threads |",
  "|---|---:|---:|---:|",
  "| start (idle) | \($s.rss_kb.start | mb) | \($s.fds.start) | \($s.threads.start) |",
  "| steady state from t=\($s.rss_kb.steady_start_t_s) s | \($s.rss_kb.steady_start | mb) | \($s.fds.steady_start) | |",
  "| last sample under load | \($s.rss_kb.end_of_load | mb) | | |",
  "| end (clients gone) | \($s.rss_kb.end | mb) | \($s.fds.end) (bound \($s.fds.bound)) | \($s.threads.end) |",
  "| max | \($s.rss_kb.max | mb) | \($s.fds.max) | |",
  "",
  "RSS slope over the second half (least squares): \($s.rss_slope_kb_per_min_second_half) KB/min; peak (VmHWM) \($s.rss_kb.hwm | mb)",
  "Requests by kind: \($s.by_kind | to_entries | map("\(.key) \(.value.done)" + (if .value.failed > 0 then " (\(.value.failed) failed)" else "" end)) | join(", "))",
  "Checks: \($s.checks | to_entries | map("\(.key)=\(.value)") | join(" "))",
  (if $s.failures > 0 then "Failures: \($s.failure_examples | join("; "))" else empty end)' "$OUT"
log "result: $OUT"
exit "$status"
