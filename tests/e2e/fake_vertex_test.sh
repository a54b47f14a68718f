#!/usr/bin/env bash
# Self-test of tests/fakes/fake_vertex.py, the strict fake of Vertex AI's Claude endpoints
# (protocols.md 4) that the relay's Vertex tests run against. Requests are sent with curl; the
# answers and the fake's request log are read with Python.
#
# "$CCR_PYTHON" is the interpreter (set by ctest; default /usr/bin/python3). Needs no build
# products.
#
# Cases:
#   auth          tokens from the tokens file (and its other formats) and --static-token pass;
#                 expired, unknown, rotated-out, wrong-scope, malformed and missing tokens get
#                 Google's 401 UNAUTHENTICATED with the right reason; a token that expires
#                 while the fake runs; tokens never in the log
#   strict        x-api-key, project, region, query, Content-Type, JSON, model in the body,
#                 anthropic_version, stream against the method, betas Vertex refuses, the
#                 Messages API rules, unknown models and routes: each refused as Vertex would
#   stream        :streamRawPredict answers Anthropic SSE
#   conversation  READ_FILE -> tool_use (with thinking), tool_result -> TOOL RESULT, json_schema
#   count_tokens  count-tokens:rawPredict
#   faults        quota (plain and in an array), denied, unavailable, notfound, hang,
#                 midstream-drop, midstream-error; POST /__fake/fail-next and reset
# shellcheck source-path=SCRIPTDIR source=lib.sh

# The fake needs no build tree; lib.sh wants a name for one all the same.
if [[ -z "${CCR_BUILD_DIR:-}" && -z "${CCR_RELAY_BINARY:-}" ]]; then
  CCR_BUILD_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build"
fi
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=anthropic_fake_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/anthropic_fake_lib.sh"

PROJECT="fake-project-$(rand)"
readonly PROJECT REGION=us-east5
TOKEN="ya29.fake-good-$(rand)"
OLD_TOKEN="ya29.fake-expired-$(rand)"
STATIC_TOKEN="ya29.fake-static-$(rand)"
readonly TOKEN OLD_TOKEN STATIC_TOKEN
readonly MODEL="claude-sonnet-4-5@20250929"
readonly BASE="/v1/projects/${PROJECT}/locations/${REGION}/publishers/anthropic/models"
readonly HELLO="Hello from fake Vertex."

# start_vertex [ARGS...]: the fake with a tokens file holding TOKEN (valid) and OLD_TOKEN
# (expired); sets TOKENS (the file, rewritable).
start_vertex() {
  TOKENS="${CASE_DIR}/tokens.json"
  write_tokens "${TOKENS}" "${TOKEN}" "${FAKE_TOKEN_EXPIRY_FAR}" "${OLD_TOKEN}" 1000
  start_fake fake_vertex.py --project "${PROJECT}" --region "${REGION}" --tokens "${TOKENS}" \
    --static-token "${STATIC_TOKEN}" "$@"
}

body() {  # body MESSAGE_TEXT [EXTRA_JSON_MEMBERS]: a valid rawPredict body
  printf '{"anthropic_version":"vertex-2023-10-16","max_tokens":256,%s"messages":[{"role":"user","content":"%s"}]}' \
    "${2:+$2,}" "$1"
}
sbody() { body "$1" "\"stream\":true${2:+,$2}"; }  # a valid streamRawPredict body

# v NAME PATH BODY [CURL_ARGS...]: POST with the good token and JSON.
v() {
  local name=$1 path=$2 payload=$3
  shift 3
  call "${name}" POST "${path}" "${payload}" -H "Authorization: Bearer ${TOKEN}" \
    -H 'Content-Type: application/json' "$@"
}

# expect_google_error WHAT STATUS STATUS_NAME MESSAGE_PREFIX [ARRAY]: Google's error shape.
expect_google_error() {
  local what=$1 status=$2 name=$3 prefix=$4 array=${5:-}
  local e='r'
  [[ -n "${array}" ]] && e='r[0]'
  expect_status "${what}" "${status}"
  expect_q "${what}: content-type" 'h["content-type"]' "application/json; charset=UTF-8"
  [[ -n "${array}" ]] && expect_q "${what}: an array of one" '[type(r).__name__, len(r)]' \
    '["list", 1]'
  expect_q "${what}: shape" "[sorted(${e}), ${e}['error']['code'], ${e}['error']['status']]" \
    "[[\"error\"], ${status}, \"${name}\"]"
  qv "${e}['error']['message']"
  [[ "${QV}" == "${prefix}"* ]] || fail "${what}: message '${QV}' does not start with '${prefix}'"
}

# expect_unauthenticated WHAT REASON: 401 UNAUTHENTICATED with that ErrorInfo reason.
expect_unauthenticated() {
  expect_google_error "$1" 401 UNAUTHENTICATED "Request "
  expect_q "$1: reason" 'r["error"]["details"][0]["reason"]' "$2"
  expect_q "$1: WWW-Authenticate" 'h["www-authenticate"].startswith("Bearer realm=")' true
  expect_q "$1: logged as not verified" 'log["verified"]' false
}

# ---------------------------------------------------------------------------------------------
begin_case auth
start_vertex
v good "${BASE}/${MODEL}:rawPredict" "$(body hi)"
expect_status "good token" 200
expect_q "message" '[r["type"], r["role"], r["model"], r["stop_reason"], r["id"][:9],
  r["content"]]' \
  "[\"message\", \"assistant\", \"${MODEL}\", \"end_turn\", \"msg_vrtx_\", [{\"type\": \"text\", \"text\": \"${HELLO}\"}]]"
expect_q "usage" '[r["usage"]["input_tokens"] > 0, r["usage"]["output_tokens"] > 0]' \
  '[true, true]'
expect_q "log: auth" '[log["verified"], log["auth"]["kind"], log["auth"]["verdict"]]' \
  '[true, "bearer", "ok"]'
expect_q "log: token fingerprint = first 8 hex of SHA-256" \
  "log['token_fingerprint'] == __import__('hashlib').sha256(b'${TOKEN}').hexdigest()[:8]" true
expect_q "log: Authorization shown as its fingerprint" \
  'log["headers"]["authorization"] == "Bearer fp:" + log["token_fingerprint"]' true
expect_q "log: operation, model, project, region" \
  '[log["operation"], log["model"], log["project"], log["region"]]' \
  "[\"rawPredict\", \"${MODEL}\", \"${PROJECT}\", \"${REGION}\"]"
expect_q "log: body" 'log["body"]["messages"][0]["content"]' hi
call static POST "${BASE}/${MODEL}:rawPredict" "$(body hi)" \
  -H "Authorization: Bearer ${STATIC_TOKEN}" -H 'Content-Type: application/json'
expect_status "--static-token" 200
pass "a token of the tokens file and a --static-token pass; the log has fingerprints only"

call expired POST "${BASE}/${MODEL}:rawPredict" "$(body hi)" \
  -H "Authorization: Bearer ${OLD_TOKEN}" -H 'Content-Type: application/json'
expect_unauthenticated "expired token" ACCESS_TOKEN_EXPIRED
expect_q "log: verdict" 'log["auth"]["verdict"]' expired
call unknown POST "${BASE}/${MODEL}:rawPredict" "$(body hi)" \
  -H "Authorization: Bearer ya29.not-issued-$(rand)" -H 'Content-Type: application/json'
expect_unauthenticated "unknown token" ACCESS_TOKEN_TYPE_UNSUPPORTED
call missing POST "${BASE}/${MODEL}:rawPredict" "$(body hi)" -H 'Content-Type: application/json'
expect_unauthenticated "no Authorization" CREDENTIALS_MISSING
expect_q "no Authorization: message" 'r["error"]["message"].startswith("Request is missing")' true
call basic POST "${BASE}/${MODEL}:rawPredict" "$(body hi)" -H "Authorization: Basic ${TOKEN}" \
  -H 'Content-Type: application/json'
expect_unauthenticated "Basic scheme" ACCESS_TOKEN_TYPE_UNSUPPORTED
call two POST "${BASE}/${MODEL}:rawPredict" "$(body hi)" -H "Authorization: Bearer ${TOKEN}" \
  -H "Authorization: Bearer ${TOKEN}" -H 'Content-Type: application/json'
expect_unauthenticated "two Authorization headers" ACCESS_TOKEN_TYPE_UNSUPPORTED
pass "expired, unknown, missing, Basic and doubled credentials: 401 UNAUTHENTICATED"

# Rotation: the file is re-read on every request.
NEW_TOKEN="ya29.fake-rotated-$(rand)"
write_tokens "${TOKENS}" "${NEW_TOKEN}" "${FAKE_TOKEN_EXPIRY_FAR}"
v rotated_out "${BASE}/${MODEL}:rawPredict" "$(body hi)"
expect_unauthenticated "a token no longer in the file" ACCESS_TOKEN_TYPE_UNSUPPORTED
call rotated_in POST "${BASE}/${MODEL}:rawPredict" "$(body hi)" \
  -H "Authorization: Bearer ${NEW_TOKEN}" -H 'Content-Type: application/json'
expect_status "the new token" 200
# A token that expires while the fake runs.
SHORT_TOKEN="ya29.fake-short-$(rand)"
write_tokens "${TOKENS}" "${SHORT_TOKEN}" "$(($(now_ms) + 1500))"
call short_before POST "${BASE}/${MODEL}:rawPredict" "$(body hi)" \
  -H "Authorization: Bearer ${SHORT_TOKEN}" -H 'Content-Type: application/json'
expect_status "a token 1.5 s before its expiry" 200
sleep 2
call short_after POST "${BASE}/${MODEL}:rawPredict" "$(body hi)" \
  -H "Authorization: Bearer ${SHORT_TOKEN}" -H 'Content-Type: application/json'
expect_unauthenticated "the same token after its expiry" ACCESS_TOKEN_EXPIRED
pass "tokens file re-read per request: rotation, and expiry while the fake runs"

# The formats the fake token endpoints write, and the scope check.
GCP_TOKEN="ya29.fake-gcp-$(rand)"
AZ_TOKEN="fake-entra-$(rand)"
WRONG_SCOPE="ya29.fake-wrong-scope-$(rand)"
cat >"${TOKENS}" <<EOF
{"tokens": [
  {"token": "${GCP_TOKEN}", "expires_unix": $(($(date +%s) + 600)).5,
   "scope": "https://www.googleapis.com/auth/cloud-platform openid"},
  {"token": "${WRONG_SCOPE}", "expires_unix_ms": ${FAKE_TOKEN_EXPIRY_FAR},
   "scope": "https://www.googleapis.com/auth/devstorage.read_only"}]}
EOF
call gcp_format POST "${BASE}/${MODEL}:rawPredict" "$(body hi)" \
  -H "Authorization: Bearer ${GCP_TOKEN}" -H 'Content-Type: application/json'
expect_status "an entry with expires_unix (seconds) and the cloud-platform scope" 200
call wrong_scope POST "${BASE}/${MODEL}:rawPredict" "$(body hi)" \
  -H "Authorization: Bearer ${WRONG_SCOPE}" -H 'Content-Type: application/json'
expect_google_error "an entry issued for another scope" 403 PERMISSION_DENIED \
  "Request had insufficient authentication scopes."
expect_q "wrong scope: reason" 'r["error"]["details"][0]["reason"]' ACCESS_TOKEN_SCOPE_INSUFFICIENT
expect_q "wrong scope: WWW-Authenticate" 'h["www-authenticate"]' \
  'Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="https://www.googleapis.com/auth/cloud-platform"'
expect_q "log: wrong scope" 'log["auth"]["verdict"]' wrong-scope
printf '{"format": 1, "tokens": {"%s": {"expires_unix_ms": %s}}}\n' "${AZ_TOKEN}" \
  "${FAKE_TOKEN_EXPIRY_FAR}" >"${TOKENS}"
call object_format POST "${BASE}/${MODEL}:rawPredict" "$(body hi)" \
  -H "Authorization: Bearer ${AZ_TOKEN}" -H 'Content-Type: application/json'
expect_status "tokens as an object keyed by token" 200
rm "${TOKENS}"
call no_file POST "${BASE}/${MODEL}:rawPredict" "$(body hi)" \
  -H "Authorization: Bearer ${AZ_TOKEN}" -H 'Content-Type: application/json'
expect_unauthenticated "no tokens file yet" ACCESS_TOKEN_TYPE_UNSUPPORTED
expect_no_secret "${TOKEN}" "${OLD_TOKEN}" "${STATIC_TOKEN}" "${NEW_TOKEN}" "${SHORT_TOKEN}" \
  "${GCP_TOKEN}" "${AZ_TOKEN}" "${WRONG_SCOPE}"
pass "tokens file formats of fake_gcp_auth (expires_unix) and fake_azure_auth (object);" \
  "scope checked; no token in the log"

# ---------------------------------------------------------------------------------------------
begin_case strict
start_vertex
v x_api_key "${BASE}/${MODEL}:rawPredict" "$(body hi)" -H "x-api-key: sk-ant-$(rand)"
expect_google_error "x-api-key sent" 400 INVALID_ARGUMENT "fake_vertex: x-api-key must not"
v wrong_project "/v1/projects/other-project/locations/${REGION}/publishers/anthropic/models/${MODEL}:rawPredict" \
  "$(body hi)"
expect_google_error "another project" 403 PERMISSION_DENIED \
  "Permission 'aiplatform.endpoints.predict' denied on resource"
v wrong_region "/v1/projects/${PROJECT}/locations/global/publishers/anthropic/models/${MODEL}:rawPredict" \
  "$(body hi)"
expect_google_error "another region" 400 INVALID_ARGUMENT "fake_vertex: location 'global'"
v query "${BASE}/${MODEL}:rawPredict?beta=true" "$(body hi)"
expect_google_error "?beta=true" 400 INVALID_ARGUMENT \
  "Invalid JSON payload received. Unknown name \"beta\""
call text_plain POST "${BASE}/${MODEL}:rawPredict" "$(body hi)" \
  -H "Authorization: Bearer ${TOKEN}" -H 'Content-Type: text/plain'
expect_google_error "Content-Type text/plain" 400 INVALID_ARGUMENT "fake_vertex: Content-Type"
v not_json "${BASE}/${MODEL}:rawPredict" '{"anthropic_version":'
expect_google_error "not JSON" 400 INVALID_ARGUMENT "fake_vertex: the body is not JSON"
pass "x-api-key, another project, another region, a query, text/plain, broken JSON: refused"

v model_in_body "${BASE}/${MODEL}:rawPredict" "$(body hi "\"model\":\"${MODEL}\"")"
expect_anthropic_error "model in the body" 400 invalid_request_error \
  "model: Extra inputs are not permitted"
expect_q "model-level errors carry req_vrtx_ ids" 'r["request_id"][:9]' req_vrtx_
v no_version "${BASE}/${MODEL}:rawPredict" '{"max_tokens":256,"messages":[{"role":"user","content":"hi"}]}'
expect_anthropic_error "no anthropic_version" 400 invalid_request_error \
  "anthropic_version: Field required"
v bedrock_version "${BASE}/${MODEL}:rawPredict" \
  '{"anthropic_version":"bedrock-2023-05-31","max_tokens":256,"messages":[{"role":"user","content":"hi"}]}'
expect_anthropic_error "Bedrock's anthropic_version" 400 invalid_request_error \
  "anthropic_version: Input should be 'vertex-2023-10-16'"
v stream_on_raw "${BASE}/${MODEL}:rawPredict" "$(sbody hi)"
expect_anthropic_error "stream:true on :rawPredict" 400 invalid_request_error \
  "fake_vertex: :rawPredict needs"
v no_stream_on_stream "${BASE}/${MODEL}:streamRawPredict" "$(body hi)"
expect_anthropic_error "no stream on :streamRawPredict" 400 invalid_request_error \
  "fake_vertex: :streamRawPredict needs"
v stream_false_on_stream "${BASE}/${MODEL}:streamRawPredict" "$(body hi '"stream":false')"
expect_anthropic_error "stream:false on :streamRawPredict" 400 invalid_request_error \
  "fake_vertex: :streamRawPredict needs"
v stream_false_raw "${BASE}/${MODEL}:rawPredict" "$(body hi '"stream":false')"
expect_status "stream:false on :rawPredict" 200
pass "model in the body, anthropic_version missing or Bedrock's, stream against the method: 400"

v beta_refused "${BASE}/${MODEL}:rawPredict" "$(body hi)" \
  -H 'anthropic-beta: interleaved-thinking-2025-05-14,claude-code-20250219' \
  -H 'anthropic-beta: oauth-2025-04-20'
expect_anthropic_error "betas Vertex refuses" 400 invalid_request_error \
  "Unexpected value(s) \`claude-code-20250219\`, \`oauth-2025-04-20\` for the \`anthropic-beta\` header."
expect_q "log: betas" '[log["anthropic_beta"], log["rejected_betas"]]' \
  '[["interleaved-thinking-2025-05-14", "claude-code-20250219", "oauth-2025-04-20"], ["claude-code-20250219", "oauth-2025-04-20"]]'
for beta in prompt-caching-scope-2026-01-05 effort-2025-11-24 mid-conversation-system-2026-04-07 \
    structured-outputs-2025-12-15; do
  v "beta_${beta}" "${BASE}/${MODEL}:rawPredict" "$(body hi)" -H "anthropic-beta: ${beta}"
  expect_anthropic_error "beta ${beta}" 400 invalid_request_error "Unexpected value(s) \`${beta}\`"
done
v beta_ok "${BASE}/${MODEL}:rawPredict" "$(body hi)" \
  -H 'anthropic-beta: interleaved-thinking-2025-05-14,context-1m-2025-08-07,context-management-2025-06-27'
expect_status "betas Vertex takes" 200
pass "claude-code, oauth, prompt-caching-scope, effort, mid-conversation-system," \
  "structured-outputs betas: 400; interleaved-thinking, context-1m, context-management pass"

v extra_key "${BASE}/${MODEL}:rawPredict" "$(body hi '"frobnicate":1')"
expect_anthropic_error "an unknown member" 400 invalid_request_error \
  "frobnicate: Extra inputs are not permitted"
v no_max_tokens "${BASE}/${MODEL}:rawPredict" \
  '{"anthropic_version":"vertex-2023-10-16","messages":[{"role":"user","content":"hi"}]}'
expect_anthropic_error "no max_tokens" 400 invalid_request_error "max_tokens: Field required"
v no_messages "${BASE}/${MODEL}:rawPredict" '{"anthropic_version":"vertex-2023-10-16","max_tokens":9,"messages":[]}'
expect_anthropic_error "empty messages" 400 invalid_request_error "messages: at least one"
v system_role "${BASE}/${MODEL}:rawPredict" \
  '{"anthropic_version":"vertex-2023-10-16","max_tokens":9,"messages":[{"role":"user","content":"hi"},{"role":"system","content":"x"},{"role":"user","content":"y"}]}'
expect_anthropic_error "role system without the beta" 400 invalid_request_error \
  "messages.1.role: Input should be 'user' or 'assistant'"
v cache_scope "${BASE}/${MODEL}:rawPredict" \
  '{"anthropic_version":"vertex-2023-10-16","max_tokens":9,"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral","scope":"global"}}]}]}'
expect_anthropic_error "cache_control.scope" 400 invalid_request_error \
  "messages.0.content.0.cache_control.scope: Extra inputs are not permitted"
v budget "${BASE}/${MODEL}:rawPredict" "$(body hi '"thinking":{"type":"enabled","budget_tokens":100}')"
expect_anthropic_error "thinking budget under 1024" 400 invalid_request_error \
  "thinking.enabled.budget_tokens"
v orphan_result "${BASE}/${MODEL}:rawPredict" \
  '{"anthropic_version":"vertex-2023-10-16","max_tokens":9,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_x","content":"r"}]}]}'
expect_anthropic_error "a tool_result without its tool_use" 400 invalid_request_error \
  "messages.0.content.0: unexpected \`tool_use_id\`"
v foreign_signature "${BASE}/${MODEL}:rawPredict" \
  '{"anthropic_version":"vertex-2023-10-16","max_tokens":9,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"c2lnbmF0dXJl"},{"type":"text","text":"x"}]},{"role":"user","content":"more"}]}'
expect_anthropic_error "a thinking signature not from this fake" 400 invalid_request_error \
  "messages.1.content.0: Invalid \`signature\`"
pass "unknown member, max_tokens, empty messages, role system, cache_control.scope," \
  "thinking budget, orphan tool_result, foreign signature: 400"

v unknown_model "${BASE}/gpt-4o:rawPredict" "$(body hi)"
expect_google_error "a model that is not Claude" 404 NOT_FOUND \
  "Publisher Model \`projects/${PROJECT}/locations/${REGION}/publishers/anthropic/models/gpt-4o\` not found."
v predict "${BASE}/${MODEL}:predict" "$(body hi)"
expect_google_error ":predict" 404 NOT_FOUND "The requested URL was not found"
v ct_stream "${BASE}/count-tokens:streamRawPredict" "$(body hi)"
expect_google_error "count-tokens:streamRawPredict" 404 NOT_FOUND "The requested URL"
call get GET "${BASE}/${MODEL}:rawPredict" "" -H "Authorization: Bearer ${TOKEN}"
expect_google_error "GET" 404 NOT_FOUND "The requested URL"
v no_prefix "/projects/${PROJECT}/locations/${REGION}/publishers/anthropic/models/${MODEL}:rawPredict" \
  "$(body hi)"
expect_google_error "no /v1" 404 NOT_FOUND "The requested URL"
pass "unknown model 404 NOT_FOUND; :predict, count-tokens:streamRawPredict, GET," \
  "a path without /v1: 404"

# ---------------------------------------------------------------------------------------------
begin_case stream
start_vertex
v stream "${BASE}/${MODEL}:streamRawPredict" "$(sbody hi)"
expect_status "streamRawPredict" 200
expect_q "content-type" 'h["content-type"]' "text/event-stream; charset=utf-8"
expect_q "chunked" 'h["transfer-encoding"]' chunked
expect_q "event names match the data types" \
  'all(e["event"] == e["data"]["type"] for e in events)' true
expect_q "event sequence" \
  '[types[0], types[1], types[2], types[-3], types[-2], types[-1], sorted(set(types[3:-3]))]' \
  '["message_start", "ping", "content_block_start", "content_block_stop", "message_delta", "message_stop", ["content_block_delta"]]'
expect_q "streamed text" 'text' "${HELLO}"
expect_q "message_start" \
  '[events[0]["data"]["message"]["model"], events[0]["data"]["message"]["id"][:9]]' \
  "[\"${MODEL}\", \"msg_vrtx_\"]"
expect_q "message_delta" \
  '[events[-2]["data"]["delta"]["stop_reason"], events[-2]["data"]["usage"]["output_tokens"] > 0]' \
  '["end_turn", true]'
expect_q "log: stream" \
  '[log["operation"], log["stream"]["outcome"], log["stream"]["events"] == types]' \
  '["streamRawPredict", "complete", true]'
pass "SSE: $(q 'len(events)') events, message_start .. message_stop"

# ---------------------------------------------------------------------------------------------
begin_case conversation
start_vertex
v read_file "${BASE}/${MODEL}:streamRawPredict" \
  '{"anthropic_version":"vertex-2023-10-16","stream":true,"max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"Please READ_FILE /tmp/x.txt now"}]}'
expect_status "READ_FILE" 200
expect_q "blocks" '[b["type"] for b in starts]' \
  '["thinking", "text", "tool_use"]'
expect_q "tool_use" '[(b["name"], b["id"][:10]) for b in starts if b["type"] == "tool_use"]' \
  '[["Read", "toolu_vrtx"]]'
expect_q "tool input" \
  'json.loads("".join(d["partial_json"] for d in deltas if d["type"] == "input_json_delta"))' \
  '{"file_path": "/tmp/x.txt"}'
expect_q "stop_reason" 'events[-2]["data"]["delta"]["stop_reason"]' tool_use
expect_q "log: behaviour" 'log["behaviour"]' read_file
qv '[d["signature"] for d in deltas if d["type"] == "signature_delta"][0]'
SIGNATURE="${QV}"
qv '[b["id"] for b in starts if b["type"] == "tool_use"][0]'
TOOL_ID="${QV}"
v tool_result "${BASE}/${MODEL}:rawPredict" \
  "{\"anthropic_version\":\"vertex-2023-10-16\",\"max_tokens\":2048,\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1024},\"messages\":[{\"role\":\"user\",\"content\":\"Please READ_FILE /tmp/x.txt now\"},{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"t\",\"signature\":\"${SIGNATURE}\"},{\"type\":\"text\",\"text\":\"Reading /tmp/x.txt.\"},{\"type\":\"tool_use\",\"id\":\"${TOOL_ID}\",\"name\":\"Read\",\"input\":{\"file_path\":\"/tmp/x.txt\"}}]},{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"${TOOL_ID}\",\"content\":\"file says 42\"}]}]}"
expect_status "tool_result" 200
expect_q "answer" '[b["type"] for b in r["content"]] + [r["content"][-1]["text"]]' \
  '["thinking", "text", "TOOL RESULT: file says 42"]'
expect_q "log: behaviour" 'log["behaviour"]' tool_result
v say "${BASE}/${MODEL}:rawPredict" "$(body 'SAY pong 7')"
expect_q "SAY" 'r["content"][0]["text"]' "pong 7"
v title "${BASE}/${MODEL}:rawPredict" \
  "$(body hi '"output_config":{"format":{"type":"json_schema","schema":{"type":"object","properties":{"title":{"type":"string"}}}}}')"
expect_q "json_schema" 'json.loads(r["content"][0]["text"])' '{"title": "Fake Vertex session"}'
pass "READ_FILE -> thinking + Read tool_use; its tool_result with the signature back ->" \
  "TOOL RESULT; SAY; json_schema"

# ---------------------------------------------------------------------------------------------
begin_case count_tokens
start_vertex
CT='{"anthropic_version":"vertex-2023-10-16","model":"claude-sonnet-4-5@20250929","messages":[{"role":"user","content":"hello there"}],"tools":[{"name":"Read","description":"d","input_schema":{"type":"object"}}]}'
v count "${BASE}/count-tokens:rawPredict" "${CT}"
expect_status "count-tokens" 200
expect_q "answer" '[sorted(r), r["input_tokens"] > 0]' '[["input_tokens"], true]'
expect_q "log" '[log["operation"], log["model"]]' "[\"countTokens\", \"${MODEL}\"]"
v ct_no_model "${BASE}/count-tokens:rawPredict" \
  '{"anthropic_version":"vertex-2023-10-16","messages":[{"role":"user","content":"hi"}]}'
expect_anthropic_error "count-tokens without model" 400 invalid_request_error \
  "model: Field required"
v ct_max_tokens "${BASE}/count-tokens:rawPredict" "${CT%\}},\"max_tokens\":5}"
expect_anthropic_error "count-tokens with max_tokens" 400 invalid_request_error \
  "max_tokens: Extra inputs are not permitted"
v ct_1m "${BASE}/count-tokens:rawPredict" "${CT}" -H 'anthropic-beta: context-1m-2025-08-07'
expect_anthropic_error "count-tokens with context-1m" 400 invalid_request_error \
  "Unexpected value(s) \`context-1m-2025-08-07\`"
v ct_quota "${BASE}/count-tokens:rawPredict" "${CT/sonnet/quota}"
expect_google_error "count-tokens: faults by the body's model" 429 RESOURCE_EXHAUSTED \
  "Quota exceeded"
pass "count-tokens: {\"input_tokens\": N}; model required; max_tokens and context-1m refused"

# ---------------------------------------------------------------------------------------------
begin_case faults
start_vertex --hang-ms 400
fault() {  # fault NAME STATUS STATUS_NAME MESSAGE_PREFIX [ARRAY]
  v "$1" "${BASE}/claude-$1-4@20250101:streamRawPredict" "$(sbody hi)"
  expect_google_error "$1" "$2" "$3" "$4" "${5:-}"
  expect_q "$1: logged fault" 'log["fault"]' "$1"
}
fault quota 429 RESOURCE_EXHAUSTED \
  "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model"
fault quota-array 429 RESOURCE_EXHAUSTED \
  "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model" array
fault denied 403 PERMISSION_DENIED "Permission 'aiplatform.endpoints.predict' denied"
fault unavailable 503 UNAVAILABLE "The service is currently unavailable."
fault notfound 404 NOT_FOUND "Publisher Model"
pass "quota 429 (also as an array), denied 403, unavailable 503, notfound 404: Google's shape"

v drop "${BASE}/claude-midstream-drop-4@20250101:streamRawPredict" "$(sbody hi)"
expect_midstream_drop "midstream-drop"
v drop_json "${BASE}/claude-midstream-drop-4@20250101:rawPredict" "$(body hi)"
[[ "${CURL_RC}" != 0 ]] || fail "midstream-drop (JSON): curl saw a complete answer"
expect_q "midstream-drop (JSON): half a body" 'r is None and raw.startswith("{")' true
v error_event "${BASE}/claude-midstream-error-4@20250101:streamRawPredict" "$(sbody hi)"
expect_midstream_error "midstream-error"
expect_slow 400 "hang" v hang "${BASE}/claude-hang-4@20250101:rawPredict" "$(body hi)"
pass "midstream-drop (SSE and JSON) cuts the connection; midstream-error ends with an" \
  "error event; hang waited ${ELAPSED} ms"

send() { v "$1" "${BASE}/${MODEL}:streamRawPredict" "$(sbody hi)"; }
quota_injected() {
  expect_google_error "$1" 429 RESOURCE_EXHAUSTED "fake_vertex: injected failure 429"
}
expect_fail_next 429 send quota_injected
control '/__fake/fail-next?status=503&n=1&type=UNAVAILABLE' >/dev/null
call bad_auth POST "${BASE}/${MODEL}:rawPredict" "$(body hi)" -H 'Content-Type: application/json'
expect_unauthenticated "fail-next comes after auth" CREDENTIALS_MISSING
v typed "${BASE}/${MODEL}:rawPredict" "$(body hi)"
expect_google_error "fail-next with type" 503 UNAVAILABLE "fake_vertex"
pass "POST /__fake/fail-next?status=429&n=2 fails the next two requests after auth; type; reset"

echo "PASS: fake_vertex_test"
