#!/usr/bin/env bash
# End-to-end (issue 15): a relay a team shares. The real Claude Code CLI (npm
# @anthropic-ai/claude-code, pinned in package.json) -> a data plane -> a scripted Anthropic
# fake (team_fake_upstream.py), with teammates added by `cc-relayctl users add` on a real
# control plane whose database is a file in the scratch directory. All on 127.0.0.1.
#
# Cases:
#   setup          control plane (--db in the scratch directory, admin token), one data plane,
#                  the fake; `cc-relayctl users add` alice, bob and carol (keys from
#                  --output json; never printed)
#   api_key        alice with ANTHROPIC_API_KEY=<relay key>: answered; the provider key
#                  replaces the relay key upstream
#   bearer         bob with ANTHROPIC_AUTH_TOKEN=<relay key>: the same
#   custom_header  (provider reloaded without keys: subscription passthrough) carol with
#                  ANTHROPIC_CUSTOM_HEADERS="x-cc-relay-key: <relay key>" and her own
#                  subscription token in ANTHROPIC_AUTH_TOKEN: the fake sees that token as
#                  `Authorization: Bearer`, never the relay key; alice through the keyless
#                  provider: her relay key is not forwarded either
#   no_key         without a relay key (users configured, so one is required): a 401 shown by
#                  Claude Code after one try
#   usage          `cc-relayctl usage --by user --output json`: each user's requests and tokens
#                  (input, output, cache read, cache write) are exactly the fake's usage of
#                  that user's requests
#   disabled       `cc-relayctl users disable bob`: Claude Code shows "relay key disabled"
#                  after one try (401 + x-should-retry: false), nothing reaches the fake
#   budget         a monthly token budget below what alice has spent: Claude Code shows the
#                  budget message (BUDGET_STATUS, see budget_status_probe_test.sh) after one
#                  try, nothing reaches the fake; carol (no budget) still works
#   secrets        no relay key, provider key or subscription token in any log, the fake's
#                  request log, or ctl output other than the one `users add` answer
#
# Claude Code runs with CLAUDE_CODE_MAX_RETRIES unset (the default user experience): an error
# it retried would show up as more than one try at the relay, or as a slow run.
#
# Needs `npm ci --prefix tests/e2e`, Debian's python3 (CCR_PYTHON), node, curl, and the
# targets cc-relay and cc-relayctl. A missing CLI is a failure, never a skip.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=planes_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/planes_lib.sh"
# shellcheck source-path=SCRIPTDIR source=team_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/team_lib.sh"

# The status of the final budget error (SPEC.md section 13; budget_status_probe_test.sh).
readonly BUDGET_STATUS="${CCR_E2E_BUDGET_STATUS:-402}"
readonly OK_TEXT="Hello from the team fake."
rand() { od -An -tx1 -N8 /dev/urandom | tr -d ' \n'; }
# Fake secrets, fresh for every run.
PROVIDER_KEY="fake-provider-key-$(rand)"
ADMIN_TOKEN="fake-admin-token-$(rand)"
SUB_TOKEN="sk-ant-oat01-fake-subscription-$(rand)"
readonly PROVIDER_KEY ADMIN_TOKEN SUB_TOKEN

begin_case setup
require_claude
require_file "cc-relayctl" "${CCR_RELAYCTL_BINARY}" \
  "build it: cmake --build <build> --target cc-relayctl"
SETUP_DIR="${CASE_DIR}"
printf '%s\n' "${ADMIN_TOKEN}" >"${SETUP_DIR}/admin-token"
chmod 600 "${SETUP_DIR}/admin-token"
WATCH="${SETUP_DIR}/watch"  # NAME=SECRET lines the fake looks for in every request
printf '%s\n' "PROVIDER=${PROVIDER_KEY}" "SUB=${SUB_TOKEN}" "ADMIN=${ADMIN_TOKEN}" >"${WATCH}"
chmod 600 "${WATCH}"

start_team_fake --watch "${WATCH}" --text "${OK_TEXT}"

# write_config WITH_KEY(0|1): the one provider, on the fake, with the provider key or without
# (passthrough of the client's own credentials: the subscription form). Written to a new file
# and renamed, so the watching control plane never reads half a file.
CONFIG="${SETUP_DIR}/relay.yaml"
write_config() {
  {
    printf '%s\n' "health:" "  checks:" "    interval_ms: 0" "providers:" "  - name: anthropic" \
      "    type: anthropic" "    base_url: \"http://127.0.0.1:${FAKE_PORT}\""
    if [[ "$1" == 1 ]]; then
      printf '%s\n' "    keys:" "      - key: \"${PROVIDER_KEY}\""
    fi
  } >"${CONFIG}.new"
  mv "${CONFIG}.new" "${CONFIG}"
}
write_config 1
DB="${SETUP_DIR}/team.db"
start_control_plane "${CONFIG}" --token-file "${SETUP_DIR}/admin-token" --db "${DB}"
start_data_plane dp1 --token-file "${SETUP_DIR}/admin-token"
[[ -f "${DB}" ]] || fail "the control plane did not create its database at --db"
[[ "$(stat -c %a "${DB}")" == 600 ]] || fail "database mode is $(stat -c %a "${DB}"), not 600"
pass "control plane with its database, data plane, fake upstream"

# actl ARG...: cc-relayctl as admin.
actl() { ctl --token-file "${SETUP_DIR}/admin-token" "$@"; }

# add_user NAME: `cc-relayctl users add NAME --output json`; sets KEY (the relay key, from the
# answer's "key") and keeps the answer in CASE_DIR (the only file that may hold the key).
add_user() {
  local name=$1 out="${SETUP_DIR}/users-add-$1.json"
  actl --output json users add "${name}" >"${out}" 2>"${SETUP_DIR}/users-add-$1.err" ||
    fail "'cc-relayctl users add ${name}' failed: $(cat "${SETUP_DIR}/users-add-$1.err")"
  KEY="$(node -e '
    const o = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const find = (v) => {
      if (typeof v === "string") return /^ccr_[A-Za-z0-9_-]{43}$/.test(v) ? v : "";
      if (v && typeof v === "object") {
        for (const x of Object.values(v)) {
          const k = find(x);
          if (k) return k;
        }
      }
      return "";
    };
    process.stdout.write(o.key ?? find(o));
  ' "${out}")"
  [[ "${KEY}" =~ ^ccr_[A-Za-z0-9_-]{43}$ ]] ||
    fail "'users add ${name}' answered no relay key of the form ccr_ + 43 base64url characters"
  echo "RELAY_${name}=${KEY}" >>"${WATCH}"
}
add_user alice
ALICE_KEY="${KEY}"
add_user bob
BOB_KEY="${KEY}"
add_user carol
CAROL_KEY="${KEY}"
readonly ALICE_KEY BOB_KEY CAROL_KEY
[[ "${ALICE_KEY}" != "${BOB_KEY}" && "${BOB_KEY}" != "${CAROL_KEY}" ]] ||
  fail "two users got the same relay key"
actl --output json users list >"${SETUP_DIR}/users-list.json" ||
  fail "'cc-relayctl users list' failed"
expect_eq "users listed" "$(node -e '
  const o = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  process.stdout.write((o.users ?? o).map((u) => u.name).sort().join(","));
' "${SETUP_DIR}/users-list.json")" "alice,bob,carol"
pass "users alice, bob and carol added; each key shown once, in the add answer"

# key_status KEY: the status of a POST /v1/messages with KEY and an empty JSON object: 400
# (no model) once the key is accepted, 401 while it is refused; nothing goes upstream.
key_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X POST -H "x-api-key: $1" \
    -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' --data '{}' \
    "${DP_URL}/v1/messages"
}
# The data plane applies the users with a new snapshot: wait until the last key is accepted.
wait_key_accepted() {
  local i code
  for ((i = 0; i < 200; ++i)); do
    code="$(key_status "$1")"
    [[ "${code}" == 400 ]] && return 0
    sleep 0.05
  done
  fail "the data plane still refuses a new relay key after 10 s (last status ${code})"
}
wait_key_accepted "${CAROL_KEY}"

# fake_rows: the fake's log entries so far.
fake_rows() { [[ -f "${FAKE_LOG}" ]] && wc -l <"${FAKE_LOG}" || echo 0; }

# run_claude USER NAME VAR=VALUE...: claude_p at the data plane with the variables given; sets
# RUN_FROM (the fake's log lines before the run) and REJECTS (the data plane's refusals during
# the run: one auth_failed or user_refused line per refused request). The fake's log sequence
# numbers of a successful run's model calls go to RUNS ("USER SEQ" lines) for the usage case.
RUNS="${SETUP_DIR}/runs.txt"
readonly REFUSAL=' (auth_failed|user_refused) '
: >"${RUNS}"
run_claude() {
  local user=$1 name=$2
  shift 2
  RUN_FROM="$(fake_rows)"
  local rejects_before
  rejects_before="$(grep -Ec "${REFUSAL}" "${DP_LOG}")"
  claude_p "${name}" "${DP_URL}" json "$@"
  REJECTS=$(($(grep -Ec "${REFUSAL}" "${DP_LOG}") - rejects_before))
  if [[ "${CLAUDE_RC}" == 0 && -n "${user}" ]]; then
    jsq "${FAKE_LOG}" "rows.slice(${RUN_FROM}).filter((r) => r.method === 'POST' &&
      r.usage).map((r) => '${user} ' + r.seq + '\\n').join('')" >>"${RUNS}"
  fi
}

expect_claude_success() {
  expect_eq "claude exit status" "${CLAUDE_RC}" 0
  expect_eq "claude result is_error" "$(claude_field 'r.is_error')" false
  expect_eq "claude result text" "$(claude_field 'r.result')" "${OK_TEXT}"
}

# expect_one_model_call: the run made exactly one model call to the fake, and it carried no
# relay key and no admin token anywhere (headers or body).
expect_one_model_call() {
  expect_eq "model calls that reached the fake" "$(model_posts "${RUN_FROM}")" 1
  LAST='rows.slice('"${RUN_FROM}"').filter((r) => r.method === "POST")[0]'
  local seen
  seen="$(jsq "${FAKE_LOG}" "Object.keys(${LAST}.seen).filter((k) =>
    k.startsWith('RELAY_') || k === 'ADMIN').join(',')")"
  expect_eq "relay keys or admin token seen by the fake" "${seen}" ""
  expect_eq "the relay key header forwarded" \
    "$(jsq "${FAKE_LOG}" "${LAST}.header_names.includes('x-cc-relay-key')")" false
}

# seen_in NAME: the headers of the last run's model call in which the fake saw the secret NAME
# (--watch), comma-separated.
seen_in() { jsq "${FAKE_LOG}" "(${LAST}.seen['$1'] ?? []).join(',')"; }

# expect_shown_after_one_try STATUS TEXT: Claude Code failed at once with STATUS and TEXT in its
# result; one rejection at the relay, nothing at the fake.
expect_shown_after_one_try() {
  local status=$1 text=$2
  expect_eq "claude exit status" "${CLAUDE_RC}" 1
  expect_eq "claude result is_error" "$(claude_field 'r.is_error')" true
  expect_eq "claude api_error_status" "$(claude_field 'r.api_error_status')" "${status}"
  local result
  result="$(claude_field 'r.result')"
  [[ "${result}" == *"${text}"* ]] || fail "Claude Code's result lacks '${text}': '${result}'"
  expect_eq "requests the relay refused during the run (Claude Code's tries)" "${REJECTS}" 1
  expect_eq "requests that reached the fake" "$(model_posts "${RUN_FROM}")" 0
  (( CLAUDE_SECONDS <= 30 )) || fail "Claude Code took ${CLAUDE_SECONDS} s to show the error"
  RESULT="${result}"
}

# ---------------------------------------------------------------------------------------------
continue_case api_key
run_claude alice alice ANTHROPIC_API_KEY="${ALICE_KEY}"
expect_claude_success
expect_one_model_call
expect_eq "where the fake saw the provider key" "$(seen_in PROVIDER)" "x-api-key"
grep -Eq " user=\"?alice\"? " "${DP_LOG}" || fail "the data plane log names no request of alice"
pass "alice (ANTHROPIC_API_KEY=relay key) answered; upstream got the provider key, not hers"

# ---------------------------------------------------------------------------------------------
continue_case bearer
run_claude bob bob ANTHROPIC_AUTH_TOKEN="${BOB_KEY}"
expect_claude_success
expect_one_model_call
expect_eq "where the fake saw the provider key" "$(seen_in PROVIDER)" "x-api-key"
expect_eq "upstream authorization" \
  "$(jsq "${FAKE_LOG}" "${LAST}.header_names.includes('authorization')")" false
pass "bob (ANTHROPIC_AUTH_TOKEN=relay key) answered; upstream got the provider key only"

# ---------------------------------------------------------------------------------------------
continue_case custom_header
version_before="$(dp_health_field "${DP_URL}" snapshot_version)"
write_config 0
wait_for_snapshot_version "${DP_URL}" $((version_before + 1)) 20 "config without provider keys"
run_claude carol carol ANTHROPIC_AUTH_TOKEN="${SUB_TOKEN}" \
  ANTHROPIC_CUSTOM_HEADERS="x-cc-relay-key: ${CAROL_KEY}"
expect_claude_success
expect_one_model_call
expect_eq "where the fake saw carol's subscription token" "$(seen_in SUB)" "authorization"
expect_eq "where the fake saw the provider key (none configured now)" "$(seen_in PROVIDER)" ""
pass "carol (x-cc-relay-key + her subscription token): the token passed through, the key not"
run_claude alice alice-passthrough ANTHROPIC_API_KEY="${ALICE_KEY}"
expect_claude_success
expect_one_model_call
expect_eq "upstream credentials of alice's passthrough request" \
  "$(jsq "${FAKE_LOG}" "['x-api-key', 'authorization'].filter((h) =>
    ${LAST}.header_names.includes(h)).join(',')")" ""
pass "a relay key is not passed through by a keyless provider"

# ---------------------------------------------------------------------------------------------
continue_case no_key
run_claude "" nokey ANTHROPIC_API_KEY="fake-not-a-relay-key-$(rand)"
expect_shown_after_one_try 401 ""
pass "a key that is no relay key: 401 shown after one try: ${RESULT}"

# ---------------------------------------------------------------------------------------------
continue_case usage
# The data plane reports usage every second and the control plane answers once it is in the
# database: poll until every user's request count is there.
want_json="$(node -e '
  const fs = require("fs");
  const rows = fs.readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean)
                 .map((l) => JSON.parse(l));
  const out = {};
  for (const line of fs.readFileSync(process.argv[2], "utf8").split("\n").filter(Boolean)) {
    const [user, seq] = line.split(" ");
    const u = rows.find((r) => r.seq === Number(seq)).usage;
    const o = out[user] ??= {requests: 0, input_tokens: 0, output_tokens: 0,
                             cache_read_tokens: 0, cache_creation_tokens: 0};
    o.requests += 1;
    o.input_tokens += u.input_tokens;
    o.output_tokens += u.output_tokens;
    o.cache_read_tokens += u.cache_read_input_tokens;
    o.cache_creation_tokens += u.cache_creation_input_tokens;
  }
  process.stdout.write(JSON.stringify(out));
' "${FAKE_LOG}" "${RUNS}")"
# usage_by_user: `cc-relayctl usage --by user --output json` as {user: {requests answered,
# tokens by kind}}.
usage_by_user() {
  actl --output json usage --by user >"${CASE_DIR}/usage.json" 2>"${CASE_DIR}/usage.err" ||
    fail "'cc-relayctl usage --by user' failed: $(cat "${CASE_DIR}/usage.err")"
  node -e '
    const o = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const out = {};
    for (const r of o.rows ?? []) {
      if (!["alice", "bob", "carol"].includes(r.user)) continue;
      // Refused requests (a relay key being polled) may be counted as errors: compare the
      // answered ones.
      out[r.user] = {requests: Number(r.requests) - Number(r.errors),
                     input_tokens: Number(r.input_tokens), output_tokens: Number(r.output_tokens),
                     cache_read_tokens: Number(r.cache_read_tokens),
                     cache_creation_tokens: Number(r.cache_creation_tokens)};
    }
    process.stdout.write(JSON.stringify(out));
  ' "${CASE_DIR}/usage.json"
}
canonical() { node -e '
  const o = JSON.parse(process.argv[1]); const s = {};
  for (const u of Object.keys(o).sort()) s[u] = o[u];
  process.stdout.write(JSON.stringify(s));' "$1"; }
want="$(canonical "${want_json}")"
for ((i = 0; i < 100; ++i)); do
  got="$(canonical "$(usage_by_user)")"
  [[ "${got}" == "${want}" ]] && break
  sleep 0.1
done
expect_eq "usage by user (cc-relayctl) vs the fake's usage of each user's requests" "${got}" \
  "${want}"
pass "cc-relayctl usage --by user: ${got}"

# ---------------------------------------------------------------------------------------------
continue_case disabled
actl users disable bob >"${CASE_DIR}/users-disable.out" 2>&1 ||
  fail "'cc-relayctl users disable bob' failed: $(cat "${CASE_DIR}/users-disable.out")"
# Within a second on every data plane (the issue): poll with a deadline, not a sleep.
for ((i = 0; i < 40; ++i)); do
  code="$(key_status "${BOB_KEY}")"
  [[ "${code}" == 401 ]] && break
  sleep 0.05
done
expect_eq "status for bob's key after 'users disable bob' (2 s at most)" "${code}" 401
run_claude "" bob-disabled ANTHROPIC_AUTH_TOKEN="${BOB_KEY}"
expect_shown_after_one_try 401 "relay key disabled"
pass "bob disabled: Claude Code shows '${RESULT}' after one try"

# ---------------------------------------------------------------------------------------------
continue_case budget
# alice has spent over 3,000 tokens this month: a monthly budget of 100 tokens is exhausted.
actl users set alice --tokens-per-month 100 >"${CASE_DIR}/set-policy.out" 2>&1 ||
  fail "'cc-relayctl users set alice --tokens-per-month 100' failed:" \
    "$(cat "${CASE_DIR}/set-policy.out")"
for ((i = 0; i < 100; ++i)); do
  code="$(curl -s -o "${CASE_DIR}/budget-answer.json" -w '%{http_code}' --max-time 2 -X POST \
    -H "x-api-key: ${ALICE_KEY}" -H 'content-type: application/json' \
    -H 'anthropic-version: 2023-06-01' \
    --data '{"model":"claude-sonnet-4-5","max_tokens":8,
             "messages":[{"role":"user","content":"hi"}]}' \
    "${DP_URL}/v1/messages")"
  [[ "${code}" == "${BUDGET_STATUS}" ]] && break
  sleep 0.1
done
expect_eq "status of alice's request once her budget is spent" "${code}" "${BUDGET_STATUS}"
run_claude "" alice-budget ANTHROPIC_API_KEY="${ALICE_KEY}"
expect_shown_after_one_try "${BUDGET_STATUS}" "budget"
[[ "${RESULT}" == *alice* ]] || fail "the budget message does not name the user: ${RESULT}"
pass "alice over budget: Claude Code shows '${RESULT}' after one try"
run_claude carol carol-after ANTHROPIC_AUTH_TOKEN="${SUB_TOKEN}" \
  ANTHROPIC_CUSTOM_HEADERS="x-cc-relay-key: ${CAROL_KEY}"
expect_claude_success
pass "carol (no budget) is still served"

# ---------------------------------------------------------------------------------------------
continue_case secrets
relay_keys=("${ALICE_KEY}" "${BOB_KEY}" "${CAROL_KEY}")
for f in "${CP_LOG}" "${CASE_DIR}/control-plane.out" "${DP_LOG}" "${CASE_DIR}/dp1.out" \
    "${FAKE_LOG}" "${SETUP_DIR}/fake.out" "${SETUP_DIR}/fake.err" "${SETUP_DIR}/users-list.json" \
    "${CASE_DIR}/usage.json" "${CASE_DIR}/users-disable.out" "${CASE_DIR}/set-policy.out"; do
  [[ -f "${f}" ]] && expect_secrets_absent "${f}" "${relay_keys[@]}" "${PROVIDER_KEY}" \
    "${SUB_TOKEN}" "${ADMIN_TOKEN}"
done
for f in "${CASE_DIR}"/claude-*.out "${CASE_DIR}"/claude-*.err; do
  expect_secrets_absent "${f}" "${PROVIDER_KEY}" "${ADMIN_TOKEN}"
done
# The database holds hashes, never a key.
for k in "${relay_keys[@]}"; do
  grep -Fqa -- "${k}" "${DB}"* && fail "a relay key is stored in the database"
done
pass "no secret in any log, the fake's request log, ctl output or the database"

echo "PASS: team_claude_cli_test"
