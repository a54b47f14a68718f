#!/usr/bin/env bash
# Self-test of tests/fakes/fake_bedrock.py, the strict fake of AWS Bedrock Runtime that the
# relay's Bedrock tests run against. Requests are signed with AWS's own code
# (tests/fakes/bedrock_client.py: botocore.auth.SigV4Auth, Debian's python3-botocore) or carry a
# Bedrock API key; the streams are decoded with botocore's EventStreamBuffer.
#
# "$CCR_PYTHON" is the interpreter (set by ctest; default /usr/bin/python3, which has botocore).
# Needs no build products.
#
# Cases:
#   vectors       the frame encoder against the reference vectors of protocols.md 3.8, decoded
#                 by botocore; the fake's own --self-check
#   sigv4         good signatures (plain and session-token identities, x-amz-content-sha256, an
#                 ARN model id with %2F, keep-alive) accepted; tampered body, wrong secret,
#                 unknown key, stale/future date, wrong region/service, missing/wrong session
#                 token, no auth rejected with Bedrock's exception and status; rotation of the
#                 credentials file while the fake runs
#   bearer        Bedrock API keys
#   stream        event-stream frames decode into the expected Anthropic events
#   conversation  READ_FILE -> tool_use (with thinking), tool_result -> TOOL RESULT, SAY,
#                 json_schema output, history checks (thinking signature, tool_use_id)
#   count_tokens  CountTokens
#   validation    Bedrock's body rules (protocols.md 3.3), model ids, routes
#   faults        each scripted fault by model id, and POST /__fake/fail-next
#   concurrency   a slow stream does not hold up other requests
# shellcheck source-path=SCRIPTDIR source=lib.sh

# The fake needs no build tree; lib.sh wants a name for one all the same.
if [[ -z "${CCR_BUILD_DIR:-}" && -z "${CCR_RELAY_BINARY:-}" ]]; then
  CCR_BUILD_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build"
fi
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PY="${CCR_PYTHON:-/usr/bin/python3}"
FAKE="${CCR_SOURCE_DIR}/tests/fakes/fake_bedrock.py"
CLIENT_PY="${CCR_SOURCE_DIR}/tests/fakes/bedrock_client.py"
REGION=us-east-1

# Fake credentials, fresh for every run.
rand() { od -An -tx1 -N8 /dev/urandom | tr -d " \n"; }
AKID="AKIDFAKE$(rand)"
SECRET="fake/secret+$(rand)"
STS_AKID="ASIAFAKE$(rand)"
STS_SECRET="fake-sts-secret-$(rand)"
STS_TOKEN="fake-session-token-$(rand)"
API_KEY="bedrock-api-key-$(rand)"
readonly AKID SECRET STS_AKID STS_SECRET STS_TOKEN API_KEY
readonly MODEL="anthropic.claude-sonnet-4-5-20250929-v1:0"
readonly ARN_MODEL="arn:aws:bedrock:us-east-2:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0"
readonly HELLO="Hello from fake Bedrock."

# write_credentials FILE [EXTRA_IDENTITY_JSON]
write_credentials() {
  local file=$1 extra=${2:-}
  cat >"${file}.tmp" <<EOF
{"sigv4": [
   {"access_key_id": "${AKID}", "secret_access_key": "${SECRET}", "session_token": null},
   {"access_key_id": "${STS_AKID}", "secret_access_key": "${STS_SECRET}",
    "session_token": "${STS_TOKEN}"}${extra:+,
   ${extra}}
 ],
 "api_keys": ["${API_KEY}"]}
EOF
  mv "${file}.tmp" "${file}"
}

# start_fake [ARGS...]: starts the fake for the current case; sets FAKE_PORT, FAKE_PID,
# FAKE_LOG (its request log) and FAKE_CREDS (the credentials file, rewritable).
start_fake() {
  start_client  # imports botocore while the fake starts
  FAKE_LOG="${CASE_DIR}/fake-requests.jsonl"
  FAKE_CREDS="${CASE_DIR}/credentials.json"
  [[ -f "${FAKE_CREDS}" ]] || write_credentials "${FAKE_CREDS}"
  timeout -k 5 "${E2E_PROCESS_LIFETIME}" "${PY}" "${FAKE}" --listen 127.0.0.1:0 \
    --region "${REGION}" --credentials "${FAKE_CREDS}" --request-log "${FAKE_LOG}" \
    --port-file "${CASE_DIR}/fake.port" "$@" \
    >"${CASE_DIR}/fake.out" 2>"${CASE_DIR}/fake.err" &
  FAKE_PID=$!
  E2E_PIDS+=("${FAKE_PID}")
  wait_for_line "${CASE_DIR}/fake.out" '^listening 127\.0\.0\.1:[0-9]+' "${FAKE_PID}" 20 \
    "fake_bedrock"
  FAKE_PORT="$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\).*/\1/p' "${CASE_DIR}/fake.out")"
  expect_eq "port file" "$(cat "${CASE_DIR}/fake.port")" "${FAKE_PORT}"
}

# start_client: the client helper (bedrock_client.py --serve) as a coprocess for the current
# case: importing botocore costs about a second, once per case instead of once per request.
start_client() {
  coproc BEDROCK { exec timeout -k 5 "${E2E_PROCESS_LIFETIME}" "${PY}" "${CLIENT_PY}" --serve \
    2>>"${CASE_DIR}/client.err"; }
  E2E_PIDS+=("${BEDROCK_PID}")
}

# client_cmd FIELDS...: one command to the client helper; fails the case if the helper died.
client_cmd() {
  printf '%s\0' "$#" "$@" >&"${BEDROCK[1]}"
  local reply
  read -r reply <&"${BEDROCK[0]}" ||
    fail "bedrock_client --serve died: $(tail -n 5 "${CASE_DIR}/client.err")"
  [[ "${reply}" == "done 0" ]]
}

# call NAME CLIENT_ARGS...: one client run against the fake; its JSON lines (one per response)
# go to ${CASE_DIR}/NAME.jsonl, named by OUT.
call() {
  local name=$1
  shift
  OUT="${CASE_DIR}/${name}.jsonl"
  client_cmd call --out "${OUT}" --endpoint "http://127.0.0.1:${FAKE_PORT}" --region "${REGION}" \
    "$@" || fail "bedrock_client ${name} failed: $(tail -n 5 "${CASE_DIR}/client.err")"
}

# qv EXPR: sets QV to a Python expression over the last call: r = its (first) response,
# rs = all of them, log = the fake's request-log entry of r (matched by x-amzn-requestid),
# logs = the whole log, text(events) = the streamed text. Strings as is, anything else as JSON.
# (No subshell or fork: the machines running this are often loaded.)
qv() {
  client_cmd query "${OUT}" "${FAKE_LOG}" "$1" "${CASE_DIR}/query.result" ||
    fail "query failed: $1: $(tail -n 3 "${CASE_DIR}/client.err")"
  QV=""
  IFS= read -r -d '' QV <"${CASE_DIR}/query.result" || true
}

# expect_error WHAT STATUS ERROR_TYPE MESSAGE_PREFIX: the last call got Bedrock's error shape.
expect_error() {
  local what=$1 status=$2 type=$3 prefix=$4
  expect_q "${what}: status" 'r["status"]' "${status}"
  expect_q "${what}: x-amzn-ErrorType" 'r["headers"].get("x-amzn-errortype")' \
    "${type}:http://internal.amazon.com/coral/com.amazon.bedrock/"
  qv 'r["body"]["message"]'
  [[ "${QV}" == "${prefix}"* ]] || fail "${what}: message '${QV}' does not start with '${prefix}'"
  expect_q "${what}: body keys" 'sorted(r["body"])' '["message"]'
  expect_q "${what}: logged status" 'log["status"]' "${status}"
  expect_q "${what}: logged error_type" 'log["error_type"]' "${type}"
}

body() {  # body MESSAGE_TEXT [EXTRA_JSON_MEMBERS]: a valid InvokeModel body
  printf '{"anthropic_version":"bedrock-2023-05-31","max_tokens":256,%s"messages":[{"role":"user","content":"%s"}]}' \
    "${2:+$2,}" "$1"
}
readonly SIG=(--sigv4 "${AKID}:${SECRET}")

# ---------------------------------------------------------------------------------------------
begin_case vectors
"${PY}" "${FAKE}" --self-check >"${CASE_DIR}/self-check.out" 2>&1 ||
  fail "fake_bedrock --self-check: $(cat "${CASE_DIR}/self-check.out")"
# The vectors as printed in docs/protocols.md 3.8, typed in here independently of the fake.
"${PY}" -B - "${CCR_SOURCE_DIR}/tests/fakes" >"${CASE_DIR}/vectors.out" 2>&1 <<'PYEOF' ||
import base64, json, sys
sys.path.insert(0, sys.argv[1])
import botocore.eventstream
import fake_bedrock as fb

one_str_header = bytes.fromhex(
    "00 00 00 3d 00 00 00 20 07 fd 83 96"
    "0c 63 6f 6e 74 65 6e 74 2d 74 79 70 65 07 00 10"
    "61 70 70 6c 69 63 61 74 69 6f 6e 2f 6a 73 6f 6e"
    "7b 27 66 6f 6f 27 3a 27 62 61 72 27 7d"
    "8d 9c 08 b1")
chunk = bytes.fromhex(
    "00 00 00 87 00 00 00 4b 87 ea 2b f3 0b 3a 65 76"
    "65 6e 74 2d 74 79 70 65 07 00 05 63 68 75 6e 6b"
    "0d 3a 63 6f 6e 74 65 6e 74 2d 74 79 70 65 07 00"
    "10 61 70 70 6c 69 63 61 74 69 6f 6e 2f 6a 73 6f"
    "6e 0d 3a 6d 65 73 73 61 67 65 2d 74 79 70 65 07"
    "00 05 65 76 65 6e 74 7b 22 62 79 74 65 73 22 3a"
    "22 65 79 4a 30 65 58 42 6c 49 6a 6f 69 62 57 56"
    "7a 63 32 46 6e 5a 56 39 7a 64 47 39 77 49 6e 30"
    "3d 22 7d ba 48 ab 22")
empty = bytes.fromhex("00 00 00 10 00 00 00 00 05 c2 48 eb 7d 98 c8 ff")
assert len(one_str_header) == 61 and len(chunk) == 135

got = fb.encode_frame([("content-type", "application/json")], b"{'foo':'bar'}")
assert got == one_str_header, "payload_one_str_header: " + got.hex()
got = fb.chunk_frame({"type": "message_stop"})
assert got == chunk, "chunk frame: " + got.hex()
assert fb.encode_frame([], b"") == empty, "empty message"

buf = botocore.eventstream.EventStreamBuffer()
buf.add_data(one_str_header + chunk + empty)
messages = list(buf)
assert [m.prelude.total_length for m in messages] == [61, 135, 16]
assert messages[0].headers == {"content-type": "application/json"}
assert messages[0].payload == b"{'foo':'bar'}"
assert messages[1].headers == {":event-type": "chunk", ":content-type": "application/json",
                               ":message-type": "event"}
envelope = json.loads(messages[1].payload)
assert json.loads(base64.b64decode(envelope["bytes"])) == {"type": "message_stop"}
print("vectors ok")
PYEOF
  fail "frame vectors: $(cat "${CASE_DIR}/vectors.out")"
pass "encoder reproduces the 61-byte, 135-byte and empty vectors; botocore decodes them"

# ---------------------------------------------------------------------------------------------
begin_case sigv4
start_fake
call good --op invoke "${SIG[@]}" --body "$(body hi)"
expect_q "status" 'r["status"]' 200
expect_q "content-type" 'r["headers"]["content-type"]' application/json
expect_q "message shape" \
  '[r["body"]["type"], r["body"]["role"], r["body"]["model"], r["body"]["stop_reason"],
    r["body"]["id"].startswith("msg_bdrk_")]' \
  "[\"message\", \"assistant\", \"${MODEL}\", \"end_turn\", true]"
expect_q "content" 'r["body"]["content"]' "[{\"type\": \"text\", \"text\": \"${HELLO}\"}]"
expect_q "usage.input_tokens = body bytes / 4" \
  'r["body"]["usage"]["input_tokens"] == log["body_bytes"] // 4' true
expect_q "token-count headers" \
  '[r["headers"]["x-amzn-bedrock-input-token-count"] == str(r["body"]["usage"]["input_tokens"]),
    r["headers"]["x-amzn-bedrock-output-token-count"] == str(r["body"]["usage"]["output_tokens"]),
    "x-amzn-bedrock-invocation-latency" in r["headers"]]' "[true, true, true]"
expect_q "log: auth" '[log["auth"]["kind"], log["auth"]["access_key_id"], log["signature_verified"]]' \
  "[\"sigv4\", \"${AKID}\", true]"
expect_q "log: signed headers" 'log["signed_headers"]' '["content-type", "host", "x-amz-date"]'
expect_q "log: operation, model, status" '[log["operation"], log["model_id"], log["status"]]' \
  "[\"InvokeModel\", \"${MODEL}\", 200]"
expect_q "log: decoded body" 'log["body"]["messages"][0]["content"]' hi
pass "botocore-signed InvokeModel accepted, Message answered, request logged"

call session --op invoke --sigv4 "${STS_AKID}:${STS_SECRET}" --token "${STS_TOKEN}" \
  --content-sha256 --body "$(body hi)"
expect_q "session-token identity" 'r["status"]' 200
expect_q "log: session identity signed headers" 'log["signed_headers"]' \
  '["content-type", "host", "x-amz-content-sha256", "x-amz-date", "x-amz-security-token"]'
pass "session-token identity with x-amz-content-sha256 accepted"

call arn --op invoke "${SIG[@]}" --model "${ARN_MODEL}" --body "$(body hi)"
expect_q "ARN model id" 'r["status"]' 200
expect_q "ARN: raw path keeps %2F and ':'" 'log["path"]' \
  "/model/${ARN_MODEL//\//%2F}/invoke"
expect_q "ARN: model id decoded" 'log["model_id"]' "${ARN_MODEL}"
expect_q "ARN: answered model" 'r["body"]["model"]' "${ARN_MODEL}"
pass "inference-profile ARN with %2F in the path: signature verified (double-encoded), decoded"

call keepalive --op invoke "${SIG[@]}" --body "$(body hi)" --repeat 3
expect_q "keep-alive: statuses" '[x["status"] for x in rs]' "[200, 200, 200]"
expect_q "keep-alive: one connection" 'len({x["local_port"] for x in rs})' 1
pass "three requests on one keep-alive connection"

call tampered --op invoke "${SIG[@]}" --body "$(body hi)" --tamper-body
expect_error "tampered body" 403 InvalidSignatureException \
  "The request signature we calculated does not match the signature you provided."
expect_q "tampered: not verified" 'log["signature_verified"]' false

call tampered_sha --op invoke "${SIG[@]}" --content-sha256 --body "$(body hi)" --tamper-body
expect_error "tampered body, x-amz-content-sha256 sent" 403 InvalidSignatureException \
  "The provided 'x-amz-content-sha256' header does not match"

call wrong_secret --op invoke --sigv4 "${AKID}:not-the-secret" --body "$(body hi)"
expect_error "wrong secret" 403 InvalidSignatureException \
  "The request signature we calculated does not match"

call unknown_key --op invoke --sigv4 "AKIDUNKNOWN0000:${SECRET}" --body "$(body hi)"
expect_error "unknown access key" 403 UnrecognizedClientException \
  "The security token included in the request is invalid."

call stale --op invoke "${SIG[@]}" --time-offset -400 --body "$(body hi)"
expect_error "date 400 s old" 403 InvalidSignatureException "Signature expired: "
call future --op invoke "${SIG[@]}" --time-offset 400 --body "$(body hi)"
expect_error "date 400 s ahead" 403 InvalidSignatureException "Signature not yet current: "
call skew_ok --op invoke "${SIG[@]}" --time-offset -200 --body "$(body hi)"
expect_q "date 200 s old accepted" 'r["status"]' 200

call region --op invoke "${SIG[@]}" --region eu-west-1 --body "$(body hi)"
expect_error "wrong region" 403 InvalidSignatureException \
  "Credential should be scoped to a valid region"
call service --op invoke "${SIG[@]}" --service bedrock-runtime --body "$(body hi)"
expect_error "wrong service" 403 InvalidSignatureException \
  "Credential should be scoped to correct service: 'bedrock'."

call no_token --op invoke --sigv4 "${STS_AKID}:${STS_SECRET}" --body "$(body hi)"
expect_error "session identity without token" 403 UnrecognizedClientException \
  "The security token included in the request is invalid."
call bad_token --op invoke --sigv4 "${STS_AKID}:${STS_SECRET}" --token "not-the-token" \
  --body "$(body hi)"
expect_error "wrong session token" 403 UnrecognizedClientException \
  "The security token included in the request is invalid."
call no_auth --op invoke --body "$(body hi)"
expect_error "no Authorization" 403 MissingAuthenticationTokenException \
  "Missing Authentication Token"
pass "tampered body, wrong secret, unknown key, stale/future date, wrong region/service," \
  "missing/wrong token, no auth: all 403 with Bedrock's exception names"

# Rotation: the file is re-read on every request.
write_credentials "${FAKE_CREDS}" \
  '{"access_key_id": "AKIDROTATED", "secret_access_key": "rotated-secret", "session_token": null},
   {"access_key_id": "ASIAEXPIRED", "secret_access_key": "s", "session_token": "t", "expired": true}'
sed -i "s/\"${AKID}\"/\"AKIDRETIRED\"/" "${FAKE_CREDS}"
call rotated_old --op invoke "${SIG[@]}" --body "$(body hi)"
expect_error "retired key after rotation" 403 UnrecognizedClientException \
  "The security token included in the request is invalid."
call rotated_new --op invoke --sigv4 "AKIDROTATED:rotated-secret" --body "$(body hi)"
expect_q "new key after rotation" 'r["status"]' 200
call expired --op invoke --sigv4 "ASIAEXPIRED:s" --token t --body "$(body hi)"
expect_error "expired identity" 403 ExpiredTokenException \
  "The security token included in the request is expired"
pass "credentials file rotated while running: old key refused, new key accepted, expiry"

# ---------------------------------------------------------------------------------------------
begin_case bearer
start_fake
call good --op invoke --bearer "${API_KEY}" --body "$(body hi)"
expect_q "API key accepted" '[r["status"], r["body"]["content"][0]["text"]]' "[200, \"${HELLO}\"]"
expect_q "log: bearer fingerprint" '[log["auth"]["kind"], log["auth"]["bearer_fingerprint"]]' \
  "[\"bearer\", \"$(printf %s "${API_KEY}" | sha256sum | cut -c1-8)\"]"
call wrong --op invoke --bearer "bedrock-api-key-wrong" --body "$(body hi)"
expect_error "wrong API key" 403 UnrecognizedClientException \
  "The security token included in the request is invalid."
pass "Bedrock API key (Authorization: Bearer) accepted, a wrong one refused"

# ---------------------------------------------------------------------------------------------
begin_case stream
start_fake --frame-delay-ms 5
call stream --op stream "${SIG[@]}" --body "$(body hi)"
expect_q "status and content types" \
  '[r["status"], r["headers"]["content-type"], r["headers"]["x-amzn-bedrock-content-type"],
    r["headers"].get("transfer-encoding")]' \
  '[200, "application/vnd.amazon.eventstream", "application/json", "chunked"]'
expect_q "complete, decoded by botocore" '[r["incomplete"], r["decode_error"]]' '[false, null]'
expect_q "every frame is an event/chunk/json frame" \
  'all(f["headers"] == {":event-type": "chunk", ":content-type": "application/json",
                        ":message-type": "event"} for f in r["frames"])' true
expect_q "one frame per event" 'len(r["frames"]) == len(r["events"])' true
expect_q "event sequence" \
  '[t for i, t in enumerate(e["type"] for e in r["events"])
    if t != "content_block_delta" or r["events"][i - 1]["type"] != "content_block_delta"]' \
  '["message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"]'
expect_q "several text deltas" \
  'sum(e["type"] == "content_block_delta" for e in r["events"]) >= 3' true
expect_q "streamed text" 'text(r["events"])' "${HELLO}"
expect_q "message_start" \
  '[r["events"][0]["message"]["model"], r["events"][0]["message"]["usage"]["input_tokens"]
    == log["body_bytes"] // 4, r["events"][0]["message"]["id"].startswith("msg_bdrk_")]' \
  "[\"${MODEL}\", true, true]"
expect_q "message_delta" \
  '[r["events"][-2]["delta"]["stop_reason"], r["events"][-2]["usage"]["output_tokens"] > 0]' \
  '["end_turn", true]'
expect_q "invocationMetrics on message_stop" \
  '(lambda m: [sorted(m), m["inputTokenCount"] == r["events"][0]["message"]["usage"]["input_tokens"],
     m["outputTokenCount"] == r["events"][-2]["usage"]["output_tokens"]])(
     r["events"][-1]["amazon-bedrock-invocationMetrics"])' \
  '[["firstByteLatency", "inputTokenCount", "invocationLatency", "outputTokenCount"], true, true]'
expect_q "padding \"p\" on some frames, not all" \
  '(lambda n: 0 < n < len(r["frames"]))(sum("p" in f["payload"] for f in r["frames"]))' true
expect_q "log: stream" '[log["operation"], log["stream"]["outcome"], log["stream"]["events"][-1]]' \
  '["InvokeModelWithResponseStream", "complete", "message_stop"]'
pass "InvokeModelWithResponseStream: $(q 'len(r["frames"])') frames, botocore decodes" \
  "message_start .. message_stop with invocationMetrics, some padded"

# ---------------------------------------------------------------------------------------------
begin_case conversation
start_fake
THINK='"thinking":{"type":"enabled","budget_tokens":2048},"max_tokens":4096'
read_body() {
  printf '{"anthropic_version":"bedrock-2023-05-31",%s,"messages":[{"role":"user","content":[{"type":"text","text":"<system-reminder>x</system-reminder>"},{"type":"text","text":"please READ_FILE /tmp/fake/notes.txt now"}]}]}' \
    "${THINK}"
}
call read_stream --op stream "${SIG[@]}" --body "$(read_body)"
expect_q "blocks" '[e["content_block"]["type"] for e in r["events"] if e["type"] == "content_block_start"]' \
  '["thinking", "text", "tool_use"]'
expect_q "thinking deltas" \
  'sorted({e["delta"]["type"] for e in r["events"] if e.get("index") == 0 and e["type"] == "content_block_delta"})' \
  '["signature_delta", "thinking_delta"]'
expect_q "signature delta just before the thinking block stops" \
  '[e["type"] for e in r["events"] if e.get("index") == 0][-2:]' \
  '["content_block_delta", "content_block_stop"]'
expect_q "tool_use start" \
  '[(e["content_block"]["name"], e["content_block"]["input"], e["content_block"]["id"][:11])
    for e in r["events"] if e["type"] == "content_block_start" and e["index"] == 2]' \
  '[["Read", {}, "toolu_bdrk_"]]'
expect_q "tool input from input_json_delta pieces" \
  'json.loads("".join(e["delta"]["partial_json"] for e in r["events"]
                      if e["type"] == "content_block_delta" and e["index"] == 2))' \
  '{"file_path": "/tmp/fake/notes.txt"}'
expect_q "input_json_delta in several pieces" \
  'sum(1 for e in r["events"] if e["type"] == "content_block_delta" and e["index"] == 2) >= 3' true
expect_q "stop_reason" '[e["delta"]["stop_reason"] for e in r["events"] if e["type"] == "message_delta"]' \
  '["tool_use"]'
expect_q "log: behaviour" 'log["behaviour"]' read_file

call read_invoke --op invoke "${SIG[@]}" --body "$(read_body)"
expect_q "non-streamed blocks" '[b["type"] for b in r["body"]["content"]]' \
  '["thinking", "text", "tool_use"]'
expect_q "non-streamed tool_use" '[r["body"]["content"][2]["input"], r["body"]["stop_reason"]]' \
  '[{"file_path": "/tmp/fake/notes.txt"}, "tool_use"]'
qv 'r["body"]["content"][0]["signature"]'
SIGNATURE="${QV}"
qv 'r["body"]["content"][2]["id"]'
TOOL_ID="${QV}"
pass "READ_FILE: thinking + text + tool_use Read {file_path}, streamed and not"

result_body() {  # result_body TOOL_RESULT_ID SIGNATURE: answers the tool_use TOOL_ID
  printf '{"anthropic_version":"bedrock-2023-05-31",%s,"messages":[
    {"role":"user","content":"please READ_FILE /tmp/fake/notes.txt now"},
    {"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"%s"},{"type":"text","text":"Reading."},{"type":"tool_use","id":"%s","name":"Read","input":{"file_path":"/tmp/fake/notes.txt"}}]},
    {"role":"user","content":[{"type":"tool_result","tool_use_id":"%s","content":[{"type":"text","text":"     1\\tfake notes line one"}]},{"type":"text","text":"<system-reminder>READ_FILE /elsewhere</system-reminder>"}]}]}' \
    "${THINK}" "$2" "${TOOL_ID}" "$1"
}
call result --op stream "${SIG[@]}" --body "$(result_body "${TOOL_ID}" "${SIGNATURE}")"
expect_q "tool_result answered" 'text([e for e in r["events"] if e.get("index") == 1])' \
  "TOOL RESULT:      1	fake notes line one"
expect_q "log: behaviour" 'log["behaviour"]' tool_result
call result_bad_id --op invoke "${SIG[@]}" --body "$(result_body toolu_unknown "${SIGNATURE}")"
expect_error "tool_result without its tool_use" 400 ValidationException "messages.2.content.0: unexpected \`tool_use_id\`"
call result_bad_sig --op invoke "${SIG[@]}" --body "$(result_body "${TOOL_ID}" forged)"
expect_error "thinking block with a forged signature" 400 ValidationException \
  "messages.1.content.0: Invalid \`signature\` in \`thinking\` block"
pass "tool_result -> 'TOOL RESULT: ...'; history checks: tool_use_id pairing, thinking signature"

call say --op invoke "${SIG[@]}" --body "$(body 'SAY Bedrock says hi')"
expect_q "SAY" 'r["body"]["content"]' '[{"type": "text", "text": "Bedrock says hi"}]'
call title --op stream "${SIG[@]}" --body "$(body 'Say hello' '"temperature":0.5,"thinking":{"type":"disabled"},"output_config":{"format":{"type":"json_schema","schema":{"type":"object","properties":{"title":{"type":"string"}},"required":["title"]}}}')"
expect_q "json_schema answer" 'json.loads(text(r["events"]))' '{"title": "Fake Bedrock session"}'
call adaptive --op invoke "${SIG[@]}" --body "$(body hi '"thinking":{"type":"adaptive"}')"
expect_q "adaptive thinking" '[b["type"] for b in r["body"]["content"]]' '["thinking", "text"]'
pass "SAY echo, session-title json_schema answer, adaptive thinking"

# ---------------------------------------------------------------------------------------------
begin_case count_tokens
start_fake
INNER='{"anthropic_version":"bedrock-2023-05-31","messages":[{"role":"user","content":"count these tokens please"}]}'
call count --op count-tokens "${SIG[@]}" --body "${INNER}"
expect_q "CountTokens" '[r["status"], r["body"]]' "[200, {\"inputTokens\": $(( ${#INNER} / 4 ))}]"
expect_q "log: CountTokens" '[log["operation"], log["invoke_body"]["messages"][0]["content"]]' \
  '["CountTokens", "count these tokens please"]'
call count_model --op count-tokens "${SIG[@]}" --body "{\"model\":\"x\",${INNER:1}"
expect_error "CountTokens body with model" 400 ValidationException \
  "Malformed input request: #: extraneous key [model] is not permitted"
call count_raw --op count-tokens "${SIG[@]}" --path "/model/${MODEL}/count-tokens" \
  --body "${INNER}"
expect_error "CountTokens body not wrapped" 400 ValidationException "1 validation error detected"
pass "CountTokens {input:{invokeModel:{body:<base64>}}} -> {inputTokens: bytes/4}; inner body checked"

# ---------------------------------------------------------------------------------------------
begin_case validation
start_fake
# reject NAME STATUS TYPE MESSAGE_PREFIX CLIENT_ARGS...
reject() {
  local name=$1 status=$2 type=$3 prefix=$4
  shift 4
  call "${name}" --op invoke "${SIG[@]}" "$@"
  expect_error "${name}" "${status}" "${type}" "${prefix}"
}
reject model_key 400 ValidationException \
  "Malformed input request: #: extraneous key [model] is not permitted" \
  --body "$(body hi "\"model\":\"${MODEL}\"")"
reject stream_key 400 ValidationException \
  "Malformed input request: #: extraneous key [stream] is not permitted" \
  --body "$(body hi '"stream":true')"
reject unknown_key 400 ValidationException \
  "Malformed input request: #: extraneous key [output_format] is not permitted" \
  --body "$(body hi '"output_format":{"type":"json_schema"}')"
expect_q "log: extraneous keys" 'log["extraneous_keys"]' '["output_format"]'
reject no_version 400 ValidationException \
  "Malformed input request: #: required key [anthropic_version] not found" \
  --body '{"max_tokens":10,"messages":[{"role":"user","content":"hi"}]}'
reject bad_version 400 ValidationException "Malformed input request: #/anthropic_version" \
  --body '{"anthropic_version":"2023-06-01","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}'
reject no_max_tokens 400 ValidationException \
  "Malformed input request: #: required key [max_tokens] not found" \
  --body '{"anthropic_version":"bedrock-2023-05-31","messages":[{"role":"user","content":"hi"}]}'
reject not_json 400 ValidationException "Malformed input request: " --body '{"anthropic_version'
reject beta_claude_code 400 ValidationException "invalid beta flag" \
  --body "$(body hi '"anthropic_beta":["interleaved-thinking-2025-05-14","claude-code-20250219"]')"
expect_q "log: rejected betas" '[log["anthropic_beta"], log["rejected_betas"]]' \
  '[["interleaved-thinking-2025-05-14", "claude-code-20250219"], ["claude-code-20250219"]]'
reject beta_oauth 400 ValidationException "invalid beta flag" \
  --body "$(body hi '"anthropic_beta":["oauth-2025-04-20"]')"
reject beta_string 400 ValidationException "Malformed input request: #/anthropic_beta" \
  --body "$(body hi '"anthropic_beta":"context-1m-2025-08-07"')"
reject scope 400 ValidationException "system.0.cache_control.scope: Extra inputs are not permitted" \
  --body "$(body hi '"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral","scope":"global"}}]')"
reject tool_custom 400 ValidationException "tools.0.custom: Extra inputs are not permitted" \
  --body "$(body hi '"tools":[{"name":"Read","description":"d","input_schema":{"type":"object"},"custom":{"defer_loading":true}}]')"
reject clear_thinking 400 ValidationException \
  "context_management.edits.0: Input tag 'clear_thinking_20251015'" \
  --body "$(body hi '"context_management":{"edits":[{"type":"clear_thinking_20251015","keep":"all"}]}')"
reject system_role 400 ValidationException "messages.1.role: Input should be 'user' or 'assistant'" \
  --body '{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"hi"},{"role":"system","content":"s"}]}'
reject bad_model 400 ValidationException "The provided model identifier is invalid." \
  --model gpt-4o --body "$(body hi)"
reject query 400 ValidationException "fake_bedrock: unexpected query string 'beta=true'" \
  --query beta=true --body "$(body hi)"
reject unknown_op 404 UnknownOperationException "Unknown operation" \
  --path "/model/${MODEL}/converse" --body "$(body hi)"
reject raw_slash 404 UnknownOperationException "Unknown operation" \
  --path "/model/${ARN_MODEL}/invoke" --body "$(body hi)"
pass "model/stream/unknown keys, anthropic_version, max_tokens, betas, cache_control.scope," \
  "tool custom, clear_thinking edits, system role, model id, query, routes: rejected like Bedrock"

call accepted --op invoke "${SIG[@]}" --body "$(body hi '"anthropic_beta":["interleaved-thinking-2025-05-14","context-1m-2025-08-07"],"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral","ttl":"1h"}}],"tools":[{"name":"Read","description":"d","input_schema":{"type":"object"}}],"metadata":{"user_id":"u"},"context_management":{"edits":[{"type":"clear_tool_uses_20250919"}]},"output_config":{"effort":"high"}')"
expect_q "an allowed body" 'r["status"]' 200
expect_q "log: anthropic_beta" 'log["anthropic_beta"]' \
  '["interleaved-thinking-2025-05-14", "context-1m-2025-08-07"]'
pass "a body with accepted betas, cache ttl, tools, metadata, context edits, output_config: 200"

# ---------------------------------------------------------------------------------------------
begin_case faults
start_fake
fault() {  # fault MODEL STATUS TYPE MESSAGE_PREFIX
  call "$1" --op stream "${SIG[@]}" --model "anthropic.claude-$1-v1:0" --body "$(body hi)"
  expect_error "$1" "$2" "$3" "$4"
  expect_q "$1: logged fault" 'log["fault"]' "$1"
}
fault throttle 429 ThrottlingException "Too many requests, please wait before trying again."
fault denied 403 AccessDeniedException "You don't have access"
fault unavailable 503 ServiceUnavailableException "Bedrock is unable to process your request."
fault internal 500 InternalServerException "The server encountered an internal error"
fault model-timeout 408 ModelTimeoutException "The request took too long"
fault not-ready 429 ModelNotReadyException "Model is not ready"
pass "throttle 429, denied 403, unavailable 503, internal 500, model-timeout 408, not-ready 429"

stream_fault() {  # stream_fault NAME: a stream that starts, then fails; sets OUT
  call "$1" --op stream "${SIG[@]}" --model "us.anthropic.claude-$1-v1:0" --body "$(body hi)"
  expect_q "$1: started" '[r["status"], [e["type"] for e in r["events"]]]' \
    '[200, ["message_start", "content_block_start", "content_block_delta"]]'
}
stream_fault stream-exception
expect_q "exception frame" '[r["frames"][-1]["headers"], sorted(r["frames"][-1]["payload"])]' \
  '[{":exception-type": "modelStreamErrorException", ":content-type": "application/json", ":message-type": "exception"}, ["message", "originalMessage", "originalStatusCode"]]'
expect_q "clean end after the exception" '[r["incomplete"], r["decode_error"]]' '[false, null]'
stream_fault stream-exception-throttling
expect_q "throttling exception frame" \
  '[r["frames"][-1]["headers"][":exception-type"], r["frames"][-1]["payload"]["message"]]' \
  '["throttlingException", "Too many requests, please wait before trying again."]'
stream_fault stream-error
expect_q "error frame" 'r["frames"][-1]["headers"]' \
  '{":error-code": "InternalFailure", ":error-message": "fake_bedrock: unmodelled stream error", ":message-type": "error"}'
stream_fault stream-bad-crc
expect_q "bad CRC caught by botocore" 'r["decode_error"]' ChecksumMismatch
stream_fault stream-cut
expect_q "cut mid-frame" '[r["incomplete"], r["read_error"] is not None or r.get("leftover_bytes", 0) > 0]' \
  '[true, true]'
expect_q "log: cut" 'log["stream"]["outcome"]' stream-cut
pass "stream-exception(-throttling), stream-error, stream-bad-crc, stream-cut fail after the first delta"

call slow --op stream "${SIG[@]}" --model "anthropic.claude-slow-v1:0" --body "$(body hi)"
expect_q "slow: complete" '[r["status"], r["incomplete"], r["events"][-1]["type"]]' \
  '[200, false, "message_stop"]'
expect_q "slow: frames arrive one by one, ~200 ms apart (nothing buffered)" \
  '(lambda t: all(b - a >= 150 for a, b in zip(t, t[1:])))([f["t_ms"] for f in r["frames"]])' true
pass "slow: $(q 'len(r["frames"])') frames, $(q 'round(r["frames"][-1]["t_ms"] - r["frames"][0]["t_ms"])') ms from first to last"

control() {  # control PATH_AND_QUERY: POST to the fake's control endpoint; prints the answer
  "${PY}" -c 'import sys, urllib.request
print(urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="POST")).read().decode())' \
    "http://127.0.0.1:${FAKE_PORT}$1"
}
expect_eq "fail-next control" "$(control '/__fake/fail-next?status=503&n=2')" \
  '{"ok":true,"pending_failures":2}'
call failed --op invoke "${SIG[@]}" --body "$(body hi)" --repeat 3
expect_q "fail-next: 503, 503, then 200" '[x["status"] for x in rs]' '[503, 503, 200]'
expect_q "fail-next: exception" 'rs[0]["error_type"]' ServiceUnavailableException
expect_q "fail-next: logged" 'log["fault"]' fail-next
control '/__fake/fail-next?status=429&n=1&type=ThrottlingException&message=slow%20down' >/dev/null
call failed_stream --op stream "${SIG[@]}" --body "$(body hi)"
expect_error "fail-next on a stream" 429 ThrottlingException "slow down"
control '/__fake/fail-next?status=500&n=5' >/dev/null
expect_eq "reset" "$(control /__fake/reset)" '{"ok":true,"pending_failures":0}'
call after_reset --op invoke "${SIG[@]}" --body "$(body hi)"
expect_q "after reset" 'r["status"]' 200
pass "POST /__fake/fail-next?status=503&n=2 fails the next two requests; reset"

# ---------------------------------------------------------------------------------------------
begin_case concurrency
start_fake
"${PY}" "${CLIENT_PY}" --endpoint "http://127.0.0.1:${FAKE_PORT}" "${SIG[@]}" --op stream \
  --model anthropic.claude-slow-v1:0 --body "$(body hi)" >"${CASE_DIR}/slow.jsonl" 2>&1 &
slow_pid=$!
sleep 1.5
start=$(date +%s%N)
call quick --op invoke --bearer "${API_KEY}" --body "$(body hi)"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
kill -0 "${slow_pid}" 2>/dev/null || fail "the slow stream ended before the quick request"
expect_q "quick request during a slow stream" 'r["status"]' 200
wait "${slow_pid}" || fail "slow stream client failed: $(cat "${CASE_DIR}/slow.jsonl")"
OUT="${CASE_DIR}/slow.jsonl"
expect_q "slow stream complete" '[r["status"], r["events"][-1]["type"]]' '[200, "message_stop"]'
expect_q "request log: one JSON line per request, required keys" \
  'all({"method", "path", "model_id", "operation", "auth", "signed_headers", "signature_verified",
        "body", "anthropic_beta", "status"} <= set(e) for e in logs) and len(logs) == 2' true
pass "an InvokeModel answered in ${elapsed_ms} ms while a slow stream was running"

echo "PASS: fake_bedrock_test"
