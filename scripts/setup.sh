#!/usr/bin/env bash
# Installs everything cc-relay needs to build, test and benchmark on Debian 12 (run as root).
# Idempotent: safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build ccache pkg-config git ca-certificates openssl curl \
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev \
  libboost1.81-dev libssl-dev libyaml-cpp-dev nlohmann-json3-dev libsimdjson-dev \
  libncurses-dev libgtest-dev libgmock-dev libbenchmark-dev jq \
  nginx-light wrk prometheus tmux procps util-linux linux-perf zlib1g-dev \
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

# Node.js and npm for the end-to-end tests with the real Claude Code CLI and SDK (npm registry).
if ! command -v npm >/dev/null 2>&1; then
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if [ -f tests/e2e/package-lock.json ]; then
  npm ci --prefix tests/e2e --no-audit --no-fund --loglevel=error
fi
echo "setup: done"
