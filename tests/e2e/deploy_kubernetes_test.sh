#!/usr/bin/env bash
# deploy/kubernetes, offline: rendered with `kubectl kustomize` (no cluster), every object
# validated against the Kubernetes schemas (npm kubernetes-models, tests/e2e/package.json), and
# then what was rendered run for real: the control plane and the sidecar with the rendered
# arguments, config, token, certificate and CA (only the paths mapped to a scratch directory and
# the addresses to 127.0.0.1 with free ports), as the kubelet would start them.
#
# Cases:
#   render          make-secrets.sh (twice: the second run keeps every file), kubectl kustomize
#   schemas         k8s_validate.mjs: schemas and consistency (selectors, volumes, probes, grace)
#   schemas_reject  the same validation fails on a broken copy (bad enum, bad type)
#   config          the rendered config.yaml passes `cc-relay config validate`
#   sidecar         sidecar started first answers 503 on its metrics listener's /health; the
#                   control plane (TLS + token) comes up, the sidecar gets its snapshot (200),
#                   serves a request through the rendered config; `cc-relayctl` sees it with the
#                   rendered token and CA; the rendered preStop command drains it, SIGTERM
#                   then stops it (exit 0)
#
# Needs kubectl (scripts/setup.sh: Debian's kubernetes-client), node with `npm ci --prefix
# tests/e2e`, openssl, and the targets cc-relay, cc-relayctl and ccr_mock_upstream.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=planes_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/planes_lib.sh"

PROVIDER_KEY="fake-k8s-key-$(od -An -tx1 -N8 /dev/urandom | tr -d " \n")"
readonly PROVIDER_KEY
readonly SERVICE_NAME="cc-relay-control-plane.cc-relay.svc"

begin_case render
require_node
command -v kubectl >/dev/null 2>&1 ||
  fail "kubectl not found (scripts/setup.sh installs Debian's kubernetes-client)"
command -v openssl >/dev/null 2>&1 || fail "openssl not found"
[[ -d "${E2E_NODE_MODULES}/kubernetes-models" ]] ||
  fail "kubernetes-models not installed: run 'npm ci --prefix tests/e2e'"
K="${CASE_DIR}/kubernetes"
cp -r "${CCR_SOURCE_DIR}/deploy/kubernetes" "${K}"
# Only what is committed: never a developer's own secrets.
find "${K}/control-plane/secrets" -type f ! -name .gitignore -delete
ANTHROPIC_API_KEY_1="${PROVIDER_KEY}" bash "${K}/make-secrets.sh" >"${CASE_DIR}/make-secrets.out" 2>&1 ||
  fail "make-secrets.sh failed: $(cat "${CASE_DIR}/make-secrets.out")"
for f in plane-token ca.crt tls.crt tls.key provider-keys.env; do
  [[ -s "${K}/control-plane/secrets/${f}" ]] || fail "make-secrets.sh did not write ${f}"
done
expect_eq "tls.key mode" "$(stat -c %a "${K}/control-plane/secrets/tls.key")" 600
openssl verify -CAfile "${K}/control-plane/secrets/ca.crt" "${K}/control-plane/secrets/tls.crt" \
  >/dev/null 2>&1 || fail "tls.crt does not verify against ca.crt"
sans="$(openssl x509 -in "${K}/control-plane/secrets/tls.crt" -noout -ext subjectAltName)"
[[ "${sans}" == *"DNS:${SERVICE_NAME},"* ]] || fail "tls.crt does not name ${SERVICE_NAME}: ${sans}"
before="$(cat "${K}/control-plane/secrets/plane-token" "${K}/control-plane/secrets/tls.crt" | sha256sum)"
bash "${K}/make-secrets.sh" >"${CASE_DIR}/make-secrets-again.out" 2>&1 || fail "second make-secrets.sh failed"
expect_eq "files after a second make-secrets.sh" \
  "$(cat "${K}/control-plane/secrets/plane-token" "${K}/control-plane/secrets/tls.crt" | sha256sum)" \
  "${before}"
expect_secrets_absent "${CASE_DIR}/make-secrets.out" "$(cat "${K}/control-plane/secrets/plane-token")" \
  "${PROVIDER_KEY}"
kubectl kustomize "${K}" >"${CASE_DIR}/rendered.yaml" 2>"${CASE_DIR}/kustomize.err" ||
  fail "kubectl kustomize failed: $(cat "${CASE_DIR}/kustomize.err")"
pass "rendered $(grep -c '^kind:' "${CASE_DIR}/rendered.yaml") objects with $(kubectl version --client 2>/dev/null | head -n 1)"

continue_case schemas
X="${CASE_DIR}/extracted"
node "${E2E_DIR}/k8s_validate.mjs" "${CASE_DIR}/rendered.yaml" "${X}" >"${CASE_DIR}/validate.out" 2>&1 ||
  fail "validation failed: $(cat "${CASE_DIR}/validate.out")"
pass "$(tail -n 1 "${CASE_DIR}/validate.out")"

continue_case schemas_reject
# expect_rejected SED_EXPR MESSAGE: a copy of the rendered file edited by SED_EXPR fails
# validation with MESSAGE among the findings.
expect_rejected() {
  local n=$((++rejected))
  sed -e "$1" "${CASE_DIR}/rendered.yaml" >"${CASE_DIR}/broken-${n}.yaml"
  cmp -s "${CASE_DIR}/rendered.yaml" "${CASE_DIR}/broken-${n}.yaml" && fail "'$1' changed nothing"
  if node "${E2E_DIR}/k8s_validate.mjs" "${CASE_DIR}/broken-${n}.yaml" "${CASE_DIR}/broken-${n}" \
      >"${CASE_DIR}/broken-${n}.out" 2>&1; then
    fail "passed validation after '$1'"
  fi
  grep -qF -- "$2" "${CASE_DIR}/broken-${n}.out" ||
    fail "after '$1', no '$2' in: $(cat "${CASE_DIR}/broken-${n}.out")"
}
rejected=0
expect_rejected 's/containerPort: 9464/containerPort: "x"/' 'containerPort must be integer'
expect_rejected 's/minAvailable: 1/minAvailable: [1]/' 'minAvailable must be'
expect_rejected 's|apiVersion: policy/v1|apiVersion: policy/v1beta9|' 'no schema for policy/v1beta9'
expect_rejected 's/restartPolicy: Always/restartPolicy: Never/' 'not a native sidecar'
expect_rejected 's/terminationGracePeriodSeconds: 45/terminationGracePeriodSeconds: 30/' \
  'terminationGracePeriodSeconds 30 < drain'
pass "${rejected} broken copies rejected (schema type errors, an unknown API version, our checks)"

continue_case config
ANTHROPIC_API_KEY_1="${PROVIDER_KEY}" "${CCR_RELAY_BINARY}" config validate --config "${X}/config.yaml" \
  >"${CASE_DIR}/config-validate.out" 2>&1 ||
  fail "rendered config.yaml is invalid: $(cat "${CASE_DIR}/config-validate.out")"
pass "rendered config.yaml is valid"

continue_case sidecar
start_mock upstream
# The pod's filesystem, in the scratch directory: the mounts of the rendered Deployments.
R="${CASE_DIR}/root"
mkdir -p "${R}/etc/cc-relay/config" "${R}/etc/cc-relay/token" "${R}/etc/cc-relay/tls" \
  "${R}/etc/cc-relay/ca" "${R}/var/lib/cc-relay"
# The one edit: the provider points at the mock (and so do the control plane's health checks).
sed "s|^\(\s*\)type: anthropic$|&\n\1base_url: \"http://127.0.0.1:${MOCK_PORT}\"|" \
  "${X}/config.yaml" >"${R}/etc/cc-relay/config/config.yaml"
grep -q "base_url: \"http://127.0.0.1:${MOCK_PORT}\"" "${R}/etc/cc-relay/config/config.yaml" ||
  fail "could not point the rendered config at the mock"
cp "${X}/token" "${R}/etc/cc-relay/token/token"
cp "${X}/tls.crt" "${X}/tls.key" "${R}/etc/cc-relay/tls/"
cp "${X}/ca.crt" "${R}/etc/cc-relay/ca/ca.crt"
CP_PORT="$(free_port)"

# map_args FILE: the rendered arguments with the pod's paths under R, addresses on 127.0.0.1.
# shellcheck disable=SC2016  # $(POD_NAME) is Kubernetes syntax, replaced literally
map_args() {
  sed -e "s|=/etc/cc-relay/|=${R}/etc/cc-relay/|" -e "s|=/var/lib/cc-relay/|=${R}/var/lib/cc-relay/|" \
    -e "s|^--listen=0\.0\.0\.0:8788$|--listen=127.0.0.1:${CP_PORT}|" \
    -e 's|^--http-listen=0\.0\.0\.0:[0-9]*$|--http-listen=127.0.0.1:0|' \
    -e 's|^--listen=127\.0\.0\.1:8787$|--listen=127.0.0.1:0|' \
    -e 's|^--metrics-listen=0\.0\.0\.0:[0-9]*$|--metrics-listen=127.0.0.1:0|' \
    -e 's|^--admin-listen=127\.0\.0\.1:[0-9]*$|--admin-listen=127.0.0.1:0|' \
    -e "s|^--control-plane=${SERVICE_NAME}:8788$|--control-plane=127.0.0.1:${CP_PORT}\n--tls-server-name=${SERVICE_NAME}|" \
    -e 's|\$(POD_NAME)|example-app-0|' -e 's|\$(POD_NAMESPACE)|cc-relay|' "$1"
}
mapfile -t dp_args < <(map_args "${X}/data-plane.args")
mapfile -t cp_args < <(map_args "${X}/control-plane.args")

# The sidecar first: no control plane yet, so no snapshot.
DP_LOG="${CASE_DIR}/sidecar.log"
timeout -k 5 "${E2E_PROCESS_LIFETIME}" "${CCR_RELAY_BINARY}" "${dp_args[@]}" --log-level debug --log-format text \
  >"${CASE_DIR}/sidecar.out" 2>"${DP_LOG}" &
DP_PID=$!
E2E_PIDS+=("${DP_PID}")
wait_for_line "${DP_LOG}" ' listening address=127\.0\.0\.1:[0-9]+ .*metrics_address=127\.0\.0\.1:[0-9]+' \
  "${DP_PID}" 10 "sidecar"
wait_for_line "${DP_LOG}" 'data_plane_started .*admin_address=127\.0\.0\.1:[0-9]+' "${DP_PID}" 10 "sidecar"
DP_URL="http://127.0.0.1:$(sed -n 's/.* listening address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "${DP_LOG}" | head -n 1)"
METRICS_URL="http://127.0.0.1:$(sed -n 's/.* listening .*metrics_address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "${DP_LOG}" | head -n 1)"
DP_ADMIN="$(sed -n 's/.*data_plane_started .*admin_address=\(127\.0\.0\.1:[0-9]*\).*/\1/p' "${DP_LOG}" | head -n 1)"
probe="$(curl -s -o "${CASE_DIR}/health-before.json" -w '%{http_code}' "${METRICS_URL}/health")"
expect_eq "sidecar readiness before any snapshot" "${probe}" 503
grep -q waiting_for_snapshot "${CASE_DIR}/health-before.json" || fail "503 without waiting_for_snapshot"

launch_control_plane "${CP_PORT}" env ANTHROPIC_API_KEY_1="${PROVIDER_KEY}" "${CCR_RELAY_BINARY}" \
  "${cp_args[@]}"
grep -q "control_plane_listening .* tls=true" "${CP_LOG}" || fail "control plane without TLS"
for ((i = 0; i < 200; ++i)); do
  probe="$(curl -s -o /dev/null -w '%{http_code}' "${METRICS_URL}/health")"
  [[ "${probe}" == 200 ]] && break
  sleep 0.05
done
expect_eq "sidecar readiness after the control plane came up" "${probe}" 200
status="$(curl -s -o "${CASE_DIR}/answer.json" -D "${CASE_DIR}/answer.headers" -w '%{http_code}' \
  -X POST "${DP_URL}/v1/messages" -H 'content-type: application/json' \
  -H 'anthropic-version: 2023-06-01' \
  -d '{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}')"
expect_eq "request through the sidecar" "${status}" 200
grep -qi '^x-cc-relay-provider: anthropic' "${CASE_DIR}/answer.headers" || fail "not served by anthropic"
[[ "$(jsq "${MOCK_REQUESTS}" 'rows.filter((r) => r.target.startsWith("/v1/messages")).map((r) => r.headers["x-api-key"]).join(",")')" == "${PROVIDER_KEY}" ]] ||
  fail "the upstream did not get the provider key from the Secret"
ctl_flags=(--token-file "${R}/etc/cc-relay/token/token" --tls-ca "${R}/etc/cc-relay/ca/ca.crt"
  --tls-server-name "${SERVICE_NAME}")
ctl "${ctl_flags[@]}" --output json dataplanes list >"${CASE_DIR}/dataplanes.json" 2>&1 ||
  fail "cc-relayctl dataplanes list: $(cat "${CASE_DIR}/dataplanes.json")"
grep -q '"id":"example-app-0"' "${CASE_DIR}/dataplanes.json" || fail "sidecar not listed"
grep -q '"namespace":"cc-relay"' "${CASE_DIR}/dataplanes.json" || fail "sidecar labels not listed"
if ctl --token-file "${R}/etc/cc-relay/token/token" --timeout-ms 2000 providers list \
    >"${CASE_DIR}/plaintext.out" 2>&1; then
  fail "the control plane answered plaintext"
fi

# The rendered preStop hook, as the kubelet runs it.
mapfile -t prestop < <(sed -e "s|^/usr/local/bin/cc-relayctl$|${CCR_RELAYCTL_BINARY}|" \
  -e "s|^--addr=.*|--addr=${DP_ADMIN}|" "${X}/prestop.args" | map_args /dev/stdin)
"${prestop[@]}" >"${CASE_DIR}/prestop.out" 2>&1 || fail "preStop failed: $(cat "${CASE_DIR}/prestop.out")"
# Drained, it waits for the SIGTERM the kubelet sends once the hook has returned.
wait_for_line "${DP_LOG}" 'drained waiting_for="SIGTERM"' "${DP_PID}" 10 "the drained sidecar"
kill -TERM "${DP_PID}"
for ((i = 0; i < 100; ++i)); do
  kill -0 "${DP_PID}" 2>/dev/null || break
  sleep 0.1
done
kill -0 "${DP_PID}" 2>/dev/null && fail "sidecar still running 10 s after the preStop drain and SIGTERM"
wait "${DP_PID}"
expect_eq "sidecar exit code after the drain and SIGTERM" "$?" 0
grep -q 'drain_requested' "${DP_LOG}" || fail "no drain_requested in the sidecar's log"
expect_secrets_absent "${CP_LOG}" "${PROVIDER_KEY}" "$(cat "${X}/token")"
expect_secrets_absent "${DP_LOG}" "${PROVIDER_KEY}" "$(cat "${X}/token")"
pass "503 then 200 on /health, served over TLS + token, listed, drained by preStop, SIGTERM (exit 0), no secret logged"
