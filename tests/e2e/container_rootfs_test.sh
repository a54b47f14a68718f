#!/usr/bin/env bash
# End-to-end: the container image without a container engine. This machine (and CI) cannot pull
# debian:12-slim, so deploy/container/build-rootfs.sh builds the run stage's filesystem from the
# same Debian package list (deploy/container/runtime-packages.txt) and the test runs the image's
# entrypoint in it the way an engine would: its own mount and PID namespaces (cc-relay is PID 1),
# chroot, uid/gid 65532, a read-only root, the config and a token mounted read-only at
# /etc/cc-relay, the provider key from the environment only.
#
# Cases:
#   lint      the Containerfile offline: two stages (debian:12 -> debian:12-slim), each installs
#             its list file, every package in both lists exists in apt's lists, setup.sh installs
#             the same build list, every shared library of the built binaries belongs to a
#             package of the runtime list, exec-form ENTRYPOINT, non-root USER 65532,
#             STOPSIGNAL SIGTERM, no fetch other than apt's, the paths, user and ports the
#             Kubernetes manifests expect, .containerignore = .dockerignore
#   rootfs    builds the filesystem (or reuses it: the first build downloads ~20 packages), puts
#             the fresh binaries in /usr/local/bin; no shell anywhere in it
#   serve     the image's command line (serve --config /etc/cc-relay/config.yaml) in the rootfs:
#             /health answers, a streamed /v1/messages reaches the fake upstream with the key from
#             the environment (and that key is in no log), the process is PID 1 of its namespace
#             and runs as 65532:65532 with no capability, cc-relayctl runs inside (the way
#             `podman exec` would) with the mounted token
#   drain     SIGTERM to PID 1 while a stream is in flight: the stream completes, exit 0
#   sidecar   deploy/kubernetes's control plane and data-plane sidecar, each in its own
#             "container" with the manifests' flags (ports chosen at run time, no TLS): the
#             sidecar's /health answers 200 on its metrics port, and its preStop hook
#             (cc-relayctl dataplane drain, run inside it) drains it to exit 0
#
# Needs root (namespaces, mounts, chroot), unshare/nsenter (util-linux), dpkg-deb, apt's package
# lists (`apt-get update`) and, for the first build, the Debian mirror; curl; the targets
# cc-relay, cc-relayctl and ccr_mock_upstream.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONTAINERFILE="${CCR_SOURCE_DIR}/Containerfile"
PKG_DIR="${CCR_SOURCE_DIR}/deploy/container"
CCR_RELAYCTL_BINARY="${CCR_RELAYCTL_BINARY:-${CCR_BUILD_DIR}/ctl/cc-relayctl}"
# The rootfs is cached in the build tree; build-rootfs.sh rebuilds it when its inputs change.
ROOTFS="${CCR_ROOTFS_DIR:-${CCR_BUILD_DIR}/container-rootfs}"
rand() { od -An -tx1 -N8 /dev/urandom | tr -d ' \n'; }
API_KEY="fake-anthropic-key-$(rand)"
TOKEN="fake-plane-token-$(rand)"
readonly API_KEY TOKEN

# list_packages FILE: the package names of a list file (comments and blanks dropped).
list_packages() {
  sed -e 's/#.*//' -e 's/[[:space:]]//g' "$1" | grep -v '^$'
}

# stage N: the lines of the Containerfile's N-th stage (1 = build, 2 = run).
stage() {
  awk -v n="$1" '/^FROM /{++s} s==n' "${CONTAINERFILE}"
}

begin_case lint
[[ "$(id -u)" == 0 ]] || fail "needs root (namespaces, mounts, chroot)"
require_file "cc-relay" "${CCR_RELAY_BINARY}" "build the target cc-relay"
require_file "cc-relayctl" "${CCR_RELAYCTL_BINARY}" "build the target cc-relayctl"
[[ -f "${CONTAINERFILE}" ]] || fail "no Containerfile at the repository root"
mapfile -t froms < <(grep '^FROM ' "${CONTAINERFILE}")
expect_eq "stages" "${#froms[@]}" 2
expect_eq "build stage" "${froms[0]}" "FROM \${BUILD_BASE} AS build"
expect_eq "run stage" "${froms[1]}" "FROM \${RUN_BASE}"
expect_eq "build base" "$(sed -n 's/^ARG BUILD_BASE=//p' "${CONTAINERFILE}")" \
  docker.io/library/debian:12
expect_eq "run base" "$(sed -n 's/^ARG RUN_BASE=//p' "${CONTAINERFILE}")" \
  docker.io/library/debian:12-slim
stage 1 | grep -q 'deploy/container/build-packages.txt' ||
  fail "the build stage does not install deploy/container/build-packages.txt"
stage 2 | grep -q 'deploy/container/runtime-packages.txt' ||
  fail "the run stage does not install deploy/container/runtime-packages.txt"
grep -q 'deploy/container/build-packages.txt' "${CCR_SOURCE_DIR}/scripts/setup.sh" ||
  fail "scripts/setup.sh does not install deploy/container/build-packages.txt"
# Package names only: no "apt-get install foo" hidden next to the lists.
if grep -nE 'apt-get install[^$]*--no-install-recommends +[a-z]' "${CONTAINERFILE}"; then
  fail "the Containerfile installs packages that are not in a list file"
fi
if grep -nEi '(^|[^a-z-])(curl|wget|git|pip3?|npm|go) ' "${CONTAINERFILE}" | grep -v '^[0-9]*:#'; then
  fail "the Containerfile fetches something other than Debian packages"
fi
command -v apt-cache >/dev/null || fail "apt-cache is missing"
mapfile -t all_packages < <(list_packages "${PKG_DIR}/build-packages.txt"
  list_packages "${PKG_DIR}/runtime-packages.txt")
if ! apt-cache show --no-all-versions "${all_packages[@]}" >/dev/null 2>&1; then
  missing=()
  for p in "${all_packages[@]}"; do
    apt-cache show --no-all-versions "${p}" >/dev/null 2>&1 || missing+=("${p}")
  done
  fail "not in apt's package lists (apt-get update first?): ${missing[*]}"
fi
# Every shared library the binaries load belongs to a package the run stage installs (one dpkg
# call: each call reads the whole database). A library is owned under its path or its target's.
mapfile -t libs < <(ldd "${CCR_RELAY_BINARY}" "${CCR_RELAYCTL_BINARY}" |
  awk '$3 ~ /^\// {print $3}' | sort -u)
mapfile -t reals < <(readlink -f "${libs[@]}")
mapfile -t owned < <(dpkg -S "${libs[@]}" "${reals[@]}" 2>/dev/null)
needed=()
for lib in "${libs[@]}"; do
  real="$(readlink -f "${lib}")"
  owner="$(printf '%s\n' "${owned[@]}" |
    awk -F': ' -v a="${lib}" -v b="${real}" '$2 == a || $2 == b {print $1; exit}')"
  [[ -n "${owner}" ]] || fail "no Debian package owns ${lib}"
  needed+=("${owner%%:*}")
done
mapfile -t needed < <(printf '%s\n' "${needed[@]}" | sort -u)
for p in "${needed[@]}"; do
  list_packages "${PKG_DIR}/runtime-packages.txt" | grep -qx "${p}" ||
    fail "${p} (a library of the binaries) is not in deploy/container/runtime-packages.txt"
done
grep -qx 'ENTRYPOINT \["/usr/local/bin/cc-relay"\]' "${CONTAINERFILE}" ||
  fail "ENTRYPOINT is not the exec form [\"/usr/local/bin/cc-relay\"]"
grep -qx 'CMD \["serve", "--config", "/etc/cc-relay/config.yaml", "--listen", "0.0.0.0:8787"\]' \
  "${CONTAINERFILE}" || fail "CMD is not the serve command line this test runs"
expect_eq "USER" "$(stage 2 | sed -n 's/^USER //p')" "65532:65532"
expect_eq "STOPSIGNAL" "$(sed -n 's/^STOPSIGNAL //p' "${CONTAINERFILE}")" "SIGTERM"
expect_eq "EXPOSE" "$(sed -n 's/^EXPOSE //p' "${CONTAINERFILE}")" "8787 8788 8789 9464"
for b in cc-relay cc-relayctl; do
  stage 2 | grep -q "/usr/local/bin/${b}" || fail "the run stage does not install /usr/local/bin/${b}"
done
# What deploy/kubernetes expects of the image.
k8s="${CCR_SOURCE_DIR}/deploy/kubernetes"
grep -rhoE '"/usr/local/bin/[a-z-]+"|/usr/local/bin/[a-z-]+$' "${k8s}" | tr -d '"' | sort -u |
  while read -r path; do
    stage 2 | grep -q "${path}" || fail "deploy/kubernetes runs ${path}, not in the image"
  done || exit 1
! grep -rh 'runAsUser:' "${k8s}" | grep -vq 'runAsUser: 65532' ||
  fail "deploy/kubernetes runs as a user other than 65532"
mapfile -t k8s_ports < <(grep -rh 'containerPort:' "${k8s}" | awk '{print $NF}' | sort -u)
for port in "${k8s_ports[@]}"; do
  [[ " $(sed -n 's/^EXPOSE //p' "${CONTAINERFILE}") " == *" ${port} "* ]] ||
    fail "deploy/kubernetes uses port ${port}, not EXPOSEd"
done
cmp -s "${CCR_SOURCE_DIR}/.containerignore" "${CCR_SOURCE_DIR}/.dockerignore" ||
  fail ".containerignore and .dockerignore differ"
grep -qx '/build\*/\?' "${CCR_SOURCE_DIR}/.containerignore" ||
  fail ".containerignore does not keep build trees out of the context"
pass "Containerfile: 2 stages, lists exist ($(list_packages "${PKG_DIR}/runtime-packages.txt" |
  wc -l) runtime packages), libraries covered (${#needed[@]} packages), user, ports, paths"

begin_case rootfs
start=${SECONDS}
bash "${PKG_DIR}/build-rootfs.sh" "${ROOTFS}" "${CCR_RELAY_BINARY}" "${CCR_RELAYCTL_BINARY}" \
  >"${CASE_DIR}/build-rootfs.out" 2>&1 || fail "build-rootfs.sh: $(tail -n 5 "${CASE_DIR}/build-rootfs.out")"
for sh in sh bash dash ash zsh ksh mksh busybox; do
  for d in usr/bin usr/sbin usr/local/bin; do
    [[ ! -e "${ROOTFS}/${d}/${sh}" ]] || fail "a shell in the rootfs: /${d}/${sh}"
  done
done
pass "$(head -n 1 "${CASE_DIR}/build-rootfs.out" | cut -c1-160) ($((SECONDS - start)) s); no shell"

begin_case serve
start_mock upstream
CONF="${CASE_DIR}/etc-cc-relay"
mkdir -p "${CONF}"
# The key comes from the environment only: the mounted config names the variable.
printf '%s\n' "health:" "  checks:" "    interval_ms: 0" "server:" "  timeouts:" \
  "    drain_ms: 20000" "providers:" "  - name: anthropic" "    type: anthropic" \
  "    base_url: \"http://127.0.0.1:${MOCK_PORT}\"" "    keys:" \
  "      - key: \"\${ANTHROPIC_API_KEY}\"" >"${CONF}/config.yaml"
printf '%s\n' "${TOKEN}" >"${CONF}/token"
chown -R 65532:65532 "${CONF}"
chmod 0755 "${CONF}"
chmod 0600 "${CONF}/token"

# run_in_container ARGS...: what `podman run --read-only --user 65532:65532
# -v CONF:/etc/cc-relay:ro --tmpfs /var/lib/cc-relay -e ANTHROPIC_API_KEY IMAGE ARGS...` does,
# by hand (CONF: the current case's etc-cc-relay directory). The host's bash
# sets up the mounts in the new namespaces and execs chroot, which execs the entrypoint: PID 1.
run_in_container() {
  # shellcheck disable=SC2016  # expanded by the inner bash
  timeout -k 5 "${E2E_PROCESS_LIFETIME}" unshare --mount --pid --fork --kill-child -- \
    bash -c '
      set -e
      r=$1 conf=$2
      shift 2
      mount --bind "${r}" "${r}"
      mount -o remount,bind,ro "${r}"
      mount -t proc -o nosuid,nodev,noexec proc "${r}/proc"
      mount -t tmpfs -o size=64k,mode=755 tmpfs "${r}/dev"
      for d in null zero random urandom; do
        : >"${r}/dev/${d}"
        mount --bind "/dev/${d}" "${r}/dev/${d}"
      done
      mount -t tmpfs -o size=16m,mode=1777 tmpfs "${r}/tmp"
      mount -t tmpfs -o size=16m,mode=0755,uid=65532,gid=65532 tmpfs "${r}/var/lib/cc-relay"
      mount --bind "${conf}" "${r}/etc/cc-relay"
      mount -o remount,bind,ro "${r}/etc/cc-relay"
      exec /usr/bin/env -i PATH=/usr/local/bin:/usr/bin HOME=/var/lib/cc-relay \
        ANTHROPIC_API_KEY="${ANTHROPIC_API_KEY}" \
        /usr/sbin/chroot --userspec=65532:65532 --groups=65532 "${r}" /usr/local/bin/cc-relay "$@"
    ' _ "${ROOTFS}" "${CONF}" "$@"
}

# container_pid PID: the entrypoint's host PID under run_in_container's background PID. The
# tree is (subshell ->) timeout -> unshare -> cc-relay (PID 1 inside): the first descendant that
# runs the rootfs's cc-relay.
container_pid() {
  local pids=("$1") p
  while [[ ${#pids[@]} -gt 0 ]]; do
    p=${pids[0]}
    pids=("${pids[@]:1}")
    if [[ "$(readlink "/proc/${p}/exe" 2>/dev/null)" == "${ROOTFS}/usr/local/bin/cc-relay" ]]; then
      echo "${p}"
      return 0
    fi
    # shellcheck disable=SC2207  # child PIDs, space-separated
    pids+=($(cat /proc/"${p}"/task/*/children 2>/dev/null))
  done
}

# start_container NAME KEY EVENT ARGS...: run_in_container ARGS with ANTHROPIC_API_KEY=KEY, its
# output in NAME.out and NAME.log of the case; waits for a log line "EVENT ...address=ADDR"; sets
# RUN_PID.
start_container() {
  local name=$1 key=$2 event=$3
  shift 3
  ANTHROPIC_API_KEY="${key}" run_in_container "$@" >"${CASE_DIR}/${name}.out" \
    2>"${CASE_DIR}/${name}.log" &
  RUN_PID=$!
  E2E_PIDS+=("${RUN_PID}")
  wait_for_line "${CASE_DIR}/${name}.log" "${event} .*address=127\.0\.0\.1:[0-9]+" "${RUN_PID}" 20 \
    "${name} in the rootfs"
}

# log_addr NAME EVENT FIELD: the first FIELD=127.0.0.1:PORT on an EVENT line of NAME.log.
log_addr() {
  sed -n "s/.*$2 .*$3=\(127\.0\.0\.1:[0-9]*\).*/\1/p" "${CASE_DIR}/$1.log" | head -n 1
}

# The image's CMD, with ports chosen at run time and debug logs (so the secret check sees all).
start_container relay "${API_KEY}" ' listening' serve --config /etc/cc-relay/config.yaml \
  --listen 127.0.0.1:0 --control-plane-listen 127.0.0.1:0 --control-plane-http-listen none \
  --token-file /etc/cc-relay/token --log-level debug
RELAY_LOG="${CASE_DIR}/relay.log"
RELAY_URL="http://$(log_addr relay ' listening' address)"
CP_ADDR="$(log_addr relay control_plane_listening address)"
SERVE_RUN=${RUN_PID}
PID="$(container_pid "${SERVE_RUN}")"
[[ -n "${PID}" ]] || fail "cannot find the relay's process"
expect_eq "executable" "$(readlink "/proc/${PID}/exe")" "${ROOTFS}/usr/local/bin/cc-relay"
status="/proc/${PID}/status"
expect_eq "uid (real, effective, saved, fs)" "$(awk '/^Uid:/ {print $2,$3,$4,$5}' "${status}")" \
  "65532 65532 65532 65532"
expect_eq "gid" "$(awk '/^Gid:/ {print $2,$3,$4,$5}' "${status}")" "65532 65532 65532 65532"
expect_eq "groups" "$(awk '/^Groups:/ {print $2}' "${status}")" "65532"
expect_eq "effective capabilities" "$(awk '/^CapEff:/ {print $2}' "${status}")" "0000000000000000"
expect_eq "PID in its namespace" "$(awk '/^NSpid:/ {print $NF}' "${status}")" "1"
# mountinfo: field 5 is the mount point, field 6 its options.
mount_opts() { awk -v m="$1" '$5 == m {print $6}' "/proc/${PID}/mountinfo" | tail -n 1; }
[[ ",$(mount_opts /)," == *,ro,* ]] || fail "the root is not read-only: $(mount_opts /)"
[[ ",$(mount_opts /etc/cc-relay)," == *,ro,* ]] || fail "/etc/cc-relay is not read-only"
pass "PID 1 in its namespace, uid/gid 65532, no capability, read-only root"

code="$(curl -s -o "${CASE_DIR}/health.out" -w '%{http_code}' "${RELAY_URL}/health")"
expect_eq "/health status" "${code}" 200
grep -q '"status":"ok"' "${CASE_DIR}/health.out" || fail "/health: $(cat "${CASE_DIR}/health.out")"
body='{"model":"claude-sonnet-4-5","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
curl -sN -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' -d "${body}" \
  "${RELAY_URL}/v1/messages" >"${CASE_DIR}/stream.out" 2>"${CASE_DIR}/stream.err" ||
  fail "the stream failed"
grep -q '^event: message_stop' "${CASE_DIR}/stream.out" || fail "no message_stop in the stream"
expect_eq "key the upstream saw" "$(jsq "${MOCK_REQUESTS}" 'rows[0].headers["x-api-key"]')" \
  "${API_KEY}"
pass "/health ok, a stream through, the upstream saw the key from the environment"

# exec_inside PID ARGS...: `podman exec`: the namespaces, root and user of the container of PID.
exec_inside() {
  local pid=$1
  shift
  nsenter --target "${pid}" --mount --pid --root --wd -S 65532 -G 65532 "$@"
}
ctl_inside() {
  exec_inside "${PID}" /usr/local/bin/cc-relayctl --control-plane "${CP_ADDR}" \
    --token-file /etc/cc-relay/token "$@"
}
ctl_inside providers list >"${CASE_DIR}/ctl.out" 2>&1 || fail "cc-relayctl inside: $(cat "${CASE_DIR}/ctl.out")"
grep -q anthropic "${CASE_DIR}/ctl.out" || fail "cc-relayctl providers list: $(cat "${CASE_DIR}/ctl.out")"
ctl_inside dataplanes list >"${CASE_DIR}/ctl-dp.out" 2>&1 ||
  fail "cc-relayctl dataplanes list inside: $(cat "${CASE_DIR}/ctl-dp.out")"
nsenter --target "${PID}" --mount --root /bin/sh -c true 2>/dev/null &&
  fail "a shell runs inside the rootfs"
pass "cc-relayctl runs inside with the mounted token (providers list, dataplanes list); no /bin/sh"

# The drain case goes on with the serve case's processes and logs.
ln -sfn "${CASE_DIR}" "${E2E_TMP}/drain"
E2E_CASE=drain
# ~21 events, 100 ms apart: about 2 s of stream, SIGTERM once its first event has arrived.
curl -sN -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' \
  -H 'x-mock-event-delay-ms: 100' -d "${body}" "${RELAY_URL}/v1/messages" \
  >"${CASE_DIR}/drain-stream.out" 2>"${CASE_DIR}/drain-stream.err" &
CURL_PID=$!
for _ in $(seq 100); do
  grep -q '^event: message_start' "${CASE_DIR}/drain-stream.out" 2>/dev/null && break
  sleep 0.05
done
grep -q '^event: message_start' "${CASE_DIR}/drain-stream.out" || fail "the stream did not start"
grep -q '^event: message_stop' "${CASE_DIR}/drain-stream.out" &&
  fail "the stream ended before SIGTERM (too fast to test a drain)"
kill -TERM "${PID}"
wait "${CURL_PID}" || fail "the stream in flight failed during the drain"
grep -q '^event: message_stop' "${CASE_DIR}/drain-stream.out" ||
  fail "the stream in flight was cut by the drain"
rc=0
wait "${SERVE_RUN}" || rc=$?
expect_eq "exit code after SIGTERM" "${rc}" 0
E2E_PIDS=()
expect_secrets_absent "${RELAY_LOG}" "${API_KEY}" "${TOKEN}"
expect_secrets_absent "${CASE_DIR}/relay.out" "${API_KEY}" "${TOKEN}"
pass "SIGTERM to PID 1: the stream in flight completed, exit 0; no secret in the logs"

begin_case sidecar
# deploy/kubernetes's two containers, each in its own "container" on this rootfs, their flags
# as the manifests give them (ports chosen at run time, plaintext on loopback instead of TLS):
# the control plane, and the data plane sidecar whose preStop hook runs cc-relayctl inside it.
CONF="${CASE_DIR}/etc-cc-relay"
mkdir -p "${CONF}"
cp "${E2E_TMP}/serve/etc-cc-relay/config.yaml" "${E2E_TMP}/serve/etc-cc-relay/token" "${CONF}/"
chown -R 65532:65532 "${CONF}"
chmod 0755 "${CONF}"
start_container control-plane "${API_KEY}" control_plane_listening control-plane \
  --config=/etc/cc-relay/config.yaml --listen=127.0.0.1:0 --http-listen=none \
  --token-file=/etc/cc-relay/token --state-file=/var/lib/cc-relay/state.json
CP_ADDR="$(log_addr control-plane control_plane_listening address)"
# No provider key in the sidecar's environment: keys arrive in snapshots.
start_container data-plane "" data_plane_started data-plane --control-plane="${CP_ADDR}" \
  --token-file=/etc/cc-relay/token --listen=127.0.0.1:0 --metrics-listen=127.0.0.1:0 \
  --admin-listen=127.0.0.1:0 --id=example-app-0 --label=app=example-app --workers=1
DP_RUN=${RUN_PID}
DP_ADMIN="$(log_addr data-plane data_plane_started admin_address)"
METRICS="$(log_addr data-plane ' listening' metrics_address)"
[[ -n "${METRICS}" ]] || fail "no metrics address in the data plane's log"
# The startup probe: /health on the metrics port, 200 once the first snapshot is applied.
code=""
for _ in $(seq 100); do
  code="$(curl -s -o "${CASE_DIR}/probe.out" -w '%{http_code}' "http://${METRICS}/health")"
  [[ "${code}" == 200 ]] && break
  sleep 0.1
done
expect_eq "sidecar /health on the metrics port" "${code}" 200
DP_PID="$(container_pid "${DP_RUN}")"
[[ -n "${DP_PID}" ]] || fail "cannot find the data plane's process"
expect_eq "sidecar uid" "$(awk '/^Uid:/ {print $2}' "/proc/${DP_PID}/status")" 65532
# The manifests' preStop hook, run inside the sidecar (its command as app.yaml gives it). With
# --keep-running the sidecar drains and stays up; were it to exit first, the hook's own process
# would die with the container's PID namespace (a FailedPreStopHook event in Kubernetes).
grep -A 10 'preStop:' "${CCR_SOURCE_DIR}/deploy/kubernetes/example-app/app.yaml" |
  grep -q -- '- --keep-running$' || fail "app.yaml's preStop drain has no --keep-running"
exec_inside "${DP_PID}" /usr/local/bin/cc-relayctl dataplane drain --addr="${DP_ADMIN}" \
  --token-file=/etc/cc-relay/token --keep-running >"${CASE_DIR}/prestop.out" 2>&1 ||
  fail "preStop (cc-relayctl dataplane drain) failed: $(cat "${CASE_DIR}/prestop.out")"
wait_for_line "${CASE_DIR}/data-plane.log" 'drained waiting_for="SIGTERM"' "${DP_PID}" 10 \
  "the drained sidecar"
kill -0 "${DP_PID}" 2>/dev/null || fail "the sidecar exited before the kubelet's SIGTERM"
# The kubelet's SIGTERM once the hook has returned.
kill -TERM "${DP_PID}"
rc=0
wait "${DP_RUN}" || rc=$?
expect_eq "sidecar exit code after the preStop drain and SIGTERM" "${rc}" 0
expect_secrets_absent "${CASE_DIR}/data-plane.log" "${API_KEY}" "${TOKEN}"
expect_secrets_absent "${CASE_DIR}/control-plane.log" "${API_KEY}" "${TOKEN}"
pass "control plane and sidecar from the manifests' flags: /health 200 on the metrics port," \
  "preStop's cc-relayctl drain --keep-running inside the sidecar exits 0, then SIGTERM, exit 0"
