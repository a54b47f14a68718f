#!/usr/bin/env bash
# Cross-check of the relay's SigV4 signer (dataplane/providers/bedrock/sigv4) against botocore's
# SigV4Auth, the signer of the AWS CLI and boto3: ~300 random Bedrock-like requests (model ids
# and inference-profile ARNs with '/' sent as %2F, odd paths with dot segments, queries, repeated
# and untrimmed headers, unicode and multi-megabyte bodies, session tokens, dates from 2000 to
# 2039, other regions and services) are signed by both and must give the same Authorization.
# Also checks that a warm signer allocates nothing.
#
# Needs the target ccr_sigv4_sign and CCR_PYTHON with botocore (Debian's /usr/bin/python3 with
# python3-botocore; ctest sets it). A missing botocore is a failure, never a skip.
# CCR_SIGV4_SEED=<n> replays another random set (the default is fixed, so runs are repeatable);
# CCR_SIGV4_COUNT=<n> changes how many requests are signed.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PYTHON="${CCR_PYTHON:-/usr/bin/python3}"
TOOL="${CCR_BUILD_DIR}/tests/ccr_sigv4_sign"
SCRIPT="${E2E_DIR}/sigv4_botocore.py"
SEED="${CCR_SIGV4_SEED:-20150830}"
COUNT="${CCR_SIGV4_COUNT:-300}"

begin_case setup
require_file "ccr_sigv4_sign" "${TOOL}" "build it: cmake --build <build> --target ccr_sigv4_sign"
"${PYTHON}" -c 'import botocore.auth' 2>"${CASE_DIR}/python.err" ||
  fail "${PYTHON} cannot import botocore (apt-get install python3-botocore; set CCR_PYTHON)"
pass "$("${PYTHON}" -c 'import botocore; print("botocore", botocore.__version__)')"

begin_case randomized_against_botocore
"${PYTHON}" "${SCRIPT}" generate "${COUNT}" "${SEED}" "${CASE_DIR}/cases.ndjson" \
  "${CASE_DIR}/expected.ndjson" 2>"${CASE_DIR}/generate.err" ||
  fail "generating the requests failed (seed ${SEED})"
"${TOOL}" --steps <"${CASE_DIR}/cases.ndjson" >"${CASE_DIR}/actual.ndjson" \
  2>"${CASE_DIR}/tool.err" || fail "ccr_sigv4_sign failed (seed ${SEED})"
"${PYTHON}" "${SCRIPT}" compare "${CASE_DIR}/cases.ndjson" "${CASE_DIR}/expected.ndjson" \
  "${CASE_DIR}/actual.ndjson" >"${CASE_DIR}/compare.txt" 2>&1 || {
  cat "${CASE_DIR}/compare.txt" >&2
  fail "a signature differs from botocore's (seed ${SEED}; CCR_SIGV4_SEED=${SEED} replays it)"
}
pass "$(tail -n 1 "${CASE_DIR}/compare.txt") (seed ${SEED})"

# The default output is the Authorization header line.
begin_case authorization_line
printf '%s\n' '{"method":"POST","path":"/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke","headers":[["content-type","application/json"],["host","bedrock-runtime.us-east-1.amazonaws.com"]],"body":"{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":16,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}","region":"us-east-1","service":"bedrock","unix_seconds":1440938160,"access_key_id":"AKIDEXAMPLE","secret_access_key":"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}' \
  >"${CASE_DIR}/worked.jsonl"
# protocols.md 3.5, "Worked Bedrock example".
expect_eq "worked example" "$("${TOOL}" <"${CASE_DIR}/worked.jsonl")" \
  "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature=6ae062302c190074c78c430ea0a2ede07add63d96fec2489743fa51739653259"
printf '%s\n' '{"method":"POST"}' 'not json' >"${CASE_DIR}/bad.jsonl"
if "${TOOL}" <"${CASE_DIR}/bad.jsonl" >"${CASE_DIR}/bad.out" 2>&1; then
  fail "ccr_sigv4_sign accepted malformed requests"
fi
expect_eq "errors reported" "$(grep -c '^error: ' "${CASE_DIR}/bad.out")" 2
pass "worked example signed; malformed lines reported"

# Once warm (buffers grown, signing key cached) a signature allocates nothing: neither operator
# new nor OpenSSL's allocator, counted over the second half of 400 signatures of a request with
# a session token, a query and x-amz-content-sha256.
begin_case no_allocation_when_warm
printf '%s\n' '{"method":"POST","path":"/model/arn:aws:bedrock:us-east-2:123456789012:inference-profile%2Fus.anthropic.claude-3-7-sonnet-20250219-v1:0/invoke-with-response-stream","query":"b=2&a=%e1%88%b4&a=1","headers":[["host","bedrock-runtime.us-east-2.amazonaws.com"],["content-type","application/json"],["x-amzn-bedrock-trace","  DISABLED  "]],"body":"{\"messages\":[]}","region":"us-east-2","service":"bedrock","unix_seconds":1767225599,"access_key_id":"ASIAEXAMPLE","secret_access_key":"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY","session_token":"FwoGZXIvYXdzEXAMPLE//session+token=="}' \
  >"${CASE_DIR}/one.jsonl"
"${TOOL}" --check-allocations 400 <"${CASE_DIR}/one.jsonl" >"${CASE_DIR}/alloc.out" 2>&1 ||
  fail "a warm signature allocates: $(cat "${CASE_DIR}/alloc.out")"
# The cold half must have allocated (buffers grow, the key is derived): the counting works.
grep -Eq '^allocations 0 \(first half: [1-9][0-9]*\)$' "${CASE_DIR}/alloc.out" ||
  fail "unexpected allocation report: $(cat "${CASE_DIR}/alloc.out")"
pass "no allocation over 200 warm signatures; $(cat "${CASE_DIR}/alloc.out")"
