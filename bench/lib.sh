# shellcheck shell=bash disable=SC2034,SC2153  # QUIET_WAIT(ED): set and read by the sourcing script
# Shell helpers shared by the bench scripts (sourced): the configurations of the
# proxies under test (both read MOCK_PORT, the mock upstream's port, and nginx_conf also NOFILE,
# the open-files limit) and wait_quiet (reads QUIET_WAIT and QUIET_PCT, calls log).

# nginx: reverse proxy with proxy_buffering off and upstream keepalive, one worker.
# worker_connections is twice the descriptor limit: nginx starts closing idle keep-alive
# connections once fewer than 1/16 of its connection slots are free, which would otherwise cut
# the connection-scale run short before the descriptors run out.
nginx_conf() {  # LISTEN_PORT (or {PORT}) DIR
  local user_line=""
  [[ $(id -u) == 0 ]] && user_line="user root root;"
  cat <<EOF
$user_line
worker_processes 1;
worker_rlimit_nofile $NOFILE;
pid $2/nginx.pid;
error_log $2/error.log warn;
events { worker_connections $((2 * NOFILE)); }
http {
  access_log off;
  client_body_temp_path $2/client_body;
  proxy_temp_path $2/proxy;
  fastcgi_temp_path $2/fastcgi;
  uwsgi_temp_path $2/uwsgi;
  scgi_temp_path $2/scgi;
  client_max_body_size 64m;
  client_body_buffer_size 1m;   # 200 KB bodies stay in memory
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  upstream mock {
    server 127.0.0.1:$MOCK_PORT;
    keepalive 1024;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
  }
  server {
    listen 127.0.0.1:$1 backlog=4096;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 300s;
    }
  }
}
EOF
}

# cc-relay: `serve`, one provider (the mock), one key.
relay_conf() {  # LISTEN (host:port)
  cat <<EOF
server: {listen: "$1"}
providers:
  - {name: mock, type: anthropic, base_url: "http://127.0.0.1:$MOCK_PORT", keys: [{key: "bench-key"}]}
EOF
}

# cc-relay with one Bedrock provider (the mock's /model/{id}/invoke-with-response-stream), a
# bearer key: bench/bedrock.sh measures the transcoding against relay_conf's SSE passthrough.
relay_bedrock_conf() {  # LISTEN (host:port)
  cat <<EOF
server: {listen: "$1"}
providers:
  - name: mock
    type: bedrock
    aws_region: us-east-1
    base_url: "http://127.0.0.1:$MOCK_PORT"
    keys: [{key: "bench-bedrock-api-key"}]
    model_mapping: {"claude-*": "us.anthropic.claude-sonnet-4-5-20250929-v1:0"}
EOF
}

# cc-relay with one Vertex AI provider (the mock's .../models/{model}:rawPredict and
# :streamRawPredict) and a static access token: bench/providers.sh.
relay_vertex_conf() {  # LISTEN (host:port)
  cat <<EOF
server: {listen: "$1"}
providers:
  - name: mock
    type: vertex
    gcp_project_id: bench
    gcp_region: us-east5
    base_url: "http://127.0.0.1:$MOCK_PORT/v1"
    keys: [{key: "bench-vertex-token"}]
    model_mapping: {"claude-*": "claude-sonnet-4-5@20250929"}
EOF
}

# cc-relay with one Azure Foundry provider (the mock's /anthropic/v1/messages) and an API key:
# bench/providers.sh.
relay_azure_conf() {  # LISTEN (host:port)
  cat <<EOF
server: {listen: "$1"}
providers:
  - name: mock
    type: azure
    base_url: "http://127.0.0.1:$MOCK_PORT/anthropic"
    keys: [{key: "bench-azure-key"}]
    model_mapping: {"claude-*": "bench-deployment"}
EOF
}

# cc-relay with three providers on the mock (an anthropic, a zai and an ollama provider, each with
# a key) and routing strategy STRATEGY; `rules` is failover behind four scenario rules that the
# bench body (a Sonnet request with thinking and tools, no server tool, no image) does not match
# except the thinking one, so every rule is evaluated: bench/strategies.sh.
relay_strategy_conf() {  # STRATEGY LISTEN
  local strategy=$1 rules=""
  if [[ $strategy == rules ]]; then
    strategy=failover
    rules='
  rules:
    - {name: background, match: {background: true}, providers: [ollama]}
    - {name: search, match: {tools: [web_search]}, providers: [anthropic]}
    - {name: long, match: {long_context: 150000}, providers: [anthropic]}
    - {name: think, match: {thinking: true}, providers: [anthropic, zai]}'
  fi
  cat <<EOF
server: {listen: "$2"}
providers:
  - {name: anthropic, type: anthropic, base_url: "http://127.0.0.1:$MOCK_PORT", keys: [{key: "bench-key-a"}]}
  - {name: zai, type: zai, base_url: "http://127.0.0.1:$MOCK_PORT", keys: [{key: "bench-key-z"}]}
  - {name: ollama, type: ollama, base_url: "http://127.0.0.1:$MOCK_PORT", keys: [{key: "bench-key-o"}]}
routing:
  strategy: $strategy
  failover: {primary: anthropic, fallbacks: [zai, ollama]}$rules
EOF
}

# On a shared machine another job's burst (a build, a test suite) inflates every figure of the
# run it overlaps, CPU per request included (2-5x seen here). Between runs nothing of ours is
# busy, so before each run wait until the whole machine has been quiet for half a second.
QUIET_WAITED=0   # seconds the last wait_quiet took
BUSY_STARTS=0    # runs started on a busy machine (the wait ran out)
cpu_ticks_all() {  # "BUSY TOTAL" ticks of all CPUs (busy: user nice system irq softirq steal)
  awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat
}
wait_quiet() {
  QUIET_WAITED=0
  [[ $QUIET_WAIT -gt 0 ]] || return 0
  local start=$SECONDS b0 t0 b1 t1
  while :; do
    read -r b0 t0 <<<"$(cpu_ticks_all)"
    sleep 0.5
    read -r b1 t1 <<<"$(cpu_ticks_all)"
    (((b1 - b0) * 100 <= QUIET_PCT * (t1 - t0))) && break
    if ((SECONDS - start >= QUIET_WAIT)); then
      log "machine still busy after ${QUIET_WAIT}s (another job?); measuring anyway"
      BUSY_STARTS=$((BUSY_STARTS + 1))
      break
    fi
  done
  QUIET_WAITED=$((SECONDS - start))
}

# The open-files limit raised to the hard limit; sets NOFILE.
raise_nofile() {
  local hard
  hard=$(ulimit -Hn)
  [[ $hard == unlimited ]] && hard=1048576
  ulimit -n "$hard"
  NOFILE=$(ulimit -n)
}

# The CPUs this shell may run on, one per element; sets CPUS.
allowed_cpus() {
  read -r -a CPUS <<<"$(taskset -pc $$ | sed 's/.*: //' | tr ',' '\n' | while IFS=- read -r a b; do
    seq "$a" "${b:-$a}"; done | tr '\n' ' ')"
}

# ---------------------------------------------------------------------------------------------
# Processes: readiness and CPU time.

wait_for_port() {  # PORT PID: wait until 127.0.0.1:PORT accepts (10 s), fail if PID died
  local i
  for ((i = 0; i < 1000; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.01
  done
  return 1
}

wait_for_file() {  # FILE PID: wait until FILE is non-empty (10 s), fail if PID died
  local i
  for ((i = 0; i < 1000; i++)); do
    [[ -s $1 ]] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.01
  done
  return 1
}

CLK_TCK=$(getconf CLK_TCK)
WRK_EXTRA=()   # more wrk arguments for wrk_measured (pb_run_wrk: -H with the target's header)
cpu_ms() {  # PID...: user + system CPU time consumed so far, in ms (all threads)
  local total=0 pid t
  for pid in "$@"; do
    t=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}')
    total=$((total + ${t:-0}))
  done
  echo $((total * 1000 / CLK_TCK))
}

# Ticks of the target's CPU (TARGET_CPUS): "BUSY TOTAL" (busy = user + nice + system + irq +
# softirq + steal), to tell how much of it something other than the target took during a run
# (other sessions' builds on a shared machine show up here, and then the run's figures are
# suspect).
target_cpu_ticks() {
  awk -v c="cpu${TARGET_CPUS%%,*}" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat
}

# One wrk run (claude_code.lua with the body file BODY, THREADS threads, CONNS connections,
# DURATION s, on ON_LOAD's CPUs) against 127.0.0.1:PORT, after wait_quiet: the CPU time of the
# processes PID... and of the mock (MOCK_PID), and the ticks of the target's CPU, over the run.
# Sets WRK_LINE (wrk's WRK_JSON object) and WRK_ARGS, the jq arguments for its record: $cpu and
# $mock (ms), $cpu_busy_ms and $cpu_total_ms (target_cpu_ticks), $waited (the quiet wait, s).
# Errors are logged under LABEL and counted in ERRORS; returns 1 if wrk printed no result.
wrk_measured() {  # LABEL OUT PORT BODY THREADS CONNS PID...
  local label=$1 out=$2 port=$3 body=$4 threads=$5 conns=$6 cpu0 cpu1 mock0 mock1 errs
  local busy0 total0 busy1 total1
  shift 6
  wait_quiet
  cpu0=$(cpu_ms "$@")
  mock0=$(cpu_ms "$MOCK_PID")
  read -r busy0 total0 <<<"$(target_cpu_ticks)"
  "${ON_LOAD[@]}" wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency "${WRK_EXTRA[@]}" \
    -s "$BENCH_DIR/claude_code.lua" "http://127.0.0.1:$port" -- "$body" >"$out" 2>&1 || true
  cpu1=$(cpu_ms "$@")
  mock1=$(cpu_ms "$MOCK_PID")
  read -r busy1 total1 <<<"$(target_cpu_ticks)"
  WRK_LINE=$(sed -n 's/^WRK_JSON //p' "$out")
  if [[ -z $WRK_LINE ]]; then
    log "wrk failed for $label: $(cat "$out")"
    ERRORS=$((ERRORS + 1))
    return 1
  fi
  WRK_ARGS=(--argjson cpu "$((cpu1 - cpu0))" --argjson mock "$((mock1 - mock0))"
    --argjson cpu_busy_ms "$(((busy1 - busy0) * 1000 / CLK_TCK))"
    --argjson cpu_total_ms "$(((total1 - total0) * 1000 / CLK_TCK))" --argjson waited "$QUIET_WAITED")
  errs=$(jq '.errors | add' <<<"$WRK_LINE")
  if [[ $errs != 0 ]]; then
    log "$label: $errs errors ($(jq -c .errors <<<"$WRK_LINE"))"
    ERRORS=$((ERRORS + errs))
  fi
}
# The fields of a wrk record derived from WRK_LINE and WRK_ARGS (jq, after `. +` of the keys).
WRK_RECORD_JQ='.cpu_ms = $cpu | .mock_cpu_ms = $mock | .quiet_wait_s = $waited
  | .rps = (.requests / (.duration_us / 1e6))
  | .cpu_us_per_request = (if .requests > 0 then $cpu * 1000 / .requests else null end)
  | .cpu_busy = ($cpu * 1000 / .duration_us)
  | .mock_cpu_us_per_request = (if .requests > 0 then $mock * 1000 / .requests else null end)
  | .error_count = (.errors | add)'

# ---------------------------------------------------------------------------------------------
# Provider benchmarks (bench/bedrock.sh, bench/providers.sh): relays of the same binary, one
# provider type each (PB_TARGETS: anthropic = relay_conf, bedrock, vertex, azure =
# relay_<type>_conf), all pinned to the first CPU and loaded one at a time, against one mock;
# wrk with claude_code.lua (cases: body size x answer) and the stream probe, interleaved in a
# rotating order per repetition. The calling script sets PB_NAME, PB_TARGETS and OUT (the
# default result file), calls pb_defaults (and may change them), pb_parse_args "$@", pb_start,
# pb_measure, then pb_summarize with its own jq.

pb_defaults() {
  REPS=3
  DURATION=5
  CONNS=10             # wrk connections (issue 10's c10 load)
  SMALL_BYTES=3072
  LARGE_BYTES=204800
  PB_CASES="small large small_json large_json"
  PROBE_REQUESTS=200   # streams per probe run, 8 at a time, 5 ms between the mock's events
  PROBE_CONC=8
  PROBE_DELAY_MS=5
  # The probe's headers to the mock (timestamps, delay) under the name the Bedrock provider
  # forwards; the other providers forward them too, so every target gets the same request.
  PROBE_HEADERS=(--header-prefix x-amzn-bedrock-mock-)
  QUIET_WAIT=30        # before each run, wait up to S seconds for a quiet machine (wait_quiet)
  QUIET_PCT=15
  BUILD_DIR=""
  RELAY_BIN=""
  KEEP=0
  # A request header per target ("NAME: VALUE"), sent by wrk and the stream probe: see
  # pb_target_ready.
  declare -gA PB_HEADER=()
}

# The flags of a target's `serve` besides its config, listen address and workers (sets
# SERVE_FLAGS): no control-plane listeners (in-process only), so that several relays, and other
# sessions' relays, never compete for the default ports. A script may redefine it.
pb_serve_flags() {  # TARGET
  SERVE_FLAGS=(--control-plane-listen none --control-plane-http-listen none)
}

# Called once a target's relay listens, before the preflight: a script may redefine it to set
# the target up (bench/users.sh adds users and sets PB_HEADER[TARGET]).
pb_target_ready() {  # TARGET
  :
}

# The stream probe's arguments for the target's header (PB_HEADER); sets PROBE_TARGET_ARGS.
pb_probe_target_args() {  # TARGET
  PROBE_TARGET_ARGS=("${PROBE_HEADERS[@]}")
  [[ -n ${PB_HEADER[$1]:-} ]] && PROBE_TARGET_ARGS+=(--header "${PB_HEADER[$1]}")
  return 0
}

log() { printf '[%s %s] %s\n' "${PB_NAME:-bench}" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Options shared by the provider scripts; usage is the "#   bash bench/..." lines of the script.
pb_parse_args() {  # "$@"
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --reps) REPS=$2; shift ;;
      --duration) DURATION=$2; shift ;;
      --conns) CONNS=$2; shift ;;
      --quiet-wait) QUIET_WAIT=$2; shift ;;
      --build-dir) BUILD_DIR=$2; shift ;;
      --relay-bin) RELAY_BIN=$2; shift ;;
      --out) OUT=$2; shift ;;
      --targets) PB_TARGETS=$2; shift ;;
      --keep) KEEP=1 ;;
      -h|--help) pb_usage ;;
      *) echo "$PB_NAME: unknown option $1" >&2; pb_usage ;;
    esac
    shift
  done
}
pb_usage() {
  sed -n '/^#   bash bench\//,/^[^#]/{/^#   /s/^# \{0,1\}//p}' "$0"
  exit 2
}

relay_target_conf() {  # TARGET LISTEN: the config of that provider type's relay
  case "$1" in
    anthropic) relay_conf "$2" ;;
    bedrock | vertex | azure) "relay_$1_conf" "$2" ;;
    none | users | budget) relay_conf "$2" ;;
    failover | shuffle | round-robin | least-busy | cost-based | latency-based | rules)
      relay_strategy_conf "$1" "$2" ;;
    *) die "unknown target $1" ;;
  esac
}

# The first allowed CPU for the relays, the others for wrk, the probe and the mock; sets
# TARGET_CPUS, WRK_THREADS, ON_TARGET, ON_LOAD (command prefixes) and PINNING.
pb_pin() {
  allowed_cpus
  if [[ ${#CPUS[@]} -ge 2 ]]; then
    TARGET_CPUS=${CPUS[0]}
    local load
    load=$(IFS=,; echo "${CPUS[*]:1}")
    WRK_THREADS=$(( ${#CPUS[@]} - 1 > 4 ? 4 : ${#CPUS[@]} - 1 ))
    ON_TARGET=(taskset -c "$TARGET_CPUS")
    ON_LOAD=(taskset -c "$load")
    PINNING="relays on CPU $TARGET_CPUS (one loaded at a time); wrk, probe and mock on CPU $load"
  else
    TARGET_CPUS=${CPUS[0]:-0} WRK_THREADS=1 ON_TARGET=() ON_LOAD=() PINNING="one CPU: nothing pinned"
  fi
  [[ $CONNS -lt $WRK_THREADS ]] && WRK_THREADS=$CONNS
  log "$PINNING"
}

pb_cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ $KEEP == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}

# Bodies, the mock, one relay per target, and a preflight: every target must deliver the same
# number of events, each with its timestamp, before anything is measured. Builds nothing.
pb_start() {
  local tool t
  PB_BASE=${PB_BASE:-${PB_TARGETS%% *}}
  for tool in wrk taskset jq; do command -v "$tool" >/dev/null || die "$tool not found"; done
  BUILD_DIR=${BUILD_DIR:-$REPO/build/release}
  BIN=$BUILD_DIR/bench
  RELAY=${RELAY_BIN:-$BUILD_DIR/controlplane/cc-relay}
  for tool in ccr_mock_upstream ccr_bench_body ccr_stream_probe ccr_cold_start; do
    [[ -x $BIN/$tool ]] || die "$BIN/$tool missing: cmake --build --preset release --target $tool"
  done
  [[ -x $RELAY ]] || die "$RELAY missing"

  WORK=$(mktemp -d "${TMPDIR:-/tmp}/ccr-$PB_NAME.XXXXXX")
  PIDS=()
  trap pb_cleanup EXIT
  trap 'exit 130' INT TERM
  raise_nofile
  pb_pin

  # Cases: body size x answer; `small`, `large`: "stream": true (SSE, or Bedrock's event stream);
  # `small_json`, `large_json`: "stream": false (a Message JSON from every provider).
  declare -gA PB_BODY=()
  local c flags
  for c in $PB_CASES; do
    PB_BODY[$c]=$WORK/body_$c.json
    flags=(--bytes "$SMALL_BYTES")
    [[ $c == large* ]] && flags=(--bytes "$LARGE_BYTES")
    [[ $c == *_json ]] && flags+=(--no-stream)
    "$BIN/ccr_bench_body" "${flags[@]}" --out "${PB_BODY[$c]}"
  done

  "${ON_LOAD[@]}" "$BIN/ccr_mock_upstream" --listen 127.0.0.1:0 --threads 1 \
    --port-file "$WORK/mock.port" >"$WORK/mock.log" 2>&1 &
  MOCK_PID=$!
  PIDS+=("$MOCK_PID")
  wait_for_file "$WORK/mock.port" "$MOCK_PID" || die "mock did not start: $(cat "$WORK/mock.log")"
  MOCK_PORT=$(cat "$WORK/mock.port")

  # Same binary, same flags (pb_serve_flags).
  declare -gA PB_PORT=() TPID=()
  for t in $PB_TARGETS; do
    PB_PORT[$t]=$("$BIN/ccr_cold_start" --free-port)
    relay_target_conf "$t" "127.0.0.1:${PB_PORT[$t]}" >"$WORK/$t.yaml"
    pb_serve_flags "$t"
    "${ON_TARGET[@]}" "$RELAY" serve --config "$WORK/$t.yaml" --workers 1 --log-level warn \
      "${SERVE_FLAGS[@]}" >"$WORK/$t.log" 2>&1 &
    TPID[$t]=$!
    PIDS+=("${TPID[$t]}")
    wait_for_port "${PB_PORT[$t]}" "${TPID[$t]}" || die "relay $t did not start: $(tail -20 "$WORK/$t.log")"
    log "relay $t on 127.0.0.1:${PB_PORT[$t]} (pid ${TPID[$t]})"
    pb_target_ready "$t"
  done

  RECORDS=$WORK/records.jsonl
  : >"$RECORDS"
  ERRORS=0
  for t in $PB_TARGETS; do
    pb_probe_target_args "$t"
    "${ON_LOAD[@]}" "$BIN/ccr_stream_probe" --port "${PB_PORT[$t]}" --body "${PB_BODY[small]}" --requests 3 \
      --concurrency 1 --delay-ms 0 --label "$t" "${PROBE_TARGET_ARGS[@]}" >"$WORK/preflight_$t.json" 2>&1 ||
      die "$t failed the preflight: $(cat "$WORK/preflight_$t.json") $(tail -5 "$WORK/$t.log")"
  done
  [[ $(jq -s '(map(.events_max) | unique | length == 1) and all(.stamped == .events)' \
        "$WORK"/preflight_*.json) == true ]] ||
    die "the streams differ: $(cat "$WORK"/preflight_*.json)"
  EVENTS=$(jq .events_max "$WORK/preflight_$PB_BASE.json")
  log "$EVENTS events per stream on every target"
}

pb_run_wrk() {  # REP CASE TARGET
  local rep=$1 case=$2 t=$3
  WRK_EXTRA=()
  [[ -n ${PB_HEADER[$t]:-} ]] && WRK_EXTRA=(-H "${PB_HEADER[$t]}")
  wrk_measured "$t $case" "$WORK/wrk_${rep}_${case}_$t.txt" "${PB_PORT[$t]}" "${PB_BODY[$case]}" \
    "$WRK_THREADS" "$CONNS" "${TPID[$t]}" || return 0
  jq -c "${WRK_ARGS[@]}" --argjson rep "$rep" --arg case "$case" --arg t "$t" \
    '{kind:"wrk",rep:$rep,case:$case,target:$t} + . | '"$WRK_RECORD_JQ"'
     | .others_on_target_cpu = (if $cpu_total_ms > 0 then ([($cpu_busy_ms - $cpu) / $cpu_total_ms, 0] | max)
                                else null end)' <<<"$WRK_LINE" >>"$RECORDS"
}

pb_run_probe() {  # REP TARGET
  local out=$WORK/probe_$1_$2.json
  pb_probe_target_args "$2"
  wait_quiet
  if ! "${ON_LOAD[@]}" "$BIN/ccr_stream_probe" --port "${PB_PORT[$2]}" --body "${PB_BODY[small]}" \
      --requests "$PROBE_REQUESTS" --concurrency "$PROBE_CONC" --delay-ms "$PROBE_DELAY_MS" \
      --label "$2" "${PROBE_TARGET_ARGS[@]}" >"$out" 2>&1; then
    log "stream probe failed for $2: $(cat "$out")"
    ERRORS=$((ERRORS + 1))
  fi
  jq -c --argjson rep "$1" '{kind:"probe",rep:$rep,target:.label} + .' <"$out" >>"$RECORDS" || true
}

# Interleaved: every repetition runs every target, per case back to back, the order rotated by
# one target per repetition (so no target always follows the same one).
pb_measure() {
  local rep case t i order all
  read -r -a all <<<"$PB_TARGETS"
  for ((rep = 1; rep <= REPS; rep++)); do
    order=()
    for ((i = 0; i < ${#all[@]}; i++)); do
      order+=("${all[(i + rep - 1) % ${#all[@]}]}")
    done
    for case in $PB_CASES; do
      for t in "${order[@]}"; do
        log "rep $rep/$REPS: $case body, $t"
        pb_run_wrk "$rep" "$case" "$t"
      done
    done
    for t in "${order[@]}"; do pb_run_probe "$rep" "$t"; done
  done
}

# Writes OUT: the run's parameters, then the object that the script's jq program PROGRAM makes
# (with the definitions below and $w, $p: the wrk and probe records; $all: every record), then
# every record. Definitions: med, rnd($k), stat($k) ({median, min, max} of the non-null values);
# cases (the case names, small before large, stream before JSON); cpu($x; $r; $t) (that
# repetition's CPU µs / request of target $t among records $x); per_rep($x; $a; $b; f) (per
# repetition, f of [$a's, $b's] CPU per request, null where either is missing); wrk_stats($x) and
# probe_stats($x) (one target's records summarized).
pb_summarize() {  # PROGRAM
  mkdir -p "$(dirname "$OUT")"
  jq -s --arg commit "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg pinning "$PINNING" \
    --argjson events "$EVENTS" --argjson reps "$REPS" --argjson duration "$DURATION" \
    --argjson conns "$CONNS" --argjson errors "$ERRORS" --argjson busy_starts "$BUSY_STARTS" \
    --argjson quiet_wait "$QUIET_WAIT" --argjson quiet_pct "$QUIET_PCT" \
    --arg cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
    --argjson cpus "$(nproc)" --arg kernel "$(uname -r)" --arg targets "$PB_TARGETS" \
    --arg base "$PB_BASE" \
    --arg relay "$RELAY" --arg relay_sha "$(sha256sum "$RELAY" | cut -c1-12)" \
    --argjson sizes "$(for c in $PB_CASES; do printf '{"%s":%s}' "$c" "$(wc -c <"${PB_BODY[$c]}")"; done | jq -s add)" '
  def med: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
           else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def rnd($k): if . == null then null else (. * $k | round) / $k end;
  def stat($k): map(select(. != null))
    | {median: (med | rnd($k)), min: (min | rnd($k)), max: (max | rnd($k))};
  def cases: map(.case) | unique
    | sort_by([(if startswith("small") then 0 else 1 end), endswith("_json")]);
  def cpu($x; $r; $t): $x | map(select(.rep == $r and .target == $t))[0].cpu_us_per_request;
  def per_rep($x; $a; $b; f): [range(1; $reps + 1) as $r | [cpu($x; $r; $a), cpu($x; $r; $b)]
    | if .[0] != null and .[1] != null then f else null end];
  def wrk_stats($x): {rps: ($x | map(.rps) | stat(10)),
    cpu_us_per_request: ($x | map(.cpu_us_per_request) | stat(10)),
    latency_p50_us: ($x | map(.latency_us.p50) | stat(1)),
    latency_p99_us: ($x | map(.latency_us.p99) | stat(1)),
    others_on_target_cpu: ($x | map(.others_on_target_cpu) | stat(100)),
    errors: ($x | map(.error_count) | add)};
  def probe_stats($x): {streams: ($x | map(.requests) | add), events: ($x | map(.events) | add),
    held: ($x | map(.held) | add), failures: ($x | map(.failures) | add),
    ttfe_p50_us: ($x | map(.ttfe_us.p50) | stat(10)),
    ttfe_p99_us: ($x | map(.ttfe_us.p99) | stat(10)),
    event_p50_us: ($x | map(.event_us.p50) | stat(10)),
    event_p99_us: ($x | map(.event_us.p99) | stat(10))};
  . as $all
  | ($all | map(select(.kind == "wrk"))) as $w
  | ($all | map(select(.kind == "probe"))) as $p
  | ($targets | split(" ")) as $targets
  | {date: $date, commit: $commit, relay: {path: $relay, sha256_12: $relay_sha},
     machine: {cpus: $cpus, cpu: $cpu, kernel: $kernel},
     pinning: $pinning, reps: $reps, duration_s: $duration, wrk_connections: $conns,
     events_per_stream: $events, errors: $errors,
     quiet: {wait_s: $quiet_wait, max_busy_pct: $quiet_pct, runs_started_busy: $busy_starts}}
    + ('"$1"')
    + {records: $all}' "$RECORDS" >"$OUT"
}

# The usual summary of a comparison against one target ($PB_BASE, the first of PB_TARGETS unless
# the script sets it): medians (min-max) over the repetitions; per repetition, each target's CPU
# per request over (and minus) the base's, and its stream probe's TTFE minus the base's.
pb_summarize_vs_base() {
  pb_summarize '
  def probe_minus($x; $t; f): [range(1; $reps + 1) as $r
    | [$x | map(select(.rep == $r and (.target == $t or .target == $base)))
          | sort_by(.target != $t)[] | f]
    | if length == 2 and .[0] != null and .[1] != null then .[0] - .[1] else null end];
  {cases: ($w | cases | map(. as $c | ($w | map(select(.case == $c))) as $wc
     | {case: $c, stream: ($c | endswith("_json") | not), body_bytes: $sizes[$c],
        targets: ($targets | map(. as $t | {target: $t} + wrk_stats($wc | map(select(.target == $t)))
          + {cpu_vs_base: (per_rep($wc; $t; $base; .[0] / .[1]) | stat(100)),
             cpu_minus_base_us: (per_rep($wc; $t; $base; .[0] - .[1]) | stat(10))}))})),
   probe: ($targets | map(. as $t | {target: $t} + probe_stats($p | map(select(.target == $t)))
     + {ttfe_p50_minus_base_us: (probe_minus($p; $t; .ttfe_us.p50) | stat(10)),
        ttfe_p99_minus_base_us: (probe_minus($p; $t; .ttfe_us.p99) | stat(10))}))}'
}

# Prints pb_summarize_vs_base's tables (markdown) from OUT under the heading TITLE.
pb_print_vs_base() {  # TITLE
  jq -r --arg base "$PB_BASE" --arg title "$1" 'def num: if . == null then "–" elif . == (. | floor) then tostring
    else ((. * 10 | round) / 10 | tostring) end;
  def s: if . == null or .median == null then "–" elif .min == .max then (.median | num)
    else "\(.median | num) (\(.min | num)–\(.max | num))" end;
  def x: if . == null or .median == null then "–" elif .min == .max then "\(.median)×"
    else "\(.median)× (\(.min)–\(.max))" end;
  def pct: if . == null or .median == null then "–"
    else "\(.median * 100 | round)%, \(.max * 100 | round)%" end;
  "\($title) · \(.date) · commit \(.commit), cc-relay \(.relay.sha256_12) · \(.machine.cpus) CPUs (\(.machine.cpu)) · Linux \(.machine.kernel)",
  "",
  "\(.pinning). Each cell: median over \(.reps) repetitions (min–max); wrk \(.wrk_connections) connections, \(.duration_s) s per run; \(.events_per_stream) events per stream. Before each run the harness waited up to \(.quiet.wait_s) s for the machine to be at most \(.quiet.max_busy_pct)% busy; \(.quiet.runs_started_busy) runs started on a busy machine. vs / − \($base): per repetition, then the median. Others: the share of the relay CPU that other processes took during the runs (median, max).",
  "",
  "| body | answer | target | rps | CPU µs / request | CPU vs \($base) | p50 µs | p99 µs | others |",
  "|---|---|---|---:|---:|---:|---:|---:|---:|",
  (.cases[] | .body_bytes as $b | (if .stream then "SSE" else "JSON" end) as $a | .targets[] |
    "| \($b / 1024 | floor) KB | \($a) | \(.target) | \(.rps | s) | \(.cpu_us_per_request | s) | \(if .target == $base then "1×" else (.cpu_vs_base | x) end) | \(.latency_p50_us.median | num) | \(.latency_p99_us.median | num) | \(.others_on_target_cpu | pct) |"),
  "",
  "| target | TTFE p50 µs | TTFE p99 µs | TTFE − \($base) p50 / p99 µs | event delivery p50 / p99 µs | held back |",
  "|---|---:|---:|---:|---:|---:|",
  (.probe[] | "| \(.target) | \(.ttfe_p50_us | s) | \(.ttfe_p99_us | s) | \(if .target == $base then "–" else "\(.ttfe_p50_minus_base_us.median | num) / \(.ttfe_p99_minus_base_us.median | num)" end) | \(.event_p50_us.median | num) / \(.event_p99_us.median | num) | \(.held) of \(.events) |")' "$OUT"
}
