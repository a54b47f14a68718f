#!/usr/bin/env bash
# Builds the container image's run-stage filesystem from Debian packages, without a base image
# and without a container engine: for machines that cannot pull debian:12-slim (the test suite's
# tests/e2e/container_rootfs_test.sh runs the entrypoint in it).
#
#   deploy/container/build-rootfs.sh DIR [CC_RELAY CC_RELAYCTL]
#
# DIR gets the packages of runtime-packages.txt (the list the Containerfile's run stage
# installs) and every package they depend on, as apt resolves them on an empty system
# (`apt-get --simulate` against an empty dpkg status), each unpacked with dpkg-deb into a merged
# /usr (bin, lib, lib64, sbin are links into usr/, as in debian:12-slim); the user and group
# 65532 (nonroot); /etc/cc-relay and /var/lib/cc-relay owned by 65532; the CA bundle that
# ca-certificates' maintainer script would generate. With CC_RELAY and CC_RELAYCTL, they are
# copied to DIR/usr/local/bin.
#
# What differs from the image: maintainer scripts do not run (what they would make here is made
# by this script: the CA bundle, the user), and debian:12-slim's essential set (a shell,
# coreutils, apt, dpkg...) is absent, since nothing here depends on it. So DIR holds no shell at
# all, which shows that the entrypoint needs none. Needs apt's package lists (`apt-get update`),
# network to the Debian mirror, dpkg-deb and openssl; run as root (the files are owned by root
# as in the image). DIR/.ccr-rootfs-stamp names the inputs it was built from.
set -euo pipefail

if [[ $# -ne 1 && $# -ne 3 ]]; then
  echo "usage: $0 DIR [CC_RELAY CC_RELAYCTL]" >&2
  exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
dir=$1
list="${here}/runtime-packages.txt"

# The stamp: what DIR was built from (the package list, this script, the versions apt picks).
packages=()
while read -r name; do
  packages+=("${name}")
done < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "${list}" | grep -v '^$')

work="$(mktemp -d "${TMPDIR:-/tmp}/ccr-rootfs.XXXXXX")"
trap 'rm -rf "${work}"' EXIT
: >"${work}/status"
# Inst lines: "Inst NAME (VERSION REPO [ARCH])".
apt-get --simulate -o Dir::State::Status="${work}/status" -o Debug::NoLocking=1 \
  install --no-install-recommends "${packages[@]}" >"${work}/simulate" 2>&1 || {
  cat "${work}/simulate" >&2
  echo "build-rootfs: apt cannot resolve ${list} (apt-get update first?)" >&2
  exit 1
}
resolved=()
while read -r name version; do
  resolved+=("${name}=${version}")
done < <(sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1 \2/p' "${work}/simulate")
stamp="$(printf '%s\n' "${resolved[@]}" | cat - "${list}" "$0" | sha256sum | cut -c1-16)"

if [[ -f "${dir}/.ccr-rootfs-stamp" && "$(cat "${dir}/.ccr-rootfs-stamp")" == "${stamp}" ]]; then
  echo "build-rootfs: ${dir} is up to date (${#resolved[@]} packages)"
else
  rm -rf "${dir}"
  mkdir -p "${dir}" "${work}/debs"
  (cd "${work}/debs" && apt-get download -o Debug::NoLocking=1 "${resolved[@]}" >/dev/null 2>&1) ||
    {
      echo "build-rootfs: apt-get download failed (network to the Debian mirror?)" >&2
      exit 1
    }
  # Merged /usr, as debian:12-slim (and debootstrap for bookworm) lays it out.
  mkdir -p "${dir}/usr/bin" "${dir}/usr/lib" "${dir}/usr/lib64" "${dir}/usr/sbin"
  for d in bin lib lib64 sbin; do
    ln -s "usr/${d}" "${dir}/${d}"
  done
  for deb in "${work}"/debs/*.deb; do
    dpkg-deb --fsys-tarfile "${deb}" | tar -x --keep-directory-symlink -C "${dir}"
  done

  # What base-passwd and the Containerfile's useradd make: root and nonroot (65532).
  mkdir -p "${dir}/etc" "${dir}/tmp" "${dir}/proc" "${dir}/dev" "${dir}/usr/local/bin"
  chmod 1777 "${dir}/tmp"
  printf '%s\n' 'root:x:0:0:root:/root:/usr/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/var/lib/cc-relay:/usr/sbin/nologin' >"${dir}/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nonroot:x:65532:' >"${dir}/etc/group"
  printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' >"${dir}/etc/nsswitch.conf"
  printf '%s\n' '127.0.0.1 localhost' '::1 localhost ip6-localhost ip6-loopback' \
    >"${dir}/etc/hosts"
  install -d -o 65532 -g 65532 "${dir}/etc/cc-relay" "${dir}/var/lib/cc-relay"

  # What update-ca-certificates (ca-certificates' postinst) makes: the bundle and the hashed
  # directory OpenSSL's default verify paths read.
  mkdir -p "${dir}/etc/ssl/certs"
  for crt in "${dir}"/usr/share/ca-certificates/mozilla/*.crt; do
    cp "${crt}" "${dir}/etc/ssl/certs/$(basename "${crt}" .crt).pem"
  done
  cat "${dir}"/usr/share/ca-certificates/mozilla/*.crt >"${dir}/etc/ssl/certs/ca-certificates.crt"
  openssl rehash "${dir}/etc/ssl/certs" 2>/dev/null || true

  echo "${stamp}" >"${dir}/.ccr-rootfs-stamp"
  echo "build-rootfs: ${dir}: ${#resolved[@]} packages: ${resolved[*]%%=*}"
fi

if [[ $# -eq 3 ]]; then
  install -m 0755 "$2" "${dir}/usr/local/bin/cc-relay"
  install -m 0755 "$3" "${dir}/usr/local/bin/cc-relayctl"
fi
