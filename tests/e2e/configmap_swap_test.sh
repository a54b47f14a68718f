#!/usr/bin/env bash
# End-to-end: a config edited through a Kubernetes ConfigMap reaches running data planes.
#
# The kubelet updates a ConfigMap volume atomically (its AtomicWriter): the files live in a
# timestamped directory `..2026_12_06_08_10_00.123456789`, `..data` is a symlink to it, and each
# key is a symlink `config.yaml -> ..data/config.yaml`. An update writes a new timestamped
# directory, points a new symlink `..data_tmp` at it, renames `..data_tmp` over `..data`
# (rename(2): atomic) and deletes the old directory. The config file's own path never changes
# and no file the control plane has open is written. This script makes exactly that layout and
# those steps (no kubelet here) against a real `cc-relay control-plane` (config watched, as in
# deploy/kubernetes) and a real `cc-relay data-plane`, and checks after each swap that the data
# plane runs the new snapshot: its /health version and the provider that serves a request.
#
# Cases:
#   initial        mount made as the kubelet makes it; the data plane serves with provider alpha
#   swap           ..data swapped to a config naming provider beta: served by beta within 5 s
#   swap_again     a second swap (the first target directory is gone by now): provider gamma
#   swap_invalid   a swap to an invalid config is rejected; the data plane keeps gamma
#
# Needs the targets cc-relay and ccr_mock_upstream, node and python3.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=planes_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/planes_lib.sh"

PROVIDER_KEY="fake-configmap-key-$(od -An -tx1 -N8 /dev/urandom | tr -d " \n")"
readonly PROVIDER_KEY

# kubelet_write MOUNT_DIR FILE: one AtomicWriter update of the key config.yaml to FILE's bytes
# (the first call also makes the user-visible symlink config.yaml -> ..data/config.yaml).
kubelet_write() {
  "${CCR_PYTHON:-python3}" - "$1" "$2" <<'EOF'
import os, random, shutil, sys, time
mount, source = sys.argv[1], sys.argv[2]
with open(source, "rb") as f:
    data = f.read()
# The kubelet's name: time.Now().UTC().Format("..2006_01_02_15_04_05.") + os.MkdirTemp's digits.
stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime()) + str(random.randrange(10**9))
new_dir = os.path.join(mount, stamp)
os.mkdir(new_dir, 0o755)
with open(os.path.join(new_dir, "config.yaml"), "wb") as f:
    f.write(data)
data_link = os.path.join(mount, "..data")
old = os.readlink(data_link) if os.path.islink(data_link) else None
tmp_link = os.path.join(mount, "..data_tmp")
os.symlink(stamp, tmp_link)
os.rename(tmp_link, data_link)  # the atomic swap
user_link = os.path.join(mount, "config.yaml")
if not os.path.islink(user_link):
    os.symlink(os.path.join("..data", "config.yaml"), user_link)
if old is not None:
    shutil.rmtree(os.path.join(mount, old))
EOF
}

# served_by: the provider that answers a request through the data plane (x-cc-relay-provider).
served_by() {
  curl -s --max-time 5 -o /dev/null -D - -X POST "${DP_URL}/v1/messages" \
    -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' \
    -d '{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}' |
    tr -d '\r' | sed -n 's/^x-cc-relay-provider: //ip'
}

# expect_served_by PROVIDER SECONDS: waits until requests are served by PROVIDER.
expect_served_by() {
  local want=$1 secs=$2 i got=""
  for ((i = 0; i < secs * 10; ++i)); do
    got="$(served_by)"
    [[ "${got}" == "${want}" ]] && return 0
    sleep 0.1
  done
  fail "requests served by '${got}' after ${secs} s, expected '${want}'"
}

begin_case initial
require_node
start_mock upstream
MOUNT="${CASE_DIR}/configmap"
mkdir -p "${MOUNT}"
one_provider_config alpha "${PROVIDER_KEY}" >"${CASE_DIR}/alpha.yaml"
kubelet_write "${MOUNT}" "${CASE_DIR}/alpha.yaml"
[[ -L "${MOUNT}/..data" && -L "${MOUNT}/config.yaml" ]] || fail "mount layout not made"
# The state file cannot live in a ConfigMap volume (read-only there); deploy/kubernetes puts it
# on its own volume too.
start_control_plane "${MOUNT}/config.yaml" --state-file "${CASE_DIR}/state.json"
start_data_plane dp1
v1="$(dp_health_field "${DP_URL}" snapshot_version)"
expect_served_by alpha 5
pass "data plane on version ${v1}, served by alpha"

continue_case swap
first_target="$(readlink "${MOUNT}/..data")"
one_provider_config beta "${PROVIDER_KEY}" >"${CASE_DIR}/beta.yaml"
kubelet_write "${MOUNT}" "${CASE_DIR}/beta.yaml"
[[ ! -e "${MOUNT}/${first_target}" ]] || fail "old target directory still there"
wait_for_snapshot_version "${DP_URL}" $((v1 + 1)) 5 "after the ..data swap"
expect_served_by beta 5
pass "..data swapped: data plane on version $(dp_health_field "${DP_URL}" snapshot_version), served by beta"

continue_case swap_again
one_provider_config gamma "${PROVIDER_KEY}" >"${CASE_DIR}/gamma.yaml"
kubelet_write "${MOUNT}" "${CASE_DIR}/gamma.yaml"
wait_for_snapshot_version "${DP_URL}" $((v1 + 2)) 5 "after the second swap"
expect_served_by gamma 5
pass "second swap: served by gamma"

continue_case swap_invalid
v3="$(dp_health_field "${DP_URL}" snapshot_version)"
printf 'providers:\n  - name: broken\n    type: no-such-type\n' >"${CASE_DIR}/invalid.yaml"
kubelet_write "${MOUNT}" "${CASE_DIR}/invalid.yaml"
wait_for_line "${CP_LOG}" 'config_reload_rejected' "${CP_PID}" 5 "control plane (reload rejected)"
expect_eq "snapshot version after an invalid swap" \
  "$(dp_health_field "${DP_URL}" snapshot_version)" "${v3}"
expect_served_by gamma 1
# Back to a valid file: the watcher still follows the mount.
one_provider_config delta "${PROVIDER_KEY}" >"${CASE_DIR}/delta.yaml"
kubelet_write "${MOUNT}" "${CASE_DIR}/delta.yaml"
expect_served_by delta 5
pass "invalid config rejected (data plane stayed on version ${v3}), then delta applied"

continue_case secrets
expect_secrets_absent "${CP_LOG}" "${PROVIDER_KEY}"
expect_secrets_absent "${DP_LOG}" "${PROVIDER_KEY}"
pass "no provider key in any log"
