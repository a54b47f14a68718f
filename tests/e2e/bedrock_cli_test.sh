#!/usr/bin/env bash
# End-to-end: the real Claude Code CLI (npm @anthropic-ai/claude-code, pinned in package.json)
# -> cc-relay (a `type: bedrock` provider with IAM credentials) -> tests/fakes/fake_bedrock.py,
# a strict fake of the Bedrock runtime that checks every SigV4 signature with botocore, rejects
# what Bedrock rejects and answers AWS event streams. All on 127.0.0.1, no other network.
#
# Cases:
#   say        `claude -p` output intact through the Bedrock transcoding (streaming, thinking
#              with its signature, prompt caching marks, Claude Code's betas filtered)
#   tool       a tool round trip: the fake asks for Claude Code's Read tool, Claude Code reads
#              the file and sends the tool_result, the fake answers with what it read
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly CCR_PYTHON="${CCR_PYTHON:-/usr/bin/python3}"
readonly FAKE_BEDROCK="${CCR_SOURCE_DIR}/tests/fakes/fake_bedrock.py"
readonly CLAUDE="${E2E_NODE_MODULES}/.bin/claude"
# Fake credentials, made fresh for every run (never real ones).
readonly ACCESS_KEY_ID="AKIDE2E$(od -An -tx1 -N6 /dev/urandom | tr -d " \n" | tr a-f A-F)"
readonly SECRET_KEY="e2e-secret-$(od -An -tx1 -N12 /dev/urandom | tr -d " \n")"
readonly CLIENT_KEY="fake-client-key-$(od -An -tx1 -N8 /dev/urandom | tr -d " \n")"
readonly MODEL="claude-sonnet-4-5-20250929"
readonly BEDROCK_MODEL="us.anthropic.claude-sonnet-4-5-20250929-v1:0"

begin_case setup
require_node
[[ -e "${CLAUDE}" ]] ||
  fail "Claude Code CLI not installed at ${CLAUDE}: run 'npm ci --prefix tests/e2e'"
"${CCR_PYTHON}" -c 'import botocore.auth, botocore.eventstream' 2>/dev/null ||
  fail "${CCR_PYTHON} cannot import botocore (scripts/setup.sh installs python3-botocore)"
pass "Claude Code and botocore present"

# start_fake_bedrock: sets BEDROCK_PORT and BEDROCK_REQUESTS.
start_fake_bedrock() {
  local creds="${CASE_DIR}/bedrock-credentials.json"
  printf '{"sigv4":[{"access_key_id":"%s","secret_access_key":"%s","session_token":null}],"api_keys":[]}\n' \
    "${ACCESS_KEY_ID}" "${SECRET_KEY}" >"${creds}"
  BEDROCK_REQUESTS="${CASE_DIR}/bedrock-requests.jsonl"
  timeout -k 5 "${E2E_PROCESS_LIFETIME}" "${CCR_PYTHON}" "${FAKE_BEDROCK}" \
    --listen 127.0.0.1:0 --region us-east-1 --credentials "${creds}" \
    --request-log "${BEDROCK_REQUESTS}" \
    >"${CASE_DIR}/bedrock.out" 2>"${CASE_DIR}/bedrock.err" &
  local pid=$!
  E2E_PIDS+=("${pid}")
  wait_for_line "${CASE_DIR}/bedrock.out" '^listening 127\.0\.0\.1:[0-9]+' "${pid}" 30 \
    "fake Bedrock"
  BEDROCK_PORT="$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\).*/\1/p' "${CASE_DIR}/bedrock.out")"
}

write_config() {
  cat >"$1" <<EOF
server:
  listen: "127.0.0.1:0"
  workers: 1
health:
  checks:
    interval_ms: 0
providers:
  - name: bedrock
    type: bedrock
    aws_region: us-east-1
    base_url: "http://127.0.0.1:${BEDROCK_PORT}"
    keys:
      - aws_access_key_id: "${ACCESS_KEY_ID}"
        aws_secret_access_key: "${SECRET_KEY}"
    model_mapping:
      "claude-sonnet-4-5*": "${BEDROCK_MODEL}"
      "claude-haiku-*": "us.anthropic.claude-haiku-4-5-20251001-v1:0"
      "claude-*": "${BEDROCK_MODEL}"
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


# Every request the fake got was signed by the relay, verified by botocore and answered 200.
expect_bedrock_requests_clean() {
  [[ -s "${BEDROCK_REQUESTS}" ]] || fail "no request reached the fake Bedrock"
  expect_eq "fake Bedrock requests not answered 200" \
    "$(jsq "${BEDROCK_REQUESTS}" 'rows.filter((r) => r.status !== 200).map((r) => r.status + " " + r.error_type + ": " + r.error_message).join("; ")')" ""
  expect_eq "requests whose signature botocore did not verify" \
    "$(jsq "${BEDROCK_REQUESTS}" 'rows.filter((r) => r.signature_verified !== true).length')" 0
  expect_eq "requests signed with another key" \
    "$(jsq "${BEDROCK_REQUESTS}" "rows.filter((r) => r.auth.access_key_id !== '${ACCESS_KEY_ID}').length")" 0
  expect_eq "Claude Code's own beta sent to Bedrock" \
    "$(jsq "${BEDROCK_REQUESTS}" "rows.filter((r) => (r.anthropic_beta || []).includes('claude-code-20250219')).length")" 0
  expect_secrets_absent "${RELAY_LOG}" "${SECRET_KEY}" "${CLIENT_KEY}"
  expect_secrets_absent "${CASE_DIR}/relay.out" "${SECRET_KEY}" "${CLIENT_KEY}"
}

# ---------------------------------------------------------------------------------------------
begin_case say
start_fake_bedrock
write_config "${CASE_DIR}/relay.yaml"
start_relay "${CASE_DIR}/relay.yaml"
WORK="${CASE_DIR}/work-say"
run_claude say "SAY Bedrock answered through cc-relay."
expect_eq "claude exit status" "${CLAUDE_RC}" 0
expect_eq "claude result is_error" "$(claude_field 'r.is_error')" false
expect_eq "claude result text" "$(claude_field 'r.result')" "Bedrock answered through cc-relay."
pass "claude -p output intact through Bedrock's event stream"
expect_bedrock_requests_clean
main='rows.find((r) => r.model_id === "'"${BEDROCK_MODEL}"'" && JSON.stringify(r.body).includes("SAY Bedrock"))'
expect_eq "the model call streamed" "$(jsq "${BEDROCK_REQUESTS}" "${main}.operation")" \
  InvokeModelWithResponseStream
expect_eq "thinking went to Bedrock" "$(jsq "${BEDROCK_REQUESTS}" "${main}.body.thinking.type")" \
  enabled
expect_eq "prompt caching marks kept" \
  "$(jsq "${BEDROCK_REQUESTS}" "JSON.stringify(${main}.body).includes('\"cache_control\":{\"type\":\"ephemeral\"')")" \
  true
expect_eq "usage reached Claude Code" \
  "$(claude_field 'r.usage.output_tokens > 0')" true
pass "signed (botocore verified), thinking and cache_control kept, claude-code beta dropped"

# ---------------------------------------------------------------------------------------------
begin_case tool
start_fake_bedrock
write_config "${CASE_DIR}/relay.yaml"
start_relay "${CASE_DIR}/relay.yaml"
WORK="${CASE_DIR}/work-tool"
mkdir -p "${WORK}"
readonly SECRET_NOTE="the-note-says-$(od -An -tx1 -N4 /dev/urandom | tr -d " \n")"
echo "${SECRET_NOTE}" >"${WORK}/note.txt"
run_claude tool "READ_FILE ${WORK}/note.txt" --allowedTools Read
expect_eq "claude exit status" "${CLAUDE_RC}" 0
expect_eq "claude result is_error" "$(claude_field 'r.is_error')" false
result="$(claude_field 'r.result')"
[[ "${result}" == "TOOL RESULT: "*"${SECRET_NOTE}"* ]] ||
  fail "the tool result did not make the round trip: '${result}'"
pass "tool round trip: Read ran and its result reached Bedrock: '${result:0:80}'"
expect_bedrock_requests_clean
expect_eq "a request carried the tool_result" \
  "$(jsq "${BEDROCK_REQUESTS}" 'rows.some((r) => JSON.stringify(r.body).includes("\"tool_result\""))')" \
  true
pass "every request signed and accepted"
