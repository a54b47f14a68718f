#!/usr/bin/env bash
# Makes the files the kustomization turns into Secrets, in deploy/kubernetes/control-plane/secrets/
# (git-ignored): the plane token, a CA and the control plane's TLS certificate signed by it, and a
# provider-keys.env to fill in. Existing files are kept (pass --force to make new ones; the data
# planes then need a restart to pick up a new token or CA).
#
#   bash deploy/kubernetes/make-secrets.sh [--namespace NS] [--san DNS_NAME]... [--days N]
#                                          [--force] [--out DIR]
#
# The certificate names the control plane's Service in NS (default cc-relay):
# cc-relay-control-plane, cc-relay-control-plane.NS, cc-relay-control-plane.NS.svc and
# cc-relay-control-plane.NS.svc.cluster.local, plus each --san (e.g. a team server's host name,
# for deploy/systemd). Keys are P-256 (openssl). Nothing is printed but file names and the
# token's length.
set -euo pipefail

namespace=cc-relay
days=825
force=0
extra_sans=
out="$(cd "$(dirname "$0")" && pwd)/control-plane/secrets"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --namespace) namespace=$2; shift 2 ;;
    --san) extra_sans+=",DNS:$2"; shift 2 ;;
    --days) days=$2; shift 2 ;;
    --force) force=1; shift ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "make-secrets.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
command -v openssl >/dev/null || { echo "make-secrets.sh: openssl is needed" >&2; exit 1; }
mkdir -p "${out}"
umask 077

fresh() { [[ "${force}" == 1 || ! -s "${out}/$1" ]]; }

if fresh plane-token; then
  # 32 random bytes, hex: a token with no character that needs quoting anywhere.
  openssl rand -hex 32 >"${out}/plane-token"
  echo "wrote ${out}/plane-token (64 hex characters)"
fi

if fresh ca.crt || fresh tls.crt || fresh tls.key; then
  work="$(mktemp -d)"
  trap 'rm -rf "${work}"' EXIT
  service="cc-relay-control-plane"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
    -days "${days}" -subj "/CN=cc-relay plane CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "${work}/ca.key" -out "${work}/ca.crt" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
    -subj "/CN=${service}.${namespace}.svc" -keyout "${work}/tls.key" -out "${work}/tls.csr" \
    2>/dev/null
  printf '%s\n' \
    "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" \
    "subjectAltName=DNS:${service},DNS:${service}.${namespace},DNS:${service}.${namespace}.svc,DNS:${service}.${namespace}.svc.cluster.local${extra_sans}" \
    >"${work}/ext.cnf"
  openssl x509 -req -in "${work}/tls.csr" -CA "${work}/ca.crt" -CAkey "${work}/ca.key" \
    -CAcreateserial -days "${days}" -sha256 -extfile "${work}/ext.cnf" -out "${work}/tls.crt" \
    2>/dev/null
  # The CA key is not kept: make new certificates with --force (and restart the data planes).
  install -m 0644 "${work}/ca.crt" "${out}/ca.crt"
  install -m 0644 "${work}/tls.crt" "${out}/tls.crt"
  install -m 0600 "${work}/tls.key" "${out}/tls.key"
  echo "wrote ${out}/ca.crt, tls.crt, tls.key (${service}.${namespace}.svc, ${days} days)"
fi

if [[ ! -e "${out}/provider-keys.env" ]]; then
  # One NAME=value line per variable config.yaml expands; fill in the real key.
  printf '%s\n' "ANTHROPIC_API_KEY_1=${ANTHROPIC_API_KEY_1:-}" >"${out}/provider-keys.env"
  echo "wrote ${out}/provider-keys.env: put your provider keys there (NAME=value lines)"
fi
