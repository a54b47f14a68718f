# shellcheck shell=bash
# Shared helpers for the end-to-end scripts tests/e2e/*_test.sh (sourced, not run; the name does
# not end in _test.sh, so ctest does not pick it up).
#
# Environment (set by ctest, see tests/CMakeLists.txt; for a manual run set at least one of the
# first two):
#   CCR_BUILD_DIR     build tree (holds controlplane/cc-relay and bench/ccr_mock_upstream)
#   CCR_RELAY_BINARY  cc-relay binary (default $CCR_BUILD_DIR/controlplane/cc-relay)
#   CCR_SOURCE_DIR    source tree (default: two levels above this file)
#   CCR_E2E_KEEP=1    keep the scratch directory (logs, configs) after the run
#
# Every process started here is stopped by the EXIT trap, whatever the outcome.
# shellcheck disable=SC2034  # variables set here are read by the scripts that source this file

set -u -o pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CCR_SOURCE_DIR="${CCR_SOURCE_DIR:-$(cd "${E2E_DIR}/../.." && pwd)}"
if [[ -z "${CCR_BUILD_DIR:-}" && -n "${CCR_RELAY_BINARY:-}" ]]; then
  CCR_BUILD_DIR="$(cd "$(dirname "${CCR_RELAY_BINARY}")/.." && pwd)"
fi
if [[ -z "${CCR_BUILD_DIR:-}" ]]; then
  echo "FAIL: set CCR_BUILD_DIR (or CCR_RELAY_BINARY); ctest sets both" >&2
  exit 1
fi
CCR_RELAY_BINARY="${CCR_RELAY_BINARY:-${CCR_BUILD_DIR}/controlplane/cc-relay}"
CCR_MOCK_BINARY="${CCR_MOCK_BINARY:-${CCR_BUILD_DIR}/bench/ccr_mock_upstream}"
E2E_NODE_MODULES="${E2E_DIR}/node_modules"

E2E_PIDS=()
# Background processes run under `timeout`, so that even a SIGKILLed test script (ctest's own
# timeout is 300 s) leaves nothing running for long.
E2E_PROCESS_LIFETIME=290
E2E_TMP="$(mktemp -d "${TMPDIR:-/tmp}/ccr-e2e.XXXXXX")"
E2E_CASE="setup"

# Stops every process started so far: SIGTERM, then SIGKILL after 5 s.
stop_all() {
  local pid
  for pid in "${E2E_PIDS[@]}"; do
    kill -TERM "${pid}" 2>/dev/null
  done
  for pid in "${E2E_PIDS[@]}"; do
    for _ in $(seq 50); do
      kill -0 "${pid}" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "${pid}" 2>/dev/null
    wait "${pid}" 2>/dev/null
  done
  E2E_PIDS=()
}

e2e_cleanup() {
  local rc=$?
  stop_all
  if [[ "${CCR_E2E_KEEP:-0}" == 1 ]]; then
    echo "scratch directory kept: ${E2E_TMP}" >&2
  else
    rm -rf "${E2E_TMP}"
  fi
  exit "${rc}"
}
trap e2e_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Prints a file for diagnosis, long lines cut (Claude Code's request bodies are ~76 KB).
e2e_dump() {
  local label=$1 file=$2
  echo "----- ${label} (${file}) -----" >&2
  if [[ -f "${file}" ]]; then
    cut -c1-1500 "${file}" | tail -n 60 >&2
  else
    echo "(missing)" >&2
  fi
}

# fail MESSAGE: reports the failure with the current case's logs and exits non-zero.
fail() {
  echo "FAIL [${E2E_CASE}]: $*" >&2
  local f
  for f in "${E2E_TMP}/${E2E_CASE}"/*.log "${E2E_TMP}/${E2E_CASE}"/*.jsonl \
      "${E2E_TMP}/${E2E_CASE}"/*.out "${E2E_TMP}/${E2E_CASE}"/*.err; do
    [[ -f "${f}" ]] && e2e_dump "$(basename "${f}")" "${f}"
  done
  exit 1
}

pass() { echo "ok   [${E2E_CASE}] $*"; }

# begin_case NAME: stops the previous case's processes; a fresh scratch subdirectory for this
# one, where its logs go.
begin_case() {
  stop_all
  E2E_CASE=$1
  CASE_DIR="${E2E_TMP}/${E2E_CASE}"
  mkdir -p "${CASE_DIR}"
  echo "==== ${E2E_CASE}"
}

require_file() {
  local what=$1 path=$2 hint=$3
  [[ -x "${path}" ]] || fail "${what} not found or not executable at ${path} (${hint})"
}

# Node evaluates a JavaScript expression over a JSON-lines file: `rows` is the array of parsed
# lines. The value is printed as is when it is a string, as JSON otherwise.
jsq() {
  local file=$1 expr=$2
  node -e '
    const fs = require("fs");
    const rows = fs.readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean)
                   .map((l) => JSON.parse(l));
    const value = new Function("rows", "return (" + process.argv[2] + ");")(rows);
    process.stdout.write(typeof value === "string" ? value : JSON.stringify(value));
  ' "${file}" "${expr}"
}

expect_eq() {
  local what=$1 got=$2 want=$3
  [[ "${got}" == "${want}" ]] || fail "${what}: expected '${want}', got '${got}'"
}

# For scripts that define qv EXPR (sets QV to the value of EXPR over their last answer):
# q EXPR prints that value, expect_q WHAT EXPR WANT compares it.
q() {
  qv "$1"
  printf '%s' "${QV}"
}

expect_q() {
  qv "$2"
  expect_eq "$1" "${QV}" "$3"
}

# wait_for_line FILE REGEX PID SECONDS WHAT: waits until FILE has a line matching REGEX; fails
# when PID exits first or the time runs out.
wait_for_line() {
  local file=$1 regex=$2 pid=$3 secs=$4 what=$5
  local i
  for ((i = 0; i < secs * 20; ++i)); do
    if [[ -f "${file}" ]] && grep -Eq -- "${regex}" "${file}"; then
      return 0
    fi
    kill -0 "${pid}" 2>/dev/null || fail "${what} exited before it was ready"
    sleep 0.05
  done
  fail "${what} not ready after ${secs} s"
}

# start_mock NAME [LOG]: starts ccr_mock_upstream with a request log; sets MOCK_PORT, MOCK_PID and
# MOCK_REQUESTS (the request log, one JSON object per request, possibly not yet created; LOG, or
# NAME-requests.jsonl in the case's directory: a test that checks headers holding secrets names
# one that fail's dump does not print, e.g. *.ndjson).
start_mock() {
  local name=$1
  require_file "mock upstream" "${CCR_MOCK_BINARY}" \
    "build it: cmake --build <build> --target ccr_mock_upstream"
  MOCK_REQUESTS="${2:-${CASE_DIR}/${name}-requests.jsonl}"
  timeout -k 5 "${E2E_PROCESS_LIFETIME}" "${CCR_MOCK_BINARY}" --listen 127.0.0.1:0 --threads 1 \
    --request-log "${MOCK_REQUESTS}" \
    >"${CASE_DIR}/${name}.out" 2>"${CASE_DIR}/${name}.err" &
  MOCK_PID=$!
  E2E_PIDS+=("${MOCK_PID}")
  wait_for_line "${CASE_DIR}/${name}.out" '^listening 127\.0\.0\.1:[0-9]+' "${MOCK_PID}" 10 \
    "mock upstream ${name}"
  MOCK_PORT="$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\).*/\1/p' "${CASE_DIR}/${name}.out")"
}

# stop_pid PID: stops one process started here (used to free a port that then refuses).
stop_pid() {
  kill -TERM "$1" 2>/dev/null
  wait "$1" 2>/dev/null
  return 0
}

# mock_count: requests the mock has logged so far.
mock_count() {
  if [[ -f "${MOCK_REQUESTS}" ]]; then
    jsq "${MOCK_REQUESTS}" 'rows.length'
  else
    echo 0
  fi
}

# start_relay CONFIG [NAME=VALUE...]: starts cc-relay on a free port with debug logging (so the
# secret checks cover every log line), with NAME=VALUE added to its environment; sets
# RELAY_PORT, RELAY_PID, RELAY_URL and RELAY_LOG.
start_relay() {
  local config=$1
  shift
  require_file "cc-relay" "${CCR_RELAY_BINARY}" "build it: cmake --build <build> --target cc-relay"
  RELAY_LOG="${CASE_DIR}/relay.log"
  timeout -k 5 "${E2E_PROCESS_LIFETIME}" env "$@" "${CCR_RELAY_BINARY}" serve --config "${config}" \
    --listen 127.0.0.1:0 --log-level debug \
    >"${CASE_DIR}/relay.out" 2>"${RELAY_LOG}" &
  RELAY_PID=$!
  E2E_PIDS+=("${RELAY_PID}")
  wait_for_line "${RELAY_LOG}" ' listening address=127\.0\.0\.1:[0-9]+' "${RELAY_PID}" 10 "cc-relay"
  RELAY_PORT="$(sed -n 's/.* listening address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "${RELAY_LOG}" |
    head -n 1)"
  RELAY_URL="http://127.0.0.1:${RELAY_PORT}"
}

# expect_secrets_absent FILE SECRET...: none of the secrets appears anywhere in FILE.
expect_secrets_absent() {
  local file=$1
  shift
  local secret
  for secret in "$@"; do
    if grep -Fq -- "${secret}" "${file}"; then
      fail "secret '${secret}' appears in $(basename "${file}"): $(grep -Fn -- "${secret}" \
        "${file}" | cut -c1-300 | head -n 3)"
    fi
  done
}

# claude_field EXPR: a field of Claude Code's JSON result (`r`, read from $CLAUDE_OUT).
claude_field() {
  node -e '
    const fs = require("fs");
    const text = fs.readFileSync(process.argv[1], "utf8").trim();
    let r;
    try { r = JSON.parse(text); } catch (e) {
      process.stdout.write("<not JSON: " + text.slice(0, 300) + ">"); process.exit(0);
    }
    const v = new Function("r", "return (" + process.argv[2] + ");")(r);
    process.stdout.write(typeof v === "string" ? v : JSON.stringify(v));
  ' "${CLAUDE_OUT}" "$1"
}

require_node() {
  command -v node >/dev/null 2>&1 || fail "node is not on PATH (scripts/setup.sh installs it)"
}
