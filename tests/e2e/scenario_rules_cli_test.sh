#!/usr/bin/env bash
# End-to-end: scenario rules (routing.rules) route the real Claude Code CLI's requests. Claude
# Code runs interactively in a detached tmux session against cc-relay with two providers, each
# a ccr_mock_upstream with its own request log:
#   main    failover primary: the main conversation (ANTHROPIC_MODEL)
#   cheap   rule `background` (match: background: true, i.e. a *haiku* model): the session-title
#           call interactive mode makes with ANTHROPIC_DEFAULT_HAIKU_MODEL (with the second
#           prompt typed; ../shared/docs/claude-code-wire.md)
# and, in print mode, the subagent recipe: an agent file (.claude/agents/greeter.md) whose
# frontmatter says `model: route-cheap` (a made-up name) matches rule `subagent-cheap`, which
# overrides it to a Haiku that the cheap provider's model_mapping then maps; the main
# conversation stays on main (tests/e2e/subagent_fake.py answers with the Agent tool call).
#
# Needs `npm ci --prefix tests/e2e`, tmux, and the targets cc-relay and ccr_mock_upstream. A
# missing CLI or tmux is a failure, never a skip.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly CLIENT_KEY="fake-client-key-$(od -An -tx1 -N8 /dev/urandom | tr -d " \n")"
readonly MAIN_MODEL="claude-sonnet-4-5"
readonly HAIKU_MODEL="claude-haiku-4-5"
readonly CHEAP_MODEL="glm-4.5-air"
readonly CLAUDE="${E2E_NODE_MODULES}/.bin/claude"

command -v tmux >/dev/null 2>&1 || fail "tmux is not on PATH (apt-get install tmux)"
TMUX_SOCK="${E2E_TMP}/tmux.sock"
tmx() { tmux -S "${TMUX_SOCK}" "$@"; }
rules_cleanup() {
  local rc=$?
  tmux -S "${TMUX_SOCK}" kill-server >/dev/null 2>&1
  (exit "${rc}")
  e2e_cleanup
}
trap rules_cleanup EXIT

begin_case setup
require_node
[[ -e "${CLAUDE}" ]] ||
  fail "Claude Code CLI not installed at ${CLAUDE}: run 'npm ci --prefix tests/e2e'"
pass "Claude Code and tmux found"

# start_mocks: the two upstreams; sets MAIN_LOG, CHEAP_LOG and their ports.
start_mocks() {
  start_mock main
  MAIN_PORT="${MOCK_PORT}"
  MAIN_LOG="${MOCK_REQUESTS}"
  start_mock cheap
  CHEAP_PORT="${MOCK_PORT}"
  CHEAP_LOG="${MOCK_REQUESTS}"
}

write_config() {
  cat >"$1" <<YAML
server:
  listen: "127.0.0.1:0"
  workers: 1
# The mocks record every request they get: no health-check probes among them.
health:
  checks:
    interval_ms: 0
providers:
  - name: main
    type: anthropic
    base_url: "http://127.0.0.1:${MAIN_PORT}"
    keys: [{key: "fake-main-provider-key-0001"}]
  - name: cheap
    type: anthropic
    base_url: "http://127.0.0.1:${CHEAP_PORT}"
    keys: [{key: "fake-cheap-provider-key-0001"}]
    model_mapping:
      "claude-haiku-*": ${CHEAP_MODEL}
routing:
  strategy: failover
  failover: {primary: main, fallbacks: [cheap]}
  rules:
    - name: background
      match: {background: true}
      providers: [cheap]
    - name: subagent-cheap
      match: {model: route-cheap}
      providers: [cheap]
      model: ${HAIKU_MODEL}
YAML
}

# models LOG: the "model" of every POST the mock logged, in order, space-separated.
models() {
  if [[ -f "$1" ]]; then
    jsq "$1" 'rows.filter((r) => (r.method ?? "POST") === "POST").map((r) => r.model).join(" ")'
  fi
}

# wait_models LOG REGEX SECONDS WHAT: until models LOG matches REGEX.
wait_models() {
  local log=$1 regex=$2 secs=$3 what=$4
  local deadline=$((SECONDS + secs))
  while ((SECONDS < deadline)); do
    [[ "$(models "${log}")" =~ ${regex} ]] && return 0
    sleep 0.2
  done
  fail "${what}: got '$(models "${log}")' after ${secs} s"
}

# claude_print VAR=VALUE... -- ARG...: `claude -p ARG... --output-format json` against the relay
# in $CASE_DIR/work with a scrubbed environment plus the variables; sets CLAUDE_OUT and
# CLAUDE_RC.
claude_print() {
  local vars=()
  while [[ "$1" != -- ]]; do
    vars+=("$1")
    shift
  done
  shift
  mkdir -p "${CASE_DIR}/home" "${CASE_DIR}/work"
  CLAUDE_OUT="${CASE_DIR}/claude.out"
  (
    cd "${CASE_DIR}/work" &&
      exec timeout 120 env -i HOME="${CASE_DIR}/home" PATH="${PATH}" \
        ANTHROPIC_BASE_URL="${RELAY_URL}" ANTHROPIC_API_KEY="${CLIENT_KEY}" \
        DISABLE_TELEMETRY=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 \
        CLAUDE_CODE_MAX_RETRIES=0 "${vars[@]}" \
        "${CLAUDE}" -p "$@" --output-format json
  ) </dev/null >"${CLAUDE_OUT}" 2>"${CASE_DIR}/claude.err"
  CLAUDE_RC=$?
}

# ---------------------------------------------------------------------------------------------
begin_case interactive
start_mocks
write_config "${CASE_DIR}/relay.yaml"
start_relay "${CASE_DIR}/relay.yaml"
home="${CASE_DIR}/home"
work="${CASE_DIR}/work"
mkdir -p "${home}" "${work}"
# Every first-run dialog answered in advance: onboarding, the API key, the folder's trust.
node -e '
  const [key, cwd, file] = process.argv.slice(1);
  require("fs").writeFileSync(file, JSON.stringify({
    hasCompletedOnboarding: true,
    customApiKeyResponses: {approved: [key.slice(-20)], rejected: []},
    projects: {[cwd]: {hasTrustDialogAccepted: true}},
  }));
' "${CLIENT_KEY}" "${work}" "${home}/.claude.json"
tmx -f /dev/null new-session -d -s claude -x 120 -y 40 \
  "cd '${work}' && exec timeout 150 env -i HOME='${home}' PATH='${PATH}' TERM=xterm-256color \
     ANTHROPIC_BASE_URL='${RELAY_URL}' ANTHROPIC_API_KEY='${CLIENT_KEY}' \
     ANTHROPIC_MODEL='${MAIN_MODEL}' ANTHROPIC_DEFAULT_HAIKU_MODEL='${HAIKU_MODEL}' \
     DISABLE_TELEMETRY=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 \
     CLAUDE_CODE_MAX_RETRIES=0 '${CLAUDE}' 2>'${CASE_DIR}/claude.err'" ||
  fail "tmux new-session failed"
pane() { tmx capture-pane -p -t claude >"${CASE_DIR}/pane.out" 2>&1; cat "${CASE_DIR}/pane.out"; }
for ((i = 0; i < 300; ++i)); do
  pane | grep -q '^❯' && break
  tmx has-session -t claude 2>/dev/null || fail "claude exited before its prompt showed"
  sleep 0.1
done
pane | grep -q '^❯' || fail "claude's prompt did not show within 30 s"
# input_shows TEXT: the input line (after "❯" and a no-break space) holds TEXT.
input_shows() { pane | grep '^❯' | grep -Fq -- "$1"; }
# type_prompt TEXT: types TEXT, waits until the pane shows it (keys sent while Claude Code is
# still starting are lost), then presses Enter.
type_prompt() {
  local text=$1 i j
  for ((i = 0; i < 3; ++i)); do
    tmx send-keys -t claude -l "${text}"
    for ((j = 0; j < 50; ++j)); do
      input_shows "${text}" && break 2
      sleep 0.1
    done
    tmx send-keys -t claude C-u
  done
  input_shows "${text}" || fail "the prompt '${text}' did not show in claude's input"
  tmx send-keys -t claude Enter
}
# The first prompt makes the main call; the second one another, plus the session-title call on
# the Haiku model (Claude Code 2.1.197 names the session once the conversation has a turn).
type_prompt 'Say hello'
wait_models "${MAIN_LOG}" "^${MAIN_MODEL}$" 60 "the first main call on provider main"
type_prompt 'Say hello again'
wait_models "${MAIN_LOG}" "^${MAIN_MODEL} ${MAIN_MODEL}$" 60 "the second main call on provider main"
wait_models "${CHEAP_LOG}" "^${CHEAP_MODEL}$" 60 "the background (title) call on provider cheap"
for ((i = 0; i < 100; ++i)); do
  pane | grep -q 'Hello from the mock upstream' && break
  sleep 0.1
done
pane | grep -q 'Hello from the mock upstream' || fail "claude did not show the main answer"
expect_eq "models the main provider got" "$(models "${MAIN_LOG}")" "${MAIN_MODEL} ${MAIN_MODEL}"
expect_eq "models the cheap provider got" "$(models "${CHEAP_LOG}")" "${CHEAP_MODEL}"
grep -Eq 'request .*provider=main .*model="'"${MAIN_MODEL}"'" .*status=200' "${RELAY_LOG}" ||
  fail "no request line for the main call on provider main"
grep -Eq 'request .*provider=cheap .*model="'"${HAIKU_MODEL}"'" .*status=200' "${RELAY_LOG}" ||
  fail "no request line for the Haiku call on provider cheap"
metrics="$(curl -s "${RELAY_URL}/metrics")"
grep -q '^ccrelay_routing_decisions_total{strategy="ordered",rule="background"} 1$' \
  <<<"${metrics}" || fail "decision metric for rule background: $(grep routing_decisions \
  <<<"${metrics}")"
grep -q '^ccrelay_routing_decisions_total{strategy="failover",rule="default"} 2$' \
  <<<"${metrics}" || fail "decision metric without a rule: $(grep routing_decisions \
  <<<"${metrics}")"
tmx kill-session -t claude
expect_secrets_absent "${RELAY_LOG}" "${CLIENT_KEY}" "fake-main-provider-key-0001" \
  "fake-cheap-provider-key-0001"
pass "interactive Claude Code: main call on main (${MAIN_MODEL}), title call on cheap" \
  "(${HAIKU_MODEL} mapped to ${CHEAP_MODEL}), the decisions counted in /metrics"

# ---------------------------------------------------------------------------------------------
# The subagent recipe: an agent file whose frontmatter says `model: route-cheap`. The main
# provider's fake answers the main call with a tool_use of Claude Code's Agent tool starting
# that subagent; the subagent's call (model route-cheap) must reach cheap as the rule's Haiku,
# mapped; the main conversation's calls stay on main.
begin_case subagent_agent_file
PY="${CCR_PYTHON:-/usr/bin/python3}"
# start_fake NAME: subagent_fake.py with its own log; sets FAKE_PORT and FAKE_LOG.
start_fake() {
  local name=$1
  FAKE_LOG="${CASE_DIR}/${name}-requests.jsonl"
  timeout -k 5 "${E2E_PROCESS_LIFETIME}" "${PY}" "${E2E_DIR}/subagent_fake.py" "${FAKE_LOG}" \
    "${MAIN_MODEL}" greeter >"${CASE_DIR}/${name}.out" 2>"${CASE_DIR}/${name}.err" &
  local pid=$!
  E2E_PIDS+=("${pid}")
  wait_for_line "${CASE_DIR}/${name}.out" '^listening 127\.0\.0\.1:[0-9]+' "${pid}" 10 \
    "fake ${name}"
  FAKE_PORT="$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\).*/\1/p' "${CASE_DIR}/${name}.out")"
}
start_fake main
MAIN_PORT="${FAKE_PORT}"
MAIN_LOG="${FAKE_LOG}"
start_fake cheap
CHEAP_PORT="${FAKE_PORT}"
CHEAP_LOG="${FAKE_LOG}"
write_config "${CASE_DIR}/relay.yaml"
start_relay "${CASE_DIR}/relay.yaml"
mkdir -p "${CASE_DIR}/work/.claude/agents"
cat >"${CASE_DIR}/work/.claude/agents/greeter.md" <<'AGENT'
---
name: greeter
description: Greets people. Use it for every greeting.
model: route-cheap
---
You greet people in one short sentence.
AGENT
claude_print ANTHROPIC_MODEL="${MAIN_MODEL}" -- "Greet me"
expect_eq "claude exit status" "${CLAUDE_RC}" 0
expect_eq "claude result" "$(claude_field 'r.result')" "Hello from the fake."
expect_eq "num_turns (the Agent tool ran)" "$(claude_field 'r.num_turns')" 2
expect_eq "models the main provider got" "$(models "${MAIN_LOG}")" "${MAIN_MODEL} ${MAIN_MODEL}"
expect_eq "the main provider's second call carries the subagent's result" \
  "$(jsq "${MAIN_LOG}" 'rows.map((r) => r.has_tool_result).join(" ")')" "false true"
expect_eq "models the cheap provider got (the subagent)" "$(models "${CHEAP_LOG}")" \
  "${CHEAP_MODEL}"
grep -Eq 'request .*provider=cheap .*model="route-cheap" rule=subagent-cheap .*status=200' \
  "${RELAY_LOG}" || fail "no request line for the subagent's call on provider cheap"
pass "agent file model: route-cheap: the subagent's call went to cheap as ${HAIKU_MODEL}," \
  "mapped to ${CHEAP_MODEL}; the main conversation stayed on main"

# ---------------------------------------------------------------------------------------------
# The same route for a whole session: claude --model route-cheap.
begin_case session_model
start_mocks
write_config "${CASE_DIR}/relay.yaml"
start_relay "${CASE_DIR}/relay.yaml"
claude_print -- "Say hello" --model route-cheap
expect_eq "claude exit status" "${CLAUDE_RC}" 0
expect_eq "claude result" "$(claude_field 'r.result')" "Hello from the mock upstream."
expect_eq "models the main provider got" "$(models "${MAIN_LOG}")" ""
expect_eq "models the cheap provider got" "$(models "${CHEAP_LOG}")" "${CHEAP_MODEL}"
pass "--model route-cheap: sent to cheap as ${HAIKU_MODEL}, mapped to ${CHEAP_MODEL}"

echo "PASS: scenario_rules_cli_test"
