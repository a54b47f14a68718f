#!/usr/bin/env bash
# End-to-end: the real Claude Code CLI (npm @anthropic-ai/claude-code, pinned in package.json)
# -> cc-relay -> ccr_mock_upstream, all on 127.0.0.1, no other network.
#
# Needs `npm ci --prefix tests/e2e` (scripts/setup.sh) and the targets cc-relay and
# ccr_mock_upstream. A missing or broken CLI is a failure, never a skip.
#
# Cases:
#   provider_key          relay with a provider key: the client's key is replaced upstream
#   provider_key_bearer   same, the client authenticating with ANTHROPIC_AUTH_TOKEN (Bearer)
#   passthrough_api_key   provider without keys: the client's x-api-key reaches the upstream
#   passthrough_bearer    provider without keys: the client's Bearer token reaches the upstream
#   relay_auth            server.auth.api_key: a wrong key gets a fast 401 and nothing goes
#                         upstream; the right key works and is not forwarded
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Fake credentials, made fresh for every run (never real keys).
readonly PROVIDER_KEY="fake-provider-key-$(od -An -tx1 -N8 /dev/urandom | tr -d " \n")"
readonly CLIENT_KEY="fake-client-key-$(od -An -tx1 -N8 /dev/urandom | tr -d " \n")"
readonly CLIENT_TOKEN="fake-client-token-$(od -An -tx1 -N8 /dev/urandom | tr -d " \n")"
readonly RELAY_ACCESS_KEY="relay-access-key-e2e-0123456789"
readonly MOCK_TEXT="Hello from the mock upstream."
readonly CLAUDE="${E2E_NODE_MODULES}/.bin/claude"

begin_case setup
require_node
[[ -e "${CLAUDE}" ]] ||
  fail "Claude Code CLI not installed at ${CLAUDE}: run 'npm ci --prefix tests/e2e'"
mkdir -p "${CASE_DIR}/home"
version="$(env -i HOME="${CASE_DIR}/home" PATH="${PATH}" DISABLE_AUTOUPDATER=1 \
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 timeout 60 "${CLAUDE}" --version 2>&1 </dev/null)" ||
  fail "'claude --version' failed: ${version}"
[[ "${version}" == *"(Claude Code)"* ]] || fail "unexpected 'claude --version' output: ${version}"
pinned="$(node -p 'require(process.argv[1]).dependencies["@anthropic-ai/claude-code"]' \
  "${E2E_DIR}/package.json")"
[[ "${version}" == "${pinned} "* ]] ||
  fail "installed Claude Code is '${version}', package.json pins ${pinned}:" \
    "run 'npm ci --prefix tests/e2e'"
pass "Claude Code ${version}"

# write_config FILE MOCK_PORT WITH_KEY(0|1) [RELAY_API_KEY]
write_config() {
  local file=$1 port=$2 with_key=$3 relay_key=${4:-}
  {
    echo "server:"
    echo "  listen: \"127.0.0.1:0\""
    echo "  workers: 1"
    if [[ -n "${relay_key}" ]]; then
      echo "  auth:"
      echo "    api_key: \"${relay_key}\""
    fi
    # The mock records every request it gets: no health-check probes among them.
    echo "health:"
    echo "  checks:"
    echo "    interval_ms: 0"
    echo "providers:"
    echo "  - name: mock"
    echo "    type: anthropic"
    echo "    base_url: \"http://127.0.0.1:${port}\""
    if [[ "${with_key}" == 1 ]]; then
      echo "    keys:"
      echo "      - key: \"${PROVIDER_KEY}\""
    fi
  } >"${file}"
}

# run_claude NAME VAR=VALUE...: `claude -p "Say hello" --output-format json` against the relay
# with a scrubbed environment plus the given variables; sets CLAUDE_RC, CLAUDE_OUT (stdout file)
# and CLAUDE_SECONDS.
run_claude() {
  local name=$1
  shift
  local home="${CASE_DIR}/home-${name}" work="${CASE_DIR}/work-${name}"
  mkdir -p "${home}" "${work}"
  CLAUDE_OUT="${CASE_DIR}/claude-${name}.out"
  local start=${SECONDS}
  (
    cd "${work}" &&
      exec timeout 120 env -i \
        HOME="${home}" \
        PATH="${PATH}" \
        ANTHROPIC_BASE_URL="${RELAY_URL}" \
        DISABLE_TELEMETRY=1 \
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
        DISABLE_AUTOUPDATER=1 \
        CLAUDE_CODE_MAX_RETRIES=0 \
        "$@" \
        "${CLAUDE}" -p "Say hello" --output-format json
  ) </dev/null >"${CLAUDE_OUT}" 2>"${CASE_DIR}/claude-${name}.err"
  CLAUDE_RC=$?
  CLAUDE_SECONDS=$((SECONDS - start))
  [[ "${CLAUDE_RC}" != 124 ]] || fail "claude (${name}) hung: killed after 120 s"
}


expect_claude_success() {
  expect_eq "claude exit status" "${CLAUDE_RC}" 0
  expect_eq "claude result is_error" "$(claude_field 'r.is_error')" false
  expect_eq "claude result text" "$(claude_field 'r.result')" "${MOCK_TEXT}"
}

# The mock's only request: Claude Code's model call. HEAD / (its connectivity check) is answered
# by the relay itself, so nothing else may reach the upstream.
REQ='rows[0]'
expect_one_model_call() {
  expect_eq "requests that reached the mock upstream" "$(mock_count)" 1
  expect_eq "upstream method" "$(jsq "${MOCK_REQUESTS}" "${REQ}.method")" POST
  expect_eq "upstream target" "$(jsq "${MOCK_REQUESTS}" "${REQ}.target")" "/v1/messages?beta=true"
  expect_eq "upstream stream flag" "$(jsq "${MOCK_REQUESTS}" "${REQ}.stream")" true
  expect_eq "anthropic-version forwarded" \
    "$(jsq "${MOCK_REQUESTS}" "${REQ}.headers['anthropic-version']")" "2023-06-01"
  local beta
  beta="$(jsq "${MOCK_REQUESTS}" "${REQ}.headers['anthropic-beta'] ?? '<absent>'")"
  [[ ",${beta}," == *",claude-code-20250219,"* ]] ||
    fail "anthropic-beta not forwarded intact: got '${beta}'"
  expect_eq "x-claude-code-session-id forwarded (= the session of Claude Code's result)" \
    "$(jsq "${MOCK_REQUESTS}" "${REQ}.headers['x-claude-code-session-id'] ?? '<absent>'")" \
    "$(claude_field 'r.session_id')"
  local ua
  ua="$(jsq "${MOCK_REQUESTS}" "${REQ}.headers['user-agent'] ?? '<absent>'")"
  [[ "${ua}" == claude-cli/* ]] || fail "user-agent not forwarded: got '${ua}'"
  expect_eq "x-app forwarded" \
    "$(jsq "${MOCK_REQUESTS}" "${REQ}.headers['x-app'] ?? '<absent>'")" cli
  # The body length the client declared is what arrived (no model mapping configured).
  expect_eq "upstream body length = its content-length" \
    "$(jsq "${MOCK_REQUESTS}" "String(${REQ}.body_bytes)")" \
    "$(jsq "${MOCK_REQUESTS}" "${REQ}.headers['content-length']")"
}

# expect_upstream_credentials X_API_KEY AUTHORIZATION ("<absent>" for a missing header)
expect_upstream_credentials() {
  expect_eq "upstream x-api-key" \
    "$(jsq "${MOCK_REQUESTS}" "${REQ}.headers['x-api-key'] ?? '<absent>'")" "$1"
  expect_eq "upstream authorization" \
    "$(jsq "${MOCK_REQUESTS}" "${REQ}.headers['authorization'] ?? '<absent>'")" "$2"
}

# expect_relay_request_line KEY_FIELD: the relay's access-log line for the model call.
expect_relay_request_line() {
  local key_regex=$1
  local lines
  lines="$(grep -E ' info request ' "${RELAY_LOG}")"
  [[ -n "${lines}" ]] || fail "no 'request' line in the relay log"
  expect_eq "relay request lines" "$(printf '%s\n' "${lines}" | wc -l)" 1
  local model
  model="$(jsq "${MOCK_REQUESTS}" "${REQ}.model")"
  local field
  for field in "endpoint=messages" "provider=mock" "model=\"${model}\"" "stream=true" \
      "status=200" "attempts=1" "upstream_error=false" "client_gone=false" \
      "input_tokens=$(claude_field 'r.usage.input_tokens')" \
      "output_tokens=$(claude_field 'r.usage.output_tokens')"; do
    [[ " ${lines} " == *" ${field} "* ]] ||
      fail "relay request line lacks '${field}': ${lines}"
  done
  [[ "${lines}" =~ \ key=${key_regex}\  ]] ||
    fail "relay request line: key field does not match '${key_regex}': ${lines}"
}

# ---------------------------------------------------------------------------------------------
begin_case provider_key
start_mock mock
write_config "${CASE_DIR}/relay.yaml" "${MOCK_PORT}" 1
start_relay "${CASE_DIR}/relay.yaml"
run_claude main ANTHROPIC_API_KEY="${CLIENT_KEY}"
expect_claude_success
pass "claude -p answered '${MOCK_TEXT}' through the relay in ${CLAUDE_SECONDS} s"
expect_one_model_call
expect_upstream_credentials "${PROVIDER_KEY}" "<absent>"
grep -Fq -- "${CLIENT_KEY}" "${MOCK_REQUESTS}" && fail "the client's key reached the upstream"
pass "upstream got POST /v1/messages?beta=true, stream, Claude Code's headers, the provider key"
expect_relay_request_line '[0-9a-f]{8}'
expect_secrets_absent "${RELAY_LOG}" "${PROVIDER_KEY}" "${CLIENT_KEY}"
expect_secrets_absent "${CASE_DIR}/relay.out" "${PROVIDER_KEY}" "${CLIENT_KEY}"
pass "relay logged status=200 with a key fingerprint and no key"

# ---------------------------------------------------------------------------------------------
begin_case provider_key_bearer
start_mock mock
write_config "${CASE_DIR}/relay.yaml" "${MOCK_PORT}" 1
start_relay "${CASE_DIR}/relay.yaml"
run_claude main ANTHROPIC_AUTH_TOKEN="${CLIENT_TOKEN}"
expect_claude_success
expect_one_model_call
expect_upstream_credentials "${PROVIDER_KEY}" "<absent>"
grep -Fq -- "${CLIENT_TOKEN}" "${MOCK_REQUESTS}" && fail "the client's token reached the upstream"
expect_relay_request_line '[0-9a-f]{8}'
expect_secrets_absent "${RELAY_LOG}" "${PROVIDER_KEY}" "${CLIENT_TOKEN}"
pass "a Bearer client credential is replaced by the provider key too"

# ---------------------------------------------------------------------------------------------
begin_case passthrough_api_key
start_mock mock
write_config "${CASE_DIR}/relay.yaml" "${MOCK_PORT}" 0
start_relay "${CASE_DIR}/relay.yaml"
run_claude main ANTHROPIC_API_KEY="${CLIENT_KEY}"
expect_claude_success
expect_one_model_call
expect_upstream_credentials "${CLIENT_KEY}" "<absent>"
expect_relay_request_line '-'
expect_secrets_absent "${RELAY_LOG}" "${CLIENT_KEY}"
pass "without provider keys the client's x-api-key reaches the upstream unchanged"

# ---------------------------------------------------------------------------------------------
begin_case passthrough_bearer
start_mock mock
write_config "${CASE_DIR}/relay.yaml" "${MOCK_PORT}" 0
start_relay "${CASE_DIR}/relay.yaml"
run_claude main ANTHROPIC_AUTH_TOKEN="${CLIENT_TOKEN}"
expect_claude_success
expect_one_model_call
expect_upstream_credentials "<absent>" "Bearer ${CLIENT_TOKEN}"
expect_relay_request_line '-'
expect_secrets_absent "${RELAY_LOG}" "${CLIENT_TOKEN}"
pass "without provider keys the client's Bearer token reaches the upstream unchanged"

# ---------------------------------------------------------------------------------------------
begin_case relay_auth
start_mock mock
write_config "${CASE_DIR}/relay.yaml" "${MOCK_PORT}" 1 "${RELAY_ACCESS_KEY}"
start_relay "${CASE_DIR}/relay.yaml"

run_claude wrong_key ANTHROPIC_API_KEY="${CLIENT_KEY}"
[[ "${CLAUDE_RC}" != 0 ]] || fail "claude with a wrong relay key exited 0"
(( CLAUDE_SECONDS <= 30 )) || fail "claude with a wrong relay key took ${CLAUDE_SECONDS} s"
expect_eq "claude result is_error (wrong key)" "$(claude_field 'r.is_error')" true
expect_eq "claude api_error_status (wrong key)" "$(claude_field 'r.api_error_status')" 401
expect_eq "requests that reached the mock upstream (wrong key)" "$(mock_count)" 0
grep -Eq ' request_rejected .*status=401' "${RELAY_LOG}" ||
  fail "the relay log has no request_rejected status=401 line"
# The body Claude Code got: the same request made by hand, as Claude Code sends it.
body="$(node -e '
  fetch(process.argv[1] + "/v1/messages?beta=true", {
    method: "POST",
    headers: {"content-type": "application/json", "anthropic-version": "2023-06-01",
              "x-api-key": process.argv[2]},
    body: JSON.stringify({model: "claude-sonnet-4-5", max_tokens: 16, stream: true,
                          messages: [{role: "user", content: "Say hello"}]}),
  }).then(async (res) => {
    process.stdout.write(JSON.stringify({status: res.status, body: await res.json()}));
  }).catch((e) => { process.stdout.write("fetch failed: " + e); });
' "${RELAY_URL}" "${CLIENT_KEY}")"
expect_eq "relay answer to a wrong key" \
  "$(node -p '
      const o = JSON.parse(process.argv[1]);
      [o.status, o.body.type, o.body.error.type].join(" ");
    ' "${body}" 2>&1)" "401 error authentication_error"
expect_eq "requests that reached the mock upstream (wrong key, by hand)" "$(mock_count)" 0
pass "a wrong relay key fails in ${CLAUDE_SECONDS} s with 401 authentication_error," \
  "upstream untouched"

run_claude right_key ANTHROPIC_API_KEY="${RELAY_ACCESS_KEY}"
expect_claude_success
expect_one_model_call
expect_upstream_credentials "${PROVIDER_KEY}" "<absent>"
grep -Fq -- "${RELAY_ACCESS_KEY}" "${MOCK_REQUESTS}" &&
  fail "the relay access key reached the upstream"
expect_relay_request_line '[0-9a-f]{8}'
expect_secrets_absent "${RELAY_LOG}" "${PROVIDER_KEY}" "${CLIENT_KEY}" "${RELAY_ACCESS_KEY}"
pass "the right relay key works and is replaced by the provider key upstream"

echo "PASS: claude_cli_test"
