#!/usr/bin/env bash
# Builds the Containerfile's run stage for real with Debian's buildah, on a machine that cannot
# pull debian:12-slim: the base is a debootstrap of bookworm (minbase, the stand-in for the slim
# image), and the build stage is replaced by already built binaries (a full build stage compiles
# everything from nothing: half an hour on two cores). Then it runs the image's entrypoint
# through `buildah run` (as the image's user, with a config mounted and a key in the
# environment) and asks /health. Not part of the test suite (the first debootstrap takes a few
# minutes, each build downloads the runtime packages); tests/e2e/container_rootfs_test.sh is.
#
#   deploy/container/check-run-stage.sh CC_RELAY CC_RELAYCTL
#
# Needs root, buildah and debootstrap (`apt-get install buildah debootstrap`), curl, network to
# the Debian mirror. The debootstrap is cached in ${CCR_BASE_CACHE:-$TMPDIR/ccr-bookworm-minbase}
# and imported as localhost/ccr-bookworm-minbase:12; the image built is removed at the end.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 CC_RELAY CC_RELAYCTL" >&2
  exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
containerfile="${here}/../../Containerfile"
base="${CCR_BASE_CACHE:-${TMPDIR:-/tmp}/ccr-bookworm-minbase}"
base_image=localhost/ccr-bookworm-minbase:12
image=localhost/ccr-run-stage-check
for tool in buildah debootstrap curl; do
  command -v "${tool}" >/dev/null || {
    echo "check-run-stage: ${tool} is missing" >&2
    exit 1
  }
done
# Sandboxes without CAP_SYS_RESOURCE cannot raise the open-files limit to buildah's default.
ulimits=(--ulimit "nofile=$(ulimit -Sn):$(ulimit -Hn)")

work="$(mktemp -d "${TMPDIR:-/tmp}/ccr-run-stage.XXXXXX")"
containers=()
cleanup() {
  local c
  for c in "${containers[@]}"; do
    buildah rm "${c}" >/dev/null 2>&1 || true
  done
  buildah rmi "${image}" >/dev/null 2>&1 || true
  rm -rf "${work}"
}
trap cleanup EXIT

if [[ ! -f "${base}/.ccr-done" ]]; then
  mirror="$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null |
    head -n 1)"
  rm -rf "${base}"
  echo "check-run-stage: debootstrap bookworm (minbase) from ${mirror:-http://deb.debian.org/debian}"
  debootstrap --variant=minbase bookworm "${base}" "${mirror:-http://deb.debian.org/debian}" \
    >"${work}/debootstrap.log" 2>&1 || {
    tail -n 20 "${work}/debootstrap.log" >&2
    exit 1
  }
  touch "${base}/.ccr-done"
fi
if ! buildah inspect --type image "${base_image}" >/dev/null 2>&1; then
  c="$(buildah from scratch)"
  containers+=("${c}")
  cp -a "${base}/." "$(buildah mount "${c}")/"
  rm -f "$(buildah mount "${c}")/.ccr-done"
  buildah umount "${c}" >/dev/null
  buildah commit --quiet "${c}" "${base_image}" >/dev/null
fi

# The context: the binaries, the runtime list, and the Containerfile with its build stage
# replaced by those binaries; the run stage is copied verbatim.
mkdir -p "${work}/ctx/deploy/container"
cp "$1" "${work}/ctx/cc-relay"
cp "$2" "${work}/ctx/cc-relayctl"
cp "${here}/runtime-packages.txt" "${work}/ctx/deploy/container/"
{
  grep '^ARG ' "${containerfile}"
  # shellcheck disable=SC2016  # a Containerfile line
  printf '%s\n' 'FROM ${RUN_BASE} AS build' 'COPY cc-relay cc-relayctl /out/'
  awk '/^FROM /{++s} s==2' "${containerfile}"
} >"${work}/ctx/Containerfile"
buildah build --quiet --isolation chroot --pull=never "${ulimits[@]}" \
  --build-arg RUN_BASE="${base_image}" -t "${image}" -f "${work}/ctx/Containerfile" \
  "${work}/ctx" >"${work}/build.log" 2>&1 || {
  tail -n 30 "${work}/build.log" >&2
  exit 1
}
echo "check-run-stage: built; $(buildah inspect --type image --format \
  'user {{.OCIv1.Config.User}}, entrypoint {{.OCIv1.Config.Entrypoint}}, cmd {{.OCIv1.Config.Cmd}}, stop signal {{.OCIv1.Config.StopSignal}}' \
  "${image}")"

c="$(buildah from --pull=never "${image}")"
containers+=("${c}")
run=(buildah run --isolation chroot --network host)
version="$("${run[@]}" "${c}" -- /usr/local/bin/cc-relay version)"
user="$("${run[@]}" "${c}" -- /usr/bin/id -u):$("${run[@]}" "${c}" -- /usr/bin/id -g)"
if [[ "${user}" != 65532:65532 ]]; then
  echo "check-run-stage: the image runs as ${user}, not 65532:65532" >&2
  exit 1
fi
echo "check-run-stage: in the image: ${version}, as ${user}"

mkdir -p "${work}/etc"
# shellcheck disable=SC2016  # expanded by cc-relay from its environment
printf '%s\n' 'providers:' '  - name: anthropic' '    type: anthropic' '    keys:' \
  '      - key: "${ANTHROPIC_API_KEY}"' >"${work}/etc/config.yaml"
chmod 0755 "${work}/etc"
"${run[@]}" -v "${work}/etc:/etc/cc-relay:ro" --env "ANTHROPIC_API_KEY=fake-check-key" "${c}" -- \
  /usr/local/bin/cc-relay serve --config /etc/cc-relay/config.yaml --listen 127.0.0.1:0 \
  --control-plane-listen none --control-plane-http-listen none >"${work}/serve.out" \
  2>"${work}/serve.log" &
serve=$!
port=""
for _ in $(seq 100); do
  port="$(sed -n 's/.* listening address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "${work}/serve.log")"
  [[ -n "${port}" ]] && break
  sleep 0.1
done
health="$(curl -s "http://127.0.0.1:${port:-1}/health" || true)"
kill -TERM "${serve}" 2>/dev/null || true
wait "${serve}" 2>/dev/null || true
if [[ "${health}" != *'"status":"ok"'* ]]; then
  echo "check-run-stage: /health did not answer ok: ${health}" >&2
  tail -n 20 "${work}/serve.log" >&2
  exit 1
fi
echo "check-run-stage: serve with the config mounted answered /health: ${health}"
