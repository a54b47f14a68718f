# shellcheck shell=bash
# Shared helpers of the end-to-end scripts that run the real Claude Code CLI through cc-relay to
# a strict cloud fake answering from tests/fakes/anthropic_script.py (bedrock_cli_test.sh,
# vertex_cli_test.sh, azure_cli_test.sh). Sourced after lib.sh, not run.
#
# A script sets before it calls these: CLIENT_KEY (what Claude Code sends as its API key, never
# forwarded) and MODEL (Claude Code's model); RELAY_URL comes from start_relay.
# shellcheck disable=SC2034  # variables set here are read by the scripts that source this file

readonly CCR_PYTHON="${CCR_PYTHON:-/usr/bin/python3}"
readonly CLAUDE="${E2E_NODE_MODULES}/.bin/claude"

# rand [N]: N random bytes (default 6) in hex, for fake names and secrets made fresh per run.
rand() { od -An -tx1 -N"${1:-6}" /dev/urandom | tr -d " \n"; }

require_claude() {
  require_node
  [[ -e "${CLAUDE}" ]] ||
    fail "Claude Code CLI not installed at ${CLAUDE}: run 'npm ci --prefix tests/e2e'"
}

# start_py_fake NAME WHAT SCRIPT [ARGS...]: "${CCR_PYTHON}" SCRIPT --listen 127.0.0.1:0 ARGS
# with its output in CASE_DIR/NAME.{out,err}; waits for its "listening" line (WHAT names it in
# errors) and sets FAKE_PORT.
start_py_fake() {
  local name=$1 what=$2 script=$3
  shift 3
  timeout -k 5 "${E2E_PROCESS_LIFETIME}" "${CCR_PYTHON}" "${script}" --listen 127.0.0.1:0 "$@" \
    >"${CASE_DIR}/${name}.out" 2>"${CASE_DIR}/${name}.err" &
  local pid=$!
  E2E_PIDS+=("${pid}")
  wait_for_line "${CASE_DIR}/${name}.out" '^listening 127\.0\.0\.1:[0-9]+' "${pid}" 30 "${what}"
  FAKE_PORT="$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\).*/\1/p' "${CASE_DIR}/${name}.out")"
}

# relay_config NAME TYPE SONNET HAIKU [YAML_LINE...]: a relay config (one worker, no
# health-check probes among the requests the fake logs) with one provider NAME of TYPE, the
# lines given added to it, and a model_mapping of Claude Code's models to SONNET (and its small
# model, claude-haiku-*, to HAIKU).
relay_config() {
  local name=$1 type=$2 sonnet=$3 haiku=$4 line
  shift 4
  cat <<EOF
server:
  listen: "127.0.0.1:0"
  workers: 1
health:
  checks:
    interval_ms: 0
providers:
  - name: ${name}
    type: ${type}
EOF
  for line in "$@"; do
    echo "    ${line}"
  done
  cat <<EOF
    model_mapping:
      "claude-sonnet-4-5*": "${sonnet}"
      "claude-haiku-*": "${haiku}"
      "claude-*": "${sonnet}"
EOF
}

# run_claude NAME PROMPT [ARGS...]: `claude -p PROMPT --output-format json` against the relay;
# sets CLAUDE_RC, CLAUDE_OUT and WORK (Claude Code's working directory, made before).
run_claude() {
  local name=$1 prompt=$2
  shift 2
  local home="${CASE_DIR}/home-${name}"
  mkdir -p "${home}" "${WORK}"
  CLAUDE_OUT="${CASE_DIR}/claude-${name}.out"
  (
    cd "${WORK}" &&
      exec timeout 150 env -i \
        HOME="${home}" \
        PATH="${PATH}" \
        ANTHROPIC_BASE_URL="${RELAY_URL}" \
        ANTHROPIC_API_KEY="${CLIENT_KEY}" \
        ANTHROPIC_MODEL="${MODEL}" \
        DISABLE_TELEMETRY=1 \
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
        DISABLE_AUTOUPDATER=1 \
        CLAUDE_CODE_MAX_RETRIES=0 \
        "${CLAUDE}" -p "${prompt}" --output-format json "$@"
  ) </dev/null >"${CLAUDE_OUT}" 2>"${CASE_DIR}/claude-${name}.err"
  CLAUDE_RC=$?
  [[ "${CLAUDE_RC}" != 124 ]] || fail "claude (${name}) hung: killed after 150 s"
}

# claude_say NAME TEXT: `claude -p "SAY TEXT"` succeeds with TEXT as its result and the usage.
claude_say() {
  WORK="${CASE_DIR}/work-$1"
  run_claude "$1" "SAY $2"
  expect_eq "claude exit status" "${CLAUDE_RC}" 0
  expect_eq "claude result is_error" "$(claude_field 'r.is_error')" false
  expect_eq "claude result text" "$(claude_field 'r.result')" "$2"
  expect_eq "usage reached Claude Code" "$(claude_field 'r.usage.output_tokens > 0')" true
}

# claude_say_streamed NAME WHO REQUESTS OPERATION MODEL: claude_say NAME with the text "WHO
# answered through cc-relay (NAME)."; the fake's log REQUESTS has that call as OPERATION on
# MODEL, streamed ("stream": true) to its end.
claude_say_streamed() {
  local name=$1 who=$2 requests=$3 operation=$4 upstream_model=$5
  claude_say "${name}" "${who} answered through cc-relay (${name})."
  local main="rows.find((r) => JSON.stringify(r.body).includes('SAY ${who} answered'))"
  expect_eq "the model call" \
    "$(jsq "${requests}" "[${main}.operation, ${main}.model, ${main}.body.stream, ${main}.stream.outcome]")" \
    "[\"${operation}\",\"${upstream_model}\",true,\"complete\"]"
}

# expect_minted LOG_PREFIX PROVIDER SOURCE: the relay's log says that it minted PROVIDER's token
# from SOURCE (LOG_PREFIX: google_token, entra_token).
expect_minted() {
  grep -Fq "$1_refreshed provider=$2 source=\"$3\"" "${RELAY_LOG}" ||
    fail "no $1_refreshed line for $2 with source \"$3\": $(grep -F "$1_" "${RELAY_LOG}" |
      cut -c1-300 | head -n 3)"
}

# claude_tool NAME REQUESTS [CONDITION]: a tool round trip: the fake asks for Claude Code's Read
# tool, Claude Code reads the file and sends the tool_result, the fake answers with what it read.
# A request in the fake's log REQUESTS carried the tool_result (and met the JavaScript
# CONDITION over `r`, the logged request). Sets TOOL_RESULT (the answer's start, on one line).
claude_tool() {
  local name=$1 requests=$2 condition=${3:-true}
  WORK="${CASE_DIR}/work-${name}"
  mkdir -p "${WORK}"
  local note result
  note="the-note-says-$(rand 4)"
  echo "${note}" >"${WORK}/note.txt"
  run_claude "${name}" "READ_FILE ${WORK}/note.txt" --allowedTools Read
  expect_eq "claude exit status" "${CLAUDE_RC}" 0
  expect_eq "claude result is_error" "$(claude_field 'r.is_error')" false
  result="$(claude_field 'r.result')"
  [[ "${result}" == "TOOL RESULT: "*"${note}"* ]] ||
    fail "the tool result did not make the round trip: '${result}'"
  expect_eq "a request carried the tool_result" \
    "$(jsq "${requests}" "rows.some((r) => JSON.stringify(r.body).includes('\"tool_result\"') && (${condition}))")" \
    true
  TOOL_RESULT="$(printf '%s' "${result:0:80}" | tr '\n\t' '  ')"
}

# count_tokens_via_relay: POST /v1/messages/count_tokens to the relay as Claude Code sends it
# (?beta=true, its betas, a tool); expects 200 and {"input_tokens": N > 0}; sets COUNT_OUT (the
# answer's file).
count_tokens_via_relay() {
  COUNT_OUT="${CASE_DIR}/count.out"
  local status
  status="$(curl -sS -o "${COUNT_OUT}" -w '%{http_code}' --max-time 30 \
    -X POST "${RELAY_URL}/v1/messages/count_tokens?beta=true" \
    -H "x-api-key: ${CLIENT_KEY}" -H 'anthropic-version: 2023-06-01' \
    -H 'anthropic-beta: claude-code-20250219,token-counting-2024-11-01,interleaved-thinking-2025-05-14' \
    -H 'content-type: application/json' \
    --data "{\"model\":\"${MODEL}\",\"messages\":[{\"role\":\"user\",\"content\":\"How many tokens is this?\"}],\"tools\":[{\"name\":\"Read\",\"description\":\"Reads a file\",\"input_schema\":{\"type\":\"object\"}}]}")" ||
    fail "curl to the relay failed"
  expect_eq "count_tokens status" "${status}" 200
  expect_eq "count_tokens answer" \
    "$(node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      process.stdout.write(JSON.stringify([Object.keys(r), Number.isInteger(r.input_tokens) && r.input_tokens > 0]));' \
      "${COUNT_OUT}")" '[["input_tokens"],true]'
}
