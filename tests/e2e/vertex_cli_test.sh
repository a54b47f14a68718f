#!/usr/bin/env bash
# End-to-end: the real Claude Code CLI (npm @anthropic-ai/claude-code, pinned in package.json)
# -> cc-relay (a `type: vertex` provider without keys: the control plane mints Google access
# tokens) -> tests/fakes/fake_vertex.py, a strict fake of Vertex AI's Claude endpoints that
# accepts only the tokens tests/fakes/fake_gcp_auth.py issued. fake_gcp_auth.py is Google's
# token endpoint (it verifies the relay's RS256 JWT with python3-google-auth) and the metadata
# server. All on 127.0.0.1, no other network; the service account's RSA key is made per run.
#
# Cases:
#   service_account  gcp_credentials_file: a service account key file -> the JWT bearer grant;
#                    `claude -p` output intact (streamRawPredict, thinking, anthropic_version in
#                    the body, no model in it, Claude Code's betas Vertex refuses dropped), and a
#                    tool round trip (Claude Code's Read tool, its tool_result back to Vertex)
#   adc_env          Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS in the
#                    relay's environment names the key file; no gcp_credentials_file
#   adc_gcloud       ADC from gcloud's well-known file ($HOME/.config/gcloud/...): an
#                    authorized user -> the refresh_token grant
#   adc_metadata     ADC with no file anywhere falls through to the metadata server
#                    (gcp_metadata_endpoint -> the fake), then a tool round trip
#   count_tokens     POST /v1/messages/count_tokens through the relay -> count-tokens:rawPredict
# Every case: every request the fakes got was answered 200 with a verified credential or token;
# no private key, refresh token, client secret, access token or client key in the relay's output.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=cloud_cli_lib.sh
source "${E2E_DIR}/cloud_cli_lib.sh"

readonly FAKE_GCP_AUTH="${CCR_SOURCE_DIR}/tests/fakes/fake_gcp_auth.py"
readonly FAKE_VERTEX="${CCR_SOURCE_DIR}/tests/fakes/fake_vertex.py"
# Fake identities and secrets, made fresh for every run (never real ones).
PROJECT="e2e-project-$(rand 4)"
SA_EMAIL="relay-e2e@${PROJECT}.iam.gserviceaccount.com"
SA_KEY_ID="$(rand 20)"
USER_CLIENT_ID="$(rand 6)-e2e.apps.googleusercontent.com"
USER_CLIENT_SECRET="e2e-client-secret-$(rand 12)"
USER_REFRESH_TOKEN="1//e2e-refresh-$(rand 16)"
CLIENT_KEY="fake-client-key-$(rand 8)"
readonly PROJECT SA_EMAIL SA_KEY_ID USER_CLIENT_ID USER_CLIENT_SECRET USER_REFRESH_TOKEN CLIENT_KEY
readonly REGION=us-east5
readonly MODEL="claude-sonnet-4-5-20250929"
readonly VERTEX_MODEL="claude-sonnet-4-5@20250929"
readonly VERTEX_HAIKU="claude-haiku-4-5@20251001"

# The relay must find only what a case gives it (ADC reads these; HOME per case).
unset GOOGLE_APPLICATION_CREDENTIALS CLOUDSDK_CONFIG GCE_METADATA_HOST GCE_METADATA_IP

begin_case setup
require_claude
"${CCR_PYTHON}" -c 'import google.auth.jwt, google.auth.crypt' 2>/dev/null ||
  fail "${CCR_PYTHON} cannot import google.auth (scripts/setup.sh installs python3-google-auth)"
command -v openssl >/dev/null || fail "openssl is not on PATH"
# The service account's key pair and its key file, as the Cloud console hands them out.
readonly SA_PEM="${E2E_TMP}/sa-key.pem"
readonly SA_FILE="${E2E_TMP}/service-account.json"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "${SA_PEM}" 2>/dev/null ||
  fail "openssl genpkey failed"
openssl pkey -in "${SA_PEM}" -pubout -out "${E2E_TMP}/sa-key.pub" 2>/dev/null ||
  fail "openssl pkey -pubout failed"
# Lines of the PEM body: none may appear in the relay's output.
mapfile -t PEM_SECRETS < <(grep -v -- '-----' "${SA_PEM}" | sed -n '1p;5p;10p;$p')
[[ "${#PEM_SECRETS[@]}" == 4 ]] || fail "unexpected PEM layout in ${SA_PEM}"
pass "Claude Code, google-auth and openssl present; service account key made"

# write_sa_file TOKEN_PORT: the service account key file, its token_uri at the fake.
write_sa_file() {
  node -e '
    const fs = require("fs");
    const [file, pem, email, kid, project, port] = process.argv.slice(1);
    fs.writeFileSync(file, JSON.stringify({
      type: "service_account", project_id: project, private_key_id: kid,
      private_key: fs.readFileSync(pem, "utf8"), client_email: email,
      client_id: "1234567890", auth_uri: "https://accounts.google.com/o/oauth2/auth",
      token_uri: "http://127.0.0.1:" + port + "/token"}, null, 2) + "\n");
  ' "${SA_FILE}" "${SA_PEM}" "${SA_EMAIL}" "${SA_KEY_ID}" "${PROJECT}" "$1"
}

# start_gcp_auth: the fake token endpoint and metadata server, knowing the service account and
# the authorized user; sets GCP_PORT, GCP_REQUESTS and GCP_TOKENS (the tokens it issued).
start_gcp_auth() {
  local accounts="${CASE_DIR}/gcp-accounts.json"
  node -e '
    const fs = require("fs");
    const [file, pub, email, kid, id, secret, refresh] = process.argv.slice(1);
    fs.writeFileSync(file, JSON.stringify({
      service_accounts: [{client_email: email,
                          keys: [{kid: kid, public_key: fs.readFileSync(pub, "utf8")}]}],
      authorized_users: [{client_id: id, client_secret: secret, refresh_token: refresh}]}));
  ' "${accounts}" "${E2E_TMP}/sa-key.pub" "${SA_EMAIL}" "${SA_KEY_ID}" "${USER_CLIENT_ID}" \
    "${USER_CLIENT_SECRET}" "${USER_REFRESH_TOKEN}"
  GCP_TOKENS="${CASE_DIR}/gcp-tokens.json"
  GCP_REQUESTS="${CASE_DIR}/gcp-auth-requests.jsonl"
  start_py_fake gcp-auth "fake Google auth" "${FAKE_GCP_AUTH}" --accounts "${accounts}" \
    --tokens-file "${GCP_TOKENS}" --request-log "${GCP_REQUESTS}" --metadata-email "${SA_EMAIL}"
  GCP_PORT="${FAKE_PORT}"
  write_sa_file "${GCP_PORT}"
}

# start_fake_vertex: accepts the tokens fake_gcp_auth issued; sets VERTEX_PORT, VERTEX_REQUESTS.
start_fake_vertex() {
  VERTEX_REQUESTS="${CASE_DIR}/vertex-requests.jsonl"
  start_py_fake vertex "fake Vertex" "${FAKE_VERTEX}" --project "${PROJECT}" \
    --region "${REGION}" --tokens "${GCP_TOKENS}" --request-log "${VERTEX_REQUESTS}"
  VERTEX_PORT="${FAKE_PORT}"
}

# write_config FILE [YAML_LINE...]: a keyless Vertex provider (so the control plane mints its
# token), the lines given added to it; Claude Code's models mapped to Vertex's model ids.
write_config() {
  local file=$1
  shift
  relay_config vertex vertex "${VERTEX_MODEL}" "${VERTEX_HAIKU}" \
    "gcp_project_id: \"${PROJECT}\"" "gcp_region: ${REGION}" \
    "base_url: \"http://127.0.0.1:${VERTEX_PORT}/v1\"" "$@" >"${file}"
}

# start_case_relay [NAME=VALUE...]: the relay on CASE_DIR/relay.yaml with HOME (so gcloud's
# well-known file) in the case's directory, the assignments given added to its environment; it
# must have had its first token before it listened.
start_case_relay() {
  mkdir -p "${CASE_DIR}/relay-home"
  start_relay "${CASE_DIR}/relay.yaml" HOME="${CASE_DIR}/relay-home" "$@"
  grep -q 'google_token_refreshed provider=vertex' "${RELAY_LOG}" ||
    fail "the relay listened without a Google token (its first resolution is synchronous)"
}

# vertex_say NAME: `claude -p "SAY ..."` comes back intact; the model call streamed to Vertex.
vertex_say() {
  claude_say_streamed "$1" Vertex "${VERTEX_REQUESTS}" streamRawPredict "${VERTEX_MODEL}"
}

# vertex_tool NAME: a tool round trip; the tool_result went to Vertex in a streamed call.
vertex_tool() {
  claude_tool "$1" "${VERTEX_REQUESTS}" 'r.operation === "streamRawPredict"'
}

# The access tokens fake_gcp_auth issued (one per line).
issued_tokens() {
  [[ -s "${GCP_TOKENS}" ]] || return 0
  jsq "${GCP_TOKENS}" 'rows[0].tokens.map((t) => t.token).join("\n")'
}

# expect_clean GRANT: fake_gcp_auth issued tokens by GRANT only, every request answered 200;
# every request fake Vertex got was answered 200 with one of those tokens, in Vertex's shape;
# no secret in the relay's output.
expect_clean() {
  local grant=$1
  [[ -s "${GCP_REQUESTS}" ]] || fail "no request reached the fake Google auth"
  expect_eq "fake Google auth requests not answered 200" \
    "$(jsq "${GCP_REQUESTS}" 'rows.filter((r) => r.status !== 200 || r.verified !== true).map((r) => r.route + " " + r.status + " " + r.error + ": " + r.error_description).join("; ")')" ""
  expect_eq "tokens issued by another grant" \
    "$(jsq "${GCP_TOKENS}" "rows[0].tokens.filter((t) => t.grant !== '${grant}').map((t) => t.grant).join(',')")" ""
  [[ -s "${VERTEX_REQUESTS}" ]] || fail "no request reached the fake Vertex"
  expect_eq "fake Vertex requests not answered 200" \
    "$(jsq "${VERTEX_REQUESTS}" 'rows.filter((r) => r.status !== 200).map((r) => r.status + " " + r.error_type + ": " + r.error_message).join("; ")')" ""
  expect_eq "requests without a verified bearer token" \
    "$(jsq "${VERTEX_REQUESTS}" 'rows.filter((r) => r.verified !== true || r.auth.kind !== "bearer" || r.auth.verdict !== "ok").length')" 0
  expect_eq "requests without Vertex's anthropic_version" \
    "$(jsq "${VERTEX_REQUESTS}" 'rows.filter((r) => r.body.anthropic_version !== "vertex-2023-10-16").length')" 0
  expect_eq "model calls with a model in the body" \
    "$(jsq "${VERTEX_REQUESTS}" 'rows.filter((r) => r.operation !== "countTokens" && "model" in r.body).length')" 0
  expect_eq "Claude Code's own beta sent to Vertex" \
    "$(jsq "${VERTEX_REQUESTS}" "rows.filter((r) => (r.anthropic_beta || []).includes('claude-code-20250219')).length")" 0
  local -a secrets=("${PEM_SECRETS[@]}" "${CLIENT_KEY}" "${USER_CLIENT_SECRET}" "${USER_REFRESH_TOKEN}")
  mapfile -t -O "${#secrets[@]}" secrets < <(issued_tokens)
  [[ "${#secrets[@]}" -gt 7 ]] || fail "fake Google auth issued no token"
  expect_secrets_absent "${RELAY_LOG}" "${secrets[@]}"
  expect_secrets_absent "${CASE_DIR}/relay.out" "${secrets[@]}"
}

# ---------------------------------------------------------------------------------------------
begin_case service_account
start_gcp_auth
start_fake_vertex
write_config "${CASE_DIR}/relay.yaml" "gcp_credentials_file: \"${SA_FILE}\""
start_case_relay
expect_minted google_token vertex "service account ${SA_EMAIL}"
vertex_say say
main='rows.find((r) => JSON.stringify(r.body).includes("SAY Vertex answered"))'
expect_eq "thinking went to Vertex" "$(jsq "${VERTEX_REQUESTS}" "${main}.body.thinking.type")" \
  enabled
expect_eq "prompt caching marks kept" \
  "$(jsq "${VERTEX_REQUESTS}" "JSON.stringify(${main}.body).includes('\"cache_control\":{\"type\":\"ephemeral\"')")" \
  true
grep -Eq 'betas_dropped .* provider=vertex betas="[^"]*claude-code-20250219' "${RELAY_LOG}" ||
  fail "no betas_dropped line for Claude Code's claude-code-20250219 beta"
expect_eq "Vertex was asked for the client's query" \
  "$(jsq "${VERTEX_REQUESTS}" 'rows.filter((r) => r.query).length')" 0
pass "claude -p output intact: streamRawPredict, thinking, cache_control kept"
vertex_tool tool
pass "tool round trip: Read ran and its result reached Vertex: '${TOOL_RESULT}'"
expect_clean jwt-bearer
expect_eq "the JWT was signed with the key file's key id" \
  "$(jsq "${GCP_REQUESTS}" "rows.filter((r) => r.kid !== '${SA_KEY_ID}' || r.iss !== '${SA_EMAIL}').length")" 0
pass "JWT grant verified by google-auth; every Vertex request had a minted token, answered 200;" \
  "anthropic_version in, model out, claude-code beta dropped; no secret in the relay's output"

# ---------------------------------------------------------------------------------------------
begin_case adc_env
start_gcp_auth
start_fake_vertex
write_config "${CASE_DIR}/relay.yaml"
start_case_relay GOOGLE_APPLICATION_CREDENTIALS="${SA_FILE}"
expect_minted google_token vertex "service account ${SA_EMAIL}"
vertex_say say
pass "claude -p through a token from GOOGLE_APPLICATION_CREDENTIALS's key file"
expect_clean jwt-bearer
pass "every request verified and answered 200; no secret in the relay's output"

# ---------------------------------------------------------------------------------------------
begin_case adc_gcloud
start_gcp_auth
start_fake_vertex
mkdir -p "${CASE_DIR}/relay-home/.config/gcloud"
node -e '
  const [file, id, secret, refresh] = process.argv.slice(1);
  require("fs").writeFileSync(file, JSON.stringify({client_id: id, client_secret: secret,
    refresh_token: refresh, type: "authorized_user"}, null, 2));
' "${CASE_DIR}/relay-home/.config/gcloud/application_default_credentials.json" \
  "${USER_CLIENT_ID}" "${USER_CLIENT_SECRET}" "${USER_REFRESH_TOKEN}"
write_config "${CASE_DIR}/relay.yaml" "gcp_token_endpoint: \"http://127.0.0.1:${GCP_PORT}/token\""
start_case_relay
expect_minted google_token vertex "authorized user (client ${USER_CLIENT_ID:0:12}...)"
vertex_say say
pass "claude -p through a token from gcloud's well-known file (refresh_token grant)"
expect_clean refresh_token
pass "every request verified and answered 200; no secret in the relay's output"

# ---------------------------------------------------------------------------------------------
begin_case adc_metadata
start_gcp_auth
start_fake_vertex
write_config "${CASE_DIR}/relay.yaml" "gcp_metadata_endpoint: \"http://127.0.0.1:${GCP_PORT}\""
start_case_relay
expect_minted google_token vertex "metadata server"
# (Every start of the control plane mints: a relay whose default control plane port is taken
# starts it twice, so there may be more than one request.)
expect_eq "the metadata server was asked, with Metadata-Flavor: Google" \
  "$(jsq "${GCP_REQUESTS}" 'rows.length > 0 && rows.every((r) => r.route === "metadata" && r.metadata_flavor === "Google")')" \
  true
vertex_say say
pass "claude -p through a token from the metadata server (no key file, no gcloud file)"
vertex_tool tool
pass "tool round trip: '${TOOL_RESULT}'"
expect_clean metadata
pass "every request verified and answered 200; no secret in the relay's output"

# ---------------------------------------------------------------------------------------------
begin_case count_tokens
start_gcp_auth
start_fake_vertex
write_config "${CASE_DIR}/relay.yaml" "gcp_credentials_file: \"${SA_FILE}\""
start_case_relay
count_tokens_via_relay
pass "POST /v1/messages/count_tokens -> $(cat "${COUNT_OUT}")"
expect_eq "fake Vertex requests" "$(jsq "${VERTEX_REQUESTS}" 'rows.length')" 1
expect_eq "the request" \
  "$(jsq "${VERTEX_REQUESTS}" '[rows[0].operation, rows[0].path.endsWith("/models/count-tokens:rawPredict"), rows[0].body.model, !rows[0].query]')" \
  "[\"countTokens\",true,\"${VERTEX_MODEL}\",true]"
expect_clean jwt-bearer
pass "count-tokens:rawPredict with the mapped model, anthropic_version, a verified token;" \
  "claude-code beta dropped; no secret in the relay's output"

echo "PASS: vertex_cli_test"
