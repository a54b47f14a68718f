#!/usr/bin/env bash
# End-to-end: which error answers the real Claude Code CLI (npm @anthropic-ai/claude-code,
# pinned in package.json) shows to the person at once, and which it retries. Claude Code talks
# straight to a scripted fake upstream (team_fake_upstream.py, 127.0.0.1, free port); no relay.
# CLAUDE_CODE_MAX_RETRIES is unset unless a case says otherwise: the default user experience.
#
# This is why the relay answers an exhausted budget (SPEC.md section 13) with
#   402 billing_error + x-should-retry: false
# and a disabled or unknown relay key with 401 authentication_error + x-should-retry: false:
# Claude Code makes one try and shows "API Error: 402 <message>". Without the header a 401 is
# retried again and again (a wrong key looks like a hang); a 402 is final even without it (the
# header keeps other clients of the Anthropic SDK from retrying too). What was measured with
# Claude Code 2.1.197 (POSTs for one `claude -p`, message shown):
#   400 invalid_request_error            1 try, "API Error: 400 <message>"
#   402 billing_error                    1 try, "API Error: 402 <message>"        <- chosen
#   403 permission_error                 1 try, "Failed to authenticate. API Error: 403 ..."
#                                        (misleading for a budget)
#   401 authentication_error             retried: 11 tries over 190 s, then shown
#   401 + x-should-retry: false          1 try, "Failed to authenticate. API Error: 401 ..."
#   429 rate_limit_error, no retry-after retried: 11 tries over 180 s, then shown
#   429 rate_limit_error, retry-after 3600  1 try, "API Error: Request rejected (429) · ..."
#   429 + x-should-retry: false          1 try (Claude Code's own spend-limit gateway answers
#                                        this way), shown as "Request rejected (429) · ..."
#   429 rate_limit_error, retry-after 1  retried after ~1 s: the budget-share 429 is retried
# A message containing "credit balance is too low" would be replaced by Claude Code's own text.
#
# Needs `npm ci --prefix tests/e2e` and Debian's python3 (CCR_PYTHON). A missing CLI is a
# failure, never a skip.
#
# Cases:
#   budget_exhausted       402 billing_error + x-should-retry: false: one try, the message shown
#                          (JSON and text output)
#   budget_402_no_header   402 billing_error alone: one try too
#   key_disabled           401 authentication_error + x-should-retry: false: one try, shown
#   key_401_no_header      401 alone is retried (CLAUDE_CODE_MAX_RETRIES=2: 3 tries): the
#                          header is what makes a disabled key final
#   share_in_use           429 rate_limit_error + retry-after: 1 once, then success: retried
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=team_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/team_lib.sh"

# Messages made distinct for every run, so that only the fake's answer can have put them there.
PROBE_ID="$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')"
BUDGET_MESSAGE="monthly budget of \$50.00 reached for user alice; resets 2027-01-01T00:00:00Z"
BUDGET_MESSAGE+=" (probe ${PROBE_ID})"
KEY_MESSAGE="relay key disabled (probe ${PROBE_ID})"
readonly PROBE_ID BUDGET_MESSAGE KEY_MESSAGE
readonly OK_TEXT="Hello from the team fake."

begin_case setup
require_claude

# run_claude NAME FORMAT [VAR=VALUE...]: `claude -p` straight at the fake (claude_p).
run_claude() {
  local name=$1 format=$2
  shift 2
  claude_p "${name}" "${FAKE_URL}" "${format}" ANTHROPIC_API_KEY="fake-probe-key" "$@"
}

# expect_shown_at_once STATUS MESSAGE: one try, exit 1, the error with its message in the JSON
# result.
expect_shown_at_once() {
  local status=$1 message=$2
  expect_eq "POSTs the fake got" "$(model_posts 0)" 1
  expect_eq "claude exit status" "${CLAUDE_RC}" 1
  expect_eq "claude result is_error" "$(claude_field 'r.is_error')" true
  expect_eq "claude api_error_status" "$(claude_field 'r.api_error_status')" "${status}"
  local result
  result="$(claude_field 'r.result')"
  [[ "${result}" == *"${message}"* ]] ||
    fail "the message does not reach Claude Code's result: '${result}'"
  RESULT="${result}"
}

# ---------------------------------------------------------------------------------------------
begin_case budget_exhausted
start_team_fake --error 402:billing_error --error-message "${BUDGET_MESSAGE}" \
  --error-header "x-should-retry: false"
run_claude json json
expect_shown_at_once 402 "${BUDGET_MESSAGE}"
expect_eq "Claude Code's result" "${RESULT}" "API Error: 402 ${BUDGET_MESSAGE}"
pass "402 billing_error: one try, shown as '${RESULT}'"
run_claude text text
expect_eq "POSTs the fake got (both runs)" "$(model_posts 0)" 2
expect_eq "claude exit status (text)" "${CLAUDE_RC}" 1
grep -Fq -- "${BUDGET_MESSAGE}" "${CLAUDE_OUT}" "${CASE_DIR}/claude-text.err" ||
  fail "the budget message is not in Claude Code's text output"
pass "the text output shows it too"

# ---------------------------------------------------------------------------------------------
begin_case budget_402_no_header
start_team_fake --error 402:billing_error --error-message "${BUDGET_MESSAGE}"
run_claude json json
expect_shown_at_once 402 "${BUDGET_MESSAGE}"
pass "402 billing_error without x-should-retry: one try as well"

# ---------------------------------------------------------------------------------------------
begin_case key_disabled
start_team_fake --error 401:authentication_error --error-message "${KEY_MESSAGE}" \
  --error-header "x-should-retry: false"
run_claude json json
expect_shown_at_once 401 "${KEY_MESSAGE}"
pass "401 + x-should-retry: false: one try, shown as '${RESULT}'"

# ---------------------------------------------------------------------------------------------
begin_case key_401_no_header
start_team_fake --error 401:authentication_error --error-message "${KEY_MESSAGE}"
run_claude json json CLAUDE_CODE_MAX_RETRIES=2
expect_eq "POSTs the fake got (401 without x-should-retry, 2 retries allowed)" "$(model_posts 0)" 3
expect_eq "claude api_error_status" "$(claude_field 'r.api_error_status')" 401
pass "a 401 without x-should-retry: false is retried (3 tries with CLAUDE_CODE_MAX_RETRIES=2)"

# ---------------------------------------------------------------------------------------------
begin_case share_in_use
start_team_fake --error 429:rate_limit_error --error-count 1 \
  --error-message "budget share of this relay in use; retry" --error-header "retry-after: 1"
run_claude json json
expect_eq "POSTs the fake got (429 retry-after: 1 once, then success)" "$(model_posts 0)" 2
expect_eq "claude exit status" "${CLAUDE_RC}" 0
expect_eq "claude result" "$(claude_field 'r.result')" "${OK_TEXT}"
pass "429 rate_limit_error with retry-after: 1 is retried and the retry succeeds"

echo "PASS: budget_status_probe_test"
