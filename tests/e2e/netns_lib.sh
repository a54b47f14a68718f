# shellcheck shell=bash
# Helpers for end-to-end scripts that run processes on simulated hosts: network namespaces of
# their own, joined by one Ethernet switch (a bridge in a namespace of its own), with addresses
# the script assigns (NETNS_SUBNET.x/24). Nothing is added to the caller's own network namespace:
# every veth is created with both ends in the run's namespaces. Sourced after lib.sh; the EXIT
# trap is extended so that the processes are stopped and then the namespaces deleted, whatever
# the outcome. Needs root and iproute2 (`ip netns`); netns_init exits with E2E_SKIP (77, ctest's
# SKIP_RETURN_CODE for tests/e2e) when namespaces cannot be made here.
# shellcheck disable=SC2034  # variables set here are read by the scripts that source this file

E2E_SKIP=77
NETNS_SUBNET=10.231.0
NETNS_NAMES=()
NETNS_PREFIX=""

# skip MESSAGE: the test cannot run in this environment (not a failure).
skip() {
  echo "SKIP [${E2E_CASE}]: $*" >&2
  exit "${E2E_SKIP}"
}

netns_cleanup() {
  local ns
  for ns in "${NETNS_NAMES[@]}"; do
    ip netns delete "${ns}" 2>/dev/null
  done
  NETNS_NAMES=()
}

# Replaces lib.sh's EXIT trap: processes first (a namespace lives while a process is in it),
# then the namespaces (which takes their veths), then lib.sh's cleanup (scratch directory).
netns_exit() {
  local rc=$?
  stop_all
  netns_cleanup
  (exit "${rc}")
  e2e_cleanup
}
trap netns_exit EXIT

# netns_init: skips unless root with a working `ip netns`; sets NETNS_PREFIX, unique to this run.
netns_init() {
  [[ "$(id -u)" == 0 ]] || skip "needs root for network namespaces (ip netns); CI runs it as root"
  command -v ip >/dev/null 2>&1 || skip "ip (iproute2) is not installed (scripts/setup.sh)"
  NETNS_PREFIX="ccr-chaos-$$-$(od -An -tx1 -N3 /dev/urandom | tr -d ' \n')"
  local probe="${NETNS_PREFIX}-probe"
  if ! ip netns add "${probe}" 2>"${E2E_TMP}/netns-probe.err"; then
    skip "ip netns add failed: $(cat "${E2E_TMP}/netns-probe.err")"
  fi
  NETNS_NAMES+=("${probe}")
  ip -n "${probe}" link add ccrbr0 type bridge 2>"${E2E_TMP}/netns-probe.err" ||
    skip "no bridge device in a network namespace: $(cat "${E2E_TMP}/netns-probe.err")"
  ip -n "${probe}" link add v0 type veth peer name v1 2>"${E2E_TMP}/netns-probe.err" ||
    skip "no veth device in a network namespace: $(cat "${E2E_TMP}/netns-probe.err")"
  netns_cleanup
}

# netns_switch: the switch, a namespace holding the bridge every host is plugged into.
netns_switch() {
  NETNS_SWITCH="${NETNS_PREFIX}-sw"
  ip netns add "${NETNS_SWITCH}" || fail "ip netns add ${NETNS_SWITCH}"
  NETNS_NAMES+=("${NETNS_SWITCH}")
  ip -n "${NETNS_SWITCH}" link add name br0 type bridge || fail "bridge in ${NETNS_SWITCH}"
  ip -n "${NETNS_SWITCH}" link set dev br0 up || fail "bridge up"
}

# netns_host NAME HOST_NUMBER: a namespace NETNS_PREFIX-NAME with loopback up and eth0 at
# NETNS_SUBNET.HOST_NUMBER/24, plugged into the switch. NAME: at most 12 letters and digits.
netns_host() {
  local name=$1 host=$2
  local ns="${NETNS_PREFIX}-${name}"
  ip netns add "${ns}" || fail "ip netns add ${ns}"
  NETNS_NAMES+=("${ns}")
  ip -n "${ns}" link set dev lo up || fail "${ns}: lo up"
  ip link add name eth0 netns "${ns}" type veth peer name "p-${name}" netns "${NETNS_SWITCH}" ||
    fail "veth ${ns} <-> switch"
  ip -n "${NETNS_SWITCH}" link set dev "p-${name}" master br0 up || fail "switch port p-${name}"
  ip -n "${ns}" addr add "${NETNS_SUBNET}.${host}/24" dev eth0 || fail "${ns}: address"
  ip -n "${ns}" link set dev eth0 up || fail "${ns}: eth0 up"
}

# in_ns NS COMMAND...: runs COMMAND in namespace NS (in the foreground).
in_ns() {
  local ns=$1
  shift
  ip netns exec "${ns}" "$@"
}

# spawn_in NS NAME COMMAND...: starts COMMAND in namespace NS in the background, under
# `timeout` like every process of lib.sh, stdout to CASE_DIR/NAME.out and stderr to
# CASE_DIR/NAME.log (appended: a restarted process adds to its predecessor's log); sets
# SPAWN_PID (the `timeout` process, stopped by lib.sh's stop_all).
spawn_in() {
  local ns=$1 name=$2
  shift 2
  # `ip netns exec` execs the command in its own process, so $! is timeout's pid.
  ip netns exec "${ns}" timeout -k 5 "${E2E_PROCESS_LIFETIME}" "$@" \
    >>"${CASE_DIR}/${name}.out" 2>>"${CASE_DIR}/${name}.log" &
  SPAWN_PID=$!
  E2E_PIDS+=("${SPAWN_PID}")
}

# child_pid PID: the process `timeout` (PID) runs ("" once it is gone).
child_pid() {
  local i
  for ((i = 0; i < 40; ++i)); do
    local kids
    kids="$(cat "/proc/$1/task/$1/children" 2>/dev/null)"
    if [[ -n "${kids}" ]]; then
      echo "${kids%% *}"
      return 0
    fi
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.05
  done
}

# proc_report LABEL NAME=PID...: one line per process: resident memory (VmRSS, and its peak
# VmHWM) and open file descriptors, read from /proc; "gone" for a process that is not running.
proc_report() {
  local label=$1
  shift
  local entry name pid rss hwm fds
  for entry in "$@"; do
    name=${entry%%=*} pid=${entry#*=}
    if [[ -n "${pid}" && -r "/proc/${pid}/status" ]]; then
      rss="$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/${pid}/status")"
      hwm="$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/${pid}/status")"
      fds="$(find "/proc/${pid}/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
      printf 'mem  [%s] %-12s pid %-7s rss %6s KiB  peak %6s KiB  fds %4s\n' "${label}" \
        "${name}" "${pid}" "${rss:-?}" "${hwm:-?}" "${fds}"
    else
      printf 'mem  [%s] %-12s pid %-7s gone\n' "${label}" "${name}" "${pid:-none}"
    fi
  done
}
