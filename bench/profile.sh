#!/usr/bin/env bash
# Profiles one proxy (cc-relay by default) under a chosen wrk load against the mock upstream:
# perf stat (CPU, context switches, page faults per request), a syscall count per request, and
# perf record -g, then prints the flat top of perf report. See bench/README.md.
#
#   bash bench/profile.sh [--body BYTES] [--conns N] [--stream|--json] [--seconds S]
#                         [--target relay|nginx] [--provider anthropic|vertex|azure|bedrock]
#                         [--relay-bin PATH] [--call-graph fp|dwarf]
#                         [--freq HZ] [--percent-limit P] [--quiet-wait S] [--out DIR]
#                         [--build-dir DIR] [--no-build]
#
# Placement as in bench/run.sh: the target alone on the first CPU, wrk and the mock on the rest.
# Every phase runs the same load for S seconds: (1) perf stat of software events, (2) syscall
# counts (tracepoints; their own phase, as they cost time), (3) perf record. The first is the one
# the CPU figures come from. Without a usable perf, falls back to valgrind's callgrind on a
# short, light run (instruction counts, not time) and says so.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

BODY_BYTES=204800
CONNS=10
STREAM=1
SECONDS_PER_PHASE=10
TARGET=relay
PROVIDER=anthropic   # the relay's provider type (relay_target_conf in bench/lib.sh)
RELAY_BIN=""
CALL_GRAPH=fp
FREQ=2000
PERCENT_LIMIT=1.5
OUT=""
BUILD_DIR=""
NO_BUILD=0
QUIET_WAIT=120       # before each phase, wait up to S seconds for a quiet machine (bench/lib.sh)
QUIET_PCT=15

usage() { sed -n '6,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --body) BODY_BYTES=$2; shift ;;
    --conns) CONNS=$2; shift ;;
    --stream) STREAM=1 ;;
    --json) STREAM=0 ;;
    --seconds) SECONDS_PER_PHASE=$2; shift ;;
    --target) TARGET=$2; shift ;;
    --provider) PROVIDER=$2; shift ;;
    --relay-bin) RELAY_BIN=$2; shift ;;
    --call-graph) CALL_GRAPH=$2; shift ;;
    --freq) FREQ=$2; shift ;;
    --percent-limit) PERCENT_LIMIT=$2; shift ;;
    --quiet-wait) QUIET_WAIT=$2; shift ;;
    --out) OUT=$2; shift ;;
    --build-dir) BUILD_DIR=$2; shift ;;
    --no-build) NO_BUILD=1 ;;
    -h|--help) usage ;;
    *) echo "profile.sh: unknown option $1" >&2; usage ;;
  esac
  shift
done
[[ $TARGET == relay || $TARGET == nginx ]] || { echo "profile.sh: --target relay|nginx" >&2; exit 2; }
[[ $CALL_GRAPH == fp || $CALL_GRAPH == dwarf ]] || { echo "profile.sh: --call-graph fp|dwarf" >&2; exit 2; }

log() { printf '[profile %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
for tool in wrk taskset jq; do command -v "$tool" >/dev/null || die "$tool not found"; done

# perf: usable at all? hardware counters (cycles) or only software events (cpu-clock)?
PERF_OK=0
RECORD_EVENT=cpu-clock
if command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1; then
  PERF_OK=1
  if perf stat -x, -e instructions true 2>&1 | grep -q '^[0-9]'; then RECORD_EVENT=cycles; fi
fi
if [[ $PERF_OK == 0 ]]; then
  command -v valgrind >/dev/null || die "neither perf (Debian: linux-perf) nor valgrind can run here"
  log "perf cannot run here: falling back to valgrind --tool=callgrind (instruction counts)"
fi

# ---------------------------------------------------------------------------------------------
# Binaries.
TOOLS="ccr_mock_upstream ccr_bench_body ccr_cold_start"
BUILD_DIR=${BUILD_DIR:-$REPO/build/release}
if [[ $NO_BUILD == 0 ]]; then
  [[ -f $BUILD_DIR/CMakeCache.txt ]] || (cd "$REPO" && cmake --preset release >&2)
  targets=$TOOLS
  [[ $TARGET == relay && -z $RELAY_BIN ]] && targets="$targets cc-relay"
  # shellcheck disable=SC2086
  cmake --build "$BUILD_DIR" -j "${BENCH_BUILD_JOBS:-2}" --target $targets >&2
fi
BIN=$BUILD_DIR/bench
RELAY=${RELAY_BIN:-$BUILD_DIR/controlplane/cc-relay}
for tool in $TOOLS; do [[ -x $BIN/$tool ]] || die "$BIN/$tool missing"; done
if [[ $TARGET == relay ]]; then [[ -x $RELAY ]] || die "$RELAY missing"; fi
if [[ $TARGET == nginx ]]; then
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  [[ -x $NGINX ]] || die "nginx not found"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ccr-profile.XXXXXX")
OUT=${OUT:-$WORK}
mkdir -p "$OUT"
PIDS=()
MALLOC_PROBE=""   # the uprobe on libc's malloc, while it exists (phase 2b)
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [[ -z $MALLOC_PROBE ]] || perf probe -q -d "$MALLOC_PROBE" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

raise_nofile

allowed_cpus
if [[ ${#CPUS[@]} -ge 2 ]]; then
  ON_TARGET=(taskset -c "${CPUS[0]}")
  ON_LOAD=(taskset -c "$(IFS=,; echo "${CPUS[*]:1}")")
  WRK_THREADS=$(( ${#CPUS[@]} - 1 > 4 ? 4 : ${#CPUS[@]} - 1 ))
else
  ON_TARGET=()
  ON_LOAD=()
  WRK_THREADS=1
fi
[[ $CONNS -lt $WRK_THREADS ]] && WRK_THREADS=$CONNS


# ---------------------------------------------------------------------------------------------
# Body, mock, target.
BODY=$WORK/body.json
stream_flag=()
[[ $STREAM == 0 ]] && stream_flag=(--no-stream)
"$BIN/ccr_bench_body" --bytes "$BODY_BYTES" "${stream_flag[@]}" --out "$BODY"
ANSWER=$([[ $STREAM == 1 ]] && echo SSE || echo JSON)

"${ON_LOAD[@]}" "$BIN/ccr_mock_upstream" --listen 127.0.0.1:0 --threads 1 \
  --port-file "$WORK/mock.port" >"$WORK/mock.log" 2>&1 &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
for _ in $(seq 1 500); do [[ -s $WORK/mock.port ]] && break; sleep 0.01; done
MOCK_PORT=$(cat "$WORK/mock.port")
PORT=$("$BIN/ccr_cold_start" --free-port)

start_target() {  # [WRAPPER...]: starts the target, sets TARGET_PID (the process to profile)
  if [[ $TARGET == relay ]]; then
    relay_target_conf "$PROVIDER" "127.0.0.1:$PORT" >"$WORK/relay.yaml"
    "${ON_TARGET[@]}" "$@" "$RELAY" serve --config "$WORK/relay.yaml" --workers 1 \
      --log-level warn >"$WORK/relay.log" 2>&1 &
    TARGET_PID=$!
  else
    mkdir -p "$WORK/nginx"
    nginx_conf "$PORT" "$WORK/nginx" >"$WORK/nginx/nginx.conf"
    "${ON_TARGET[@]}" "$NGINX" -p "$WORK/nginx/" -c "$WORK/nginx/nginx.conf" \
      -e "$WORK/nginx/error.log" -g 'daemon off;' >"$WORK/nginx/stdout.log" 2>&1 &
    TARGET_PID=$!
  fi
  PIDS+=("$TARGET_PID")
  wait_for_port "$PORT" "$TARGET_PID" || die "$TARGET did not start (see $WORK)"
  if [[ $TARGET == nginx ]]; then  # profile the worker, not the master
    sleep 0.2
    TARGET_PID=$(awk '{print $1}' "/proc/$TARGET_PID/task/$TARGET_PID/children")
  fi
}

run_wrk() {  # SECONDS OUTFILE
  "${ON_LOAD[@]}" wrk -t"$WRK_THREADS" -c"$CONNS" -d"$1s" --latency \
    -s "$BENCH_DIR/claude_code.lua" "http://127.0.0.1:$PORT" -- "$BODY" >"$2" 2>&1 || true
  local line
  line=$(sed -n 's/^WRK_JSON //p' "$2")
  [[ -n $line ]] || die "wrk failed: $(cat "$2")"
  [[ $(jq '.errors | add' <<<"$line") == 0 ]] || die "wrk saw errors: $(jq -c .errors <<<"$line")"
  jq '.requests' <<<"$line"
}

LOAD="$TARGET$([[ $TARGET == relay ]] && echo " ($PROVIDER provider)"), body $(($(wc -c <"$BODY") / 1024)) KB, $ANSWER answer, $CONNS connections, ${SECONDS_PER_PHASE} s per phase"

# ---------------------------------------------------------------------------------------------
# Fallback: callgrind (a light, short run; valgrind slows the target some 50x).
if [[ $PERF_OK == 0 ]]; then
  start_target valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out"
  log "callgrind: $LOAD (the load is what the target under valgrind can serve)"
  requests=$(run_wrk "$SECONDS_PER_PHASE" "$WORK/wrk_callgrind.txt")
  kill "$TARGET_PID"
  wait "$TARGET_PID" 2>/dev/null || true
  {
    echo "## Profile (callgrind, instruction counts; perf could not run): $LOAD"
    echo "requests served under valgrind: $requests"
    echo
    callgrind_annotate "$OUT/callgrind.out" 2>/dev/null | head -40
  } | tee "$OUT/summary.txt"
  exit 0
fi

start_target
log "$TARGET pid $TARGET_PID on CPU ${CPUS[0]}; mock pid $MOCK_PID; $LOAD; output in $OUT"
run_wrk 2 "$WORK/wrk_warmup.txt" >/dev/null

# Runs wrk for S seconds while COMMAND... (attached to the target) runs; stops the command with
# SIGINT afterwards. Prints the requests wrk completed.
under_load() {  # NAME COMMAND...
  local name=$1 pid requests
  shift
  "$@" &
  pid=$!
  sleep 0.5
  requests=$(run_wrk "$SECONDS_PER_PHASE" "$WORK/wrk_$name.txt")
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "$requests"
}

# (1) CPU, context switches and page faults per request.
STAT_EVENTS=task-clock,context-switches,cpu-migrations,page-faults,minor-faults,major-faults
wait_quiet
REQ_STAT=$(under_load stat perf stat -x, -o "$OUT/perf_stat.csv" -e "$STAT_EVENTS" -p "$TARGET_PID")
# (2) Syscalls per request: in-kernel counts of the syscall tracepoints (cheaper than perf
# trace, which slows the target several times and so changes how often a read finds no data);
# EAGAIN counted on the exits of the reads. Without tracefs, perf trace -s.
TRACEFS=""
for d in /sys/kernel/tracing /sys/kernel/debug/tracing; do
  [[ -d $d/events/syscalls ]] && { TRACEFS=$d; break; }
done
SYSCALLS="recvfrom recvmsg read readv sendmsg sendto write writev epoll_wait epoll_pwait
  epoll_ctl accept accept4 connect close shutdown futex ioctl getsockopt setsockopt brk mmap
  munmap madvise mprotect timerfd_settime"
if [[ -n $TRACEFS ]]; then
  sc_events=(-e raw_syscalls:sys_enter)
  for sc in $SYSCALLS; do
    [[ -d $TRACEFS/events/syscalls/sys_enter_$sc ]] || continue
    sc_events+=(-e "syscalls:sys_enter_$sc")
    if [[ $sc == recv* || $sc == read* ]]; then
      sc_events+=(-e "syscalls:sys_exit_$sc" --filter 'ret == -11')
    fi
  done
  wait_quiet
  REQ_TRACE=$(under_load syscalls perf stat -x, -o "$OUT/perf_syscalls.csv" "${sc_events[@]}" \
    -p "$TARGET_PID")
else
  wait_quiet
  REQ_TRACE=$(under_load syscalls perf trace -s -o "$OUT/perf_trace.txt" -p "$TARGET_PID")
fi
# (2b) Heap allocations per request: a uprobe on the target's libc malloc (operator new calls it),
# counted in the kernel. Needs root and uprobes; skipped, and said so, otherwise. Its own phase:
# each probe hit traps, which slows the target.
REQ_ALLOC=""
TARGET_LIBC=$(awk '$6 ~ /\/libc[.]so[.]6$/ {print $6; exit}' "/proc/$TARGET_PID/maps" 2>/dev/null || true)
if [[ -n $TARGET_LIBC ]] && perf probe -q -x "$TARGET_LIBC" --add 'ccr_profile_malloc=malloc' 2>/dev/null; then
  MALLOC_PROBE=probe_libc:ccr_profile_malloc
  wait_quiet
  REQ_ALLOC=$(under_load alloc perf stat -x, -o "$OUT/perf_alloc.csv" -e "$MALLOC_PROBE" \
    -p "$TARGET_PID")
  perf probe -q -d "$MALLOC_PROBE" 2>/dev/null || true
  MALLOC_PROBE=""
fi
# (3) Where the CPU goes.
cg=(-g)
[[ $CALL_GRAPH == dwarf ]] && cg=(--call-graph "dwarf,16384")
if [[ $TARGET == relay ]]; then
  TARGET_DESC="cc-relay $(sha256sum "$RELAY" | cut -c1-12)"
else
  TARGET_DESC=$("$NGINX" -v 2>&1)
fi
wait_quiet
REQ_RECORD=$(under_load record perf record -q -e "$RECORD_EVENT" -F "$FREQ" "${cg[@]}" \
  -o "$OUT/perf.data" -p "$TARGET_PID")

# ---------------------------------------------------------------------------------------------
# Report.
per_request() {  # CSV EVENT REQUESTS SCALE: value of EVENT in the perf stat CSV / requests * SCALE
  awk -F, -v e="$2" -v n="$3" -v k="$4" '$3 == e {printf "%.2f", $1 / n * k}' "$1"
}
rps() { jq -r '.requests / (.duration_us / 1e6) | . * 10 | round / 10' <<<"$(sed -n 's/^WRK_JSON //p' "$1")"; }
CPU_US=$(per_request "$OUT/perf_stat.csv" task-clock "$REQ_STAT" 1000)  # task-clock is in ms
{
  echo "## Profile: $LOAD"
  echo
  echo "perf $(perf --version | awk '{print $3}'), event $RECORD_EVENT at $FREQ Hz, call graph $CALL_GRAPH; target: $TARGET_DESC$([[ $BUSY_STARTS -gt 0 ]] && echo "; $BUSY_STARTS of 3 phases started on a busy machine")"
  echo
  echo "perf stat over $REQ_STAT requests ($(rps "$WORK/wrk_stat.txt") rps):"
  echo
  echo "| per request | value |"
  echo "|---|---:|"
  echo "| CPU (task-clock) µs | $CPU_US |"
  echo "| context switches | $(per_request "$OUT/perf_stat.csv" context-switches "$REQ_STAT" 1) |"
  echo "| page faults | $(per_request "$OUT/perf_stat.csv" page-faults "$REQ_STAT" 1) |"
  echo "| CPU busy (task-clock / wrk's duration) | $(awk -F, -v d="$(sed -n 's/^WRK_JSON //p' "$WORK/wrk_stat.txt" | jq .duration_us)" '$3 == "task-clock" {printf "%.0f%%", $1 * 1000 / d * 100}' "$OUT/perf_stat.csv") |"
  echo
  if [[ -n $TRACEFS ]]; then
    echo "Syscalls per request (perf stat of the syscall tracepoints over $REQ_TRACE requests, $(rps "$WORK/wrk_syscalls.txt") rps):"
    echo
    echo "| syscall | calls / request | EAGAIN / request |"
    echo "|---|---:|---:|"
    awk -F, -v n="$REQ_TRACE" '
      $3 == "raw_syscalls:sys_enter" {total = $1}
      $3 ~ /^syscalls:sys_enter_/ {s = substr($3, 20); calls[s] = $1}
      $3 ~ /^syscalls:sys_exit_/ {s = substr($3, 19); again[s] = $1}
      END {
        for (s in calls) if (calls[s] / n >= 0.05)
          printf "| %s | %.2f | %s |\n", s, calls[s] / n, (s in again) ? sprintf("%.2f", again[s] / n) : ""
        printf "| (all) | %.2f | |\n", total / n
      }' "$OUT/perf_syscalls.csv" | sort -t'|' -k3 -rn
  else
    echo "Syscalls per request (perf trace -s over $REQ_TRACE requests, $(rps "$WORK/wrk_syscalls.txt") rps under tracing; errors on non-blocking sockets are EAGAIN):"
    echo
    echo "| syscall | calls / request | errors / request |"
    echo "|---|---:|---:|"
    awk -v n="$REQ_TRACE" '
      /^ *-+ / {table = 1; next}
      table && NF >= 3 && $2 ~ /^[0-9]+$/ {calls[$1] += $2; errs[$1] += $3; total += $2}
      END {
        for (s in calls) if (calls[s] / n >= 0.05) printf "| %s | %.2f | %.2f |\n", s, calls[s] / n, errs[s] / n
        printf "| (all) | %.2f | |\n", total / n
      }' "$OUT/perf_trace.txt" | sort -t'|' -k3 -rn
  fi
  echo
  if [[ -n $REQ_ALLOC ]]; then
    echo "Heap allocations (libc malloc, by uprobe) per request: $(per_request "$OUT/perf_alloc.csv" probe_libc:ccr_profile_malloc "$REQ_ALLOC" 1), over $REQ_ALLOC requests"
  else
    echo "Heap allocations per request: not counted (a uprobe on malloc needs root and uprobes)"
  fi
  echo
  echo "perf report --no-children (self time), entries >= $PERCENT_LIMIT% over $REQ_RECORD requests:"
  echo
  echo '```'
  perf report -i "$OUT/perf.data" --no-children --percent-limit "$PERCENT_LIMIT" --stdio -g none \
    --sort dso,sym 2>/dev/null | grep -v '^#' | grep -v '^$'
  echo '```'
  echo
  echo "By binary (self time):"
  echo
  echo '```'
  perf report -i "$OUT/perf.data" --no-children --percent-limit 0.5 --stdio -g none \
    --sort dso 2>/dev/null | grep -v '^#' | grep -v '^$'
  echo '```'
} | tee "$OUT/summary.txt"
# The call graphs (callers of each entry) for a closer look.
perf report -i "$OUT/perf.data" --no-children --percent-limit "$PERCENT_LIMIT" --stdio \
  -g graph,0.5,callee --sort dso,sym >"$OUT/report_callgraph.txt" 2>/dev/null || true
perf report -i "$OUT/perf.data" --children --percent-limit 5 --stdio -g none \
  --sort sym >"$OUT/report_children.txt" 2>/dev/null || true
log "perf.data, call graphs (report_callgraph.txt, report_children.txt) and summary in $OUT"
