#!/usr/bin/env bash
# End-to-end chaos on simulated hosts: the control plane and two data planes, each in a network
# namespace of its own, joined by a switch (a bridge in another namespace) over veth links, TLS
# and the plane token between the planes. A bounded streaming load runs through both data planes
# while, one after the other: the config file is edited (hot reload), a key is rotated by
# deploy/scripts/rotate_key.py, a data plane is drained and restarted, and the control plane is
# killed (SIGKILL) and restarted.
#
# Hosts (10.231.0.0/24, only inside the run's own namespaces; nothing is added to the caller's):
#   cp  .1   cc-relay control-plane, gRPC on :8788 (TLS, token; certificate from
#            deploy/kubernetes/make-secrets.sh, reached by its Service name)
#   dp1 .11, dp2 .12   cc-relay data-plane on :8787, admin API on the host's own loopback
#   ext .20  the clients: load_client.py (2 streaming threads per data plane, 4 at once),
#            plane_watch.py (snapshot versions every 50 ms), rotate_key.py, cc-relayctl
#   up  .30  ccr_mock_upstream on :8080, the provider (logs every request it answers)
#
# What counts as a failed client request: any request that got an answer it did not complete (a
# status other than 200, or a stream without message_stop), or that no data plane took within
# 10 s. The client moves a request (same id) to the other data plane only when the relay cannot
# have taken it on: the connection was refused (nothing sent), or it was closed before any byte
# of an answer (a draining data plane closes the connections that are between requests); for the
# latter the upstream's log must show the id once, from the other data plane. So the bar is: no
# request that the relay accepted fails. Like a load balancer's health check, the client takes a
# data plane that refused it back only once its /health says ok: a restarted data plane listens
# at once but answers 503 until its first snapshot, and such a 503 counts as a failure.
#
# Asserts: zero failed client requests; zero replays (no request id reached the upstream twice:
# the mock logs each request as it starts answering it, so a second line for an id would be a
# retry after the first byte went out); every data plane on the control plane's newest snapshot
# version within a second after each event (plane_watch.py's samples: the save of the config,
# RotateKey sent, the restarted data plane listening, the restarted control plane listening);
# the reload (a model mapping) and the new key reach the upstream; the rotation survives the
# control plane's restart (state file). Prints RSS and open descriptors of every process at the
# start and at the end (nothing asserted about memory beyond no crash).
#
# Needs root (network namespaces): not root, or `ip netns add` failing, is a skip (exit 77).
# Needs iproute2, openssl, node, python3 with python3-grpcio and python3-protobuf, protoc and
# grpc_python_plugin (scripts/setup.sh), and the targets cc-relay, cc-relayctl and
# ccr_mock_upstream.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=planes_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/planes_lib.sh"
# shellcheck source-path=SCRIPTDIR source=netns_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns_lib.sh"

PY="${CCR_PYTHON:-/usr/bin/python3}"
ROTATE="${CCR_SOURCE_DIR}/deploy/scripts/rotate_key.py"
SERVER_NAME=cc-relay-control-plane.cc-relay.svc
MAPPED_MODEL=claude-sonnet-4-5-20250929
rand() { od -An -tx1 -N8 /dev/urandom | tr -d ' \n'; }
OLD_KEY="fake-old-key-$(rand)"
NEW_KEY="fake-new-key-$(rand)"
readonly OLD_KEY NEW_KEY
fp() { printf '%s' "$1" | sha256sum | cut -c1-8; }
OLD_FP="$(fp "${OLD_KEY}")"
NEW_FP="$(fp "${NEW_KEY}")"
readonly OLD_FP NEW_FP
now() { date +%s.%N; }
# calc EXPR: an arithmetic expression over decimals (awk), e.g. calc "1.5 + 0.25".
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }

begin_case setup
netns_init
require_node
require_file "cc-relayctl" "${CCR_RELAYCTL_BINARY}" "build it: cmake --build <build> --target cc-relayctl"
"${PY}" -c 'import grpc, google.protobuf' 2>/dev/null ||
  fail "${PY} lacks grpc or protobuf (scripts/setup.sh installs python3-grpcio python3-protobuf)"
netns_switch
NS_cp="${NETNS_PREFIX}-cp" IP_cp="${NETNS_SUBNET}.1"
NS_dp1="${NETNS_PREFIX}-dp1" IP_dp1="${NETNS_SUBNET}.11"
NS_dp2="${NETNS_PREFIX}-dp2" IP_dp2="${NETNS_SUBNET}.12"
NS_ext="${NETNS_PREFIX}-ext" IP_ext="${NETNS_SUBNET}.20"
NS_up="${NETNS_PREFIX}-up" IP_up="${NETNS_SUBNET}.30"
netns_host cp 1
netns_host dp1 11
netns_host dp2 12
netns_host ext 20
netns_host up 30
CP_ADDR="${IP_cp}:8788"
DP1_URL="http://${IP_dp1}:8787"
DP2_URL="http://${IP_dp2}:8787"

bash "${CCR_SOURCE_DIR}/deploy/kubernetes/make-secrets.sh" --out "${CASE_DIR}/secrets" \
  >"${CASE_DIR}/make-secrets.out" 2>&1 || fail "make-secrets.sh: $(cat "${CASE_DIR}/make-secrets.out")"
SECRETS="${CASE_DIR}/secrets"
TOKEN_FILE="${SECRETS}/plane-token"
printf '%s\n' "${NEW_KEY}" >"${CASE_DIR}/new-key"
tls_flags=(--token-file "${TOKEN_FILE}" --tls-ca "${SECRETS}/ca.crt" --tls-server-name "${SERVER_NAME}")

# write_config [MAPPING]: the control plane's config, one anthropic provider on the mock;
# saved aside and renamed (an editor's atomic save); MAPPING adds a model mapping. In a directory
# of its own, as /etc/cc-relay or a ConfigMap mount: the control plane reads the file 100 ms
# after the last change in its directory, so the logs written beside it all the time would
# hold a reload back.
mkdir -p "${CASE_DIR}/etc"
CONFIG="${CASE_DIR}/etc/config.yaml"
write_config() {
  {
    printf '%s\n' "health:" "  checks:" "    interval_ms: 0" "providers:" "  - name: anthropic" \
      "    type: anthropic" "    base_url: \"http://${IP_up}:8080\"" "    keys:" \
      "      - key: \"${OLD_KEY}\"" "        rpm_limit: 100000"
    if [[ "${1:-}" == mapping ]]; then
      printf '%s\n' "    model_mapping:" "      \"claude-sonnet-4-5\": \"${MAPPED_MODEL}\""
    fi
  } >"${CONFIG}.tmp"
  mv "${CONFIG}.tmp" "${CONFIG}"
}
write_config

# ctlx ARG...: cc-relayctl from the clients' host, over TLS with the token.
ctlx() {
  in_ns "${NS_ext}" "${CCR_RELAYCTL_BINARY}" --control-plane "${CP_ADDR}" "${tls_flags[@]}" "$@"
}
# cp_version: the control plane's snapshot version.
cp_version() {
  ctlx --output json config status | sed -n 's/.*"snapshot_version":"\{0,1\}\([0-9]*\).*/\1/p'
}

MOCK_REQUESTS="${CASE_DIR}/upstream-requests.jsonl"
spawn_in "${NS_up}" upstream "${CCR_MOCK_BINARY}" --listen "${IP_up}:8080" --threads 2 \
  --request-log "${MOCK_REQUESTS}"
MOCK_PID=$(child_pid "${SPAWN_PID}")
wait_for_line "${CASE_DIR}/upstream.out" "^listening ${IP_up}:8080" "${SPAWN_PID}" 10 "mock upstream"

# start_cp NAME: the control plane on its host; sets CP_TPID (timeout's pid), CP_PID, CP_UP
# (when its listening line was seen, less the 50 ms the wait polls at).
start_cp() {
  local name=$1
  spawn_in "${NS_cp}" "${name}" "${CCR_RELAY_BINARY}" control-plane --config "${CONFIG}" \
    --listen "${CP_ADDR}" --http-listen none --token-file "${TOKEN_FILE}" \
    --tls-cert "${SECRETS}/tls.crt" --tls-key "${SECRETS}/tls.key" --log-level debug
  CP_TPID=${SPAWN_PID}
  wait_for_line "${CASE_DIR}/${name}.log" "control_plane_listening address=${CP_ADDR//./\\.} .*token=true" \
    "${CP_TPID}" 15 "control plane (${name})"
  CP_UP="$(calc "$(now) - 0.05")"
  CP_PID=$(child_pid "${CP_TPID}")
}

# start_dp ID NAMESPACE ADDRESS NAME: data plane ID on its host (log NAME.log); waits for its
# first snapshot (/health from the clients' host); sets DP_TPID, DP_PID, DP_UP (listening, less
# the 50 ms the wait polls at) and DP_READY (its /health said ok).
start_dp() {
  local id=$1 ns=$2 ip=$3 name=$4
  spawn_in "${ns}" "${name}" "${CCR_RELAY_BINARY}" data-plane --control-plane "${CP_ADDR}" \
    --id "${id}" --listen "${ip}:8787" --admin-listen 127.0.0.1:9901 --workers 1 \
    --log-level debug "${tls_flags[@]}"
  DP_TPID=${SPAWN_PID}
  wait_for_line "${CASE_DIR}/${name}.log" " listening address=${ip//./\\.}:8787" "${DP_TPID}" 15 \
    "data plane ${id} (${name})"
  DP_UP="$(calc "$(now) - 0.05")"
  DP_PID=$(child_pid "${DP_TPID}")
  local i
  for ((i = 0; i < 200; ++i)); do
    if [[ "$(in_ns "${NS_ext}" curl -s --max-time 2 "http://${ip}:8787/health")" == *'"status":"ok"'* ]]; then
      DP_READY="$(now)"
      return 0
    fi
    kill -0 "${DP_TPID}" 2>/dev/null || fail "data plane ${id} exited before its first snapshot"
    sleep 0.05
  done
  fail "data plane ${id}: no snapshot after 10 s"
}

start_cp control-plane
CP1_TPID=${CP_TPID} CP1_PID=${CP_PID}
start_dp dp1 "${NS_dp1}" "${IP_dp1}" dp1
DP1_TPID=${DP_TPID} DP1_PID=${DP_PID}
start_dp dp2 "${NS_dp2}" "${IP_dp2}" dp2
DP2_PID=${DP_PID}
pass "hosts cp ${IP_cp}, dp1 ${IP_dp1}, dp2 ${IP_dp2}, ext ${IP_ext}, up ${IP_up} (namespaces ${NETNS_PREFIX}-*); TLS and token between the planes; old key ${OLD_FP}"

continue_case under_load
WATCH="${CASE_DIR}/watch.jsonl"
LOAD="${CASE_DIR}/load.jsonl"
STOP="${CASE_DIR}/stop"
spawn_in "${NS_ext}" watch "${PY}" "${E2E_DIR}/plane_watch.py" --control-plane "${CP_ADDR}" \
  "${tls_flags[@]}" --out "${WATCH}" --stop-file "${STOP}" --interval-ms 50
WATCH_TPID=${SPAWN_PID}
# 30 ms between the mock's events: a stream lasts about 0.6 s, so streams are in flight at
# every event.
spawn_in "${NS_ext}" load "${PY}" "${E2E_DIR}/load_client.py" --out "${LOAD}" --stop-file "${STOP}" \
  --threads 2 --event-delay-ms 30 --streams-only --id-header x-load-request-id --route-around \
  --max-seconds 150 "${DP1_URL}" "${DP2_URL}"
LOAD_TPID=${SPAWN_PID}
LOAD_PID=$(child_pid "${LOAD_TPID}")
WATCH_PID=$(child_pid "${WATCH_TPID}")
# Until every client thread has finished a request (a slow machine takes a while to start).
for ((i = 0; i < 200; ++i)); do
  [[ -f "${LOAD}" && "$(wc -l <"${LOAD}")" -ge 4 && -s "${WATCH}" ]] && break
  sleep 0.05
done
[[ -f "${LOAD}" && "$(wc -l <"${LOAD}")" -ge 4 ]] || fail "fewer than 4 requests in the first 10 s of the load"
[[ -s "${WATCH}" ]] || fail "plane_watch.py wrote nothing in 10 s"
proc_report start control-plane="${CP1_PID}" dp1="${DP1_PID}" dp2="${DP2_PID}" \
  upstream="${MOCK_PID}" load-client="${LOAD_PID}" plane-watch="${WATCH_PID}"

# wait_exit PID SECONDS WHAT: waits until PID (a child of this shell) exits; sets EXIT_STATUS.
wait_exit() {
  local i
  for ((i = 0; i < $2 * 20; ++i)); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$1" 2>/dev/null && fail "$3: still running after $2 s"
  EXIT_STATUS=0
  wait "$1" || EXIT_STATUS=$?
}

EVENTS=()  # "name start min_version" per event
# converged_after T MIN: seconds from T to the first watch sample (taken after T) where the
# control plane is at version >= MIN and dp1 and dp2 are connected and have applied that very
# version ("" if none yet).
converged_after() {
  jsq "${WATCH}" "(() => { const r = rows.find((r) => r.t >= $1 && !r.error && r.version >= $2 &&
    ['dp1', 'dp2'].every((id) => r.planes[id] && r.planes[id].connected &&
      Number(r.planes[id].acked) === r.version));
    return r ? (r.t - $1).toFixed(3) : ''; })()"
}
# event NAME START MIN: records the event and waits (up to 15 s) until both data planes have
# the newest version; the bound (a second) is checked at the end, with every event's figure.
event() {
  local name=$1 start=$2 min=$3 i got=""
  EVENTS+=("${name} ${start} ${min}")
  for ((i = 0; i < 150; ++i)); do
    got="$(converged_after "${start}" "${min}")"
    [[ -n "${got}" ]] && break
    sleep 0.1
  done
  [[ -n "${got}" ]] || fail "${name}: data planes not on version >= ${min} 15 s after the event"
  echo "     ${name}: both data planes on the newest version ${got} s after the event"
  sleep 1  # the load goes on between events
}

# 1. Config reload: a model mapping added to the file the control plane watches.
V0="$(cp_version)"
[[ -n "${V0}" ]] || fail "no snapshot version from config status"
write_config mapping
RELOAD_T="$(now)"
event reload "${RELOAD_T}" $((V0 + 1))
RELOAD_DONE="$(calc "${RELOAD_T} + $(converged_after "${RELOAD_T}" $((V0 + 1)))")"

# 2. Key rotation by the script (a plain line in a file); each output line time-stamped.
in_ns "${NS_ext}" "${PY}" "${ROTATE}" --control-plane "${CP_ADDR}" "${tls_flags[@]}" --provider anthropic \
  --key-file "${CASE_DIR}/new-key" --wait 2>"${CASE_DIR}/rotate.err" |
  while IFS= read -r line; do printf '%s %s\n' "$(now)" "${line}"; done >"${CASE_DIR}/rotate.out"
[[ "${PIPESTATUS[0]}" == 0 ]] ||
  fail "rotate_key.py failed: $(cat "${CASE_DIR}/rotate.out" "${CASE_DIR}/rotate.err")"
ROTATE_T="$(sed -n 's/^\([0-9.]*\) rotating provider=anthropic old='"${OLD_FP}"' new='"${NEW_FP}"'$/\1/p' \
  "${CASE_DIR}/rotate.out")"
ROTATE_V="$(sed -n 's/.* rotated provider=anthropic .*snapshot_version=\([0-9]*\)$/\1/p' \
  "${CASE_DIR}/rotate.out")"
[[ -n "${ROTATE_T}" && -n "${ROTATE_V}" ]] ||
  fail "rotate_key.py output: $(cat "${CASE_DIR}/rotate.out")"
grep -q "applied by 2 data plane(s)" "${CASE_DIR}/rotate.out" ||
  fail "rotate_key.py --wait did not see both data planes: $(cat "${CASE_DIR}/rotate.out")"
event rotation "${ROTATE_T}" "${ROTATE_V}"
ROTATE_DONE="$(calc "${ROTATE_T} + $(converged_after "${ROTATE_T}" "${ROTATE_V}")")"

# 3. dp1 drained through its admin API (what a Kubernetes preStop does), then restarted.
DRAIN_T="$(now)"
in_ns "${NS_dp1}" "${CCR_RELAYCTL_BINARY}" dataplane drain --addr 127.0.0.1:9901 \
  --token-file "${TOKEN_FILE}" >"${CASE_DIR}/drain.out" 2>&1 ||
  fail "dataplane drain: $(cat "${CASE_DIR}/drain.out")"
wait_exit "${DP1_TPID}" 15 "dp1 after the drain"
rc=${EXIT_STATUS}
DRAINED_T="$(now)"
expect_eq "dp1's exit status after the drain" "${rc}" 0
sleep 1  # clients route around the missing data plane
V3="$(cp_version)"
start_dp dp1 "${NS_dp1}" "${IP_dp1}" dp1-restarted
DP1B_PID=${DP_PID}
DP1_UP=${DP_UP} DP1_READY=${DP_READY}
event dp1_restart "${DP1_UP}" "${V3}"

# 4. The control plane killed and restarted at once (same config, same state file).
V4="$(cp_version)"
KILL_T="$(now)"
kill -KILL "${CP1_PID}"
wait_exit "${CP1_TPID}" 5 "the killed control plane"
rc=${EXIT_STATUS}
expect_eq "killed control plane's exit status" "${rc}" 137
start_cp control-plane-restarted
CP2_PID=${CP_PID}
event control_plane_restart "${CP_UP}" $((V4 + 1))
sleep 0.5

proc_report end control-plane-restarted="${CP2_PID}" dp1-restarted="${DP1B_PID}" \
  dp2="${DP2_PID}" upstream="${MOCK_PID}" load-client="${LOAD_PID}" plane-watch="${WATCH_PID}"
STOP_T="$(now)"
touch "${STOP}"
wait "${LOAD_TPID}" || fail "load client exited with an error: $(cat "${CASE_DIR}/load.log")"
wait "${WATCH_TPID}" || fail "plane_watch.py exited with an error: $(cat "${CASE_DIR}/watch.log")"
for entry in upstream="${MOCK_PID}" dp1-restarted="${DP1B_PID}" dp2="${DP2_PID}" \
    control-plane-restarted="${CP2_PID}"; do
  kill -0 "${entry#*=}" 2>/dev/null || fail "${entry%%=*} is not running at the end of the load"
done

continue_case checks
qv() { QV="$(jsq "${LOAD}" "$1")"; }
total="$(q 'rows.length')"
[[ "${total}" -ge 40 ]] || fail "only ${total} requests in the load"
expect_q "failed client requests" 'rows.filter((r) => !r.ok).length' 0
expect_q "requests not streamed" 'rows.filter((r) => !r.stream).length' 0
# Replays: every id the upstream answered, once; and every client request's id reached it once.
upstream_ids="$(jsq "${MOCK_REQUESTS}" 'JSON.stringify(rows.map((r) => r.headers["x-load-request-id"] || ""))')"
echo "${upstream_ids}" >"${CASE_DIR}/upstream-ids.json"
expect_q "request ids that reached the upstream more than once" \
  "(() => { const c = {}; for (const id of JSON.parse(require('fs').readFileSync('${CASE_DIR}/upstream-ids.json'))) c[id] = (c[id] || 0) + 1;
    return Object.entries(c).filter(([id, n]) => n > 1).map(([id, n]) => id + ' x' + n).join(' '); })()" ""
expect_q "client requests whose id did not reach the upstream exactly once" \
  "(() => { const c = {}; for (const id of JSON.parse(require('fs').readFileSync('${CASE_DIR}/upstream-ids.json'))) c[id] = (c[id] || 0) + 1;
    return rows.filter((r) => c[r.id] !== 1).map((r) => r.id).join(' '); })()" ""
expect_eq "upstream requests vs client requests" "$(jsq "${MOCK_REQUESTS}" 'rows.length')" "${total}"
# Routing around dp1: refused connects, or kept-alive connections closed between two requests,
# moved requests to dp2 (the client then waits for dp1's /health); both planes served after its
# restart.
refused="$(q "rows.flatMap((r) => r.attempts).filter((a) => a.outcome === 'refused').length")"
unanswered="$(q "rows.flatMap((r) => r.attempts).filter((a) => a.outcome === 'unanswered').length")"
[[ $((refused + unanswered)) -ge 1 ]] || fail "no attempt on dp1 was refused or closed while it drained"
expect_q "requests served by dp1 between its drain and its restart" \
  "rows.filter((r) => r.url === '${DP1_URL}' && r.t0 > ${DRAINED_T} && r.t1 < ${DP1_UP}).length" 0
for url in "${DP1_URL}" "${DP2_URL}"; do
  [[ "$(q "rows.filter((r) => r.url === '${url}' && r.t0 > ${STOP_T} - 2).length")" -ge 1 ]] ||
    fail "${url} served nothing in the last 2 s of the load"
done
# Only dp1's drain and restart moved requests: no attempt failed anywhere else or at other times.
expect_q "requests moved to another data plane outside dp1's drain and restart" \
  "rows.filter((r) => r.attempts.length && (r.attempts.some((a) => a.url !== '${DP1_URL}') ||
    r.t0 < ${DRAIN_T} - 0.5 || r.t0 > ${DP1_READY} + 1)).map((r) => r.id).join(' ')" ""
# Streams in flight on dp1 when it was told to drain finished there (counted ok above).
drained_streams="$(q "rows.filter((r) => r.url === '${DP1_URL}' && r.t0 < ${DRAIN_T} && r.t1 > ${DRAIN_T}).length")"
[[ "${drained_streams}" -ge 1 ]] || fail "no stream was in flight on dp1 when it was drained"
across_kill="$(q "rows.filter((r) => r.t0 < ${KILL_T} && r.t1 > ${KILL_T}).length")"
[[ "${across_kill}" -ge 1 ]] || fail "no stream was in flight when the control plane was killed"
rerouted="$(q "rows.filter((r) => r.preferred === '${DP1_URL}' && r.url === '${DP2_URL}').length")"
[[ "${rerouted}" -ge 1 ]] || fail "no request of dp1's clients went to dp2"
# The reload: every request started once both planes had it was mapped; none before the save.
expect_q "requests started after the reload applied, not mapped" \
  "rows.filter((r) => r.t0 > ${RELOAD_DONE} && r.model !== '${MAPPED_MODEL}').length" 0
expect_q "requests ended before the reload, mapped" \
  "rows.filter((r) => r.t1 < ${RELOAD_T} && r.model !== 'claude-sonnet-4-5').length" 0
# The rotation: the new key for every request started once both planes had it, the old before.
expect_q "requests started after the rotation applied, not on the new key" \
  "rows.filter((r) => r.t0 > ${ROTATE_DONE} && r.key !== '${NEW_FP}').length" 0
expect_q "requests ended before the rotation, not on the old key" \
  "rows.filter((r) => r.t1 < ${ROTATE_T} && r.key !== '${OLD_FP}').length" 0
expect_eq "upstream requests with a key other than old or new" \
  "$(jsq "${MOCK_REQUESTS}" "rows.filter((r) => r.headers['x-api-key'] !== '${OLD_KEY}' && r.headers['x-api-key'] !== '${NEW_KEY}').length")" 0
# The restarted control plane kept the rotation (state file) and the edited config.
keys="$(ctlx --output json keys list)"
[[ "${keys}" == *"\"fingerprint\":\"${NEW_FP}\""* && "${keys}" != *"${OLD_FP}"* ]] ||
  fail "keys list after the control plane's restart: ${keys}"
# Every data plane on the newest version within a second after each event.
summary=""
for e in "${EVENTS[@]}"; do
  read -r name start min <<<"${e}"
  took="$(converged_after "${start}" "${min}")"
  summary+=" ${name} ${took} s;"
  [[ "$(calc "${took} <= 1.0")" == 1.000 ]] ||
    fail "${name}: the data planes were on the newest version only ${took} s after the event"
done
for f in "${CASE_DIR}"/*.log "${CASE_DIR}"/*.out "${LOAD}" "${WATCH}"; do
  expect_secrets_absent "${f}" "${OLD_KEY}" "${NEW_KEY}" "$(cat "${TOKEN_FILE}")"
done
pass "${total} streamed requests through 2 data planes, 0 failed, 0 replayed (each id once upstream); ${refused} connects refused and ${unanswered} unanswered attempts moved to the other data plane (${rerouted} of dp1's requests served by dp2)"
pass "newest snapshot on both data planes after:${summary} ${drained_streams} streams in flight on dp1 finished during its drain ($(calc "${DRAINED_T} - ${DRAIN_T}") s to exit); ${across_kill} streams ran across the control plane's SIGKILL; it was down $(calc "${CP_UP} + 0.05 - ${KILL_T}") s"
