#!/bin/bash
# Builds one sanitizer preset and runs the unit and integration tests under it.
#
#   bash scripts/sanitize.sh asan     # AddressSanitizer + UndefinedBehaviorSanitizer
#   bash scripts/sanitize.sh tsan     # ThreadSanitizer
#   bash scripts/sanitize.sh tsan -R Health   # extra arguments go to ctest
#
# Needs clang-14 and its runtime (as root: apt-get install clang-14 libclang-rt-14-dev; not in
# scripts/setup.sh, which the tests do not need it for). Debian's abseil and gRPC are not built with
# TSan: for tsan the absl::Mutex shim (scripts/sanitizers/absl_tsan_shim.cc) is preloaded so
# that TSan sees those locks, and accesses made inside the uninstrumented libraries are
# suppressed (scripts/sanitizers/tsan.supp). Reports go to build/<preset>/sanitizer-logs/.
# ASan checks leaks too, except gRPC's c-ares resolver's (scripts/sanitizers/lsan.supp).
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-}
case "$preset" in
  asan | tsan) shift ;;
  *) echo "usage: bash scripts/sanitize.sh asan|tsan [ctest arguments...]" >&2; exit 2 ;;
esac
if ! command -v clang++-14 >/dev/null; then
  echo "sanitize.sh: clang++-14 not found: apt-get install clang-14 libclang-rt-14-dev" >&2
  exit 1
fi
jobs=$(nproc)
cmake --preset "$preset"
cmake --build --preset "$preset" -j"$jobs" --target cc-relay cc-relayctl unit_tests integration_tests
logs="build/$preset/sanitizer-logs"
rm -rf "$logs" && mkdir -p "$logs"
if [[ $preset == tsan ]]; then
  shim="build/$preset/libccr_absl_tsan_shim.so"
  clang++-14 -shared -fPIC -O1 -o "$shim" scripts/sanitizers/absl_tsan_shim.cc -ldl
  export LD_PRELOAD=$PWD/$shim
  # exitcode=0: gRPC's callback API orders a reactor's OnDone (delete this) after its other
  # reactions through reference counts TSan cannot see, so races reported between OnDone and
  # OnReadDone/OnWriteDone (and inside grpcpp's header code) are expected; triage the summary.
  export TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1 exitcode=0 suppressions=$PWD/scripts/sanitizers/tsan.supp log_path=$PWD/$logs/tsan"
else
  export ASAN_OPTIONS="detect_leaks=1 log_path=$PWD/$logs/asan"
  export LSAN_OPTIONS="suppressions=$PWD/scripts/sanitizers/lsan.supp"
  export UBSAN_OPTIONS="print_stacktrace=1 log_path=$PWD/$logs/ubsan"
fi
status=0
ctest --test-dir "build/$preset" -L "unit|integration" -j"$jobs" --output-on-failure "$@" || status=$?
reports=$(find "$logs" -type f | wc -l)
echo "sanitizer reports: $reports file(s) in $logs"
if [[ $reports -gt 0 ]]; then
  # Each distinct place in the project's own code that a report's first stack reaches.
  echo "first project frame of each report (count, frame):"
  for f in "$logs"/*; do
    awk -v root="$PWD/" '
      /^(WARNING|ERROR|SUMMARY)|runtime error/ { want = 1 }
      /^ *Thread T[0-9]+ .*created by|^ *Location is/ { want = 0 }
      want && index($0, root) && !index($0, root "build/") {
        sub(/^ *#[0-9]+ /, ""); sub(/ \(.*$/, ""); print; want = 0
      }' "$f"
  done | sort | uniq -c | sort -rn | head -30
fi
if [[ $preset == tsan ]]; then
  exit "$status"  # reports need triage (see above): the tests themselves decide
fi
[[ $status -eq 0 && $reports -eq 0 ]]
