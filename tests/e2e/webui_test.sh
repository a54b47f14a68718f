#!/usr/bin/env bash
# End-to-end: the web dashboard (/ui/ on the control plane's HTTP listener) in a real browser,
# Debian's chromium headless, driven by playwright-core (webui_test.mjs), against a real
# `cc-relay control-plane`, a `cc-relay data-plane` and ccr_mock_upstream, all on 127.0.0.1.
# The browser logs in, sees the overview count the requests this test sends, disables a key
# (the next requests avoid it), rotates a key, validates a broken config (its line number shown),
# and every response it receives is free of the provider keys. Here, with curl: the headers
# (CSP, nosniff, cookie attributes), a POST without the CSRF token is refused, and a read-only
# token (when this build has the role) cannot change anything. Screenshots of every page at
# 1280 and 390 px go to <build>/test-artifacts/webui/.
#
# Then an HTTPS pass (--http-tls-cert/--http-tls-key, a self-signed certificate made here with
# openssl): curl checks /ui/, /health and the Secure cookie over HTTPS and that plaintext fails;
# the browser (ignoring certificate errors) logs in and sees the overview. Off loopback: as root,
# in a network namespace this test makes (on a veth address), plaintext /ui/ is refused and
# HTTPS /ui/ serves; elsewhere that part is left out (the unit tests fake a remote client).
#
# Needs chromium (/usr/bin/chromium, or $CHROMIUM), `npm ci --prefix tests/e2e` (playwright-core),
# curl, openssl, and the targets cc-relay and ccr_mock_upstream. A missing tool is a failure, never a
# skip.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=planes_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/planes_lib.sh"

readonly MODEL="claude-opus-4-8"
rand() { od -An -tx1 -N8 /dev/urandom | tr -d " \n"; }
# Fake credentials, fresh for every run (never real keys).
KEY1="fake-ui-key-one-$(rand)"
KEY2="fake-ui-key-two-$(rand)"
NEW_KEY="fake-ui-key-new-$(rand)"
ADMIN_TOKEN="fake-ui-admin-token-$(rand)"
RO_TOKEN="fake-ui-readonly-token-$(rand)"
readonly KEY1 KEY2 NEW_KEY ADMIN_TOKEN RO_TOKEN
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
ARTIFACTS="${CCR_BUILD_DIR}/test-artifacts/webui"

require_node
command -v curl >/dev/null 2>&1 || fail "curl is not on PATH"
command -v openssl >/dev/null 2>&1 || fail "openssl is not on PATH"
[[ -x "${CHROMIUM}" ]] || fail "chromium not found at ${CHROMIUM} (apt-get install chromium)"
[[ -f "${E2E_NODE_MODULES}/playwright-core/package.json" ]] ||
  fail "playwright-core not installed under ${E2E_NODE_MODULES}: run 'npm ci --prefix tests/e2e'"

# run_browser NAME [VAR=VALUE...]: webui_test.mjs in a clean environment (HOME, PATH, CHROMIUM,
# ARTIFACTS, a profile of its own, BODIES=CASE_DIR/NAME-responses.txt, and the VARs); its output
# goes to CASE_DIR/NAME.{out,err} and is printed; fails unless it passes.
run_browser() {
  local name=$1
  shift
  (
    cd "${E2E_DIR}" &&
      exec timeout 200 env -i HOME="${CASE_DIR}/home" PATH="${PATH}" CHROMIUM="${CHROMIUM}" \
        ARTIFACTS="${ARTIFACTS}" PROFILE_DIR="${CASE_DIR}/chromium-profile-${name}" \
        BODIES="${CASE_DIR}/${name}-responses.txt" "$@" node webui_test.mjs
  ) </dev/null >"${CASE_DIR}/${name}.out" 2>"${CASE_DIR}/${name}.err"
  local rc=$?
  cat "${CASE_DIR}/${name}.out"
  [[ "${rc}" == 0 ]] || fail "webui_test.mjs (${name}) exited ${rc}"
}

# no_secret FILE: none of this test's keys and tokens appears in FILE (named, never printed).
no_secret() {
  local name
  for name in KEY1 KEY2 NEW_KEY ADMIN_TOKEN RO_TOKEN; do
    if grep -Fq -- "${!name}" "$1"; then
      fail "${name} appears in $(basename "$1")"
    fi
  done
}

begin_case webui
# The mock's request log holds the keys it was sent: a name fail's dump does not print.
start_mock mock "${CASE_DIR}/mock-requests.ndjson"
cat >"${CASE_DIR}/relay.yaml" <<YAML
server:
  listen: "127.0.0.1:0"
  workers: 1
health:
  checks:
    interval_ms: 0
providers:
  - name: alpha
    type: anthropic
    base_url: "http://127.0.0.1:${MOCK_PORT}"
    models:
      - ${MODEL}
    keys:
      - key: "${KEY1}"
      - key: "${KEY2}"
YAML
printf '%s\n' "${ADMIN_TOKEN}" >"${CASE_DIR}/admin.token"
printf '%s\n' "${RO_TOKEN}" >"${CASE_DIR}/readonly.token"
chmod 600 "${CASE_DIR}"/*.token

# The read-only role comes with the management API's roles; without it, that part is left out.
ro_flags=()
if "${CCR_RELAY_BINARY}" control-plane --help 2>&1 | grep -q -- '--read-only-token-file'; then
  ro_flags=(--read-only-token-file "${CASE_DIR}/readonly.token")
fi

# planes_lib.sh turns the HTTP listener off; the later flag turns it on again.
start_control_plane "${CASE_DIR}/relay.yaml" --http-listen 127.0.0.1:0 \
  --token-file "${CASE_DIR}/admin.token" "${ro_flags[@]}"
wait_for_line "${CP_LOG}" 'control_plane_http_listening address=127\.0\.0\.1:[0-9]+' "${CP_PID}" 10 \
  "control plane (HTTP)"
HTTP_ADDR="$(sed -n 's/.*control_plane_http_listening address=\(127\.0\.0\.1:[0-9]*\).*/\1/p' \
  "${CP_LOG}" | head -n 1)"
UI="http://${HTTP_ADDR}/ui/"
start_data_plane dp1 --token-file "${CASE_DIR}/admin.token"

# --- curl: headers, login, CSRF ---
curl -s -D "${CASE_DIR}/index.head" -o "${CASE_DIR}/index.html" "${UI}"
grep -qi "^content-security-policy: default-src 'self'; script-src 'self'" "${CASE_DIR}/index.head" ||
  fail "no strict CSP on /ui/: $(cat "${CASE_DIR}/index.head")"
grep -qi '^x-content-type-options: nosniff' "${CASE_DIR}/index.head" || fail "no nosniff on /ui/"
grep -qi '^referrer-policy: no-referrer' "${CASE_DIR}/index.head" || fail "no referrer policy on /ui/"
if grep -Eq '<script>|<style>| style=| on[a-z]+=' "${CASE_DIR}/index.html"; then
  fail "inline script or style in index.html"
fi
pass "index.html: strict headers, no inline script or style"

code="$(curl -s -o /dev/null -w '%{http_code}' -X POST "${UI}login" -d '{"token":"wrong"}')"
expect_eq "login with a wrong token" "${code}" 401
curl -s -D "${CASE_DIR}/login.head" -o "${CASE_DIR}/login.json" -c "${CASE_DIR}/jar" \
  -X POST "${UI}login" --data-binary @- <<<"{\"token\":\"${ADMIN_TOKEN}\"}"
grep -i '^set-cookie: ccr_session=' "${CASE_DIR}/login.head" | grep -qi 'HttpOnly; SameSite=Strict; Path=/ui' ||
  fail "session cookie without HttpOnly; SameSite=Strict; Path=/ui"
CSRF="$(node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1])).csrf)' \
  "${CASE_DIR}/login.json")"
code="$(curl -s -o "${CASE_DIR}/nocsrf.json" -w '%{http_code}' -b "${CASE_DIR}/jar" \
  -X POST "${UI}api/SetProviderEnabled" -d '{"name":"alpha","enabled":false}')"
expect_eq "a POST without the CSRF token" "${code}" 403
code="$(curl -s -o /dev/null -w '%{http_code}' -b "${CASE_DIR}/jar" -H 'x-csrf-token: 00' \
  -X POST "${UI}api/SetProviderEnabled" -d '{"name":"alpha","enabled":false}')"
expect_eq "a POST with a wrong CSRF token" "${code}" 403
code="$(curl -s -o /dev/null -w '%{http_code}' -b "${CASE_DIR}/jar" -H "x-csrf-token: ${CSRF}" \
  -H 'origin: http://evil.example' -X POST "${UI}api/ListProviders" -d '{}')"
expect_eq "a cross-site POST" "${code}" 403
code="$(curl -s -o "${CASE_DIR}/noauth.json" -w '%{http_code}' -X POST "${UI}api/ListProviders" \
  -d '{}')"
expect_eq "an API call without a session" "${code}" 401
code="$(curl -s -o /dev/null -w '%{http_code}' -H 'host: relay.example:8789' "${UI}")"
expect_eq "/ui/ under a host name that is not loopback" "${code}" 403
state="$(curl -s -b "${CASE_DIR}/jar" -H "x-csrf-token: ${CSRF}" -X POST "${UI}api/GetProvider" \
  -d '{"name":"alpha"}' | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(String(JSON.parse(s).enabled)))')"
expect_eq "alpha after the refused POSTs" "${state}" true
code="$(curl -s -o /dev/null -w '%{http_code}' "http://${HTTP_ADDR}/health")"
expect_eq "/health beside the UI" "${code}" 200
pass "login, session cookie, CSRF and cross-site refusals, Host check"

if ((${#ro_flags[@]})); then
  curl -s -o "${CASE_DIR}/ro-login.json" -c "${CASE_DIR}/ro-jar" -X POST "${UI}login" \
    --data-binary @- <<<"{\"token\":\"${RO_TOKEN}\"}"
  RO_CSRF="$(node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1]));process.stdout.write(j.role+" "+j.csrf)' \
    "${CASE_DIR}/ro-login.json")"
  expect_eq "the read-only token's role" "${RO_CSRF%% *}" read-only
  code="$(curl -s -o /dev/null -w '%{http_code}' -b "${CASE_DIR}/ro-jar" \
    -H "x-csrf-token: ${RO_CSRF#* }" -X POST "${UI}api/ListProviders" -d '{}')"
  expect_eq "a read with the read-only token" "${code}" 200
  for call in 'SetProviderEnabled {"name":"alpha","enabled":false}' 'ReloadConfig {}' \
      "AddKey {\"provider\":\"alpha\",\"key\":\"fake-ui-ro-$(rand)\"}"; do
    code="$(curl -s -o /dev/null -w '%{http_code}' -b "${CASE_DIR}/ro-jar" \
      -H "x-csrf-token: ${RO_CSRF#* }" -X POST "${UI}api/${call%% *}" -d "${call#* }")"
    expect_eq "${call%% *} with the read-only token" "${code}" 403
  done
  pass "a read-only session reads and cannot change anything"
  RO_ENV="${RO_TOKEN}"
else
  echo "note [webui]: this build has no read-only token (--read-only-token-file): role checks left out"
  RO_ENV=""
fi

# --- the browser ---
mkdir -p "${ARTIFACTS}" "${CASE_DIR}/home"
rm -f "${ARTIFACTS}"/*.png
run_browser webui UI="${UI}" RELAY_URL="${DP_URL}" MODEL="${MODEL}" ADMIN_TOKEN="${ADMIN_TOKEN}" \
  RO_TOKEN="${RO_ENV}" KEY1="${KEY1}" KEY2="${KEY2}" NEW_KEY="${NEW_KEY}" \
  MOCK_REQUESTS="${MOCK_REQUESTS}"

# No secret in anything the UI received, nor in the logs.
[[ -s "${CASE_DIR}/webui-responses.txt" ]] || fail "the browser recorded no response"
no_secret "${CASE_DIR}/webui-responses.txt"
for f in "${CASE_DIR}"/{login,nocsrf,noauth,ro-login}.json "${CP_LOG}" "${DP_LOG}" \
    "${CASE_DIR}/webui.out" "${CASE_DIR}/webui.err"; do
  [[ -f "${f}" ]] && no_secret "${f}"
done
pass "no provider key or token in any response the UI received, nor in the logs"
ls "${ARTIFACTS}"/*.png >/dev/null 2>&1 || fail "no screenshots in ${ARTIFACTS}"
pass "screenshots: $(find "${ARTIFACTS}" -name '*.png' | wc -l) in ${ARTIFACTS}"

# --- HTTPS: a second control plane with --http-tls-cert/--http-tls-key ---
readonly OFF_LOOPBACK_IP=10.231.9.1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:${OFF_LOOPBACK_IP}" \
  -keyout "${CASE_DIR}/https.key" -out "${CASE_DIR}/https.crt" 2>"${CASE_DIR}/openssl.err" ||
  fail "openssl req: $(cat "${CASE_DIR}/openssl.err")"
# start_tls_plane NAME HTTP_LISTEN [COMMAND PREFIX...]: a control plane of this config serving
# HTTPS on HTTP_LISTEN (port 0); sets TLS_PID and TLS_PORT.
start_tls_plane() {
  local name=$1 listen=$2
  shift 2
  local log="${CASE_DIR}/${name}.log"
  "$@" timeout -k 5 "${E2E_PROCESS_LIFETIME}" "${CCR_RELAY_BINARY}" control-plane \
    --config "${CASE_DIR}/relay.yaml" --listen 127.0.0.1:0 --http-listen "${listen}" \
    --token-file "${CASE_DIR}/admin.token" --db none --state-file "${CASE_DIR}/${name}.state.json" \
    --no-watch "${TLS_FLAGS[@]}" >"${CASE_DIR}/${name}.out" 2>"${log}" &
  TLS_PID=$!
  E2E_PIDS+=("${TLS_PID}")
  local host="${listen%:*}"
  wait_for_line "${log}" "control_plane_http_listening address=${host//./\\.}:[0-9]+ tls=" \
    "${TLS_PID}" 10 "control plane ${name} (HTTP)"
  TLS_PORT="$(sed -n "s/.*control_plane_http_listening address=${host//./\\.}:\([0-9]*\) .*/\1/p" \
    "${log}" | head -n 1)"
}
TLS_FLAGS=(--http-tls-cert "${CASE_DIR}/https.crt" --http-tls-key "${CASE_DIR}/https.key")
start_tls_plane cp-https 127.0.0.1:0
grep -q 'control_plane_http_listening .*tls=true' "${CASE_DIR}/cp-https.log" ||
  fail "no tls=true on control_plane_http_listening"
UI_TLS="https://localhost:${TLS_PORT}/ui/"
code="$(curl -s --cacert "${CASE_DIR}/https.crt" -o "${CASE_DIR}/https-index.html" \
  -w '%{http_code}' "${UI_TLS}")"
expect_eq "/ui/ over HTTPS" "${code}" 200
code="$(curl -s --cacert "${CASE_DIR}/https.crt" -o /dev/null -w '%{http_code}' \
  "https://127.0.0.1:${TLS_PORT}/health")"
expect_eq "/health over HTTPS" "${code}" 200
curl -s --cacert "${CASE_DIR}/https.crt" -D "${CASE_DIR}/https-login.head" \
  -o "${CASE_DIR}/https-login.json" -X POST "${UI_TLS}login" --data-binary @- \
  <<<"{\"token\":\"${ADMIN_TOKEN}\"}"
grep -i '^set-cookie: ccr_session=' "${CASE_DIR}/https-login.head" |
  grep -qi 'HttpOnly; SameSite=Strict; Path=/ui; Secure' ||
  fail "the session cookie over HTTPS is not Secure"
if curl -s --max-time 5 -o "${CASE_DIR}/plain-to-tls.out" "http://127.0.0.1:${TLS_PORT}/health"; then
  fail "plaintext HTTP to the TLS listener answered: $(head -c 200 "${CASE_DIR}/plain-to-tls.out")"
fi
kill -0 "${TLS_PID}" 2>/dev/null || fail "the TLS control plane died after a plaintext request"
pass "HTTPS: /ui/ and /health answer, the cookie is Secure, plaintext fails its handshake"

run_browser webui-https HTTPS=1 UI="${UI_TLS}" ADMIN_TOKEN="${ADMIN_TOKEN}"
for f in "${CASE_DIR}"/webui-https-responses.txt "${CASE_DIR}"/https-login.json \
    "${CASE_DIR}"/cp-https.log "${CASE_DIR}"/webui-https.{out,err}; do
  [[ -f "${f}" ]] && no_secret "${f}"
done
pass "HTTPS: the browser logged in and saw the overview; no secret in its responses or the log"

# --- off loopback, in a network namespace of this test's own (root only) ---
if [[ "$(id -u)" == 0 ]] && command -v ip >/dev/null 2>&1 &&
    ip netns add "ccr-webui-$$" 2>"${CASE_DIR}/netns.err"; then
  NS="ccr-webui-$$"
  # Processes first (a namespace lives while a process is in it), then the namespace.
  webui_exit() {
    local rc=$?
    stop_all
    ip netns delete "${NS}" 2>/dev/null
    (exit "${rc}")
    e2e_cleanup
  }
  trap webui_exit EXIT
  ip -n "${NS}" link set dev lo up || fail "${NS}: lo up"
  ip -n "${NS}" link add v0 type veth peer name v1 || fail "${NS}: veth"
  ip -n "${NS}" addr add "${OFF_LOOPBACK_IP}/24" dev v0 || fail "${NS}: address"
  ip -n "${NS}" link set dev v0 up || fail "${NS}: v0 up"
  ip -n "${NS}" link set dev v1 up || fail "${NS}: v1 up"
  TLS_FLAGS=()
  start_tls_plane cp-remote-plain "${OFF_LOOPBACK_IP}:0" ip netns exec "${NS}"
  code="$(ip netns exec "${NS}" curl -s -o "${CASE_DIR}/remote-plain.txt" -w '%{http_code}' \
    "http://${OFF_LOOPBACK_IP}:${TLS_PORT}/ui/")"
  expect_eq "plaintext /ui/ off loopback" "${code}" 403
  grep -q -- '--http-tls-cert' "${CASE_DIR}/remote-plain.txt" ||
    fail "the refusal does not name --http-tls-cert: $(cat "${CASE_DIR}/remote-plain.txt")"
  code="$(ip netns exec "${NS}" curl -s -o /dev/null -w '%{http_code}' \
    "http://${OFF_LOOPBACK_IP}:${TLS_PORT}/health")"
  expect_eq "plaintext /health off loopback" "${code}" 200
  TLS_FLAGS=(--http-tls-cert "${CASE_DIR}/https.crt" --http-tls-key "${CASE_DIR}/https.key")
  start_tls_plane cp-remote-tls "${OFF_LOOPBACK_IP}:0" ip netns exec "${NS}"
  code="$(ip netns exec "${NS}" curl -s --cacert "${CASE_DIR}/https.crt" \
    -o "${CASE_DIR}/remote-tls.html" -w '%{http_code}' "https://${OFF_LOOPBACK_IP}:${TLS_PORT}/ui/")"
  expect_eq "HTTPS /ui/ off loopback" "${code}" 200
  grep -q '<script src="app.js"' "${CASE_DIR}/remote-tls.html" || fail "HTTPS /ui/ off loopback: no page"
  pass "off loopback (${OFF_LOOPBACK_IP} in namespace ${NS}): plaintext /ui/ refused, HTTPS /ui/ served"
else
  echo "note [webui]: no network namespace here (needs root and ip netns): the off-loopback" \
    "rules are covered by the unit tests"
fi
