#!/usr/bin/env bash
# Runs inside `unshare --net`: only loopback, plus one veth whose far end is a silent sink
# behind a slow tbf qdisc (10.99.0.99), so that overlapped sends really go pending and
# complete through the I/O completion port. Nothing here can reach another machine.
set -uo pipefail
STAGE=$1 NODE_EXE=$2 SHIM_DLL=$3 CONSUMER=${4:-}
shift $(( $# < 4 ? $# : 4 ))   # the rest: test files to run instead of the whole suite
TIMEFORMAT='   (%R s)'
ip link set lo up
ip route add default dev lo   # so a broadcast reaches the SO_BROADCAST check, as on a real host
ip link add wv0 type veth peer name wv1
ip addr add 10.99.0.1/24 dev wv0
ip link set wv0 up; ip link set wv1 up
ip neigh replace 10.99.0.99 lladdr 02:00:00:00:00:99 dev wv0 nud permanent
tc qdisc add dev wv0 root tbf rate 1mbit burst 1600 limit 100000

# Wine's sockets live in wineserver: one left from another namespace would own ours.
wineserver -k 2>/dev/null || true
if [ ! -f "$WINEPREFIX/system.reg" ]; then
  echo "== new Wine prefix (wineboot -i; winecfg -v win10, since Node 22 refuses Windows 7)"
  time { wineboot -i && winecfg -v win10 && wineserver -w; } >/dev/null 2>&1
fi
cp "$SHIM_DLL" "$WINEPREFIX/drive_c/windows/system32/"

# node.exe cannot write to a Unix pipe (libuv EBADF): output goes to a file, then here.
LOG=$(mktemp)
rc=0
if [ -n "$CONSUMER" ]; then
  # The installed tarball, as a Windows user has it: must run on its prebuilt addon.
  echo "== consumer: $(basename "$NODE_EXE") consumer.cjs"
  ( cd "$CONSUMER" && wine "$NODE_EXE" consumer.cjs >"$LOG" 2>&1 ) || rc=$?
  sed -e 's/\r$//' "$LOG"
  grep -q '"host":"sendmsg-host.exe","implementation":"addon","addonFile":"[^"]*prebuilds\\\\win32-x64\\\\node.napi.node"' "$LOG" ||
    { echo "consumer: the installed package did not run on its prebuilt addon in sendmsg-host.exe" >&2; rc=1; }
fi
cd "$STAGE"
export SHIM_SLOW_SINK=10.99.0.99
# lane.test.ts: the suite must run on the prebuilt addon, not a local build.
export SENDMSG_SHIM_TEST_ADDON=prebuild
# The lane report (reports/lane-windows-x64-wine.json), for npm run matrix: Wine passes
# this variable into node.exe's environment. A run of some files only is not the lane's
# result: no report then (the summary reporter writes none for a run of named files).
[ $# -gt 0 ] || export SENDMSG_SHIM_LANE=windows-x64-wine
run_suite() { time wine "$NODE_EXE" node_modules/vitest/vitest.mjs run "$@" >"$LOG" 2>&1; }
plain() { sed -e 's/\x1b\[[0-9;]*[A-Za-z]//g' -e 's/\r$//' "$LOG"; }
vrc=0
run_suite "$@" || vrc=$?
plain
# Wine sometimes fails to create a process ("Failed to start forks worker ... spawn UNKNOWN",
# seen once in ~10 lane runs): the files of that worker never ran, and vitest fails the run
# with no test failed. That is the host, not a result: the suite runs once more, whole.
if [ "$vrc" -ne 0 ] && plain | grep -q 'Failed to start forks worker' && ! plain | grep -Eq '^ *Tests .*[0-9]+ failed'; then
  echo "== vitest could not start a worker process under Wine (above); running the suite again"
  vrc=0
  run_suite "$@" || vrc=$?
  plain
fi
[ "$vrc" -eq 0 ] || rc=$vrc
if [ -n "${REPORTS:-}" ] && [ $# -eq 0 ]; then mkdir -p "$REPORTS" && cp reports/lane-*.json "$REPORTS/" 2>/dev/null; fi
wineserver -k 2>/dev/null || true
rm -f "$LOG"
exit $rc
