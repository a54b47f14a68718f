#!/usr/bin/env bash
# Cross-check: the relay's AWS event-stream decoder (tests/tools/ccr_eventstream_decode) against
# botocore's EventStreamBuffer, both fed frames built by eventstream_botocore.py's own encoder:
# the reference vectors of protocols.md 3.8, a few hundred random frames (every header type,
# payloads from empty to ~1.3 MB), and corrupted CRCs that both must reject.
#
# Needs Debian's python3 with python3-botocore (CCR_PYTHON, set by ctest; scripts/setup.sh) and
# the target ccr_eventstream_decode. A missing botocore is a failure, never a skip.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly PYTHON="${CCR_PYTHON:-/usr/bin/python3}"
readonly TOOL="${CCR_BUILD_DIR}/tests/ccr_eventstream_decode"
readonly SCRIPT="${E2E_DIR}/eventstream_botocore.py"
# A fixed seed keeps a failure reproducible; CCR_E2E_SEED overrides it.
readonly SEED="${CCR_E2E_SEED:-20240601}"

run_check() {
  local case_name=$1
  shift
  "${PYTHON}" "${SCRIPT}" --tool "${TOOL}" --case "${case_name}" --seed "${SEED}" "$@" \
    >"${CASE_DIR}/check.out" 2>"${CASE_DIR}/check.err" ||
    fail "$(tail -n 1 "${CASE_DIR}/check.err")"
  sed 's/^/     /' "${CASE_DIR}/check.out"
}

begin_case setup
require_file "ccr_eventstream_decode" "${TOOL}" \
  "build it: cmake --build <build> --target ccr_eventstream_decode"
"${PYTHON}" -c 'import botocore.eventstream' >"${CASE_DIR}/import.out" 2>&1 ||
  fail "${PYTHON} cannot import botocore.eventstream (install python3-botocore: scripts/setup.sh)"
pass "$("${PYTHON}" -c 'import botocore; print("botocore", botocore.__version__)')"

begin_case vectors
run_check vectors
pass "reference vectors"

begin_case random
run_check random --frames 400
pass "random frames, seed ${SEED}"

begin_case corrupt
run_check corrupt
pass "corrupt and truncated frames"
