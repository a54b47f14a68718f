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
# shellcheck source=cloud_cli_lib.sh
source "${E2E_DIR}/cloud_cli_lib.sh"

readonly FAKE_BEDROCK="${CCR_SOURCE_DIR}/tests/fakes/fake_bedrock.py"
# Fake credentials, made fresh for every run (never real ones).
ACCESS_KEY_ID="AKIDE2E$(rand 6 | tr a-f A-F)"
SECRET_KEY="e2e-secret-$(rand 12)"
CLIENT_KEY="fake-client-key-$(rand 8)"
readonly ACCESS_KEY_ID SECRET_KEY CLIENT_KEY
readonly MODEL="claude-sonnet-4-5-20250929"
readonly BEDROCK_MODEL="us.anthropic.claude-sonnet-4-5-20250929-v1:0"

begin_case setup
require_claude
"${CCR_PYTHON}" -c 'import botocore.auth, botocore.eventstream' 2>/dev/null ||
  fail "${CCR_PYTHON} cannot import botocore (scripts/setup.sh installs python3-botocore)"
pass "Claude Code and botocore present"

# start_fake_bedrock: sets BEDROCK_PORT and BEDROCK_REQUESTS.
start_fake_bedrock() {
  local creds="${CASE_DIR}/bedrock-credentials.json"
  printf '{"sigv4":[{"access_key_id":"%s","secret_access_key":"%s","session_token":null}],"api_keys":[]}\n' \
    "${ACCESS_KEY_ID}" "${SECRET_KEY}" >"${creds}"
  BEDROCK_REQUESTS="${CASE_DIR}/bedrock-requests.jsonl"
  start_py_fake bedrock "fake Bedrock" "${FAKE_BEDROCK}" --region us-east-1 \
    --credentials "${creds}" --request-log "${BEDROCK_REQUESTS}"
  BEDROCK_PORT="${FAKE_PORT}"
}

write_config() {
  relay_config bedrock bedrock "${BEDROCK_MODEL}" "us.anthropic.claude-haiku-4-5-20251001-v1:0" \
    "aws_region: us-east-1" "base_url: \"http://127.0.0.1:${BEDROCK_PORT}\"" "keys:" \
    "  - aws_access_key_id: \"${ACCESS_KEY_ID}\"" \
    "    aws_secret_access_key: \"${SECRET_KEY}\"" >"$1"
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
claude_say say "Bedrock answered through cc-relay."
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
pass "signed (botocore verified), thinking and cache_control kept, claude-code beta dropped"

# ---------------------------------------------------------------------------------------------
begin_case tool
start_fake_bedrock
write_config "${CASE_DIR}/relay.yaml"
start_relay "${CASE_DIR}/relay.yaml"
claude_tool tool "${BEDROCK_REQUESTS}"
pass "tool round trip: Read ran and its result reached Bedrock: '${TOOL_RESULT}'"
expect_bedrock_requests_clean
pass "every request signed and accepted"
