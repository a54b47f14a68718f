#!/usr/bin/env bash
# What teammates' relay keys (issue 15) add per request: relays of the same binary (`serve`, one
# provider on the mock, each with its own database), measured interleaved in one run:
#   none    no users: every request is anonymous (usage is still recorded, as "anonymous")
#   users   1,000 users added with `cc-relayctl users add`; every request presents the relay key
#           of one of them (header x-cc-relay-key, Claude Code's ANTHROPIC_CUSTOM_HEADERS form)
#   budget  the same, and that user has a monthly USD budget and a token budget far from spent
#           and an rpm limit far from reached (the budget and limit checks on the request path)
# The none relay gets a header of the same length under a name it does not read (a relay key it
# does not know would be refused, users or not), so every target reads the same bytes; each
# relay has the same control-plane gRPC listener (the none relay's unused). Builds nothing: uses the build tree's binaries. See
# bench/README.md, "Issue 15: relay keys per teammate".
#
#   bash bench/users.sh [--reps N] [--duration S] [--conns C] [--users N] [--quiet-wait S]
#                       [--build-dir DIR] [--relay-bin PATH] [--targets "T..."] [--out FILE]
#                       [--keep]
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

PB_NAME=users
PB_TARGETS="none users budget"
OUT=$BENCH_DIR/results/issue15-users.json
USERS=1000
pb_defaults
PB_CASES="small large"   # Claude Code's answers are streams
LARGE_BYTES=76800        # a Claude Code request of a session well under way (75 KB)
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --users) USERS=$2; shift ;;
    *) args+=("$1") ;;
  esac
  shift
done
pb_parse_args "${args[@]+"${args[@]}"}"

declare -A CP_PORT=()
pb_serve_flags() {  # TARGET: its own database and a gRPC listener (for cc-relayctl) on each
  CP_PORT[$1]=$("$BIN/ccr_cold_start" --free-port)
  SERVE_FLAGS=(--control-plane-http-listen none --db "$WORK/$1.db"
    --control-plane-listen "127.0.0.1:${CP_PORT[$1]}")
}

# 43 base64url characters, the shape of a relay key's tail.
random_key_tail() { head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '='; }

ctl() {  # TARGET ARG...: cc-relayctl against that target's control plane
  local t=$1
  shift
  "$BUILD_DIR/ctl/cc-relayctl" --control-plane "127.0.0.1:${CP_PORT[$t]}" "$@"
}

# users, budget: USERS users (4 cc-relayctl at a time), the last one's key in PB_HEADER; budget
# also sets that user's policy; then waits until the relay admits the key (a new snapshot).
pb_target_ready() {  # TARGET
  local t=$1 i code
  if [[ $t == none ]]; then
    PB_HEADER[$t]="x-cc-relay-pad: ccr_$(random_key_tail)"
    return 0
  fi
  wait_for_port "${CP_PORT[$t]}" "${TPID[$t]}" || die "$t: no control-plane listener"
  log "$t: adding $USERS users"
  seq -f "teammate-%04g" 1 $((USERS - 1)) |
    xargs -P 4 -I{} "$BUILD_DIR/ctl/cc-relayctl" --control-plane "127.0.0.1:${CP_PORT[$t]}" \
      users add {} >"$WORK/$t-users.log" 2>&1 ||
    die "$t: users add failed: $(tail -5 "$WORK/$t-users.log")"
  ctl "$t" --output json users add bench-user >"$WORK/$t-bench-user.json" ||
    die "$t: users add bench-user failed"
  PB_HEADER[$t]="x-cc-relay-key: $(jq -r .key "$WORK/$t-bench-user.json")"
  if [[ $t == budget ]]; then
    ctl "$t" users set bench-user --usd-per-month 1000000 \
      --tokens-per-month 1000000000000 --rpm 10000000 >"$WORK/$t-policy.log" 2>&1 ||
      die "$t: users set failed: $(cat "$WORK/$t-policy.log")"
  fi
  [[ $(ctl "$t" --output json users list | jq '.users | length') == "$USERS" ]] ||
    die "$t: users list does not show $USERS users"
  for ((i = 0; i < 500; i++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST \
      -H "${PB_HEADER[$t]}" -H 'x-api-key: managed-by-cc-relay' \
      -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' \
      --data-binary "@${PB_BODY[small]}" "http://127.0.0.1:${PB_PORT[$t]}/v1/messages?beta=true")
    [[ $code == 200 ]] && break
    sleep 0.02
  done
  [[ $code == 200 ]] || die "$t: the relay does not admit the bench user's key (status $code)"
  log "$t: $USERS users, the bench user's key admitted"
}

pb_start
pb_measure

pb_summarize_vs_base
pb_print_vs_base "$USERS users (relay keys) vs none"
log "saved $OUT"
[[ $ERRORS == 0 ]] || { log "$ERRORS errors"; exit 1; }
