#!/usr/bin/env bash
# End-to-end: `cc-relay tui` in a detached 80x24 tmux session, fed by `cc-relay serve`'s control
# plane (two providers on ccr_mock_upstream). Drives it with `tmux send-keys` and reads it with
# `tmux capture-pane`: header, providers (names whole where the screen has room), the strategy's
# ranking, request count, help, disable, reload, the teammates (u), the "unreachable" message when the control
# plane stops, recovery when it returns, quit.
#
# Needs tmux and the targets cc-relay and ccr_mock_upstream. A missing tmux is a failure, never
# a skip.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly MODEL="claude-opus-4-8"

command -v tmux >/dev/null 2>&1 || fail "tmux is not on PATH (apt-get install tmux)"
command -v curl >/dev/null 2>&1 || fail "curl is not on PATH"

# A private tmux server (its own socket), killed on every exit before lib.sh's cleanup.
TMUX_SOCK="${E2E_TMP}/tmux.sock"
tmx() { tmux -S "${TMUX_SOCK}" "$@"; }
tui_cleanup() {
  local rc=$?
  tmux -S "${TMUX_SOCK}" kill-server >/dev/null 2>&1
  (exit "${rc}")
  e2e_cleanup
}
trap tui_cleanup EXIT

begin_case tui
start_mock mock
# shellcheck disable=SC2153  # MOCK_PORT is set by start_mock (lib.sh)
readonly MOCK_A_PORT="${MOCK_PORT}"

cat >"${CASE_DIR}/relay.yaml" <<EOF
server:
  listen: "127.0.0.1:0"
  workers: 1
# The mock records every request it gets: no health-check probes among them.
health:
  checks:
    interval_ms: 0
providers:
  - name: alpha
    type: anthropic
    base_url: "http://127.0.0.1:${MOCK_A_PORT}"
    models:
      - ${MODEL}
    keys:
      - key: "fake-tui-key-alpha-1"
      - key: "fake-tui-key-alpha-2"
  - name: bravo
    type: anthropic
    base_url: "http://127.0.0.1:${MOCK_A_PORT}"
    models:
      - ${MODEL}
    keys:
      - key: "fake-tui-key-bravo-1"
  # A long name (shown whole at 100 columns) that does not serve the model requested.
  - name: anthropic-fallback
    type: anthropic
    base_url: "http://127.0.0.1:${MOCK_A_PORT}"
    models:
      - claude-other-1
    keys:
      - key: "fake-tui-key-fallback-1"
EOF

# start_serve CP_LISTEN LOGNAME: cc-relay serve with its control plane on CP_LISTEN; sets
# RELAY_PID, RELAY_URL and CP_ADDR (the control plane's bound address).
start_serve() {
  local cp_listen=$1 log="${CASE_DIR}/$2.log"
  timeout -k 5 "${E2E_PROCESS_LIFETIME}" "${CCR_RELAY_BINARY}" serve \
    --config "${CASE_DIR}/relay.yaml" --listen 127.0.0.1:0 --control-plane-listen "${cp_listen}" \
    >"${CASE_DIR}/$2.out" 2>"${log}" &
  RELAY_PID=$!
  E2E_PIDS+=("${RELAY_PID}")
  wait_for_line "${log}" ' listening address=127\.0\.0\.1:[0-9]+' "${RELAY_PID}" 15 "cc-relay serve"
  RELAY_URL="http://127.0.0.1:$(sed -n 's/.* listening address=127\.0\.0\.1:\([0-9]*\).*/\1/p' \
    "${log}" | head -n 1)"
  CP_ADDR="$(sed -n 's/.*control_plane_listening .*address=\(127\.0\.0\.1:[0-9]*\).*/\1/p' \
    "${log}" | head -n 1)"
  [[ -n "${CP_ADDR}" ]] || fail "no control_plane_listening line in $2.log"
}

# The pane's text now (also kept in pane.out for the failure dump).
pane() { tmx capture-pane -p -t tui >"${CASE_DIR}/pane.out" 2>&1; cat "${CASE_DIR}/pane.out"; }

# wait_pane REGEX SECONDS WHAT: until the pane shows a line matching REGEX (extended).
wait_pane() {
  local regex=$1 secs=$2 what=$3 i
  for ((i = 0; i < secs * 10; ++i)); do
    if pane | grep -Eq -- "${regex}"; then
      return 0
    fi
    tmx has-session -t tui 2>/dev/null || fail "the tui exited while waiting for: ${what}"
    sleep 0.1
  done
  fail "the tui did not show ${what} within ${secs} s (pattern: ${regex})"
}

# wait_pane_not REGEX SECONDS WHAT: until no line matches REGEX.
wait_pane_not() {
  local regex=$1 secs=$2 what=$3 i
  for ((i = 0; i < secs * 10; ++i)); do
    if ! pane | grep -Eq -- "${regex}"; then
      return 0
    fi
    sleep 0.1
  done
  fail "the tui still shows ${what} after ${secs} s (pattern: ${regex})"
}

start_serve 127.0.0.1:0 relay
readonly FIRST_CP_ADDR="${CP_ADDR}"

# The tui under tmux; its exit code goes to tui.exit, its stderr to tui.err.
tmx -f /dev/null new-session -d -s tui -x 80 -y 24 \
  "env LANG=C.UTF-8 TERM=screen ${CCR_RELAY_BINARY} tui --control-plane ${CP_ADDR} \
     2>${CASE_DIR}/tui.err; echo exit=\$? >${CASE_DIR}/tui.exit" ||
  fail "tmux new-session failed"

wait_pane 'cc-relay v[0-9].*\[q\]uit \[\?\]help' 15 "the header"
wait_pane 'Strategy: ' 10 "the strategy line"
wait_pane 'alpha +(healthy|degraded|unhealthy)' 10 "provider alpha"
wait_pane 'bravo +(healthy|degraded|unhealthy)' 10 "provider bravo"
wait_pane '\[2 keys\]' 5 "alpha's key count"
wait_pane 'Keys of alpha' 5 "the keys of the selected provider"
pass "header, providers and keys shown"

# One request through the relay: the count reaches 1, the request is listed.
code="$(curl -s -o "${CASE_DIR}/response.json" -w '%{http_code}' -X POST "${RELAY_URL}/v1/messages" \
  -H 'x-api-key: client-key-for-tui-test' -H 'anthropic-version: 2023-06-01' \
  -H 'content-type: application/json' \
  -d "{\"model\":\"${MODEL}\",\"max_tokens\":16,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")"
expect_eq "status of the request through the relay" "${code}" 200
wait_pane 'Requests: [1-9]' 10 "a request count of at least 1"
wait_pane "(alpha|bravo) .*${MODEL} +200" 10 "the request in the recent list"
pass "request counted and listed"

# Resize: the header is redrawn to the new width (its right end, "[q]uit [?]help", moves).
header_width() { pane | LC_ALL=C awk 'NR == 1 { print length($0) }'; }
expect_eq "header width at 80 columns" "$(header_width)" 79
tmx resize-window -t tui -x 100 -y 30
for ((i = 0; i < 50; ++i)); do
  [[ "$(header_width)" == 99 ]] && break
  sleep 0.1
done
expect_eq "header width after resizing to 100 columns" "$(header_width)" 99
pass "redrawn at 100 columns"

# The strategy's ranking for the model requested last (a route explain through the control
# plane every few seconds): alpha and bravo have a place, anthropic-fallback (which does not
# serve the model) none; its name is whole.
wait_pane "ranking by [a-z-]+ for ${MODEL}" 10 "the ranking title"
wait_pane 'alpha +(healthy|degraded|unhealthy) +#[12] ' 10 "alpha's place in the ranking"
wait_pane 'bravo +(healthy|degraded|unhealthy) +#[12] ' 10 "bravo's place in the ranking"
wait_pane 'anthropic-fallback +(healthy|degraded|unhealthy) +- ' 10 \
  "anthropic-fallback whole, not ranked"
pass "ranking column and whole provider names"
tmx resize-window -t tui -x 80 -y 24
for ((i = 0; i < 50; ++i)); do
  [[ "$(header_width)" == 79 ]] && break
  sleep 0.1
done
expect_eq "header width after resizing back to 80 columns" "$(header_width)" 79
wait_pane 'Requests: [1-9]' 5 "the stats after resizing"
pass "redrawn on resize"

# Help overlay, closed by any key.
tmx send-keys -t tui '?'
wait_pane 'enable the selected provider' 5 "the help overlay"
tmx send-keys -t tui Space
wait_pane_not 'enable the selected provider' 5 "the help overlay"
pass "help overlay opens and closes"

# Select bravo, disable it: the provider line and the status line say so; enable it back.
tmx send-keys -t tui Down
wait_pane 'Keys of bravo' 5 "bravo selected"
tmx send-keys -t tui d
wait_pane 'bravo +disabled' 10 "bravo disabled"
wait_pane 'Active: 2/3' 5 "two active providers"
tmx send-keys -t tui e
wait_pane 'bravo +(healthy|degraded|unhealthy)' 10 "bravo enabled again"
tmx send-keys -t tui Up d
wait_pane 'alpha +disabled' 10 "alpha disabled"
pass "e/d enable and disable the selected provider"

tmx send-keys -t tui r
wait_pane 'reload: ok' 10 "the reload result"
pass "r reloads the config"

# u: the teammates in place of the keys; one added with cc-relayctl shows up with its budget.
"${CCR_RELAYCTL_BINARY}" --control-plane "${CP_ADDR}" users add alice --usd-per-month 50 \
  >"${CASE_DIR}/users-add.out" 2>&1 || fail "users add: $(cat "${CASE_DIR}/users-add.out")"
tmx send-keys -t tui u
wait_pane 'Teammates \(1\)' 10 "the teammates section"
wait_pane 'alice +[0-9a-f]{8} +active +\$0\.00 +\$0\.00/\$50\.00 mo +ok' 10 "alice's spend and budget"
tmx send-keys -t tui u
wait_pane 'Keys of ' 5 "the keys section back"
pass "u shows the teammates and their budget"

# The control plane goes away: the tui says so, keeps running, and recovers when it returns.
stop_pid "${RELAY_PID}"
wait_pane "control plane unreachable at ${FIRST_CP_ADDR//./\\.}" 10 "the unreachable message"
tmx has-session -t tui 2>/dev/null || fail "the tui exited when the control plane stopped"
pass "unreachable control plane reported"
start_serve "${FIRST_CP_ADDR}" relay2
wait_pane_not 'unreachable' 15 "the unreachable message"
wait_pane 'Strategy: ' 5 "the strategy line after recovery"
wait_pane 'alpha +disabled' 5 "alpha (still disabled: the state file keeps it)"
pass "recovered when the control plane returned"

# q quits: the pane's process exits with 0 and the session closes.
tmx send-keys -t tui q
for ((i = 0; i < 50; ++i)); do
  [[ -f "${CASE_DIR}/tui.exit" ]] && break
  sleep 0.1
done
[[ -f "${CASE_DIR}/tui.exit" ]] || fail "the tui did not exit after q"
expect_eq "tui exit" "$(cat "${CASE_DIR}/tui.exit")" "exit=0"
for ((i = 0; i < 50; ++i)); do
  tmx has-session -t tui 2>/dev/null || break
  sleep 0.1
done
tmx has-session -t tui 2>/dev/null && fail "the tmux session is still there after q"
[[ -s "${CASE_DIR}/tui.err" ]] && fail "the tui wrote to stderr: $(head -c 500 "${CASE_DIR}/tui.err")"
pass "q quits (exit 0)"
