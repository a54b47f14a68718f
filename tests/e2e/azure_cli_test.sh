#!/usr/bin/env bash
# End-to-end: the real Claude Code CLI (npm @anthropic-ai/claude-code, pinned in package.json)
# -> cc-relay (a `type: azure` provider) -> tests/fakes/fake_foundry.py, a strict fake of Azure
# AI Foundry's Claude endpoint that accepts its API key or the Entra ID tokens
# tests/fakes/fake_azure_auth.py issued. fake_azure_auth.py is Microsoft Entra ID's token
# endpoint and Azure's instance metadata service (managed identity). All on 127.0.0.1, no other
# network.
#
# Cases:
#   api_key          a Foundry API key (keys:) sent as api-key and x-api-key; `claude -p`
#                    output intact (streamed, model_mapping to deployment names, thinking) and a
#                    tool round trip (Claude Code's Read tool, its tool_result back to Foundry)
#   client_secret    no keys: the control plane mints an Entra ID token with a client secret
#                    (azure_tenant_id, azure_client_id, azure_client_secret,
#                    azure_authority_host -> the fake); `claude -p` with that bearer token
#   managed_identity no keys, azure_auth: managed_identity (azure_imds_endpoint -> the fake):
#                    `claude -p` and a tool round trip with the IMDS token
#   count_tokens     POST /v1/messages/count_tokens through the relay -> Foundry's count_tokens
# Every case: every request the fakes got was answered 200 with a verified key or token; no API
# key, client secret, access token or client key in the relay's output.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=cloud_cli_lib.sh
source "${E2E_DIR}/cloud_cli_lib.sh"

readonly FAKE_AZURE_AUTH="${CCR_SOURCE_DIR}/tests/fakes/fake_azure_auth.py"
readonly FAKE_FOUNDRY="${CCR_SOURCE_DIR}/tests/fakes/fake_foundry.py"
# A GUID from random bytes.
guid() {
  local h
  h="$(rand 16)"
  echo "${h:0:8}-${h:8:4}-${h:12:4}-${h:16:4}-${h:20:12}"
}
# Fake identities and secrets, made fresh for every run (never real ones).
TENANT_ID="$(guid)"
APP_CLIENT_ID="$(guid)"
APP_CLIENT_SECRET="e2e~secret.$(rand 16)"
API_KEY="$(rand 16)"
CLIENT_KEY="fake-client-key-$(rand 8)"
readonly TENANT_ID APP_CLIENT_ID APP_CLIENT_SECRET API_KEY CLIENT_KEY
readonly MODEL="claude-sonnet-4-5-20250929"
# Foundry deployment names (what model_mapping maps Claude Code's models to).
readonly DEPLOYMENT="e2e-sonnet-45"
readonly DEPLOYMENT_HAIKU="e2e-haiku-45"

# The relay must find only what a case gives it (the Entra chain reads these).
unset AZURE_TENANT_ID AZURE_CLIENT_ID AZURE_CLIENT_SECRET AZURE_FEDERATED_TOKEN_FILE \
  AZURE_AUTHORITY_HOST AZURE_CLIENT_CERTIFICATE_PATH IDENTITY_ENDPOINT MSI_ENDPOINT

begin_case setup
require_claude
pass "Claude Code present"

# start_azure_auth: the fake Entra ID token endpoint and IMDS, knowing the app and a
# system-assigned managed identity; sets AZ_PORT, AZ_REQUESTS and AZ_TOKENS (the tokens issued).
start_azure_auth() {
  local clients="${CASE_DIR}/azure-clients.json"
  printf '{"apps":[{"tenant":"%s","client_id":"%s","secret":"%s"}],"managed_identity":{"system_assigned":true}}\n' \
    "${TENANT_ID}" "${APP_CLIENT_ID}" "${APP_CLIENT_SECRET}" >"${clients}"
  AZ_TOKENS="${CASE_DIR}/azure-tokens.json"
  AZ_REQUESTS="${CASE_DIR}/azure-auth-requests.jsonl"
  start_py_fake azure-auth "fake Entra ID" "${FAKE_AZURE_AUTH}" --clients "${clients}" \
    --tokens-file "${AZ_TOKENS}" --request-log "${AZ_REQUESTS}"
  AZ_PORT="${FAKE_PORT}"
}

# start_fake_foundry: accepts API_KEY and the tokens fake_azure_auth issued; sets FOUNDRY_PORT
# and FOUNDRY_REQUESTS.
start_fake_foundry() {
  FOUNDRY_REQUESTS="${CASE_DIR}/foundry-requests.jsonl"
  start_py_fake foundry "fake Foundry" "${FAKE_FOUNDRY}" --deployment "${DEPLOYMENT}" \
    --deployment "${DEPLOYMENT_HAIKU}" --api-key "${API_KEY}" --tokens "${AZ_TOKENS}" \
    --request-log "${FOUNDRY_REQUESTS}"
  FOUNDRY_PORT="${FAKE_PORT}"
}

# write_config FILE [YAML_LINE...]: an Azure provider at the fake, the lines given added to it
# (keys, or the Entra ID settings); Claude Code's models mapped to the deployments.
write_config() {
  local file=$1
  shift
  relay_config azure azure "${DEPLOYMENT}" "${DEPLOYMENT_HAIKU}" \
    "base_url: \"http://127.0.0.1:${FOUNDRY_PORT}/anthropic\"" "$@" >"${file}"
}

# start_case_relay: the relay on CASE_DIR/relay.yaml, HOME in the case's directory.
start_case_relay() {
  mkdir -p "${CASE_DIR}/relay-home"
  start_relay "${CASE_DIR}/relay.yaml" HOME="${CASE_DIR}/relay-home"
}

# foundry_say NAME: `claude -p "SAY ..."` comes back intact; the model call streamed from the
# deployment.
foundry_say() {
  claude_say_streamed "$1" Foundry "${FOUNDRY_REQUESTS}" messages "${DEPLOYMENT}"
}

# The access tokens fake_azure_auth issued (one per line).
issued_tokens() {
  [[ -s "${AZ_TOKENS}" ]] || return 0
  jsq "${AZ_TOKENS}" 'Object.keys(rows[0].tokens).join("\n")'
}

# expect_clean KIND [GRANT]: every request fake Foundry got was answered 200 and authenticated
# by KIND (api-key or bearer); with GRANT, fake_azure_auth issued tokens by that grant only and
# answered every request 200; no secret in the relay's output.
expect_clean() {
  local kind=$1 grant=${2:-}
  [[ -s "${FOUNDRY_REQUESTS}" ]] || fail "no request reached the fake Foundry"
  expect_eq "fake Foundry requests not answered 200" \
    "$(jsq "${FOUNDRY_REQUESTS}" 'rows.filter((r) => r.status !== 200).map((r) => r.status + " " + r.error_type + ": " + r.error_message).join("; ")')" ""
  expect_eq "requests not authenticated by ${kind}" \
    "$(jsq "${FOUNDRY_REQUESTS}" "rows.filter((r) => r.verified !== true || r.auth.kind !== '${kind}' || r.auth.verdict !== 'ok').length")" 0
  if [[ -n "${grant}" ]]; then
    [[ -s "${AZ_REQUESTS}" ]] || fail "no request reached the fake Entra ID"
    expect_eq "fake Entra ID requests not answered 200" \
      "$(jsq "${AZ_REQUESTS}" 'rows.filter((r) => r.status !== 200).map((r) => r.route + " " + r.status + " " + r.error + ": " + r.error_description).join("; ")')" ""
    expect_eq "tokens issued by another grant" \
      "$(jsq "${AZ_TOKENS}" "Object.values(rows[0].tokens).filter((t) => t.grant !== '${grant}').map((t) => t.grant).join(',')")" ""
  else
    [[ ! -s "${AZ_REQUESTS}" ]] || fail "the relay asked Entra ID for a token though it has a key"
  fi
  local -a secrets=("${API_KEY}" "${APP_CLIENT_SECRET}" "${CLIENT_KEY}")
  mapfile -t -O "${#secrets[@]}" secrets < <(issued_tokens)
  [[ -z "${grant}" || "${#secrets[@]}" -gt 3 ]] || fail "fake Entra ID issued no token"
  expect_secrets_absent "${RELAY_LOG}" "${secrets[@]}"
  expect_secrets_absent "${CASE_DIR}/relay.out" "${secrets[@]}"
}

# ---------------------------------------------------------------------------------------------
begin_case api_key
start_azure_auth
start_fake_foundry
write_config "${CASE_DIR}/relay.yaml" "keys:" "  - key: \"${API_KEY}\""
start_case_relay
foundry_say say
main='rows.find((r) => JSON.stringify(r.body).includes("SAY Foundry answered"))'
expect_eq "thinking went to Foundry" "$(jsq "${FOUNDRY_REQUESTS}" "${main}.body.thinking.type")" \
  enabled
expect_eq "the key as api-key and x-api-key, no Authorization" \
  "$(jsq "${FOUNDRY_REQUESTS}" "[!!${main}.headers['api-key'], !!${main}.headers['x-api-key'], 'authorization' in ${main}.headers]")" \
  '[true,true,false]'
pass "claude -p output intact: streamed from deployment ${DEPLOYMENT}, thinking, api-key"
claude_tool tool "${FOUNDRY_REQUESTS}" "r.body.stream === true"
pass "tool round trip: Read ran and its result reached Foundry: '${TOOL_RESULT}'"
expect_clean api-key
pass "every request had the API key and was answered 200; no secret in the relay's output"

# ---------------------------------------------------------------------------------------------
begin_case client_secret
start_azure_auth
start_fake_foundry
write_config "${CASE_DIR}/relay.yaml" \
  "azure_tenant_id: \"${TENANT_ID}\"" \
  "azure_client_id: \"${APP_CLIENT_ID}\"" \
  "azure_client_secret: \"${APP_CLIENT_SECRET}\"" \
  "azure_authority_host: \"http://127.0.0.1:${AZ_PORT}\""
start_case_relay
expect_minted entra_token azure "client secret (app ${APP_CLIENT_ID})"
# (Every start of the control plane mints: a relay whose default control plane port is taken
# starts it twice, so there may be more than one request.)
expect_eq "the token requests" \
  "$(jsq "${AZ_REQUESTS}" 'Array.from(new Set(rows.map((r) => [r.route, r.tenant, r.client_id, r.grant_type, r.auth, r.scope].join(" ")))).join("; ")')" \
  "token ${TENANT_ID} ${APP_CLIENT_ID} client_credentials client_secret https://ai.azure.com/.default"
foundry_say say
pass "claude -p through an Entra ID token minted with the client secret"
expect_clean bearer client_secret
pass "every request had a minted token and was answered 200; no secret in the relay's output"

# ---------------------------------------------------------------------------------------------
begin_case managed_identity
start_azure_auth
start_fake_foundry
write_config "${CASE_DIR}/relay.yaml" \
  "azure_auth: managed_identity" \
  "azure_imds_endpoint: \"http://127.0.0.1:${AZ_PORT}\""
start_case_relay
expect_minted entra_token azure "managed identity"
expect_eq "the IMDS requests" \
  "$(jsq "${AZ_REQUESTS}" 'Array.from(new Set(rows.map((r) => [r.route, r.metadata, r.resource, r.client_id].join(" ")))).join("; ")')" \
  "imds true https://ai.azure.com "
foundry_say say
pass "claude -p through a managed identity's token from IMDS"
claude_tool tool "${FOUNDRY_REQUESTS}" "r.body.stream === true"
pass "tool round trip: '${TOOL_RESULT}'"
expect_clean bearer managed_identity
pass "every request had the IMDS token and was answered 200; no secret in the relay's output"

# ---------------------------------------------------------------------------------------------
begin_case count_tokens
start_azure_auth
start_fake_foundry
write_config "${CASE_DIR}/relay.yaml" "keys:" "  - key: \"${API_KEY}\""
start_case_relay
count_tokens_via_relay
pass "POST /v1/messages/count_tokens -> $(cat "${COUNT_OUT}")"
expect_eq "fake Foundry requests" "$(jsq "${FOUNDRY_REQUESTS}" 'rows.length')" 1
expect_eq "the request" \
  "$(jsq "${FOUNDRY_REQUESTS}" '[rows[0].operation, rows[0].path, rows[0].model]')" \
  "[\"count_tokens\",\"/anthropic/v1/messages/count_tokens\",\"${DEPLOYMENT}\"]"
expect_clean api-key
pass "Foundry's count_tokens with the deployment name and the API key; no secret in the" \
  "relay's output"

echo "PASS: azure_cli_test"
