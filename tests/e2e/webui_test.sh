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
# Needs chromium (/usr/bin/chromium, or $CHROMIUM), `npm ci --prefix tests/e2e` (playwright-core),
# curl, and the targets cc-relay and ccr_mock_upstream. A missing tool is a failure, never a
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
[[ -x "${CHROMIUM}" ]] || fail "chromium not found at ${CHROMIUM} (apt-get install chromium)"
[[ -f "${E2E_NODE_MODULES}/playwright-core/package.json" ]] ||
  fail "playwright-core not installed under ${E2E_NODE_MODULES}: run 'npm ci --prefix tests/e2e'"

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
(
  cd "${E2E_DIR}" &&
    exec timeout 200 env -i \
      HOME="${CASE_DIR}/home" \
      PATH="${PATH}" \
      UI="${UI}" \
      RELAY_URL="${DP_URL}" \
      MODEL="${MODEL}" \
      ADMIN_TOKEN="${ADMIN_TOKEN}" \
      RO_TOKEN="${RO_ENV}" \
      KEY1="${KEY1}" \
      KEY2="${KEY2}" \
      NEW_KEY="${NEW_KEY}" \
      MOCK_REQUESTS="${MOCK_REQUESTS}" \
      CHROMIUM="${CHROMIUM}" \
      PROFILE_DIR="${CASE_DIR}/chromium-profile" \
      ARTIFACTS="${ARTIFACTS}" \
      BODIES="${CASE_DIR}/ui-responses.txt" \
      node webui_test.mjs
) </dev/null >"${CASE_DIR}/webui.out" 2>"${CASE_DIR}/webui.err"
rc=$?
cat "${CASE_DIR}/webui.out"
[[ "${rc}" == 0 ]] || fail "webui_test.mjs exited ${rc}"

# No secret in anything the UI received, nor in the logs.
[[ -s "${CASE_DIR}/ui-responses.txt" ]] || fail "the browser recorded no response"
no_secret "${CASE_DIR}/ui-responses.txt"
for f in "${CASE_DIR}"/{login,nocsrf,noauth,ro-login}.json "${CP_LOG}" "${DP_LOG}" \
    "${CASE_DIR}/webui.out" "${CASE_DIR}/webui.err"; do
  [[ -f "${f}" ]] && no_secret "${f}"
done
pass "no provider key or token in any response the UI received, nor in the logs"
ls "${ARTIFACTS}"/*.png >/dev/null 2>&1 || fail "no screenshots in ${ARTIFACTS}"
pass "screenshots: $(find "${ARTIFACTS}" -name '*.png' | wc -l) in ${ARTIFACTS}"
