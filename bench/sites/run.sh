#!/usr/bin/env bash
# Sites (issue 5's benchmark): the server reaching a backend at a site through newt, beside the same path built from
# Debian's wireguard-go on both ends (the anchor, as ../shared/bench/anchors.sh builds it) and a direct connection
# over the veth (the limit), in one run; plus newt's resident memory idle and with 1,000 proxied connections, its
# start-up time and its binary size.
#
#   bench/sites/run.sh                     # 10 s per measurement, MTU 1420
#   DUR=5s IPERF_T=5 bench/sites/run.sh
#   HOLD=1 bench/sites/run.sh              # set everything up, print the endpoints, wait for Ctrl-C (for profiling)
#   NEWT_ENV="DOTNET_gcServer=0" bench/sites/run.sh   # extra environment for newt alone (runtime knobs in A/B runs)
#
# Our path: wrk/iperf3 in the server's namespace -> the server's load front (bench/Pangolin.Sites.Bench: the real
# server with its embedded exit node; HTTP proxied with pooled keep-alive connections, raw TCP piped) ->
# TargetConnector -> userspace WireGuard + netstack -> UDP over the veth -> newt (the Native AOT binary, userspace
# tunnel, no root needed) -> nginx/iperf3 on the site's loopback.
# Anchor: wrk/iperf3 in the server's namespace -> kernel TCP -> wireguard-go -> veth -> wireguard-go -> nginx/iperf3.
# Bulk is measured twice: iperf3 through our raw TCP front (a kernel hop more than the anchor: iperf3 -> loopback ->
# the server), and sent by the server itself (GET /bulk on the load port: one sender that writes through the tunnel,
# or over a kernel socket through wireguard-go or the bare veth) to one discard sink (python3) in the site's namespace.
#
# Needs root, iproute2, wrk, iperf3, nginx, wireguard-go, wireguard-tools, python3 and the .NET SDK. Traffic stays in
# the two namespaces it creates (10.220.0.0/24 on the veth, 100.89.220.0/24 in wireguard-go's tunnel).
set -uo pipefail

DUR=${DUR:-10s}
IPERF_T=${IPERF_T:-10}
MTU=${MTU:-1420}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=$(mktemp -d /tmp/pangolin-sites-bench.XXXXXX)
chmod 755 "$W"
GW=psb-gw; SITE=psb-site
GX="ip netns exec $GW"; SX="ip netns exec $SITE"
PIDS=()
MAIN=$BASHPID

cleanup() {
  [ "$BASHPID" = "$MAIN" ] || return 0 # pipelines and ( ) run in subshells that would fire this trap too
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  pkill -9 -f "$W" 2>/dev/null # nginx workers and anything else started from the work folder
  ip netns del $GW 2>/dev/null; ip netns del $SITE 2>/dev/null
  rm -f /var/run/wireguard/psbg.sock /var/run/wireguard/psbs.sock
  rm -rf "$W"
}
trap cleanup EXIT
trap "exit 143" INT TERM # through the EXIT trap, once; a trap that returned would resume the HOLD loop

echo "building the server's bench host and publishing newt (Native AOT)..." >&2
dotnet build -c Release -v q --nologo "$ROOT/bench/Pangolin.Sites.Bench" -o "$W/srv" > "$W/build.log" 2>&1 || { cat "$W/build.log"; exit 1; }
dotnet publish -c Release -r linux-x64 -v q --nologo "$ROOT/src/Pangolin.Newt" -o "$W/newt" > "$W/publish.log" 2>&1 || { cat "$W/publish.log"; exit 1; }

ip netns del $GW 2>/dev/null; ip netns del $SITE 2>/dev/null
ip netns add $GW; ip netns add $SITE
ip -n $GW link set lo up; ip -n $SITE link set lo up
ip -n $GW link add veth0 type veth peer name veth1 netns $SITE
ip -n $GW addr add 10.220.0.1/24 dev veth0; ip -n $GW link set veth0 up
ip -n $SITE addr add 10.220.0.2/24 dev veth1; ip -n $SITE link set veth1 up

# The backend: one nginx worker (as anchors.sh's origin) and iperf3, in the site's namespace.
mkdir -p "$W/www" "$W/nginx"
head -c 1024 /dev/urandom | base64 -w0 | head -c 1024 > "$W/www/1k"
chmod -R a+rX "$W/www"
cat > "$W/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $W/nginx/nginx.pid;
error_log stderr warn;
events { worker_connections 8192; multi_accept on; }
http {
  access_log off; sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 1000000; keepalive_timeout 65;
  client_body_temp_path $W/nginx/cb; proxy_temp_path $W/nginx/px; fastcgi_temp_path $W/nginx/fc;
  uwsgi_temp_path $W/nginx/uw; scgi_temp_path $W/nginx/sc;
  server { listen 18080 reuseport backlog=4096; root $W/www; }
}
CONF
# In the server's namespace: nginx as the reverse proxy in front of wireguard-go's tunnel, the same L7 hop as ours.
mkdir -p "$W/proxy"
cat > "$W/proxy.conf" <<CONF
daemon off;
worker_processes auto;
pid $W/proxy/nginx.pid;
error_log stderr warn;
events { worker_connections 8192; multi_accept on; }
http {
  access_log off; tcp_nodelay on; keepalive_requests 1000000; keepalive_timeout 65;
  client_body_temp_path $W/proxy/cb; proxy_temp_path $W/proxy/px; fastcgi_temp_path $W/proxy/fc;
  uwsgi_temp_path $W/proxy/uw; scgi_temp_path $W/proxy/sc;
  upstream site { server 100.89.220.2:18080; keepalive 256; }
  server { listen 127.0.0.1:18082; location / { proxy_pass http://site; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
CONF
$SX nginx -p "$W/nginx" -c "$W/nginx.conf" -e stderr 2> "$W/nginx.log" & PIDS+=($!)
$SX iperf3 -s -p 5201 > /dev/null 2>&1 & PIDS+=($!)
# A discard sink for the server's own bulk stream (/bulk on the load port), the same for every row.
cat > "$W/sink.py" <<'PY'
import socketserver
class Sink(socketserver.BaseRequestHandler):
    def handle(self):
        buf = bytearray(1 << 20)
        while self.request.recv_into(buf):
            pass
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer(("0.0.0.0", 5202), Sink).serve_forever()
PY
$SX python3 "$W/sink.py" & PIDS+=($!)

# The anchor: wireguard-go on both ends.
wg genkey > "$W/gw.key"; wg pubkey < "$W/gw.key" > "$W/gw.pub"
wg genkey > "$W/site.key"; wg pubkey < "$W/site.key" > "$W/site.pub"
$GX env WG_PROCESS_FOREGROUND=1 wireguard-go -f psbg > "$W/wg-gw.log" 2>&1 & PIDS+=($!)
$SX env WG_PROCESS_FOREGROUND=1 wireguard-go -f psbs > "$W/wg-site.log" 2>&1 & PIDS+=($!)
for i in $(seq 300); do $GX ip link show psbg > /dev/null 2>&1 && $SX ip link show psbs > /dev/null 2>&1 && break; sleep 0.1; done
$GX ip link show psbg > /dev/null 2>&1 && $SX ip link show psbs > /dev/null 2>&1 || { echo "wireguard-go did not start:"; cat "$W"/wg-*.log; exit 1; }
$GX wg set psbg listen-port 51820 private-key "$W/gw.key" peer "$(cat "$W/site.pub")" allowed-ips 100.89.220.2/32 endpoint 10.220.0.2:51820
$SX wg set psbs listen-port 51820 private-key "$W/site.key" peer "$(cat "$W/gw.pub")" allowed-ips 100.89.220.1/32 endpoint 10.220.0.1:51820
ip -n $GW addr add 100.89.220.1/24 dev psbg; ip -n $GW link set psbg mtu "$MTU" up
ip -n $SITE addr add 100.89.220.2/24 dev psbs; ip -n $SITE link set psbs mtu "$MTU" up

# Ours: the server (embedded exit node on UDP 51821) in the server's namespace, newt in the site's. Held set-ups are
# for profiling: the server then writes /tmp/perf-PID.map so that perf names its JIT-compiled frames.
[ -n "${HOLD:-}" ] && export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 # W^X code lives in a memfd perf cannot map
$GX nginx -p "$W/proxy" -c "$W/proxy.conf" -e stderr 2> "$W/proxy.log" & PIDS+=($!)
$GX dotnet "$W/srv/sites-bench.dll" --App:DataDirectory="$W/data" --App:DashboardUrl=http://10.220.0.1:3000 \
  --Domains:main:BaseDomain=bench.test --Gerbil:BaseEndpoint=10.220.0.1 --Gerbil:ListenPort=51821 --Gerbil:Mtu="$MTU" \
  --Bench:SiteFile="$W/site.env" --Bench:Backend=127.0.0.1 --Bench:HttpPort=18080 --Bench:TcpPort=5201 --Bench:SinkPort=5202 \
  > "$W/server.log" 2>&1 & PIDS+=($!)
for i in $(seq 600); do grep -q '^ready' "$W/server.log" && break; sleep 0.1; done
grep -q '^ready' "$W/server.log" || { echo "the server did not start:"; cat "$W/server.log"; exit 1; }
. "$W/site.env"
start_ns=$(date +%s%N)
$SX env ${NEWT_ENV:-} "$W/newt/newt" --id "$NEWT_ID" --secret "$NEWT_SECRET" --endpoint http://10.220.0.1:3000 --mtu "$MTU" > "$W/newt.log" 2>&1 & NEWT=$!; PIDS+=($NEWT)
connected_ms=""; up_ms=""
for i in $(seq 3000); do
  [ -z "$connected_ms" ] && grep -q 'Connected to' "$W/newt.log" && connected_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
  grep -q 'Tunnel up' "$W/newt.log" && { up_ms=$(( ($(date +%s%N) - start_ns) / 1000000 )); break; }
  sleep 0.005
done
[ -n "$up_ms" ] || { echo "newt's tunnel did not come up:"; cat "$W/newt.log"; exit 1; }
for i in $(seq 100); do $GX curl -sf -o /dev/null http://127.0.0.1:18090/1k && break; sleep 0.1; done
$GX curl -sf -o /dev/null http://100.89.220.2:18080/1k || { echo "wireguard-go's tunnel does not carry HTTP:"; cat "$W"/wg-*.log; exit 1; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
if [ -n "${HOLD:-}" ]; then
  echo "up: ip netns exec $GW wrk http://127.0.0.1:18090/1k (ours), http://100.89.220.2:18080/1k (wireguard-go), http://10.220.0.2:18080/1k (direct); iperf3 -c 127.0.0.1 -p 15201 (ours)"
  echo "server pid $(pgrep -f "$W/srv/sites-bench.dll" | head -1), newt pid $NEWT; logs in $W; kill -TERM the script (or Ctrl-C) to remove it all"
  while :; do sleep 3600 & wait $!; done # wait, unlike a bare sleep, lets the trap run at once
fi
sleep 2
rss_idle=$(rss_kb $NEWT)

wrk_run() { # name url connections -> "name rps MBps p50 p99 errors"
  local out; out=$($GX wrk -t2 -c"$3" -d"$DUR" --timeout 10s --latency "$2" 2>&1)
  echo "$out" > "$W/wrk-$1.txt"
  python3 - "$1" "$out" <<'PY'
import re, sys
name, out = sys.argv[1], sys.argv[2]
def ms(v):
    m = re.match(r'([\d.]+)(us|ms|s|m)$', v)
    return float(m.group(1)) * {'us': 0.001, 'ms': 1, 's': 1000, 'm': 60000}[m.group(2)] if m else float('nan')
r = re.search(r'Requests/sec:\s+([\d.]+)', out)
if not r: print(f"{name}\tfailed: {out.strip()[-200:]}"); sys.exit()
rps = float(r.group(1))
p50 = ms(re.search(r'^\s+50%\s+(\S+)', out, re.M).group(1)); p99 = ms(re.search(r'^\s+99%\s+(\S+)', out, re.M).group(1))
err = re.search(r'Non-2xx or 3xx responses: (\d+)', out); sock = re.search(r'Socket errors: (.*)', out)
print(f"{name}\t{rps:.0f}\t{p50:.2f}\t{p99:.2f}\t{(err.group(1) if err else '0')}{(' ' + sock.group(1)) if sock else ''}")
PY
}
iperf_run() { # name host port
  $GX iperf3 -c "$2" -p "$3" -t "$IPERF_T" -J 2> /dev/null | python3 -c "import json,sys; d=json.load(sys.stdin); print('$1\t%.3f' % (d['end']['sum_received']['bits_per_second']/1e9))"
}

# Warm-up, unmeasured: a server runs for days, so the measured runs should not include its JIT compiling the path.
for url in http://10.220.0.2:18080/1k http://100.89.220.2:18080/1k http://127.0.0.1:18082/1k; do $GX wrk -t2 -c64 -d2s "$url" > /dev/null 2>&1; done
$GX wrk -t2 -c64 -d8s http://127.0.0.1:18090/1k > /dev/null 2>&1
$GX curl -sf "http://127.0.0.1:18091/load?connections=64&seconds=3" > /dev/null
$GX iperf3 -c 127.0.0.1 -p 15201 -t 3 > /dev/null 2>&1
{
  echo "# 1 KB requests, wrk -t2 -c64 -d$DUR (req/s, p50 ms, p99 ms, errors)"
  wrk_run direct http://10.220.0.2:18080/1k 64
  wrk_run wireguard-go http://100.89.220.2:18080/1k 64
  wrk_run nginx+wireguard-go http://127.0.0.1:18082/1k 64
  wrk_run newt http://127.0.0.1:18090/1k 64
  printf 'server-to-newt\t%s\n' "$($GX curl -sf "http://127.0.0.1:18091/load?connections=64&seconds=${DUR%s}")"
  echo "# bulk TCP, iperf3 -t $IPERF_T (Gbit/s)"
  iperf_run direct 10.220.0.2 5201
  iperf_run wireguard-go 100.89.220.2 5201
  iperf_run newt 127.0.0.1 15201
  echo "# bulk TCP sent by the server itself for $IPERF_T s to a discard sink (Gbit/s)"
  printf 'own-direct\t%s\n' "$($GX curl -sf "http://127.0.0.1:18091/bulk?seconds=$IPERF_T&to=10.220.0.2:5202")"
  printf 'own-wireguard-go\t%s\n' "$($GX curl -sf "http://127.0.0.1:18091/bulk?seconds=$IPERF_T&to=100.89.220.2:5202")"
  printf 'own-newt\t%s\n' "$($GX curl -sf "http://127.0.0.1:18091/bulk?seconds=$IPERF_T")"
} | tee "$W/results.tsv"

# 1,000 proxied connections held open through newt: RSS sampled in the middle of the run.
( sleep 5; rss_kb $NEWT > "$W/rss-loaded" ) & SAMPLER=$!
wrk_run newt-1000-connections http://127.0.0.1:18090/1k 1000 | tee -a "$W/results.tsv"
wait $SAMPLER
rss_loaded=$(cat "$W/rss-loaded")
sleep 2
rss_after=$(rss_kb $NEWT)
version_ms=$(python3 - "$W/newt/newt" <<'PY'
import subprocess, sys, time, statistics
runs = []
for _ in range(21):
    t = time.perf_counter(); subprocess.run([sys.argv[1], '--version'], capture_output=True, check=True); runs.append((time.perf_counter() - t) * 1000)
print(f"{statistics.median(runs):.1f}")
PY
)
size=$(stat -c %s "$W/newt/newt")
extra=$(cd "$W/newt" && ls | grep -v '^newt$' | grep -v '\.dbg$' | tr '\n' ' ')

python3 - "$W/results.tsv" <<PY
import sys
rows = {}
for line in open(sys.argv[1]):
    if line.startswith('#'): continue
    parts = line.rstrip('\n').split('\t'); rows[parts[0] + ('' if len(parts) > 2 else '/bulk')] = parts
d, g, n = float(rows['direct'][1]), float(rows['wireguard-go'][1]), float(rows['newt'][1])
pg = float(rows['nginx+wireguard-go'][1])
sn = float(rows['server-to-newt'][1])
bd, bg, bn = float(rows['direct/bulk'][1]), float(rows['wireguard-go/bulk'][1]), float(rows['newt/bulk'][1])
print()
print(f"1 KB req/s: direct {d:.0f}, wireguard-go {g:.0f} ({g/d:.2f} of direct), nginx proxy + wireguard-go {pg:.0f} ({pg/d:.2f}), newt with our proxy front {n:.0f} ({n/d:.2f} of direct, {n/g:.2f}x wireguard-go, {n/pg:.2f}x nginx + wireguard-go)")
print(f"1 KB req/s sent by the server itself (64 keep-alive loops) through newt: {sn:.0f} ({sn/d:.2f} of direct, {sn/g:.2f}x wireguard-go with wrk)")
print(f"bulk Gbit/s, iperf3 through our TCP front: direct {bd:.3f}, wireguard-go {bg:.3f}, newt {bn:.3f} ({bn/bg:.1f}x wireguard-go, {bn/bd:.3f} of direct)")
od, og, on = float(rows['own-direct/bulk'][1]), float(rows['own-wireguard-go/bulk'][1]), float(rows['own-newt/bulk'][1])
print(f"bulk Gbit/s sent by the server itself (one sender, one sink): direct {od:.3f}, wireguard-go {og:.3f}, newt {on:.3f} ({on/og:.1f}x wireguard-go, {on/od:.3f} of direct)")
PY
echo "newt RSS: idle ${rss_idle} kB, with 1,000 proxied connections ${rss_loaded} kB, after ${rss_after} kB"
echo "newt start: --version ${version_ms} ms (median of 21); exec -> connected ${connected_ms} ms, exec -> tunnel up ${up_ms} ms (5 ms polling, a local server)"
echo "newt binary: ${size} bytes; beside it: ${extra:-nothing}"
