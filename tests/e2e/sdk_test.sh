#!/usr/bin/env bash
# End-to-end: the Anthropic TypeScript SDK (npm @anthropic-ai/sdk, pinned in package.json)
# -> cc-relay -> ccr_mock_upstream, all on 127.0.0.1. The SDK calls and their checks are in
# sdk_test.mjs; this script starts the processes and checks the relay's log.
#
# The relay has two providers: "mock" (the mock upstream, with a key and a models list) and
# "dead" (a closed port) that alone serves DEAD_MODEL, so a request for it must fail with 502.
#
# Needs `npm ci --prefix tests/e2e` (scripts/setup.sh) and the targets cc-relay and
# ccr_mock_upstream. A missing SDK is a failure, never a skip.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Fake credentials, made fresh for every run (never real keys).
readonly PROVIDER_KEY="fake-provider-key-$(od -An -tx1 -N8 /dev/urandom | tr -d " \n")"
readonly DEAD_KEY="fake-dead-provider-key-$(od -An -tx1 -N8 /dev/urandom | tr -d " \n")"
readonly CLIENT_KEY="fake-sdk-client-key-$(od -An -tx1 -N8 /dev/urandom | tr -d " \n")"
readonly MODEL="claude-opus-4-8"
readonly DEAD_MODEL="claude-unreachable-1"

begin_case sdk
require_node
[[ -f "${E2E_NODE_MODULES}/@anthropic-ai/sdk/package.json" ]] ||
  fail "@anthropic-ai/sdk not installed under ${E2E_NODE_MODULES}: run 'npm ci --prefix tests/e2e'"

# A port that refuses connections: that of a mock that has been stopped.
start_mock closed
readonly DEAD_PORT="${MOCK_PORT}"
stop_pid "${MOCK_PID}"
start_mock mock
readonly MAIN_PORT="${MOCK_PORT}"

cat >"${CASE_DIR}/relay.yaml" <<EOF
server:
  listen: "127.0.0.1:0"
  workers: 1
  timeouts:
    connect_ms: 2000
# The mock records every request it gets: no health-check probes among them.
health:
  checks:
    interval_ms: 0
providers:
  - name: mock
    type: anthropic
    base_url: "http://127.0.0.1:${MAIN_PORT}"
    models:
      - ${MODEL}
      - claude-haiku-4-5
    keys:
      - key: "${PROVIDER_KEY}"
  - name: dead
    type: anthropic
    base_url: "http://127.0.0.1:${DEAD_PORT}"
    models:
      - ${DEAD_MODEL}
    keys:
      - key: "${DEAD_KEY}"
EOF
start_relay "${CASE_DIR}/relay.yaml"

mkdir -p "${CASE_DIR}/home"
(
  cd "${E2E_DIR}" &&
    exec timeout 120 env -i \
      HOME="${CASE_DIR}/home" \
      PATH="${PATH}" \
      RELAY_URL="${RELAY_URL}" \
      CLIENT_KEY="${CLIENT_KEY}" \
      PROVIDER_KEY="${PROVIDER_KEY}" \
      MOCK_REQUESTS="${MOCK_REQUESTS}" \
      MODELS="[\"${MODEL}\",\"claude-haiku-4-5\",\"${DEAD_MODEL}\"]" \
      MODEL="${MODEL}" \
      DEAD_MODEL="${DEAD_MODEL}" \
      node sdk_test.mjs
) </dev/null >"${CASE_DIR}/sdk.out" 2>"${CASE_DIR}/sdk.err"
rc=$?
cat "${CASE_DIR}/sdk.out"
[[ "${rc}" == 0 ]] || fail "sdk_test.mjs exited ${rc}"

# The relay's access log: 4 calls served by "mock", 3 failed on "dead" after one attempt each.
ok_lines="$(grep -cE ' info request .* provider=mock .*status=200 ' "${RELAY_LOG}")"
expect_eq "relay request lines with provider=mock status=200" "${ok_lines}" 4
dead_lines="$(grep -cE ' info request .* provider=dead .*status=502 ' "${RELAY_LOG}")"
expect_eq "relay request lines with provider=dead status=502" "${dead_lines}" 3
grep -Eq ' info request .*endpoint=count_tokens .*provider=mock .*status=200 ' "${RELAY_LOG}" ||
  fail "no count_tokens request line with status=200 in the relay log"
expect_secrets_absent "${RELAY_LOG}" "${PROVIDER_KEY}" "${DEAD_KEY}" "${CLIENT_KEY}"
expect_secrets_absent "${CASE_DIR}/relay.out" "${PROVIDER_KEY}" "${DEAD_KEY}" "${CLIENT_KEY}"
pass "relay log: 4 x status=200 (mock), 3 x status=502 (dead), no key"

echo "PASS: sdk_test"
