# shellcheck shell=bash
# Helpers for the self-tests of the fakes built on tests/fakes/anthropic_fake.py
# (fake_vertex_test.sh, fake_foundry_test.sh): start a fake, send it requests with curl, query
# the answers and the fake's request log with Python. Sourced after lib.sh; the name does not
# end in _test.sh, so ctest does not pick it up.
# shellcheck disable=SC2034  # variables set here are read by the scripts that source this file

PY="${CCR_PYTHON:-/usr/bin/python3}"
readonly FAKE_TOKEN_EXPIRY_FAR=4102444800000  # 2100-01-01 in Unix ms
rand() { od -An -tx1 -N8 /dev/urandom | tr -d " \n"; }

# The query helper, run as a coprocess (one Python start per case, not per query): reads
# commands of six NUL-terminated fields (body file, headers file, status, request log, Python
# expression, result file), writes the expression's value to the result file and answers
# "done 0" (or "done 1", the traceback on its stderr).
QUERY_PY="${E2E_TMP}/query.py"
cat >"${QUERY_PY}" <<'PYEOF'
import json, sys, traceback

def load_json(data):
    try:
        return json.loads(data)
    except ValueError:
        return None

def parse_sse(text):
    events = []
    for block in text.split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                data.append(line[len("data: "):])
        if name is not None or data:
            events.append({"event": name, "data": load_json("\n".join(data))})
    return events

def answer(body_path, headers_path, status, log_path, expr, out_path):
    raw = open(body_path, "rb").read().decode("utf-8", "replace")
    h = {}
    for line in open(headers_path, encoding="latin-1").read().splitlines()[1:]:
        name, sep, value = line.partition(":")
        if sep:
            h[name.strip().lower()] = value.strip()
    status = int(status)
    r = load_json(raw)
    events = parse_sse(raw) if h.get("content-type", "").startswith("text/event-stream") else []
    types = [e["event"] for e in events]
    starts = [e["data"]["content_block"] for e in events if e["event"] == "content_block_start"]
    deltas = [e["data"]["delta"] for e in events if e["event"] == "content_block_delta"]
    text = "".join(d.get("text", "") for d in deltas)
    try:
        logs = [json.loads(l) for l in open(log_path, encoding="utf-8") if l.strip()]
    except FileNotFoundError:
        logs = []
    logs = [e for e in logs if e.get("operation") != "Control"]
    log = logs[-1] if logs else None
    value = eval(expr)
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(value if isinstance(value, str) else json.dumps(value))

def fields(n):
    out, buf = [], bytearray()
    while len(out) < n:
        c = sys.stdin.buffer.read(1)
        if not c:
            return None
        if c == b"\0":
            out.append(buf.decode("utf-8"))
            buf = bytearray()
        else:
            buf += c
    return out

while True:
    command = fields(6)
    if command is None:
        break
    try:
        answer(*command)
        rc = 0
    except Exception:
        traceback.print_exc()
        rc = 1
    sys.stderr.flush()
    print(f"done {rc}", flush=True)
PYEOF

# start_fake SCRIPT [ARGS...]: starts tests/fakes/SCRIPT for the current case; sets FAKE_PORT,
# FAKE_PID and FAKE_LOG (its request log).
start_fake() {
  local script=$1
  shift
  coproc QUERY { exec timeout -k 5 "${E2E_PROCESS_LIFETIME}" "${PY}" -B "${QUERY_PY}" \
    2>>"${CASE_DIR}/query.err"; }
  E2E_PIDS+=("${QUERY_PID}")
  FAKE_LOG="${CASE_DIR}/fake-requests.jsonl"
  timeout -k 5 "${E2E_PROCESS_LIFETIME}" "${PY}" "${CCR_SOURCE_DIR}/tests/fakes/${script}" \
    --listen 127.0.0.1:0 --request-log "${FAKE_LOG}" --port-file "${CASE_DIR}/fake.port" "$@" \
    >"${CASE_DIR}/fake.out" 2>"${CASE_DIR}/fake.err" &
  FAKE_PID=$!
  E2E_PIDS+=("${FAKE_PID}")
  wait_for_line "${CASE_DIR}/fake.out" '^listening 127\.0\.0\.1:[0-9]+' "${FAKE_PID}" 20 "${script}"
  FAKE_PORT="$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\).*/\1/p' "${CASE_DIR}/fake.out")"
  expect_eq "port file" "$(cat "${CASE_DIR}/fake.port")" "${FAKE_PORT}"
}

# write_tokens FILE TOKEN EXPIRES_UNIX_MS [TOKEN EXPIRES_UNIX_MS...]: a tokens file, written
# aside and renamed.
write_tokens() {
  local file=$1
  shift
  local entries="" sep=""
  while (($# >= 2)); do
    entries+="${sep}{\"token\": \"$1\", \"expires_unix_ms\": $2}"
    sep=", "
    shift 2
  done
  printf '{"tokens": [%s]}\n' "${entries}" >"${file}.tmp"
  mv "${file}.tmp" "${file}"
}

# now_ms: Unix time in milliseconds.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# call NAME METHOD PATH BODY [CURL_ARGS...]: one request to the fake; sets STATUS, CURL_RC and
# the files of the answer (${CASE_DIR}/NAME.body, NAME.headers) for q.
call() {
  local name=$1 method=$2 path=$3 body=$4
  shift 4
  OUT_BODY="${CASE_DIR}/${name}.body"
  OUT_HEADERS="${CASE_DIR}/${name}.headers"
  local data=()
  [[ -n "${body}" ]] && data=(--data-binary "${body}")
  CURL_RC=0
  STATUS="$(curl -sS --http1.1 --max-time 20 -X "${method}" -H 'Expect:' "${data[@]}" \
    -o "${OUT_BODY}" -D "${OUT_HEADERS}" -w '%{http_code}' "$@" \
    "http://127.0.0.1:${FAKE_PORT}${path}" 2>"${CASE_DIR}/${name}.curl")" || CURL_RC=$?
  touch "${OUT_BODY}" "${OUT_HEADERS}"
}

# qv EXPR: sets QV to a Python expression over the last call: r = its JSON body (None if not
# JSON), raw = the body text, h = its headers (lowercase names), status, events = its SSE events
# [{"event", "data"}], types = their names, starts = the content blocks started, deltas = the
# deltas, text = the streamed text, log = the fake's last
# request-log entry, logs = all (control calls left out). Strings as is, anything else as JSON.
qv() {
  printf '%s\0' "${OUT_BODY}" "${OUT_HEADERS}" "${STATUS}" "${FAKE_LOG}" "$1" \
    "${CASE_DIR}/query.result" >&"${QUERY[1]}"
  local reply
  read -r reply <&"${QUERY[0]}" ||
    fail "the query helper died: $(tail -n 5 "${CASE_DIR}/query.err")"
  [[ "${reply}" == "done 0" ]] || fail "query failed: $1: $(tail -n 3 "${CASE_DIR}/query.err")"
  QV=""
  IFS= read -r -d '' QV <"${CASE_DIR}/query.result" || true
}

# expect_status WHAT WANT: the last call's HTTP status, and the status the fake logged.
expect_status() {
  expect_eq "$1: status" "${STATUS}" "$2"
  expect_q "$1: logged status" 'log["status"]' "$2"
}

# expect_anthropic_error WHAT STATUS TYPE MESSAGE_PREFIX: the last call got Anthropic's error
# shape {"type":"error","error":{"type","message"},"request_id"}.
expect_anthropic_error() {
  local what=$1 status=$2 type=$3 prefix=$4
  expect_status "${what}" "${status}"
  expect_q "${what}: shape" '[sorted(r), r["type"], sorted(r["error"]), r["error"]["type"],
    r["request_id"] == log["request_id"]]' \
    "[[\"error\", \"request_id\", \"type\"], \"error\", [\"message\", \"type\"], \"${type}\", true]"
  qv 'r["error"]["message"]'
  [[ "${QV}" == "${prefix}"* ]] || fail "${what}: message '${QV}' does not start with '${prefix}'"
}

# expect_midstream_drop WHAT: the last call was a stream cut after its first text delta.
expect_midstream_drop() {
  expect_eq "$1: status" "${STATUS}" 200
  [[ "${CURL_RC}" != 0 ]] || fail "$1: curl saw a complete answer"
  expect_q "$1: events before the cut" 'types' \
    '["message_start", "ping", "content_block_start", "content_block_delta"]'
  expect_q "$1: logged outcome" 'log["stream"]["outcome"]' midstream-drop
}

# expect_midstream_error WHAT: the last call was a stream that ended with an error event after
# its first text delta, cleanly.
expect_midstream_error() {
  expect_eq "$1: curl" "${CURL_RC}" 0
  local first='["message_start", "ping", "content_block_start", "content_block_delta"]'
  expect_q "$1: events" '[types[:4], types[-1], events[-1]["data"]["error"]["type"],
    log["stream"]["outcome"]]' "[${first}, \"error\", \"overloaded_error\", \"midstream-error\"]"
}

# expect_slow MS WHAT COMMAND...: runs COMMAND (one call), which must answer 200 after MS ms or
# more; sets ELAPSED.
expect_slow() {
  local ms=$1 what=$2
  shift 2
  local start
  start=$(now_ms)
  "$@"
  ELAPSED=$(($(now_ms) - start))
  expect_status "${what}" 200
  ((ELAPSED >= ms)) || fail "${what} answered after ${ELAPSED} ms, want >= ${ms}"
}

# expect_fail_next STATUS SEND CHECK: POST /__fake/fail-next?status=STATUS&n=2, then `SEND NAME`
# (one good request) three times: CHECK NAME must hold after the first two, the third is a 200;
# then three queued failures and a reset that drops them.
expect_fail_next() {
  local status=$1 send=$2 check=$3
  expect_eq "fail-next control" "$(control "/__fake/fail-next?status=${status}&n=2")" \
    '{"ok":true,"pending_failures":2}'
  "${send}" failed1
  "${check}" "fail-next 1"
  expect_q "fail-next 1: logged" 'log["fault"]' fail-next
  "${send}" failed2
  "${check}" "fail-next 2"
  "${send}" after_failures
  expect_status "after the failures" 200
  control "/__fake/fail-next?status=500&n=3" >/dev/null
  expect_eq "reset" "$(control /__fake/reset)" '{"ok":true,"pending_failures":0}'
  "${send}" after_reset
  expect_status "after reset" 200
  expect_q "request log: one line per request, control calls apart" \
    'all({"seq", "path", "model", "operation", "headers", "body", "token_fingerprint",
          "verified", "status", "anthropic_beta", "stream"} <= set(e) for e in logs)' true
}

# control PATH_AND_QUERY: POST to the fake's control route; prints the answer.
control() {
  curl -sS --max-time 10 -X POST "http://127.0.0.1:${FAKE_PORT}$1"
}

# expect_no_secret SECRET...: none of the secrets is in the fake's request log or output.
expect_no_secret() {
  expect_secrets_absent "${FAKE_LOG}" "$@"
  expect_secrets_absent "${CASE_DIR}/fake.out" "$@"
  expect_secrets_absent "${CASE_DIR}/fake.err" "$@"
}
