#!/usr/bin/env bash
# shellcheck disable=SC2016  # jq programs are single-quoted on purpose
# cc-relay data-plane benchmark. One command: builds what it needs, runs direct / nginx / cc-relay
# against the same mock Anthropic upstream, prints a table and saves JSON. See bench/README.md.
#
#   bash bench/run.sh [--smoke] [--reps N] [--duration S] [--targets "direct nginx relay"]
#                     [--cases "small large small_json large_json"] [--skip "scale cold ..."]
#                     [--relay-bin PATH] [--base-relay PATH] [--quiet-wait S] [--streams N]
#                     [--build-dir DIR] [--no-build] [--out FILE] [--keep]
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

# ---------------------------------------------------------------------------------------------
# Options.
SMOKE=0
REPS=5               # repetitions of every measurement; medians and min-max are reported
DURATION=5           # seconds per wrk run
LAT_CONNS=1          # wrk connections for the latency runs (no queueing: pure added latency)
TPUT_CONNS=64        # wrk connections for the throughput runs (saturation)
C10_CONNS=10         # wrk connections for the c10 runs (200 KB bodies: what issue 10 profiled)
CASES="small large small_json large_json"  # body size x answer (SSE, or JSON for *_json)
SMALL_BYTES=3072
LARGE_BYTES=204800
PROBE_REQUESTS=200   # streams per probe run
PROBE_CONC=8
PROBE_DELAY_MS=5     # mock's delay between SSE events in the probe
LOAD_PROBE_REQUESTS=2000  # TTFE under load: streams per run, C10_CONNS at a time, no delay
STREAMS=10000        # connection-scale run
SCALE_DELAY_MS=1000  # per-event delay there: every stream lasts ~20 s
COLD_REPEAT=20
TARGETS="direct nginx relay"
TARGETS_SET=0
SKIP=""              # sections not to run: lat tput c10 probe loadprobe scale cold
RELAY_BIN=""         # the relay to measure (default: the build tree's)
BASE_RELAY=""        # a second relay binary, measured as target relay_base
QUIET_WAIT=120       # before each run, wait up to S seconds for the machine to be quiet (0: don't)
QUIET_PCT=15         # quiet: all CPUs together at most this % busy over half a second
BUILD_DIR=""
NO_BUILD=0
OUT=""
KEEP=0
UPDATE_README=1

usage() { sed -n '3,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --reps) REPS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --targets) TARGETS=$2; TARGETS_SET=1; shift ;;
    --cases) CASES=$2; shift ;;
    --skip) SKIP=$2; shift ;;
    --relay-bin) RELAY_BIN=$2; shift ;;
    --base-relay) BASE_RELAY=$2; shift ;;
    --quiet-wait) QUIET_WAIT=$2; shift ;;
    --streams) STREAMS=$2; shift ;;
    --build-dir) BUILD_DIR=$2; shift ;;
    --no-build) NO_BUILD=1 ;;
    --out) OUT=$2; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) usage ;;
    *) echo "run.sh: unknown option $1" >&2; usage ;;
  esac
  shift
done
if [[ $SMOKE == 1 ]]; then
  REPS=1 DURATION=1 TPUT_CONNS=16 PROBE_REQUESTS=20 LOAD_PROBE_REQUESTS=40 STREAMS=200
  SCALE_DELAY_MS=50 COLD_REPEAT=2 UPDATE_README=0 QUIET_WAIT=0
fi
if [[ -n $BASE_RELAY && $TARGETS_SET == 0 ]]; then TARGETS="$TARGETS relay_base"; fi
has_target() { [[ " $TARGETS " == *" $1 "* ]]; }
skipped() { [[ " $SKIP " == *" $1 "* ]]; }
is_relay() { [[ $1 == relay || $1 == relay_base ]]; }
for c in $CASES; do
  [[ $c =~ ^(small|large)(_json)?$ ]] || { echo "run.sh: unknown case $c" >&2; exit 2; }
done
if has_target relay_base && [[ -z $BASE_RELAY ]]; then
  echo "run.sh: target relay_base needs --base-relay PATH" >&2
  exit 2
fi

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
missing() {  # a missing tool: the smoke test is skipped (ctest SKIP_RETURN_CODE 77)
  log "$1 not found (Debian: apt-get install $2)"
  exit "$([[ $SMOKE == 1 ]] && echo 77 || echo 1)"
}

for tool in wrk taskset jq; do
  command -v "$tool" >/dev/null || missing "$tool" "wrk util-linux jq"
done
if has_target nginx; then
  NGINX=$(command -v nginx || true)
  [[ -z $NGINX && -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx
  [[ -n $NGINX ]] || missing nginx "nginx"
fi

# ---------------------------------------------------------------------------------------------
# Build (release preset unless --build-dir) and locate the binaries. ctest passes
# CCR_BENCH_BIN_DIR and CCR_RELAY_BINARY with --no-build.
TOOLS="ccr_mock_upstream ccr_bench_body ccr_stream_probe ccr_conn_scale ccr_cold_start"
if [[ $NO_BUILD == 0 ]]; then
  if [[ -z $BUILD_DIR ]]; then
    BUILD_DIR=$REPO/build/release
    [[ -f $BUILD_DIR/CMakeCache.txt ]] || (cd "$REPO" && cmake --preset release >&2)
  elif [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
    cmake -S "$REPO" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
  fi
  build_targets=$TOOLS
  has_target relay && [[ -z $RELAY_BIN ]] && build_targets="$build_targets cc-relay"
  log "building $build_targets in $BUILD_DIR"
  # shellcheck disable=SC2086
  cmake --build "$BUILD_DIR" -j "${BENCH_BUILD_JOBS:-2}" --target $build_targets >&2
fi
BUILD_DIR=${BUILD_DIR:-$REPO/build/release}
BIN=${CCR_BENCH_BIN_DIR:-$BUILD_DIR/bench}
RELAY=${RELAY_BIN:-${CCR_RELAY_BINARY:-$BUILD_DIR/controlplane/cc-relay}}
for tool in $TOOLS; do [[ -x $BIN/$tool ]] || die "$BIN/$tool missing (build it or drop --no-build)"; done
if has_target relay; then [[ -x $RELAY ]] || die "$RELAY missing"; fi
if has_target relay_base; then [[ -x $BASE_RELAY ]] || die "$BASE_RELAY missing"; fi

# ---------------------------------------------------------------------------------------------
# Scratch space, process bookkeeping, limits.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ccr-bench.XXXXXX")
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ $KEEP == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Run from a private copy of the binaries: a rebuild of the build tree during the run cannot
# swap them underneath, and the mock's process name is our own.
mkdir -p "$WORK/bin"
for tool in $TOOLS; do cp "$BIN/$tool" "$WORK/bin/"; done
mv "$WORK/bin/ccr_mock_upstream" "$WORK/bin/ccr-bench-upstream"
BIN=$WORK/bin
MOCK_BIN=$BIN/ccr-bench-upstream
declare -A RELAY_SHA=()
if has_target relay; then
  cp "$RELAY" "$WORK/bin/cc-relay"
  RELAY=$WORK/bin/cc-relay
  RELAY_SHA[relay]=$(sha256sum "$RELAY" | cut -c1-12)
fi
if has_target relay_base; then
  cp "$BASE_RELAY" "$WORK/bin/cc-relay-base"
  RELAY_SHA[relay_base]=$(sha256sum "$WORK/bin/cc-relay-base" | cut -c1-12)
fi
declare -A RELAY_EXE=([relay]=$RELAY [relay_base]=$WORK/bin/cc-relay-base)

raise_nofile

# CPU split (commands are prefixed with "${ON_TARGET[@]}" / "${ON_LOAD[@]}", never wrapped in a
# function, so that $! is the server's own pid): the target (nginx or the relay, one worker each) gets the first allowed CPU;
# wrk, the probes and the mock upstream share the others. With one CPU nothing is pinned.
allowed_cpus
if [[ ${#CPUS[@]} -ge 2 ]]; then
  TARGET_CPUS=${CPUS[0]}
  LOAD_CPUS=$(IFS=,; echo "${CPUS[*]:1}")
  WRK_THREADS=$(( ${#CPUS[@]} - 1 > 4 ? 4 : ${#CPUS[@]} - 1 ))
  PINNING="target (nginx / cc-relay, one worker each) on CPU $TARGET_CPUS; wrk, probes and mock upstream on CPU $LOAD_CPUS"
  ON_TARGET=(taskset -c "$TARGET_CPUS")
  ON_LOAD=(taskset -c "$LOAD_CPUS")
else
  TARGET_CPUS=${CPUS[0]:-0}
  LOAD_CPUS=$TARGET_CPUS
  WRK_THREADS=1
  PINNING="one CPU: nothing pinned"
  ON_TARGET=()
  ON_LOAD=()
fi
log "$PINNING; open files limit $NOFILE"

RECORDS=$WORK/records.jsonl
: >"$RECORDS"
record() { jq -c "$@" >>"$RECORDS"; }

# ---------------------------------------------------------------------------------------------
# Request bodies and the mock upstream.
# Case NAME: body size (small, large) and answer: SSE ("stream": true), or a plain JSON Message
# for NAME_json ("stream": false; the mock answers as the API does).
SMALL=$WORK/body_small.json
LARGE=$WORK/body_large.json
"$BIN/ccr_bench_body" --bytes "$SMALL_BYTES" --out "$SMALL"
"$BIN/ccr_bench_body" --bytes "$LARGE_BYTES" --out "$LARGE"
"$BIN/ccr_bench_body" --bytes "$SMALL_BYTES" --no-stream --out "$WORK/body_small_json.json"
"$BIN/ccr_bench_body" --bytes "$LARGE_BYTES" --no-stream --out "$WORK/body_large_json.json"
declare -A BODY=([small]=$SMALL [large]=$LARGE [small_json]=$WORK/body_small_json.json
  [large_json]=$WORK/body_large_json.json)
declare -A BODY_LABEL=([small]="$(($(wc -c <"$SMALL") / 1024)) KB" [large]="$(($(wc -c <"$LARGE") / 1024)) KB")
# wrk runs per case: latency (1 connection), throughput (64), and c10 for the 200 KB bodies.
# The smoke run tries every case and every phase once, not every combination.
declare -A SMOKE_PHASES=([small]="lat tput" [large]="lat tput" [small_json]="tput" [large_json]="c10")
case_phases() {  # CASE
  local p phases="lat tput c10"
  [[ $SMOKE == 1 ]] && phases=${SMOKE_PHASES[$1]}
  for p in $phases; do
    [[ $p == c10 && $1 != large* ]] && continue
    skipped "$p" || printf '%s ' "$p"
  done
}
declare -A PHASE_CONNS=([lat]=$LAT_CONNS [tput]=$TPUT_CONNS [c10]=$C10_CONNS)

"${ON_LOAD[@]}" "$MOCK_BIN" --listen 127.0.0.1:0 --threads 1 \
  --port-file "$WORK/mock.port" >"$WORK/mock.log" 2>&1 &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
wait_for_file "$WORK/mock.port" "$MOCK_PID" || die "mock upstream did not start: $(cat "$WORK/mock.log")"
MOCK_PORT=$(cat "$WORK/mock.port")
log "mock upstream on 127.0.0.1:$MOCK_PORT (pid $MOCK_PID)"

declare -A PORT=([direct]=$MOCK_PORT)
declare -A TPIDS=([direct]=$MOCK_PID)  # processes whose RSS is the target's

# ---------------------------------------------------------------------------------------------
# nginx: reverse proxy with proxy_buffering off and upstream keepalive, one worker
# (nginx_conf in bench/lib.sh).

if has_target nginx; then
  mkdir -p "$WORK/nginx"
  PORT[nginx]=$("$BIN/ccr_cold_start" --free-port)
  nginx_conf "${PORT[nginx]}" "$WORK/nginx" >"$WORK/nginx/nginx.conf"
  "${ON_TARGET[@]}" "$NGINX" -p "$WORK/nginx/" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" \
    -g 'daemon off;' >"$WORK/nginx/stdout.log" 2>&1 &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  wait_for_file "$WORK/nginx/nginx.pid" "$NGINX_PID" ||
    die "nginx did not start: $(cat "$WORK/nginx/error.log" "$WORK/nginx/stdout.log" 2>/dev/null)"
  sleep 0.2
  TPIDS[nginx]="$NGINX_PID $(cat "/proc/$NGINX_PID/task/$NGINX_PID/children")"
  log "nginx on 127.0.0.1:${PORT[nginx]} (pids ${TPIDS[nginx]})"
fi

# ---------------------------------------------------------------------------------------------
# cc-relay: `serve`, one provider (the mock), one key (relay_conf in bench/lib.sh).

# Access logs are off on both proxies: nginx `access_log off`, the relay at --log-level warn.
# relay_base (--base-relay) is a second binary, started the same way on the same CPU, so that
# two builds are measured in one interleaved run.
start_relay() {  # NAME
  local name=$1 pid
  PORT[$name]=$("$BIN/ccr_cold_start" --free-port)
  relay_conf "127.0.0.1:${PORT[$name]}" >"$WORK/$name.yaml"
  "${ON_TARGET[@]}" "${RELAY_EXE[$name]}" serve --config "$WORK/$name.yaml" --workers 1 \
    --log-level warn >"$WORK/$name.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_for_port "${PORT[$name]}" "$pid" || die "$name did not start: $(tail -20 "$WORK/$name.log")"
  TPIDS[$name]=$pid
  log "$name (cc-relay ${RELAY_SHA[$name]}) on 127.0.0.1:${PORT[$name]} (pid $pid)"
}
for t in relay relay_base; do
  if has_target "$t"; then start_relay "$t"; fi
done

sum_status_kb() {  # FIELD PID...: sum of /proc/PID/status FIELD in kB
  local field=$1 total=0 pid v
  shift
  for pid in "$@"; do
    v=$(awk -v f="$field:" '$1 == f {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
reset_hwm() { local pid; for pid in "$@"; do echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true; done; }

# Every target must answer a complete stream before anything is measured.
ERRORS=0
for t in $TARGETS; do
  if ! "${ON_LOAD[@]}" "$BIN/ccr_stream_probe" --port "${PORT[$t]}" --body "$SMALL" --requests 3 \
      --concurrency 1 --delay-ms 0 --label "$t" >"$WORK/preflight_$t.json" 2>&1; then
    die "$t failed the preflight request: $(cat "$WORK/preflight_$t.json")"
  fi
done
for t in relay relay_base nginx; do
  if has_target "$t"; then
    # shellcheck disable=SC2086
    record -n --arg t "$t" --argjson kb "$(sum_status_kb VmRSS ${TPIDS[$t]})" \
      '{kind:"idle_rss",target:$t,rss_kb:$kb}'
  fi
done

# ---------------------------------------------------------------------------------------------
# Load: wrk, interleaved (every repetition runs every target, in a rotating order).
run_wrk() {  # REP CASE PHASE CONNS TARGET
  local rep=$1 case=$2 phase=$3 conns=$4 t=$5 threads=$WRK_THREADS
  [[ $conns -lt $threads ]] && threads=$conns
  # shellcheck disable=SC2086
  reset_hwm ${TPIDS[$t]}
  # shellcheck disable=SC2086
  wrk_measured "$t $case $phase" "$WORK/wrk_${rep}_${case}_${phase}_${t}.txt" "${PORT[$t]}" \
    "${BODY[$case]}" "$threads" "$conns" ${TPIDS[$t]} || return 0
  # shellcheck disable=SC2086
  record "${WRK_ARGS[@]}" --argjson rep "$rep" --arg case "$case" --arg phase "$phase" \
    --arg target "$t" --argjson conns "$conns" --argjson hwm "$(sum_status_kb VmHWM ${TPIDS[$t]})" \
    '{kind:"wrk",rep:$rep,case:$case,phase:$phase,target:$target,conns:$conns,hwm_kb:$hwm} + .
     | '"$WRK_RECORD_JQ"'
     | .others_on_target_cpu = (if $cpu_total_ms > 0 then
         ([($cpu_busy_ms - (if .target == "direct" then 0 else $cpu end)) / $cpu_total_ms, 0] | max)
       else null end)' <<<"$WRK_LINE"
}

run_probe() {  # REP TARGET
  local out=$WORK/probe_$1_$2.json
  wait_quiet
  if ! "${ON_LOAD[@]}" "$BIN/ccr_stream_probe" --port "${PORT[$2]}" --body "$SMALL" \
      --requests "$PROBE_REQUESTS" --concurrency "$PROBE_CONC" --delay-ms "$PROBE_DELAY_MS" \
      --label "$2" >"$out" 2>&1; then
    log "stream probe failed for $2: $(cat "$out")"
    ERRORS=$((ERRORS + 1))
  fi
  record --argjson rep "$1" '{kind:"probe",rep:$rep,target:.label} + .' <"$out" || true
}

# TTFE under load: C10_CONNS streams at a time, back to back, no delay between the mock's
# events, so the first event's latency includes waiting behind the other streams' bodies.
run_load_probe() {  # REP CASE TARGET
  local out=$WORK/loadprobe_$1_$2_$3.json
  wait_quiet
  if ! "${ON_LOAD[@]}" "$BIN/ccr_stream_probe" --port "${PORT[$3]}" --body "${BODY[$2]}" \
      --requests "$LOAD_PROBE_REQUESTS" --concurrency "$C10_CONNS" --delay-ms 0 \
      --label "$3" >"$out" 2>&1; then
    log "load probe failed for $3 $2: $(cat "$out")"
    ERRORS=$((ERRORS + 1))
  fi
  record --argjson rep "$1" --arg case "$2" '{kind:"loadprobe",rep:$rep,case:$case,target:.label} + .' \
    <"$out" || true
}

alive() {  # every server of the run must still be up; a dead one would only yield errors
  local name pid
  for name in mock "${!TPIDS[@]}"; do
    [[ $name == mock ]] && pid=$MOCK_PID || pid=${TPIDS[$name]%% *}
    kill -0 "$pid" 2>/dev/null || die "$name (pid $pid) is no longer running; stopping (see $WORK)"
  done
}

read -r -a TARGET_LIST <<<"$TARGETS"
for ((rep = 1; rep <= REPS; rep++)); do
  # Rotate the order so no target always runs right after another one.
  order=("${TARGET_LIST[@]:$(((rep - 1) % ${#TARGET_LIST[@]}))}" "${TARGET_LIST[@]:0:$(((rep - 1) % ${#TARGET_LIST[@]}))}")
  log "repetition $rep/$REPS (order: ${order[*]})"
  for case in $CASES; do
    for t in "${order[@]}"; do
      for phase in $(case_phases "$case"); do
        alive
        run_wrk "$rep" "$case" "$phase" "${PHASE_CONNS[$phase]}" "$t"
      done
    done
  done
  if ! skipped probe; then
    for t in "${order[@]}"; do alive; run_probe "$rep" "$t"; done
  fi
  if ! skipped loadprobe; then
    for case in $CASES; do
      [[ $case == *_json ]] && continue
      for t in "${order[@]}"; do alive; run_load_probe "$rep" "$case" "$t"; done
    done
  fi
done

# ---------------------------------------------------------------------------------------------
# Connection scale: STREAMS slow streams held at once through each proxy. A proxy needs two
# descriptors per stream (client side and upstream side), so the open-files hard limit caps N
# (with room for nginx's idle upstream keepalive connections and the relay's own descriptors).
SCALE_CAP=$(((NOFILE - 1000) / 2))
for t in relay relay_base nginx; do
  has_target "$t" || continue
  skipped scale && continue
  alive
  n=$STREAMS
  capped=false
  if [[ $n -gt $SCALE_CAP ]]; then n=$SCALE_CAP; capped=true; fi
  log "connection scale: $n streams through $t (${SCALE_DELAY_MS} ms between events)"
  out=$WORK/scale_$t.json
  # shellcheck disable=SC2086,SC2046
  if ! "${ON_LOAD[@]}" "$BIN/ccr_conn_scale" --port "${PORT[$t]}" --body "$SMALL" --streams "$n" \
      --delay-ms "$SCALE_DELAY_MS" $(printf -- '--pid %s ' ${TPIDS[$t]}) \
      --timeout-s $((60 + 25 * SCALE_DELAY_MS / 1000 + n / 500)) --label "$t" >"$out" 2>&1; then
    log "connection scale failed for $t: $(cat "$out")"
    ERRORS=$((ERRORS + 1))
  fi
  record --argjson requested "$STREAMS" --argjson capped "$capped" --argjson nofile "$NOFILE" \
    '{kind:"scale",target:.label,requested:$requested,capped:$capped,nofile:$nofile} + .' \
    <"$out" || true
  sleep 1
done

# ---------------------------------------------------------------------------------------------
# Cold start: process start -> first request served (pinned like the target).
for t in relay relay_base; do
  has_target "$t" || continue
  skipped cold && continue
  relay_conf "127.0.0.1:{PORT}" >"$WORK/${t}_cold.yaml.tmpl"
  log "cold start: $t x$COLD_REPEAT"
  if ! "$BIN/ccr_cold_start" --body "$SMALL" --repeat "$COLD_REPEAT" --cpus "$TARGET_CPUS" \
      --config-template "$WORK/${t}_cold.yaml.tmpl" --config-out "$WORK/${t}_cold.yaml" \
      --log "$WORK/${t}_cold.log" --label "$t" -- "${RELAY_EXE[$t]}" serve \
      --config "$WORK/${t}_cold.yaml" --workers 1 --log-level warn >"$WORK/cold_$t.json" 2>&1; then
    log "cold start failed for $t: $(cat "$WORK/cold_$t.json")"
    ERRORS=$((ERRORS + 1))
  fi
  record '{kind:"cold"} + .' <"$WORK/cold_$t.json" || true
done
if has_target nginx && ! skipped cold; then
  mkdir -p "$WORK/nginx_cold"
  nginx_conf "{PORT}" "$WORK/nginx_cold" >"$WORK/nginx_cold/nginx.conf.tmpl"
  log "cold start: nginx x$COLD_REPEAT"
  if ! "$BIN/ccr_cold_start" --body "$SMALL" --repeat "$COLD_REPEAT" --cpus "$TARGET_CPUS" \
      --config-template "$WORK/nginx_cold/nginx.conf.tmpl" --config-out "$WORK/nginx_cold/nginx.conf" \
      --log "$WORK/nginx_cold/stdout.log" --label nginx -- "$NGINX" -p "$WORK/nginx_cold/" \
      -c "$WORK/nginx_cold/nginx.conf" -e "$WORK/nginx_cold/error.log" -g 'daemon off;' \
      >"$WORK/cold_nginx.json" 2>&1; then
    log "cold start failed for nginx: $(cat "$WORK/cold_nginx.json")"
    ERRORS=$((ERRORS + 1))
  fi
  record '{kind:"cold"} + .' <"$WORK/cold_nginx.json" || true
fi

# ---------------------------------------------------------------------------------------------
# Report.
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo none)
DIRTY=false
[[ -n $(git -C "$REPO" status --porcelain 2>/dev/null | head -1) ]] && DIRTY=true
META=$(jq -n \
  --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg commit "$COMMIT" --argjson dirty "$DIRTY" \
  --arg cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
  --argjson cpus "${#CPUS[@]}" --arg kernel "$(uname -r)" --argjson nofile "$NOFILE" \
  --arg pinning "$PINNING" --argjson smoke "$([[ $SMOKE == 1 ]] && echo true || echo false)" \
  --argjson reps "$REPS" --argjson duration "$DURATION" --argjson lat_conns "$LAT_CONNS" \
  --argjson tput_conns "$TPUT_CONNS" --argjson c10_conns "$C10_CONNS" --argjson wrk_threads "$WRK_THREADS" \
  --arg cases "$CASES" --arg skip "$SKIP" --argjson load_probe_requests "$LOAD_PROBE_REQUESTS" \
  --arg relay_sha "${RELAY_SHA[relay]:-}" --arg base_sha "${RELAY_SHA[relay_base]:-}" \
  --arg base_path "$BASE_RELAY" --argjson quiet_wait "$QUIET_WAIT" --argjson quiet_pct "$QUIET_PCT" \
  --argjson busy_starts "$BUSY_STARTS" \
  --arg small "${BODY_LABEL[small]}" --arg large "${BODY_LABEL[large]}" \
  --argjson probe_requests "$PROBE_REQUESTS" --argjson probe_delay "$PROBE_DELAY_MS" \
  --argjson probe_conc "$PROBE_CONC" --argjson streams "$STREAMS" \
  --argjson scale_delay "$SCALE_DELAY_MS" --argjson cold_repeat "$COLD_REPEAT" \
  --arg targets "$TARGETS" --arg nginx_version "$({ [[ -n ${NGINX:-} ]] && "$NGINX" -v 2>&1; } || true)" \
  --arg wrk_version "$(wrk -v 2>&1 | head -1 | awk '{print $2}')" \
  '{date:$date, commit:$commit, dirty:$dirty, smoke:$smoke,
    machine:{cpu:$cpu, cpus:$cpus, kernel:$kernel, open_files_limit:$nofile},
    pinning:$pinning, versions:{nginx:$nginx_version, wrk:$wrk_version},
    relay_binaries:{relay:$relay_sha, relay_base:$base_sha, relay_base_path:$base_path},
    params:{targets:[$targets|splits(" +")|select(length > 0)], reps:$reps, wrk_duration_s:$duration,
            cases:[$cases|splits(" +")|select(length > 0)], skipped:[$skip|splits(" +")|select(length > 0)],
            latency_connections:$lat_conns, throughput_connections:$tput_conns,
            c10_connections:$c10_conns, wrk_threads:$wrk_threads,
            quiet:{wait_s:$quiet_wait, max_busy_pct:$quiet_pct, runs_started_busy:$busy_starts},
            bodies:{small:$small, large:$large, small_json:$small, large_json:$large},
            probe:{requests:$probe_requests, concurrency:$probe_conc, event_delay_ms:$probe_delay},
            load_probe:{requests:$load_probe_requests, concurrency:$c10_conns, event_delay_ms:0},
            scale:{streams:$streams, event_delay_ms:$scale_delay}, cold_start_runs:$cold_repeat}}')
RESULT=$WORK/result.json
jq -s --argjson meta "$META" --argjson errors "$ERRORS" -f "$BENCH_DIR/report.jq" "$RECORDS" >"$RESULT"
TABLE=$(jq -r -f "$BENCH_DIR/table.jq" "$RESULT")
echo "$TABLE"

if [[ -z $OUT ]]; then
  if [[ $SMOKE == 1 ]]; then OUT=$WORK/smoke.json; else OUT=$BENCH_DIR/results/latest.json; fi
fi
mkdir -p "$(dirname "$OUT")"
cp "$RESULT" "$OUT"
log "results: $OUT"

# bench/README.md carries the table of the latest full run (between the markers).
if [[ $UPDATE_README == 1 && $OUT == "$BENCH_DIR/results/latest.json" && -f $BENCH_DIR/README.md ]]; then
  printf '%s\n' "$TABLE" >"$WORK/table.md"
  awk -v tf="$WORK/table.md" '
    /<!-- bench:results:begin -->/ {print; while ((getline l < tf) > 0) print l; skip = 1; next}
    /<!-- bench:results:end -->/ {skip = 0}
    !skip {print}' "$BENCH_DIR/README.md" >"$WORK/README.md" && cp "$WORK/README.md" "$BENCH_DIR/README.md"
  log "updated bench/README.md"
fi

if [[ $ERRORS -gt 0 ]]; then
  log "FAILED: $ERRORS errors (see above)"
  exit 1
fi
