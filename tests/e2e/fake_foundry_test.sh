#!/usr/bin/env bash
# Self-test of tests/fakes/fake_foundry.py, the strict fake of Azure AI Foundry's Claude endpoint
# (protocols.md 5) that the relay's Azure tests run against. Requests are sent with curl; the
# answers and the fake's request log are read with Python.
#
# "$CCR_PYTHON" is the interpreter (set by ctest; default /usr/bin/python3). Needs no build
# products.
#
# Cases:
#   auth          api-key, x-api-key, both (equal), Entra ID bearer tokens pass; unknown keys,
#                 two different keys, a key and a token together, expired or unknown tokens,
#                 nothing: 401 authentication_error (also in Azure's gateway shape); rotation;
#                 no key or token in the log
#   strict        deployments, the query, anthropic-version, anthropic_version in the body,
#                 betas Foundry refuses, the Messages API rules, /v1/models and unknown routes
#   stream        "stream": true answers Anthropic SSE with request-id and apim-request-id
#   conversation  READ_FILE -> tool_use, tool_result -> TOOL RESULT
#   count_tokens  /anthropic/v1/messages/count_tokens
#   faults        throttle (retry-after), overloaded, denied, hang, midstream-drop,
#                 midstream-error; POST /__fake/fail-next and reset
# shellcheck source-path=SCRIPTDIR source=lib.sh

# The fake needs no build tree; lib.sh wants a name for one all the same.
if [[ -z "${CCR_BUILD_DIR:-}" && -z "${CCR_RELAY_BINARY:-}" ]]; then
  CCR_BUILD_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build"
fi
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=anthropic_fake_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/anthropic_fake_lib.sh"

KEY="fake-foundry-key-$(rand)"
KEY2="fake-foundry-key2-$(rand)"
TOKEN="fake-entra-good-$(rand)"
OLD_TOKEN="fake-entra-expired-$(rand)"
readonly KEY KEY2 TOKEN OLD_TOKEN
readonly DEPLOYMENT="claude-sonnet-4-5"
readonly CUSTOM="team-a-claude"
readonly MESSAGES="/anthropic/v1/messages"
readonly HELLO="Hello from fake Foundry."

# start_foundry [ARGS...]: the fake with two keys, deployments DEPLOYMENT and CUSTOM, and a
# tokens file holding TOKEN (valid) and OLD_TOKEN (expired); sets TOKENS (the file).
start_foundry() {
  TOKENS="${CASE_DIR}/tokens.json"
  write_tokens "${TOKENS}" "${TOKEN}" "${FAKE_TOKEN_EXPIRY_FAR}" "${OLD_TOKEN}" 1000
  start_fake fake_foundry.py --deployment "${DEPLOYMENT}" --deployment "${CUSTOM}" \
    --api-key "${KEY}" --api-key "${KEY2}" --tokens "${TOKENS}" "$@"
}

body() {  # body MESSAGE_TEXT [EXTRA_JSON_MEMBERS] [MODEL]: a valid Messages body
  printf '{"model":"%s","max_tokens":256,%s"messages":[{"role":"user","content":"%s"}]}' \
    "${3:-${DEPLOYMENT}}" "${2:+$2,}" "$1"
}

# f NAME PATH BODY [CURL_ARGS...]: POST with the api-key, anthropic-version and JSON.
f() {
  local name=$1 path=$2 payload=$3
  shift 3
  call "${name}" POST "${path}" "${payload}" -H "api-key: ${KEY}" \
    -H 'anthropic-version: 2023-06-01' -H 'Content-Type: application/json' "$@"
}

# fb NAME PATH BODY CREDENTIAL_HEADERS...: POST with the given credentials only.
fb() {
  local name=$1 path=$2 payload=$3
  shift 3
  call "${name}" POST "${path}" "${payload}" -H 'anthropic-version: 2023-06-01' \
    -H 'Content-Type: application/json' "$@"
}

# expect_unauthorized WHAT VERDICT: 401 authentication_error, not verified.
expect_unauthorized() {
  expect_anthropic_error "$1" 401 authentication_error ""
  expect_q "$1: logged verdict" '[log["verified"], log["auth"]["verdict"]]' "[false, \"$2\"]"
}

# ---------------------------------------------------------------------------------------------
begin_case auth
start_foundry
fb api_key "${MESSAGES}" "$(body hi)" -H "api-key: ${KEY}"
expect_status "api-key" 200
expect_q "message" \
  '[r["type"], r["role"], r["model"], r["stop_reason"], r["id"][:10], r["content"]]' \
  "[\"message\", \"assistant\", \"${DEPLOYMENT}\", \"end_turn\", \"msg_fndry_\", [{\"type\": \"text\", \"text\": \"${HELLO}\"}]]"
expect_q "correlation headers" '[h["request-id"] == log["request_id"], len(h["apim-request-id"])]' \
  '[true, 36]'
expect_q "log: auth" '[log["verified"], log["auth"]["kind"], log["auth"]["headers"]]' \
  '[true, "api-key", ["api-key"]]'
expect_q "log: key shown as its fingerprint" \
  "[log['headers']['api-key'], 'fp:' + log['auth']['key_fingerprint']] == ['fp:' + __import__('hashlib').sha256(b'${KEY}').hexdigest()[:8]] * 2" true
fb x_api_key "${MESSAGES}" "$(body hi)" -H "x-api-key: ${KEY2}"
expect_status "x-api-key (the second key)" 200
fb both_keys "${MESSAGES}?beta=true" "$(body hi)" -H "api-key: ${KEY}" -H "x-api-key: ${KEY}"
expect_status "api-key and x-api-key, equal (as the Python SDK sends)" 200
expect_q "log: both headers" 'log["auth"]["headers"]' '["api-key", "x-api-key"]'
fb bearer "${MESSAGES}" "$(body hi)" -H "Authorization: Bearer ${TOKEN}"
expect_status "Entra ID token" 200
expect_q "log: bearer" '[log["auth"]["kind"], log["verified"],
  log["headers"]["authorization"] == "Bearer fp:" + log["token_fingerprint"]]' \
  '["bearer", true, true]'
pass "api-key, x-api-key, both equal, and an Entra ID bearer token pass"

fb unknown_key "${MESSAGES}" "$(body hi)" -H "api-key: not-a-key-$(rand)"
expect_unauthorized "an unknown key" unknown
expect_q "unknown key: Azure's message" \
  'r["error"]["message"].startswith("Access denied due to invalid subscription key")' true
fb differ "${MESSAGES}" "$(body hi)" -H "api-key: ${KEY}" -H "x-api-key: ${KEY2}"
expect_unauthorized "api-key and x-api-key differ" mismatch
fb key_and_token "${MESSAGES}" "$(body hi)" -H "x-api-key: ${KEY}" \
  -H "Authorization: Bearer ${TOKEN}"
expect_unauthorized "a key and a token together" both
fb expired "${MESSAGES}" "$(body hi)" -H "Authorization: Bearer ${OLD_TOKEN}"
expect_unauthorized "an expired token" expired
expect_q "expired: message" \
  'r["error"]["message"].startswith("Unauthorized. Access token is missing, invalid")' true
fb unknown_token "${MESSAGES}" "$(body hi)" -H "Authorization: Bearer fake-entra-$(rand)"
expect_unauthorized "an unknown token" unknown
fb key_as_bearer "${MESSAGES}" "$(body hi)" -H "Authorization: Bearer ${KEY}"
expect_unauthorized "an API key sent as a bearer token" unknown
fb nothing "${MESSAGES}" "$(body hi)"
expect_unauthorized "no credential" missing
pass "unknown key, two keys, key + token, expired/unknown token, key as bearer, nothing: 401"

NEW_TOKEN="fake-entra-rotated-$(rand)"
write_tokens "${TOKENS}" "${NEW_TOKEN}" "$(($(now_ms) + 60000))"
fb rotated_out "${MESSAGES}" "$(body hi)" -H "Authorization: Bearer ${TOKEN}"
expect_unauthorized "a token no longer in the file" unknown
fb rotated_in "${MESSAGES}" "$(body hi)" -H "Authorization: Bearer ${NEW_TOKEN}"
expect_status "the new token" 200
printf '{"format": 1, "tokens": {"%s": {"expires_unix_ms": %s, "scope": "https://ai.azure.com/.default"}, "%s": {"expires_unix_ms": %s, "scope": "https://management.azure.com/.default"}}}\n' \
  "${TOKEN}" "${FAKE_TOKEN_EXPIRY_FAR}" "${OLD_TOKEN}" "${FAKE_TOKEN_EXPIRY_FAR}" >"${TOKENS}"
fb object_format "${MESSAGES}" "$(body hi)" -H "Authorization: Bearer ${TOKEN}"
expect_status "fake_azure_auth's tokens file (an object, scope ai.azure.com)" 200
fb wrong_scope "${MESSAGES}" "$(body hi)" -H "Authorization: Bearer ${OLD_TOKEN}"
expect_unauthorized "a token issued for management.azure.com" wrong-scope
expect_no_secret "${KEY}" "${KEY2}" "${TOKEN}" "${OLD_TOKEN}" "${NEW_TOKEN}"
pass "tokens file re-read per request (rotation; fake_azure_auth's format; scope checked);" \
  "no key or token in the log"

begin_case auth_azure_shape
start_foundry --auth-error-shape azure
fb azure_shape "${MESSAGES}" "$(body hi)" -H "api-key: wrong-$(rand)"
expect_status "unknown key" 401
expect_q "Azure's gateway shape" '[sorted(r), sorted(r["error"]), r["error"]["code"]]' \
  '[["error"], ["code", "message"], "401"]'
fb azure_ok "${MESSAGES}" "$(body hi)" -H "api-key: ${KEY}"
expect_status "good key" 200
pass "--auth-error-shape azure: {\"error\":{\"code\":\"401\",\"message\"}}"

# ---------------------------------------------------------------------------------------------
begin_case strict
start_foundry
f custom "${MESSAGES}" "$(body hi '' "${CUSTOM}")"
expect_status "a custom deployment name" 200
expect_q "answered model" 'r["model"]' "${CUSTOM}"
f unknown_deployment "${MESSAGES}" "$(body hi '' claude-opus-4-8)"
expect_anthropic_error "a model that is not a deployment" 404 not_found_error \
  "The API deployment for this resource does not exist."
f no_model "${MESSAGES}" '{"max_tokens":9,"messages":[{"role":"user","content":"hi"}]}'
expect_anthropic_error "no model" 400 invalid_request_error "model: Field required"
f query "${MESSAGES}?api-version=2024-05-01" "$(body hi)"
expect_anthropic_error "a query other than beta=true" 400 invalid_request_error \
  "fake_foundry: unexpected query string"
call no_version POST "${MESSAGES}" "$(body hi)" -H "api-key: ${KEY}" \
  -H 'Content-Type: application/json'
expect_anthropic_error "no anthropic-version" 400 invalid_request_error \
  "anthropic-version: header is required"
f body_version "${MESSAGES}" "$(body hi '"anthropic_version":"vertex-2023-10-16"')"
expect_anthropic_error "anthropic_version in the body" 400 invalid_request_error \
  "anthropic_version: Extra inputs are not permitted"
call text_plain POST "${MESSAGES}" "$(body hi)" -H "api-key: ${KEY}" \
  -H 'anthropic-version: 2023-06-01' -H 'Content-Type: text/plain'
expect_anthropic_error "Content-Type text/plain" 400 invalid_request_error \
  "fake_foundry: Content-Type"
f not_json "${MESSAGES}" '{"model":'
expect_anthropic_error "not JSON" 400 invalid_request_error "fake_foundry: the body is not JSON"
pass "deployments checked (404), model, query, anthropic-version, body anthropic_version," \
  "Content-Type, JSON"

f beta_refused "${MESSAGES}" "$(body hi)" \
  -H 'anthropic-beta: interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14,oauth-2025-04-20'
expect_anthropic_error "betas Foundry refuses" 400 invalid_request_error \
  "Unexpected value(s) \`fine-grained-tool-streaming-2025-05-14\`, \`oauth-2025-04-20\` for the \`anthropic-beta\` header."
f beta_ok "${MESSAGES}" "$(body hi)" \
  -H 'anthropic-beta: interleaved-thinking-2025-05-14,context-1m-2025-08-07,prompt-caching-scope-2026-01-05'
expect_status "betas Foundry takes" 200
f cache_scope_with_beta "${MESSAGES}" \
  "{\"model\":\"${DEPLOYMENT}\",\"max_tokens\":9,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\",\"cache_control\":{\"type\":\"ephemeral\",\"scope\":\"global\"}}]}]}" \
  -H 'anthropic-beta: prompt-caching-scope-2026-01-05'
expect_status "cache_control.scope with its beta" 200
f cache_scope "${MESSAGES}" \
  "{\"model\":\"${DEPLOYMENT}\",\"max_tokens\":9,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\",\"cache_control\":{\"type\":\"ephemeral\",\"scope\":\"global\"}}]}]}"
expect_anthropic_error "cache_control.scope without its beta" 400 invalid_request_error \
  "messages.0.content.0.cache_control.scope: Extra inputs are not permitted"
SYSTEM_ROLE="{\"model\":\"${DEPLOYMENT}\",\"max_tokens\":9,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"system\",\"content\":\"x\"},{\"role\":\"user\",\"content\":\"y\"}]}"
f system_role "${MESSAGES}" "${SYSTEM_ROLE}"
expect_anthropic_error "role system without the beta" 400 invalid_request_error "messages.1.role"
f system_role_beta "${MESSAGES}" "${SYSTEM_ROLE}" \
  -H 'anthropic-beta: mid-conversation-system-2026-04-07'
expect_status "role system with mid-conversation-system-2026-04-07" 200
f extra_key "${MESSAGES}" "$(body hi '"frobnicate":1')"
expect_anthropic_error "an unknown member" 400 invalid_request_error "frobnicate: Extra inputs"
f no_max_tokens "${MESSAGES}" "{\"model\":\"${DEPLOYMENT}\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
expect_anthropic_error "no max_tokens" 400 invalid_request_error "max_tokens: Field required"
f temperature "${MESSAGES}" "$(body hi '"thinking":{"type":"adaptive"},"temperature":0.5')"
expect_anthropic_error "temperature with thinking" 400 invalid_request_error \
  "\`temperature\` may only be set to 1"
pass "refused betas 400, taken ones pass; cache_control.scope and role system only with" \
  "their betas; unknown member, max_tokens, temperature: 400"

call models GET /anthropic/v1/models "" -H "api-key: ${KEY}"
expect_anthropic_error "GET /anthropic/v1/models" 404 not_found_error "Not Found"
expect_q "log: why" 'log["error_detail"].endswith("(Foundry has no Models API)")' true
call models_noauth GET /anthropic/v1/models ""
expect_anthropic_error "GET /anthropic/v1/models without a key" 401 authentication_error ""
f no_prefix /v1/messages "$(body hi)"
expect_anthropic_error "/v1/messages without /anthropic" 404 not_found_error "Resource not found"
f batches "${MESSAGES}/batches" "$(body hi)"
expect_anthropic_error "message batches" 404 not_found_error "Not Found"
pass "no Models API, no batches, nothing outside /anthropic: 404 (after auth under /anthropic)"

# ---------------------------------------------------------------------------------------------
begin_case stream
start_foundry
f stream "${MESSAGES}?beta=true" "$(body hi '"stream":true')"
expect_status "stream" 200
expect_q "content-type" 'h["content-type"]' "text/event-stream; charset=utf-8"
expect_q "correlation headers" '[h["request-id"][:10], "apim-request-id" in h]' \
  '["req_fndry_", true]'
expect_q "event names match the data types" \
  'all(e["event"] == e["data"]["type"] for e in events)' true
expect_q "event sequence" '[types[0], types[1], types[2], types[-2], types[-1]]' \
  '["message_start", "ping", "content_block_start", "message_delta", "message_stop"]'
expect_q "streamed text" 'text' "${HELLO}"
expect_q "log: stream" \
  '[log["operation"], log["stream"]["outcome"], log["stream"]["events"] == types]' \
  '["messages", "complete", true]'
pass "\"stream\": true: Anthropic SSE, $(q 'len(events)') events"

# ---------------------------------------------------------------------------------------------
begin_case conversation
start_foundry
f read_file "${MESSAGES}" "$(body 'READ_FILE /etc/hostname' '"stream":true')"
expect_q "tool_use" '[(b["name"], b["id"][:11]) for b in starts if b["type"] == "tool_use"]' \
  '[["Read", "toolu_fndry"]]'
qv '[b["id"] for b in starts if b["type"] == "tool_use"][0]'
TOOL_ID="${QV}"
f tool_result "${MESSAGES}" \
  "{\"model\":\"${DEPLOYMENT}\",\"max_tokens\":99,\"messages\":[{\"role\":\"user\",\"content\":\"READ_FILE /etc/hostname\"},{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"${TOOL_ID}\",\"name\":\"Read\",\"input\":{\"file_path\":\"/etc/hostname\"}}]},{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"${TOOL_ID}\",\"content\":[{\"type\":\"text\",\"text\":\"box-1\"}]}]}]}"
expect_q "tool_result answer" 'r["content"][0]["text"]' "TOOL RESULT: box-1"
f wrong_id "${MESSAGES}" \
  "{\"model\":\"${DEPLOYMENT}\",\"max_tokens\":99,\"messages\":[{\"role\":\"user\",\"content\":\"READ_FILE /etc/hostname\"},{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"${TOOL_ID}\",\"name\":\"Read\",\"input\":{}}]},{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_other\",\"content\":\"x\"}]}]}"
expect_anthropic_error "a tool_result for another tool_use" 400 invalid_request_error \
  "messages.2.content.0: unexpected \`tool_use_id\`"
pass "READ_FILE -> Read tool_use; its tool_result -> TOOL RESULT; a mismatched tool_use_id: 400"

# ---------------------------------------------------------------------------------------------
begin_case count_tokens
start_foundry
CT="{\"model\":\"${DEPLOYMENT}\",\"messages\":[{\"role\":\"user\",\"content\":\"hello there\"}]}"
f count "${MESSAGES}/count_tokens?beta=true" "${CT}"
expect_status "count_tokens" 200
expect_q "answer" '[sorted(r), r["input_tokens"] > 0]' '[["input_tokens"], true]'
expect_q "log" '[log["operation"], log["model"]]' "[\"count_tokens\", \"${DEPLOYMENT}\"]"
f ct_max_tokens "${MESSAGES}/count_tokens" "${CT%\}},\"max_tokens\":5}"
expect_anthropic_error "count_tokens with max_tokens" 400 invalid_request_error \
  "max_tokens: Extra inputs are not permitted"
f ct_unknown "${MESSAGES}/count_tokens" "${CT/${DEPLOYMENT}/nope}"
expect_anthropic_error "count_tokens on an unknown deployment" 404 not_found_error \
  "The API deployment"
pass "count_tokens: {\"input_tokens\": N}; max_tokens refused; deployment checked"

# ---------------------------------------------------------------------------------------------
begin_case faults
start_foundry --deployment my-throttle --deployment my-overloaded --deployment my-denied \
  --deployment my-hang --deployment my-midstream-drop --deployment my-midstream-error \
  --hang-ms 400 --retry-after 7
f throttle "${MESSAGES}" "$(body hi '"stream":true' my-throttle)"
expect_anthropic_error "throttle" 429 rate_limit_error "Rate limit is exceeded"
expect_q "throttle: retry-after" 'h["retry-after"]' 7
expect_q "throttle: logged fault" 'log["fault"]' throttle
f overloaded "${MESSAGES}" "$(body hi '' my-overloaded)"
expect_anthropic_error "overloaded" 529 overloaded_error "Overloaded"
f denied "${MESSAGES}" "$(body hi '' my-denied)"
expect_anthropic_error "denied" 403 permission_error "The principal lacks"
pass "throttle 429 with retry-after, overloaded 529, denied 403"

f drop "${MESSAGES}" "$(body hi '"stream":true' my-midstream-drop)"
expect_midstream_drop "midstream-drop"
f error_event "${MESSAGES}" "$(body hi '"stream":true' my-midstream-error)"
expect_midstream_error "midstream-error"
expect_slow 400 "hang" f hang "${MESSAGES}" "$(body hi '' my-hang)"
pass "midstream-drop cuts the stream; midstream-error ends with an error event;" \
  "hang waited ${ELAPSED} ms"

send() { f "$1" "${MESSAGES}" "$(body hi '"stream":true')"; }
overloaded_injected() {
  expect_anthropic_error "$1" 529 overloaded_error "fake_foundry: injected failure 529"
}
expect_fail_next 529 send overloaded_injected
control '/__fake/fail-next?status=429&n=1' >/dev/null
f failed_429 "${MESSAGES}" "$(body hi)"
expect_anthropic_error "fail-next 429" 429 rate_limit_error "fake_foundry"
expect_q "fail-next 429: retry-after" 'h["retry-after"]' 7
control '/__fake/fail-next?status=401&n=1&type=authentication_error' >/dev/null
f failed_401 "${MESSAGES}" "$(body hi)"
expect_anthropic_error "fail-next 401" 401 authentication_error "fake_foundry"
pass "POST /__fake/fail-next?status=529&n=2 fails the next two requests; 429 with" \
  "retry-after; type; reset"

echo "PASS: fake_foundry_test"
