# shellcheck shell=bash
# Helpers for end-to-end scripts that run the control plane and data planes as separate
# processes (`cc-relay control-plane`, `cc-relay data-plane`), all on 127.0.0.1 with ports
# chosen at run time. Sourced after lib.sh (whose EXIT trap stops every process started here).
# shellcheck disable=SC2034  # variables set here are read by the scripts that source this file

CCR_RELAYCTL_BINARY="${CCR_RELAYCTL_BINARY:-${CCR_BUILD_DIR}/ctl/cc-relayctl}"

# start_control_plane CONFIG [FLAG...]: `cc-relay control-plane` on a free port (HTTP listener
# off, debug logs so that secret checks cover every line); sets CP_ADDR, CP_PID and CP_LOG.
start_control_plane() {
  local config=$1
  shift
  require_file "cc-relay" "${CCR_RELAY_BINARY}" "build it: cmake --build <build> --target cc-relay"
  CP_LOG="${CASE_DIR}/control-plane.log"
  timeout -k 5 "${E2E_PROCESS_LIFETIME}" "${CCR_RELAY_BINARY}" control-plane --config "${config}" \
    --listen 127.0.0.1:0 --http-listen none --log-level debug "$@" \
    >"${CASE_DIR}/control-plane.out" 2>"${CP_LOG}" &
  CP_PID=$!
  E2E_PIDS+=("${CP_PID}")
  wait_for_line "${CP_LOG}" 'control_plane_listening address=127\.0\.0\.1:[0-9]+' "${CP_PID}" 10 \
    "control plane"
  CP_ADDR="$(sed -n 's/.*control_plane_listening address=\(127\.0\.0\.1:[0-9]*\).*/\1/p' \
    "${CP_LOG}" | head -n 1)"
}

# start_data_plane NAME [FLAG...]: `cc-relay data-plane --id NAME` fed by CP_ADDR, on free ports;
# waits until its /health answers 200 (first snapshot applied). Sets DP_PORT, DP_URL, DP_PID,
# DP_LOG and DP_ADMIN (its admin address).
start_data_plane() {
  local name=$1
  shift
  DP_LOG="${CASE_DIR}/${name}.log"
  timeout -k 5 "${E2E_PROCESS_LIFETIME}" "${CCR_RELAY_BINARY}" data-plane \
    --control-plane "${CP_ADDR}" --id "${name}" --listen 127.0.0.1:0 \
    --admin-listen 127.0.0.1:0 --workers 1 --log-level debug "$@" \
    >"${CASE_DIR}/${name}.out" 2>"${DP_LOG}" &
  DP_PID=$!
  E2E_PIDS+=("${DP_PID}")
  wait_for_line "${DP_LOG}" ' listening address=127\.0\.0\.1:[0-9]+' "${DP_PID}" 10 \
    "data plane ${name}"
  wait_for_line "${DP_LOG}" 'data_plane_started .*admin_address=127\.0\.0\.1:[0-9]+' "${DP_PID}" 10 \
    "data plane ${name} (admin)"
  DP_PORT="$(sed -n 's/.* listening address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "${DP_LOG}" |
    head -n 1)"
  DP_URL="http://127.0.0.1:${DP_PORT}"
  DP_ADMIN="$(sed -n 's/.*data_plane_started .*admin_address=\(127\.0\.0\.1:[0-9]*\).*/\1/p' \
    "${DP_LOG}" | head -n 1)"
  local i
  for ((i = 0; i < 200; ++i)); do
    [[ "$(dp_health_field "${DP_URL}" status)" == ok ]] && return 0
    kill -0 "${DP_PID}" 2>/dev/null || fail "data plane ${name} exited before its first snapshot"
    sleep 0.05
  done
  fail "data plane ${name}: no snapshot after 10 s"
}

# dp_health_field URL FIELD: a field of the data plane's GET /health answer ("" if none).
dp_health_field() {
  curl -s --max-time 2 "$1/health" 2>/dev/null |
    node -e '
      let s = "";
      process.stdin.on("data", (d) => (s += d)).on("end", () => {
        try { process.stdout.write(String(JSON.parse(s)[process.argv[1]] ?? "")); } catch (e) {}
      });' "$2"
}

# wait_for_snapshot_version URL VERSION SECONDS WHAT: waits until the data plane at URL reports
# snapshot_version >= VERSION in /health.
wait_for_snapshot_version() {
  local url=$1 want=$2 secs=$3 what=$4
  local i got
  for ((i = 0; i < secs * 20; ++i)); do
    got="$(dp_health_field "${url}" snapshot_version)"
    [[ -n "${got}" && "${got}" -ge "${want}" ]] && return 0
    sleep 0.05
  done
  fail "${what}: snapshot version ${got:-none} after ${secs} s, expected >= ${want}"
}

# ctl ARG...: cc-relayctl against CP_ADDR (add --token-file etc. as arguments).
ctl() {
  "${CCR_RELAYCTL_BINARY}" --control-plane "${CP_ADDR}" "$@"
}

# continue_case NAME: a new case name that goes on with the processes and logs of the current
# one (no stop_all), so that a failure names it and still shows those logs.
continue_case() {
  ln -sfn "${CASE_DIR}" "${E2E_TMP}/$1"
  E2E_CASE=$1
  echo "==== ${E2E_CASE}"
}

# free_port: a TCP port free on 127.0.0.1 now (for a command line that needs it in advance).
free_port() {
  "${CCR_PYTHON:-python3}" -c \
    'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# one_provider_config NAME KEY [LINE...]: a config with one anthropic provider NAME on the mock
# (MOCK_PORT) with one key, written as given (a literal or "${VAR}"), each LINE added to that key
# (e.g. "rpm_limit: 100"); active health checks off, so the mock sees client traffic only.
one_provider_config() {
  local name=$1 key=$2
  shift 2
  printf '%s\n' "health:" "  checks:" "    interval_ms: 0" "providers:" "  - name: ${name}" \
    "    type: anthropic" "    base_url: \"http://127.0.0.1:${MOCK_PORT}\"" "    keys:" \
    "      - key: \"${key}\""
  local line
  for line in "$@"; do
    printf '        %s\n' "${line}"
  done
}

# launch_control_plane PORT COMMAND...: runs a whole control-plane command line that listens on
# 127.0.0.1:PORT (text logs at debug level added) and waits until it listens with a token; sets
# CP_ADDR, CP_PID and CP_LOG.
launch_control_plane() {
  local port=$1
  shift
  CP_LOG="${CASE_DIR}/control-plane.log"
  timeout -k 5 "${E2E_PROCESS_LIFETIME}" "$@" --log-level debug --log-format text \
    >"${CASE_DIR}/control-plane.out" 2>"${CP_LOG}" &
  CP_PID=$!
  E2E_PIDS+=("${CP_PID}")
  wait_for_line "${CP_LOG}" "control_plane_listening address=127\.0\.0\.1:${port} .*token=true" \
    "${CP_PID}" 10 "control plane"
  CP_ADDR="127.0.0.1:${port}"
}
