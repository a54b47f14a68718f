# shellcheck shell=bash
# Helpers shared by the issue-15 scripts that run the real Claude Code CLI against
# team_fake_upstream.py (budget_status_probe_test.sh, team_claude_cli_test.sh). Sourced after
# lib.sh; the name does not end in _test.sh, so ctest does not pick it up.
# shellcheck disable=SC2034  # variables set here are read by the scripts that source this file

readonly CCR_PYTHON="${CCR_PYTHON:-/usr/bin/python3}"
readonly CLAUDE="${E2E_NODE_MODULES}/.bin/claude"
readonly TEAM_FAKE="${E2E_DIR}/team_fake_upstream.py"

# require_claude: node, the pinned Claude Code CLI and Debian's python; passes with its version.
require_claude() {
  require_node
  [[ -e "${CLAUDE}" ]] ||
    fail "Claude Code CLI not installed at ${CLAUDE}: run 'npm ci --prefix tests/e2e'"
  [[ -x "${CCR_PYTHON}" ]] || fail "python not found at ${CCR_PYTHON}"
  pass "$(timeout 60 env -i HOME="${CASE_DIR}" PATH="${PATH}" DISABLE_AUTOUPDATER=1 \
    "${CLAUDE}" --version 2>&1 </dev/null)"
}

# start_team_fake [ARG...]: team_fake_upstream.py on a free port with its request log in this
# case's directory and the arguments given; sets FAKE_PID, FAKE_PORT, FAKE_URL and FAKE_LOG.
start_team_fake() {
  FAKE_LOG="${CASE_DIR}/fake-requests.jsonl"
  timeout -k 5 "${E2E_PROCESS_LIFETIME}" "${CCR_PYTHON}" "${TEAM_FAKE}" --listen 127.0.0.1:0 \
    --request-log "${FAKE_LOG}" "$@" >"${CASE_DIR}/fake.out" 2>"${CASE_DIR}/fake.err" &
  FAKE_PID=$!
  E2E_PIDS+=("${FAKE_PID}")
  wait_for_line "${CASE_DIR}/fake.out" '^listening 127\.0\.0\.1:[0-9]+' "${FAKE_PID}" 30 \
    "fake upstream"
  FAKE_PORT="$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\).*/\1/p' "${CASE_DIR}/fake.out")"
  FAKE_URL="http://127.0.0.1:${FAKE_PORT}"
}

# claude_p NAME URL FORMAT [VAR=VALUE...]: `claude -p "Say hello" --output-format FORMAT` with
# ANTHROPIC_BASE_URL=URL, a scrubbed environment plus the variables given, and
# CLAUDE_CODE_MAX_RETRIES unset unless given (the default user experience); sets CLAUDE_RC,
# CLAUDE_OUT (stdout; stderr beside it, .err) and CLAUDE_SECONDS.
claude_p() {
  local name=$1 url=$2 format=$3
  shift 3
  local home="${CASE_DIR}/home-${name}" work="${CASE_DIR}/work-${name}"
  mkdir -p "${home}" "${work}"
  CLAUDE_OUT="${CASE_DIR}/claude-${name}.out"
  local start=${SECONDS}
  (
    cd "${work}" &&
      exec timeout 150 env -i \
        HOME="${home}" \
        PATH="${PATH}" \
        ANTHROPIC_BASE_URL="${url}" \
        DISABLE_TELEMETRY=1 \
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
        DISABLE_AUTOUPDATER=1 \
        "$@" \
        "${CLAUDE}" -p "Say hello" --output-format "${format}"
  ) </dev/null >"${CLAUDE_OUT}" 2>"${CASE_DIR}/claude-${name}.err"
  CLAUDE_RC=$?
  CLAUDE_SECONDS=$((SECONDS - start))
  [[ "${CLAUDE_RC}" != 124 ]] || fail "claude (${name}) hung: killed after 150 s"
}

# model_posts [FROM]: the POSTs to /v1/messages (count_tokens included) in the fake's log after
# its first FROM lines (default 0).
model_posts() {
  if [[ -f "${FAKE_LOG}" ]]; then
    jsq "${FAKE_LOG}" "rows.slice(${1:-0}).filter((r) => r.method === 'POST').length"
  else
    echo 0
  fi
}
