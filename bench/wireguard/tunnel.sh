#!/usr/bin/env bash
# TCP throughput through a WireGuard tunnel between two network namespaces (issue 3's benchmark):
#   the bare veth pair, Debian's wireguard-go on both ends, and our gerbil on both ends — in the same run.
#
#   bench/wireguard/tunnel.sh                 # 3 rounds of 10 s each, MTU 1420
#   ROUNDS=1 IPERF_T=5 MTU=1280 bench/wireguard/tunnel.sh
#
# Needs root, iproute2, iperf3, wireguard-tools, wireguard-go and the .NET SDK. Traffic stays inside the two
# namespaces it creates (10.210.0.0/24 on the veth, 100.89.210.0/24 in the tunnel); everything is removed on exit.
set -uo pipefail

ROUNDS=${ROUNDS:-3}
IPERF_T=${IPERF_T:-10}
MTU=${MTU:-1420}
IMPLS=${IMPLS:-"wireguard-go gerbil"}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=$(mktemp -d /tmp/pangolin-wg-bench.XXXXXX)
NSA=pwb-a; NSB=pwb-b
AX="ip netns exec $NSA"; BX="ip netns exec $NSB"
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  ip netns del $NSA 2>/dev/null; ip netns del $NSB 2>/dev/null
  rm -f /var/run/wireguard/pwba.sock /var/run/wireguard/pwbb.sock
  rm -rf "$W"
}
trap cleanup EXIT INT TERM

if [[ " $IMPLS " == *" gerbil "* ]]; then
  dotnet publish "$ROOT/src/Pangolin.Gerbil" -c Release -o "$W/gerbil" --nologo -v q >/dev/null || { echo "publish failed"; exit 1; }
fi

ip netns add $NSA; ip netns add $NSB
ip link add pwb-va type veth peer name pwb-vb
ip link set pwb-va netns $NSA; ip link set pwb-vb netns $NSB
$AX ip addr add 10.210.0.1/24 dev pwb-va; $BX ip addr add 10.210.0.2/24 dev pwb-vb
$AX ip link set pwb-va up; $BX ip link set pwb-vb up; $AX ip link set lo up; $BX ip link set lo up
wg genkey > "$W/a.key"; wg pubkey < "$W/a.key" > "$W/a.pub"
wg genkey > "$W/b.key"; wg pubkey < "$W/b.key" > "$W/b.pub"

$BX iperf3 -s -D -p 5201 --pidfile "$W/iperf.pid" >/dev/null 2>&1; sleep 0.5; PIDS+=("$(cat "$W/iperf.pid")")

iperf() {  # iperf IP -> Gbit/s (receiver side)
  $AX iperf3 -c "$1" -p 5201 -t "$IPERF_T" -J 2>/dev/null | python3 -c 'import json,sys; print("%.3f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))'
}

counters() { for ns in $NSA $NSB; do ip netns exec $ns nstat -az 2>/dev/null | awk '/UdpRcvbufErrors|UdpInErrors/{printf "%s %s=%s ", "'$ns'", $1, $2}'; done; echo; }

start_pair() {  # start_pair wireguard-go|gerbil
  local impl=$1
  for side in a b; do
    local ns=$([ $side = a ] && echo $NSA || echo $NSB)
    if [ "$impl" = wireguard-go ]; then
      ip netns exec "$ns" env WG_PROCESS_FOREGROUND=1 wireguard-go -f pwb$side > "$W/$impl-$side.log" 2>&1 &
    else
      ip netns exec "$ns" dotnet "$W/gerbil/gerbil.dll" --interface pwb$side --foreground --mtu "$MTU" > "$W/$impl-$side.log" 2>&1 &
    fi
    PIDS+=($!)
  done
  for i in $(seq 50); do [ -S /var/run/wireguard/pwba.sock ] && [ -S /var/run/wireguard/pwbb.sock ] && break; sleep 0.1; done
  $AX wg set pwba listen-port 51820 private-key "$W/a.key" peer "$(cat "$W/b.pub")" endpoint 10.210.0.2:51820 allowed-ips 100.89.210.2/32
  $BX wg set pwbb listen-port 51820 private-key "$W/b.key" peer "$(cat "$W/a.pub")" endpoint 10.210.0.1:51820 allowed-ips 100.89.210.1/32
  $AX ip addr add 100.89.210.1/24 dev pwba; $BX ip addr add 100.89.210.2/24 dev pwbb
  $AX ip link set pwba mtu "$MTU" up; $BX ip link set pwbb mtu "$MTU" up
  $AX ping -c 1 -W 5 100.89.210.2 >/dev/null || echo "warning: $impl tunnel did not answer a ping"
}

stop_pair() {
  for p in "${PIDS[@]:1}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  PIDS=("${PIDS[0]}")
  for i in $(seq 50); do [ ! -e /var/run/wireguard/pwba.sock ] && [ ! -e /var/run/wireguard/pwbb.sock ] && break; sleep 0.1; done
  rm -f /var/run/wireguard/pwba.sock /var/run/wireguard/pwbb.sock
}

declare -A R
for r in $(seq "$ROUNDS"); do
  R[veth,$r]=$(iperf 10.210.0.2)
  for impl in $IMPLS; do
    start_pair $impl
    R[$impl,$r]=$(iperf 100.89.210.2)
    echo "round $r $impl: ${R[$impl,$r]} Gbit/s; $(counters)" >&2
    stop_pair
  done
  echo "round $r veth: ${R[veth,$r]} Gbit/s" >&2
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
V=$(median $(for r in $(seq "$ROUNDS"); do echo "${R[veth,$r]}"; done))
G=$(median $(for r in $(seq "$ROUNDS"); do echo "${R[wireguard-go,$r]:-0}"; done))
P=$(median $(for r in $(seq "$ROUNDS"); do echo "${R[gerbil,$r]:-0}"; done))
echo
echo "| path (MTU $MTU, iperf3 -t $IPERF_T, median of $ROUNDS) | Gbit/s | vs veth | vs wireguard-go |"
echo "|---|---:|---:|---:|"
printf '| veth pair | %.3f | 1.00 | |\n' "$V"
printf '| wireguard-go ⇄ wireguard-go | %.3f | %.3f | 1.00 |\n' "$G" "$(echo "$G/$V" | bc -l)"
printf '| gerbil ⇄ gerbil | %.3f | %.3f | %.2f |\n' "$P" "$(echo "$P/$V" | bc -l)" "$(echo "if ($G > 0) $P/$G else 0" | bc -l)"
