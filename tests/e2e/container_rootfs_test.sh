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
# -v CONF:/etc/cc-relay:ro -e ANTHROPIC_API_KEY IMAGE ARGS...` does, by hand. The host's bash
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
      mount --bind "${conf}" "${r}/etc/cc-relay"
      mount -o remount,bind,ro "${r}/etc/cc-relay"
      exec /usr/bin/env -i PATH=/usr/local/bin:/usr/bin HOME=/var/lib/cc-relay \
        ANTHROPIC_API_KEY="${ANTHROPIC_API_KEY}" \
        /usr/sbin/chroot --userspec=65532:65532 --groups=65532 "${r}" /usr/local/bin/cc-relay "$@"
    ' _ "${ROOTFS}" "${CONF}" "$@"
}

# The image's CMD, with ports chosen at run time and debug logs (so the secret check sees all).
RELAY_LOG="${CASE_DIR}/relay.log"
ANTHROPIC_API_KEY="${API_KEY}" run_in_container serve --config /etc/cc-relay/config.yaml \
  --listen 127.0.0.1:0 --control-plane-listen 127.0.0.1:0 --control-plane-http-listen none \
  --token-file /etc/cc-relay/token --log-level debug >"${CASE_DIR}/relay.out" 2>"${RELAY_LOG}" &
RUN_PID=$!
E2E_PIDS+=("${RUN_PID}")
wait_for_line "${RELAY_LOG}" ' listening address=127\.0\.0\.1:[0-9]+' "${RUN_PID}" 20 \
  "cc-relay in the rootfs"
RELAY_PORT="$(sed -n 's/.* listening address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "${RELAY_LOG}" |
  head -n 1)"
RELAY_URL="http://127.0.0.1:${RELAY_PORT}"
CP_ADDR="$(sed -n 's/.*control_plane_listening address=\(127\.0\.0\.1:[0-9]*\).*/\1/p' \
  "${RELAY_LOG}" | head -n 1)"
# The process tree is (subshell ->) timeout -> unshare -> cc-relay (PID 1 inside): the first
# descendant that runs the rootfs's cc-relay.
PID=""
pids=("${RUN_PID}")
while [[ -z "${PID}" && ${#pids[@]} -gt 0 ]]; do
  p=${pids[0]}
  pids=("${pids[@]:1}")
  if [[ "$(readlink "/proc/${p}/exe" 2>/dev/null)" == "${ROOTFS}/usr/local/bin/cc-relay" ]]; then
    PID=${p}
  else
    # shellcheck disable=SC2207  # child PIDs, space-separated
    pids+=($(cat /proc/"${p}"/task/*/children 2>/dev/null))
  fi
done
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

# `podman exec`: the same namespaces, root and user.
ctl_inside() {
  nsenter --target "${PID}" --mount --pid --root --wd -S 65532 -G 65532 \
    /usr/local/bin/cc-relayctl --control-plane "${CP_ADDR}" --token-file /etc/cc-relay/token "$@"
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
wait "${RUN_PID}" || rc=$?
expect_eq "exit code after SIGTERM" "${rc}" 0
E2E_PIDS=()
expect_secrets_absent "${RELAY_LOG}" "${API_KEY}" "${TOKEN}"
expect_secrets_absent "${CASE_DIR}/relay.out" "${API_KEY}" "${TOKEN}"
pass "SIGTERM to PID 1: the stream in flight completed, exit 0; no secret in the logs"
