#!/usr/bin/env bash
# Installs everything cc-relay needs to build, test and benchmark on Debian 12 (run as root).
# Idempotent: safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The build's packages are a list shared with the Containerfile's build stage.
mapfile -t build_packages < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' \
  deploy/container/build-packages.txt | grep -v '^$')
apt-get install -y -qq --no-install-recommends "${build_packages[@]}" \
  git openssl curl libgtest-dev libgmock-dev libbenchmark-dev jq \
  nginx-light wrk prometheus tmux procps util-linux linux-perf chromium \
  python3 python3-botocore python3-google-auth python3-grpcio python3-protobuf >/dev/null

# kubectl renders deploy/kubernetes offline (`kubectl kustomize`) for its test. Debian's
# kubernetes-client (1.20) is enough; a kubectl already installed (another package owns
# /usr/bin/kubectl then) is kept.
if ! command -v kubectl >/dev/null 2>&1; then
  apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null
fi
# systemd-analyze checks deploy/systemd offline (verify, security); a container may lack systemd.
if ! command -v systemd-analyze >/dev/null 2>&1; then
  apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi

# iproute2 (`ip netns`, veth, bridge) for tests/e2e/chaos_netns_test.sh, which puts the planes
# on network namespaces of their own (as root; skipped otherwise). Minimal images lack it.
if ! command -v ip >/dev/null 2>&1; then
  apt-get install -y -qq --no-install-recommends iproute2 >/dev/null
fi

# Node.js and npm for the end-to-end tests with the real Claude Code CLI and SDK (npm registry).
if ! command -v npm >/dev/null 2>&1; then
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if [ -f tests/e2e/package-lock.json ]; then
  npm ci --prefix tests/e2e --no-audit --no-fund --loglevel=error
fi
echo "setup: done"
