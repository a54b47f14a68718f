#!/usr/bin/env bash
# deploy/systemd: the three units (serve; control plane and data plane apart) are checked
# offline, then their command lines are run as systemd would run them.
#
# systemd does not run services here (no systemd as PID 1 on this machine or CI), so the
# sandboxing itself (DynamicUser, ProtectSystem, the system call filter, ...) is not exercised;
# what is checked:
#   verify     `systemd-analyze verify` reports nothing (unknown or misspelt keys, bad values,
#              a missing binary: the unit's /usr/local/bin/cc-relay is pointed at the build)
#   security   `systemd-analyze security --offline=true --threshold=N`: each unit's exposure is at
#              most the score deploy/README.md states for it
#   split      ExecStart of cc-relay-control-plane.service and cc-relay-data-plane.service, with
#              systemd's specifiers filled in (%d the credentials directory holding the token,
#              %S the state root, %H the host name) and the ports moved to free ones on
#              127.0.0.1: the data plane gets its snapshot through the token and serves a request
#              with the key from /etc/cc-relay/env; a key added at run time lands in the state
#              directory
#   serve      ExecStart of cc-relay.service: the relay serves, and a key added
#              with cc-relayctl (and the database) land in the state directory, not next to the config (which
#              is read-only under ProtectSystem=strict)
#
# Needs systemd-analyze (Debian's systemd, 252), python3, node and the targets cc-relay,
# cc-relayctl and ccr_mock_upstream.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=planes_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/planes_lib.sh"

readonly UNITS=(cc-relay.service cc-relay-control-plane.service cc-relay-data-plane.service)
SYSTEMD_DIR="${CCR_SOURCE_DIR}/deploy/systemd"
PROVIDER_KEY="fake-systemd-key-$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')"
ADDED_KEY="fake-added-key-$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')"
TOKEN="fake-systemd-token-$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')"
readonly PROVIDER_KEY ADDED_KEY TOKEN

begin_case verify
require_node
command -v systemd-analyze >/dev/null 2>&1 || fail "systemd-analyze not found (Debian: systemd)"
U="${CASE_DIR}/units"
mkdir -p "${U}"
for unit in "${UNITS[@]}"; do
  sed "s|/usr/local/bin/cc-relay|${CCR_RELAY_BINARY}|g" "${SYSTEMD_DIR}/${unit}" >"${U}/${unit}"
done
(cd "${U}" && systemd-analyze verify "${UNITS[@]}") >"${CASE_DIR}/verify.out" 2>&1 ||
  fail "systemd-analyze verify failed: $(cat "${CASE_DIR}/verify.out")"
[[ ! -s "${CASE_DIR}/verify.out" ]] || fail "systemd-analyze verify: $(cat "${CASE_DIR}/verify.out")"
pass "systemd-analyze verify: nothing to report on ${UNITS[*]}"

continue_case security
for unit in "${UNITS[@]}"; do
  # The README's table row: | `cc-relay.service` | ... | 1.2 OK | ...
  stated="$(sed -n "s/^| \`${unit}\` | [^|]* | \([0-9]*\.[0-9]\) [A-Z]* |.*/\1/p" \
    "${CCR_SOURCE_DIR}/deploy/README.md")"
  [[ -n "${stated}" ]] || fail "deploy/README.md states no exposure for ${unit}"
  threshold="${stated/./}"
  threshold="$((10#${threshold}))"
  systemd-analyze security --offline=true --threshold="${threshold}" "${SYSTEMD_DIR}/${unit}" \
    >"${CASE_DIR}/security-${unit}.out" 2>&1 ||
    fail "${unit}: $(tail -n 1 "${CASE_DIR}/security-${unit}.out") is above the stated ${stated}"
  pass "${unit}: $(tail -n 1 "${CASE_DIR}/security-${unit}.out" | sed 's/^→ //') (stated ${stated})"
done

# exec_args UNIT KEY: the command line of KEY (ExecStart, ExecStartPre) in UNIT, one argument per
# line, with the specifiers and paths of this run (SPEC_D, SPEC_S, ETC_DIR) and free ports.
exec_args() {
  "${CCR_PYTHON:-python3}" - "$1" "$2" <<'EOF'
import os, shlex, sys
unit, key = sys.argv[1], sys.argv[2]
text = open(unit).read().replace("\\\n", " ")
line = next(l for l in text.splitlines() if l.startswith(key + "="))
args = shlex.split(line[len(key) + 1:])
swap = {
    "%d": os.environ["SPEC_D"], "%S": os.environ["SPEC_S"], "%H": "host",
    "/etc/cc-relay/": os.environ["ETC_DIR"] + "/", "/usr/local/bin/cc-relay": os.environ["RELAY"],
    "127.0.0.1:8788": "127.0.0.1:" + os.environ["CP_PORT"], "127.0.0.1:8789": "127.0.0.1:0",
    "0.0.0.0:8787": "127.0.0.1:0", "127.0.0.1:9464": "127.0.0.1:0", "127.0.0.1:8790": "127.0.0.1:0",
}
for a in args:
    for k, v in swap.items():
        a = a.replace(k, v)
    print(a)
EOF
}

# The host as the units expect it: /etc/cc-relay (config, env, token), the credentials directory
# systemd makes from LoadCredential=token:/etc/cc-relay/token, and the state root.
make_host() {
  export ETC_DIR="${CASE_DIR}/etc/cc-relay" SPEC_D="${CASE_DIR}/credentials" SPEC_S="${CASE_DIR}/var/lib"
  export RELAY="${CCR_RELAY_BINARY}"
  mkdir -p "${ETC_DIR}" "${SPEC_D}" "${SPEC_S}/cc-relay"
  # shellcheck disable=SC2016  # ${ANTHROPIC_API_KEY_1} is for the relay to expand
  one_provider_config anthropic '${ANTHROPIC_API_KEY_1}' >"${ETC_DIR}/config.yaml"
  printf 'ANTHROPIC_API_KEY_1=%s\n' "${PROVIDER_KEY}" >"${ETC_DIR}/env"
  printf '%s\n' "${TOKEN}" >"${ETC_DIR}/token"
  cp "${ETC_DIR}/token" "${SPEC_D}/token"
  CP_PORT="$(free_port)"
  export CP_PORT
}

# served_key URL: the upstream key (x-api-key the mock saw) of one request through URL.
served_key() {
  local status
  status="$(curl -s -o /dev/null -w '%{http_code}' -X POST "$1/v1/messages" \
    -H 'content-type: application/json' \
    -d '{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}')"
  [[ "${status}" == 200 ]] || fail "request through $1: HTTP ${status}"
  jsq "${MOCK_REQUESTS}" 'rows.filter((r) => r.target.startsWith("/v1/messages")).pop().headers["x-api-key"]'
}

begin_case split
start_mock upstream
make_host
mapfile -t cp_cmd < <(exec_args "${SYSTEMD_DIR}/cc-relay-control-plane.service" ExecStart)
mapfile -t dp_cmd < <(exec_args "${SYSTEMD_DIR}/cc-relay-data-plane.service" ExecStart)
# EnvironmentFile=-/etc/cc-relay/env
set -a
# shellcheck disable=SC1091
source "${ETC_DIR}/env"
set +a
launch_control_plane "${CP_PORT}" "${cp_cmd[@]}"
DP_LOG="${CASE_DIR}/data-plane.log"
timeout -k 5 "${E2E_PROCESS_LIFETIME}" "${dp_cmd[@]}" --log-level debug \
  >"${CASE_DIR}/data-plane.out" 2>"${DP_LOG}" &
DP_PID=$!
E2E_PIDS+=("${DP_PID}")
wait_for_line "${DP_LOG}" ' listening address=127\.0\.0\.1:[0-9]+' "${DP_PID}" 10 "data plane"
DP_URL="http://127.0.0.1:$(sed -n 's/.* listening address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "${DP_LOG}" | head -n 1)"
wait_for_snapshot_version "${DP_URL}" 1 10 "data plane"
expect_eq "upstream key through the data plane" "$(served_key "${DP_URL}")" "${PROVIDER_KEY}"
printf '%s\n' "${ADDED_KEY}" | ctl --token-file "${SPEC_D}/token" keys add --provider anthropic \
  >"${CASE_DIR}/add.out" 2>&1 || fail "keys add: $(cat "${CASE_DIR}/add.out")"
[[ -s "${SPEC_S}/cc-relay/state.json" ]] || fail "no state file in the state directory"
ctl --token-file "${SPEC_D}/token" --output json dataplanes list >"${CASE_DIR}/dataplanes.json" 2>&1
grep -q '"id":"host-dp1"' "${CASE_DIR}/dataplanes.json" || fail "data plane host-dp1 not listed"
for f in "${CP_LOG}" "${DP_LOG}" "${CASE_DIR}/add.out"; do
  expect_secrets_absent "${f}" "${PROVIDER_KEY}" "${ADDED_KEY}" "${TOKEN}"
done
pass "control plane + data plane from their ExecStart lines: token, key from the env file, state in %S"

begin_case serve
start_mock upstream
make_host
mapfile -t serve_cmd < <(exec_args "${SYSTEMD_DIR}/cc-relay.service" ExecStart)
set -a
# shellcheck disable=SC1091
source "${ETC_DIR}/env"
set +a
RELAY_LOG="${CASE_DIR}/relay.log"
# The data plane's listener is the config's server.listen: a free port here.
timeout -k 5 "${E2E_PROCESS_LIFETIME}" "${serve_cmd[@]}" --listen 127.0.0.1:0 \
  --control-plane-listen "127.0.0.1:${CP_PORT}" --control-plane-http-listen none --log-level debug \
  >"${CASE_DIR}/relay.out" 2>"${RELAY_LOG}" &
RELAY_PID=$!
E2E_PIDS+=("${RELAY_PID}")
wait_for_line "${RELAY_LOG}" ' listening address=127\.0\.0\.1:[0-9]+' "${RELAY_PID}" 10 "cc-relay serve"
RELAY_URL="http://127.0.0.1:$(sed -n 's/.* listening address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "${RELAY_LOG}" | head -n 1)"
CP_ADDR="127.0.0.1:${CP_PORT}"
expect_eq "upstream key through serve" "$(served_key "${RELAY_URL}")" "${PROVIDER_KEY}"
printf '%s\n' "${ADDED_KEY}" | ctl --token-file "${SPEC_D}/token" keys add --provider anthropic \
  >"${CASE_DIR}/add.out" 2>&1 || fail "keys add: $(cat "${CASE_DIR}/add.out")"
[[ -s "${SPEC_S}/cc-relay/state.json" ]] || fail "no state file in the state directory"
[[ -s "${SPEC_S}/cc-relay/cc-relay.db" ]] || fail "no database in the state directory"
[[ ! -e "${ETC_DIR}/config.yaml.state.json" ]] || fail "state file written next to the config in /etc"
[[ ! -e "${ETC_DIR}/config.yaml.db" ]] || fail "database written next to the config in /etc"
if ctl --timeout-ms 2000 providers list >"${CASE_DIR}/no-token.out" 2>&1; then
  fail "the management API answered without the token"
fi
# An edit of /etc/cc-relay/config.yaml is still seen through the link.
sed -i 's/name: anthropic/name: edited/' "${ETC_DIR}/config.yaml"
# (The listing is read whole first: `ctl | grep -q` can fail under pipefail when grep stops
# reading before ctl has written everything.)
for ((i = 0; i < 100; ++i)); do
  listing="$(ctl --token-file "${SPEC_D}/token" providers list 2>&1)"
  grep -q '^edited ' <<<"${listing}" && break
  sleep 0.05
done
grep -q '^edited ' <<<"${listing}" ||
  fail "an edit of the config behind the link was not reloaded: ${listing}"
for f in "${RELAY_LOG}" "${CASE_DIR}/add.out"; do
  expect_secrets_absent "${f}" "${PROVIDER_KEY}" "${ADDED_KEY}" "${TOKEN}"
done
pass "serve from its ExecStartPre/ExecStart: token required, state file in %S, edits in /etc seen"
