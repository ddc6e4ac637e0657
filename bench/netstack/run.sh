#!/usr/bin/env bash
# TCP between the Linux kernel and our userspace stack (Pangolin.Netstack) over a TUN, beside the kernel talking to
# itself across a veth pair between the same namespaces (the limit), in one run:
#   bulk throughput kernel → peer and peer → kernel (64 KiB writes), and 1-byte request/response transactions/s.
#
#   bench/netstack/run.sh                        # 10 s measured after 2 s of warm-up per scenario, MTU 1420
#   bench/netstack/run.sh --seconds 30 --warmup 5 --mtu 1280
#
# Needs root (network namespaces, a TUN) and the .NET SDK. Builds Release, then runs the driver, which creates a
# namespace A (10.77.0.1 on the veth, 10.78.0.1 on the TUN) and B (10.77.0.2), and our stack at 10.78.0.2 in this
# process. Markdown tables on stdout, progress on stderr; exit code 1 if a scenario failed or hung.
# Everything is removed on exit, Ctrl-C and errors included.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PROJECT="$ROOT/bench/Pangolin.Netstack.Benchmarks"
DLL="$PROJECT/bin/Release/net10.0/Pangolin.Netstack.Benchmarks.dll"
PIDFILE=$(mktemp /tmp/pangolin-netstack-bench.XXXXXX)

if [ "$(id -u)" -ne 0 ]; then
  echo "run.sh needs root (network namespaces and a TUN device)" >&2
  exit 2
fi

cleanup() {
  # The driver deletes its namespaces itself, even on Ctrl-C; this is the backstop for a driver killed outright.
  # Its namespaces are named pwgt-<its pid>-<n> (tests/Pangolin.WireGuard.Tests/Infrastructure/NetworkNamespace.cs).
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null)
  if [ -n "$pid" ]; then
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^pwgt-$pid-"); do
      ip netns delete "$ns" 2>/dev/null && echo "run.sh: deleted leftover namespace $ns" >&2
    done
  fi
  rm -f "$PIDFILE"
}
trap cleanup EXIT

echo "building $PROJECT (Release) ..." >&2
if ! BUILD=$(dotnet build "$PROJECT" -c Release --nologo -v q 2>&1); then
  echo "$BUILD" >&2
  echo "build failed" >&2
  exit 1
fi

# exec keeps the shell's pid, so the pid written is the driver's (and the prefix of its namespaces). Ctrl-C reaches
# the driver directly (same foreground process group); this script waits for it and then cleans up.
sh -c 'echo $$ > "$1"; shift; exec "$@"' sh "$PIDFILE" dotnet "$DLL" "$@"
status=$?
exit $status
