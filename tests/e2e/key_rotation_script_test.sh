#!/usr/bin/env bash
# End-to-end: deploy/scripts/rotate_key.py (Python, Debian's python3-grpcio and
# python3-protobuf, stubs generated from proto/management.proto) rotates a provider key on a real
# control plane (TLS + token) while a bounded load runs through two real data planes.
#
# Cases:
#   setup       control plane with TLS and a token, two data planes, a mock upstream that accepts
#               any key; the new key sits in a JSON document shaped like the output of
#               `aws secretsmanager get-secret-value` (SecretString holding JSON)
#   refusals    a wrong token (UNAUTHENTICATED), an unknown old fingerprint (NOT_FOUND), a JSON
#               path that is not there, plaintext to the TLS listener: exit 1, a clear message,
#               no secret in the output
#   under_load  load through both data planes; rotate_key.py --wait; load goes on; then: no
#               client request failed, each data plane served with the new key after the rotation
#               and never with the old one for a request started after it, the upstream saw the
#               new key, every old-key request upstream is one the clients started before the
#               rotation was applied, the old key is gone from `keys list`, and the script's
#               output names keys by fingerprint only
#   plain       a second rotation from a plain line on standard input (gcloud's raw payload)
#
# Needs python3 with python3-grpcio and python3-protobuf (scripts/setup.sh), protoc and
# grpc_python_plugin (or python3-grpc-tools), openssl, node, and the targets cc-relay,
# cc-relayctl and ccr_mock_upstream.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=planes_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/planes_lib.sh"

PY="${CCR_PYTHON:-/usr/bin/python3}"
ROTATE="${CCR_SOURCE_DIR}/deploy/scripts/rotate_key.py"
# Fake keys and token, fresh for every run.
rand() { od -An -tx1 -N8 /dev/urandom | tr -d ' \n'; }
OLD_KEY="fake-old-key-$(rand)"
NEW_KEY="fake-new-key-$(rand)"
THIRD_KEY="fake-third-key-$(rand)"
TOKEN="fake-plane-token-$(rand)"
readonly OLD_KEY NEW_KEY THIRD_KEY TOKEN
fp() { printf '%s' "$1" | sha256sum | cut -c1-8; }
OLD_FP="$(fp "${OLD_KEY}")"
NEW_FP="$(fp "${NEW_KEY}")"
THIRD_FP="$(fp "${THIRD_KEY}")"
readonly OLD_FP NEW_FP THIRD_FP

# expect_clean FILE: none of the keys or the token appears in FILE.
expect_clean() {
  expect_secrets_absent "$1" "${OLD_KEY}" "${NEW_KEY}" "${THIRD_KEY}" "${TOKEN}"
}

begin_case setup
require_node
"${PY}" -c 'import grpc, google.protobuf' 2>/dev/null ||
  fail "${PY} lacks grpc or protobuf (scripts/setup.sh installs python3-grpcio python3-protobuf)"
start_mock upstream
printf '%s\n' "${TOKEN}" >"${CASE_DIR}/token"
# A CA and a certificate for 127.0.0.1 / localhost.
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=e2e CA" -keyout "${CASE_DIR}/ca.key" -out "${CASE_DIR}/ca.crt" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout "${CASE_DIR}/cp.key" -out "${CASE_DIR}/cp.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"${CASE_DIR}/ext.cnf"
openssl x509 -req -in "${CASE_DIR}/cp.csr" -CA "${CASE_DIR}/ca.crt" -CAkey "${CASE_DIR}/ca.key" \
  -CAcreateserial -days 1 -extfile "${CASE_DIR}/ext.cnf" -out "${CASE_DIR}/cp.crt" 2>/dev/null ||
  fail "could not make the test certificate"
one_provider_config anthropic "${OLD_KEY}" "rpm_limit: 100000" >"${CASE_DIR}/config.yaml"
start_control_plane "${CASE_DIR}/config.yaml" --token-file "${CASE_DIR}/token" \
  --tls-cert "${CASE_DIR}/cp.crt" --tls-key "${CASE_DIR}/cp.key"
dp_flags=(--token-file "${CASE_DIR}/token" --tls-ca "${CASE_DIR}/ca.crt" --tls-server-name localhost)
start_data_plane dp1 "${dp_flags[@]}"
DP1_URL="${DP_URL}" DP1_LOG="${DP_LOG}"
start_data_plane dp2 "${dp_flags[@]}"
DP2_URL="${DP_URL}" DP2_LOG="${DP_LOG}"
tls_flags=(--control-plane "${CP_ADDR}" --token-file "${CASE_DIR}/token" --tls-ca "${CASE_DIR}/ca.crt"
  --tls-server-name localhost)
# What `aws secretsmanager get-secret-value --secret-id cc-relay/anthropic` prints.
"${PY}" - "${CASE_DIR}/secret.json" "${NEW_KEY}" <<'EOF'
import json, sys
secret = json.dumps({"api_key": sys.argv[2], "note": "fake"})
json.dump({"ARN": "arn:aws:secretsmanager:us-east-1:000000000000:secret:cc-relay/anthropic-AbCdEf",
           "Name": "cc-relay/anthropic", "VersionId": "00000000-0000-0000-0000-000000000000",
           "SecretString": secret, "VersionStages": ["AWSCURRENT"],
           "CreatedDate": "2026-12-06T08:00:00+00:00"}, open(sys.argv[1], "w"), indent=4)
EOF
pass "control plane (TLS, token) and two data planes up; old key ${OLD_FP}, new key ${NEW_FP}"

continue_case refusals
# expect_refusal NAME WANT ARGS...: rotate_key.py with ARGS exits 1 saying WANT, leaking nothing.
expect_refusal() {
  local name=$1 want=$2
  shift 2
  local out="${CASE_DIR}/refusal-${name}.out" rc=0
  "${PY}" "${ROTATE}" "$@" >"${out}" 2>&1 || rc=$?
  expect_eq "exit code (${name})" "${rc}" 1
  grep -qF -- "${want}" "${out}" || fail "${name}: no '${want}' in: $(cat "${out}")"
  expect_clean "${out}"
}
printf 'fake-wrong-token\n' >"${CASE_DIR}/wrong-token"
expect_refusal wrong_token "UNAUTHENTICATED" --control-plane "${CP_ADDR}" \
  --token-file "${CASE_DIR}/wrong-token" --tls-ca "${CASE_DIR}/ca.crt" --tls-server-name localhost \
  --provider anthropic --key-file "${CASE_DIR}/secret.json" --json-field SecretString.api_key
expect_refusal unknown_key "NOT_FOUND" "${tls_flags[@]}" --provider anthropic \
  --old-fingerprint 00000000 --key-file "${CASE_DIR}/secret.json" --json-field SecretString.api_key
expect_refusal bad_field "no 'apikey' in SecretString (fields there: api_key, note)" \
  "${tls_flags[@]}" --provider anthropic --key-file "${CASE_DIR}/secret.json" \
  --json-field SecretString.apikey
expect_refusal plaintext "UNAVAILABLE" --control-plane "${CP_ADDR}" --token-file "${CASE_DIR}/token" \
  --timeout 2 --provider anthropic --key-file "${CASE_DIR}/secret.json" \
  --json-field SecretString.api_key
expect_eq "keys after the refusals" "$(ctl "${tls_flags[@]:2}" --output json keys list |
  grep -o '"fingerprint":"[0-9a-f]*"' | tr '\n' ' ')" "\"fingerprint\":\"${OLD_FP}\" "
pass "wrong token, unknown key, missing JSON field, plaintext: exit 1, clear message, nothing rotated"

continue_case under_load
LOAD="${CASE_DIR}/load.jsonl"
STOP="${CASE_DIR}/stop-load"
# 30 ms between the mock's events: a stream lasts about 0.6 s, so streams are in flight on the
# old key when it is rotated away.
timeout -k 5 120 "${PY}" "${E2E_DIR}/load_client.py" --out "${LOAD}" --stop-file "${STOP}" \
  --threads 3 --event-delay-ms 30 --max-seconds 60 "${DP1_URL}" "${DP2_URL}" \
  >"${CASE_DIR}/load.out" 2>&1 &
LOAD_PID=$!
E2E_PIDS+=("${LOAD_PID}")
sleep 1.5
ROTATE_START="$(date +%s.%N)"
"${PY}" "${ROTATE}" "${tls_flags[@]}" --provider anthropic --key-file "${CASE_DIR}/secret.json" \
  --json-field SecretString.api_key --wait >"${CASE_DIR}/rotate.out" 2>&1 ||
  fail "rotate_key.py failed: $(cat "${CASE_DIR}/rotate.out")"
APPLIED="$(date +%s.%N)"
sleep 2
touch "${STOP}"
wait "${LOAD_PID}" || fail "load client failed: $(cat "${CASE_DIR}/load.out")"
grep -q "rotating provider=anthropic old=${OLD_FP} new=${NEW_FP}" "${CASE_DIR}/rotate.out" ||
  fail "rotate_key.py did not name the fingerprints: $(cat "${CASE_DIR}/rotate.out")"
grep -q "applied by 2 data plane(s)" "${CASE_DIR}/rotate.out" ||
  fail "rotate_key.py --wait did not see both data planes: $(cat "${CASE_DIR}/rotate.out")"
expect_clean "${CASE_DIR}/rotate.out"

qv() { QV="$(jsq "${LOAD}" "$1")"; }
total="$(q 'rows.length')"
[[ "${total}" -ge 20 ]] || fail "only ${total} requests in the load"
expect_q "failed client requests" 'rows.filter((r) => !r.ok).length' 0
expect_q "keys the clients saw" '[...new Set(rows.map((r) => r.key))].sort().join(" ")' \
  "$(printf '%s\n' "${OLD_FP}" "${NEW_FP}" | sort | tr '\n' ' ' | sed 's/ $//')"
for url in "${DP1_URL}" "${DP2_URL}"; do
  after="rows.filter((r) => r.url === '${url}' && r.t0 > ${APPLIED})"
  expect_q "${url}: requests started after the rotation on the old key" \
    "${after}.filter((r) => r.key !== '${NEW_FP}').length" 0
  [[ "$(q "${after}.length")" -ge 3 ]] || fail "${url}: too few requests after the rotation"
  [[ "$(q "rows.filter((r) => r.url === '${url}' && r.key === '${OLD_FP}').length")" -ge 1 ]] ||
    fail "${url}: no request on the old key before the rotation"
done
upstream_new="$(jsq "${MOCK_REQUESTS}" "rows.filter((r) => r.headers['x-api-key'] === '${NEW_KEY}').length")"
upstream_old="$(jsq "${MOCK_REQUESTS}" "rows.filter((r) => r.headers['x-api-key'] === '${OLD_KEY}').length")"
upstream_total="$(mock_count)"
expect_eq "upstream requests with a key other than old or new" \
  "$((upstream_total - upstream_new - upstream_old))" 0
# One upstream request per client request (nothing failed, so nothing was retried): the old key
# went upstream exactly for the client requests that got it, all started before the rotation was
# applied; the new key for the rest.
expect_eq "old-key requests upstream vs clients" "${upstream_old}" \
  "$(q "rows.filter((r) => r.key === '${OLD_FP}').length")"
expect_eq "new-key requests upstream vs clients" "${upstream_new}" \
  "$(q "rows.filter((r) => r.key === '${NEW_FP}').length")"
expect_q "old-key requests started after the rotation was applied" \
  "rows.filter((r) => r.key === '${OLD_FP}' && r.t0 > ${APPLIED}).length" 0
in_flight="$(q "rows.filter((r) => r.key === '${OLD_FP}' && r.t1 > ${ROTATE_START}).length")"
[[ "${in_flight}" -ge 1 ]] || fail "no request was in flight on the old key during the rotation"
keys="$(ctl "${tls_flags[@]:2}" --output json keys list)"
[[ "${keys}" == *"\"fingerprint\":\"${NEW_FP}\""* && "${keys}" != *"${OLD_FP}"* ]] ||
  fail "keys list after the rotation: ${keys}"
for log in "${CP_LOG}" "${DP1_LOG}" "${DP2_LOG}" "${CASE_DIR}/load.out"; do
  expect_clean "${log}"
done
pass "${total} requests through 2 data planes, 0 failed (${in_flight} in flight on the old key during the rotation finished); upstream: ${upstream_old} old-key (all before the rotation), ${upstream_new} new-key; old key removed; only fingerprints printed"

continue_case plain
printf '%s\n' "${THIRD_KEY}" | "${PY}" "${ROTATE}" "${tls_flags[@]}" --provider anthropic --wait \
  >"${CASE_DIR}/rotate-plain.out" 2>&1 || fail "plain rotation failed: $(cat "${CASE_DIR}/rotate-plain.out")"
grep -q "old=${NEW_FP} new=${THIRD_FP}" "${CASE_DIR}/rotate-plain.out" ||
  fail "plain rotation: $(cat "${CASE_DIR}/rotate-plain.out")"
expect_clean "${CASE_DIR}/rotate-plain.out"
for url in "${DP1_URL}" "${DP2_URL}"; do
  got="$(curl -s -o /dev/null -D - -X POST "${url}/v1/messages" -H 'content-type: application/json' \
    -d '{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}' |
    tr -d '\r' | sed -n 's/^x-cc-relay-key: //ip')"
  expect_eq "${url}: key after the plain rotation" "${got}" "${THIRD_FP}"
done
pass "plain line on standard input, old key found by the script: ${NEW_FP} -> ${THIRD_FP}"
