#!/usr/bin/env bash
# Edge (issue 6's benchmark): our edge in front of a site's backend through newt, for a password-protected resource
# with a valid resource session, beside the stand-in for upstream's chain (nginx auth_request in front of a
# wireguard-go tunnel, as ../shared/bench/anchors.sh's tunnel section builds it); and our edge alone in front of a
# local target beside nginx, HAProxy and Caddy as reverse proxies to the same origin (anchors.sh's proxy section).
# All in one run, from one namespace, with wrk -t2 -c64 --latency for a 1 KB and a 1 MB response.
#
#   bench/edge/run.sh                      # 10 s per measurement, MTU 1420
#   DUR=3s bench/edge/run.sh               # a quick check that everything works (figures not to quote)
#   HOLD=1 bench/edge/run.sh               # set everything up, print the endpoints, wait until killed (profiling)
#   SERVER_BUILD=/published/server NEWT_BUILD=/published/newt bench/edge/run.sh   # skip the publish (A/B runs)
#   SERVER_ARGS="--Logging:LogLevel:Default=Warning" bench/edge/run.sh             # extra server settings (A/B runs)
#
# Paths (wrk always runs in the gateway namespace, pe-gw; the site is pe-site, joined by a veth 10.230.0.0/24):
#   direct          wrk -> nginx origin on the gateway's loopback (1 worker): the limit for every proxy below
#   direct_veth     wrk -> the site's nginx origin over the bare veth (the limit of the tunneled paths)
#   chain_wg        wrk -> nginx (auth_request to a 204 nginx) -> wireguard-go -> veth -> wireguard-go -> HAProxy
#                   TCP forwarder (the "site connector") -> site origin. Stand-in for Traefik + Badger + Gerbil + Newt.
#   edge_newt       wrk -> pangolin's edge (Edge:HttpPort; password resource, session cookie checked per request)
#                   -> TargetConnector -> userspace WireGuard + netstack -> UDP over the veth -> newt (Native AOT)
#                   -> site origin
#   nginx, haproxy, caddy   wrk -> reverse proxy -> gateway origin (plain proxies, keep-alive upstream)
#   nginx_authreq   wrk -> nginx with auth_request (HTTP to the 204 nginx) -> gateway origin
#   edge_local      wrk -> pangolin's edge -> gateway origin (a "local" site; resource open: no sign-in)
#   edge_local_pw   wrk -> pangolin's edge -> gateway origin (a "local" site; password resource, session cookie)
#
# The server is the real one (Release publish of src/Pangolin.Server, SQLite in the work folder, default settings
# except the ports and addresses below), set up entirely through its HTTP API. newt is the Native AOT publish of
# src/Pangolin.Newt. Needs root, iproute2, wrk, nginx, haproxy, caddy, wireguard-go, wireguard-tools, curl, bc,
# python3 and the .NET SDK. Traffic stays in the two namespaces it creates; everything started is stopped by PID on
# exit and the namespaces removed.
set -uo pipefail

DUR=${DUR:-10s}
WARM=${WARM:-5s}     # unmeasured wrk on our paths first: a server runs for days; its JIT warm-up is not the figure
MTU=${MTU:-1420}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=$(mktemp -d /tmp/pangolin-edge-bench.XXXXXX)
chmod 755 "$W"
GW=pe-gw; SITE=pe-site
GX="ip netns exec $GW"; SX="ip netns exec $SITE"
WRK="wrk -t2 -c64 -d$DUR --timeout 10s --latency"
PASSWORD=Bench-Pass-123
RESOURCE_PASSWORD=open-sesame-bench
PIDS=()
MAIN=$BASHPID

cleanup() {
  [ "$BASHPID" = "$MAIN" ] || return 0 # pipelines and ( ) run in subshells that would fire this trap too
  local p c
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done # nginx masters stop their workers on TERM
  for i in $(seq 50); do for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && break; done || break; sleep 0.1; done
  for p in "${PIDS[@]}"; do for c in $(pgrep -P "$p" 2>/dev/null); do kill -9 "$c" 2>/dev/null; done; kill -9 "$p" 2>/dev/null; done
  ip netns del $GW 2>/dev/null; ip netns del $SITE 2>/dev/null
  rm -f /var/run/wireguard/pebg.sock /var/run/wireguard/pebs.sock
  [ -n "${KEEP:-}" ] && echo "work folder kept: $W" >&2 || rm -rf "$W"
}
trap cleanup EXIT
trap "exit 143" INT TERM # through the EXIT trap, once; a trap that returned would resume the HOLD loop
die() { echo "edge bench: $*" >&2; [ "$BASHPID" = "$MAIN" ] || kill -TERM "$MAIN"; exit 1; } # also from $( ) subshells

# ---------------------------------------------------------------- build
SRV=${SERVER_BUILD:-}; NEWT=${NEWT_BUILD:-}
if [ -z "$SRV" ] || [ -z "$NEWT" ]; then
  echo "publishing the server (Release) and newt (Native AOT)..." >&2
  dotnet publish -c Release -v q --nologo "$ROOT/src/Pangolin.Server" -o "$W/srv" > "$W/build.log" 2>&1 || { cat "$W/build.log"; exit 1; }
  dotnet publish -c Release -r linux-x64 -v q --nologo "$ROOT/src/Pangolin.Newt" -o "$W/newt" > "$W/publish.log" 2>&1 || { cat "$W/publish.log"; exit 1; }
  SRV=$W/srv; NEWT=$W/newt
fi
[ -f "$SRV/pangolin.dll" ] || die "no pangolin.dll in $SRV"
[ -x "$NEWT/newt" ] || die "no newt in $NEWT"

# ---------------------------------------------------------------- network
ip netns del $GW 2>/dev/null; ip netns del $SITE 2>/dev/null
ip netns add $GW; ip netns add $SITE
ip -n $GW link set lo up; ip -n $SITE link set lo up
ip -n $GW link add veth0 type veth peer name veth1 netns $SITE
ip -n $GW addr add 10.230.0.1/24 dev veth0; ip -n $GW link set veth0 up
ip -n $SITE addr add 10.230.0.2/24 dev veth1; ip -n $SITE link set veth1 up

# ---------------------------------------------------------------- origins, proxies, anchors
mkdir -p "$W/www" "$W/run" "$W/raw"
head -c 1024 /dev/urandom | base64 -w0 | head -c 1024 > "$W/www/1k"
head -c 1048576 /dev/urandom > "$W/www/1m"
chmod -R a+rX "$W/www"

# nginx_conf NAME WORKERS SERVER_BLOCKS -> $W/NAME.conf, run in the foreground (its PID is the master's)
nginx_conf() {
  mkdir -p "$W/run/$1"
  cat > "$W/$1.conf" <<EOF
daemon off;
worker_processes $2;
pid $W/run/$1/nginx.pid;
error_log stderr warn;
events { worker_connections 8192; multi_accept on; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 1000000; keepalive_timeout 65;
  open_file_cache max=100;
  default_type application/octet-stream;
  client_body_temp_path $W/run/$1/cb; proxy_temp_path $W/run/$1/px;
  fastcgi_temp_path $W/run/$1/fc; uwsgi_temp_path $W/run/$1/uw; scgi_temp_path $W/run/$1/sc;
$3
}
EOF
}
# start NSEXEC NAME COMMAND... -> PID in the variable NAME (and in PIDS)
start() { local nsx=$1 name=$2; shift 2; $nsx "$@" > "$W/$name.log" 2>&1 & PIDS+=($!); printf -v "$name" '%s' $!; }

# The origins: one nginx worker each (anchors.sh's "origin"), one on the gateway's loopback, one in the site.
nginx_conf origin 1 "  server { listen 127.0.0.1:18080 backlog=4096; root $W/www; location / { } }"
nginx_conf siteorigin 1 "  server { listen 0.0.0.0:18080 backlog=4096; root $W/www; location / { } }"
nginx_conf auth 1 "  server { listen 127.0.0.1:18083 backlog=4096; location / { return 204; } }"
nginx_conf nproxy auto "
  upstream be   { server 127.0.0.1:18080; keepalive 128; keepalive_requests 1000000; }
  upstream auth { server 127.0.0.1:18083; keepalive 128; keepalive_requests 1000000; }
  upstream site { server 100.89.230.2:18090; keepalive 128; keepalive_requests 1000000; }
  # plain reverse proxy to the gateway origin
  server { listen 127.0.0.1:18081 backlog=4096;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }
  # auth_request to the 204 server, then the gateway origin
  server { listen 127.0.0.1:18086 backlog=4096;
    location / { auth_request /_auth; proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection \"\"; }
    location = /_auth { internal; proxy_pass http://auth/auth; proxy_http_version 1.1; proxy_set_header Connection \"\";
      proxy_pass_request_body off; proxy_set_header Content-Length \"\"; proxy_set_header X-Original-URI \$request_uri; } }
  # the anchor chain: auth_request, then the site connector through wireguard-go (anchors.sh's tunnel section)
  server { listen 127.0.0.1:18082 backlog=4096;
    location / { auth_request /_auth; proxy_pass http://site; proxy_http_version 1.1; proxy_set_header Connection \"\"; }
    location = /_auth { internal; proxy_pass http://auth/auth; proxy_http_version 1.1; proxy_set_header Connection \"\";
      proxy_pass_request_body off; proxy_set_header Content-Length \"\"; proxy_set_header X-Original-URI \$request_uri; } }"
cat > "$W/haproxy.cfg" <<EOF
global
  nbthread 2
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
  http-reuse always
frontend fe
  bind 127.0.0.1:18084
  default_backend be
backend be
  server s1 127.0.0.1:18080
EOF
cat > "$W/siteconn.cfg" <<EOF
global
  nbthread 1
  maxconn 8000
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend fe
  bind 100.89.230.2:18090
  default_backend be
backend be
  server s1 127.0.0.1:18080
EOF
cat > "$W/Caddyfile" <<EOF
{
  admin off
  auto_https off
}
http://127.0.0.1:18085 {
  reverse_proxy 127.0.0.1:18080
}
EOF
start "$GX" ORIGIN nginx -p "$W" -c "$W/origin.conf" -e stderr
start "$SX" SITEORIGIN nginx -p "$W" -c "$W/siteorigin.conf" -e stderr
start "$GX" AUTH nginx -p "$W" -c "$W/auth.conf" -e stderr
start "$GX" HAPROXY haproxy -f "$W/haproxy.cfg"
start "$GX" CADDY env HOME="$W" XDG_DATA_HOME="$W/run" XDG_CONFIG_HOME="$W/run" caddy run --config "$W/Caddyfile" --adapter caddyfile

# The anchor's tunnel: wireguard-go on both ends (distinct names: /var/run/wireguard/*.sock is shared).
(umask 077; wg genkey > "$W/gw.key"; wg genkey > "$W/site.key")
wg pubkey < "$W/gw.key" > "$W/gw.pub"; wg pubkey < "$W/site.key" > "$W/site.pub"
start "$GX" WGGW env WG_PROCESS_FOREGROUND=1 wireguard-go -f pebg
start "$SX" WGSITE env WG_PROCESS_FOREGROUND=1 wireguard-go -f pebs
for i in $(seq 300); do $GX ip link show pebg > /dev/null 2>&1 && $SX ip link show pebs > /dev/null 2>&1 && break; sleep 0.1; done
$GX ip link show pebg > /dev/null 2>&1 && $SX ip link show pebs > /dev/null 2>&1 || { cat "$W"/WG*.log; die "wireguard-go did not start"; }
$GX wg set pebg listen-port 51820 private-key "$W/gw.key" peer "$(cat "$W/site.pub")" allowed-ips 100.89.230.2/32 endpoint 10.230.0.2:51820
$SX wg set pebs listen-port 51820 private-key "$W/site.key" peer "$(cat "$W/gw.pub")" allowed-ips 100.89.230.1/32 endpoint 10.230.0.1:51820 persistent-keepalive 25
ip -n $GW addr add 100.89.230.1/24 dev pebg; ip -n $GW link set pebg mtu "$MTU" up
ip -n $SITE addr add 100.89.230.2/24 dev pebs; ip -n $SITE link set pebs mtu "$MTU" up
start "$SX" SITECONN haproxy -f "$W/siteconn.cfg"
start "$GX" NPROXY nginx -p "$W" -c "$W/nproxy.conf" -e stderr

# ---------------------------------------------------------------- the server and newt
# Held set-ups are for profiling: the server then writes /tmp/perf-PID.map so that perf names its JIT-compiled frames.
[ -n "${HOLD:-}" ] && export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0
mkdir -p "$W/data"
# Word splitting of SERVER_ARGS is intended (extra --Key=value settings).
# shellcheck disable=SC2086
# The server reads unprefixed environment variables as settings too: none of this script's own goes to it.
start "$GX" SERVER env -u SERVER_BUILD -u NEWT_BUILD -u SERVER_ARGS -u DUR -u WARM -u MTU -u HOLD -u KEEP -u OUT dotnet "$SRV/pangolin.dll" --App:DataDirectory="$W/data" \
  --App:DashboardUrl=http://10.230.0.1:3000 --Server:ListenAddress=0.0.0.0 --Edge:HttpPort=8080 \
  --Domains:main:BaseDomain=bench.test --Gerbil:BaseEndpoint=10.230.0.1 --Gerbil:ListenPort=51821 --Gerbil:Mtu="$MTU" \
  ${SERVER_ARGS:-}
token=""
for i in $(seq 600); do
  token=$(grep -A1 'SETUP TOKEN' "$W/SERVER.log" 2>/dev/null | tail -1 | awk '{print $1}')
  [ -n "$token" ] && [ "$token" != "===" ] && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$W/SERVER.log"; die "the server exited"; }
  sleep 0.1
done
[ -n "$token" ] || { cat "$W/SERVER.log"; die "no setup token"; }

API=http://127.0.0.1:3000/api/v1
# api METHOD PATH [JSON] -> the reply's body; fails on an HTTP error
api() {
  local out code
  out=$($GX curl -s -b "$W/jar" -c "$W/jar" -X "$1" "$API/$2" -H 'Content-Type: application/json' \
        -H 'X-CSRF-Token: x-csrf-protection' ${3:+-d "$3"} -w '\n%{http_code}')
  code=${out##*$'\n'}; out=${out%$'\n'*}
  [[ "$code" == 2* ]] || die "$1 $2 answered $code: $out"
  printf '%s' "$out"
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin)['data']; print(eval(sys.argv[1]))" "$1"; }

api PUT auth/set-server-admin "{\"email\":\"bench@example.com\",\"password\":\"$PASSWORD\",\"setupToken\":\"$token\"}" > /dev/null
api POST auth/login "{\"email\":\"bench@example.com\",\"password\":\"$PASSWORD\"}" > /dev/null
api PUT org '{"orgId":"bench","name":"Bench"}' > /dev/null
site=$(api PUT org/bench/site '{"name":"Site","type":"newt"}')
SITE_ID=$(json "d['siteId']" <<< "$site"); NEWT_ID=$(json "d['newtId']" <<< "$site"); NEWT_SECRET=$(json "d['secret']" <<< "$site")
LOCAL_SITE=$(api PUT org/bench/site '{"name":"Here","type":"local"}' | json "d['siteId']")

# resource NAME SITE TARGET_IP [PASSWORD] -> resource id. Plain HTTP (ssl off), no platform SSO; a password when given.
resource() {
  local id
  id=$(api PUT org/bench/resource "{\"name\":\"$1\",\"http\":true,\"domainId\":\"main\",\"subdomain\":\"$1\"}" | json "d['resourceId']")
  api POST "resource/$id" '{"ssl":false,"sso":false}' > /dev/null
  api PUT "resource/$id/target" "{\"siteId\":$2,\"ip\":\"$3\",\"port\":18080,\"method\":\"http\"}" > /dev/null
  [ -n "${4:-}" ] && api POST "resource/$id/password" "{\"password\":\"$4\"}" > /dev/null
  echo "$id"
}
APP=$(resource app "$SITE_ID" 127.0.0.1 "$RESOURCE_PASSWORD")       # behind newt: the site's loopback
LOCALPW=$(resource localpw "$LOCAL_SITE" 127.0.0.1 "$RESOURCE_PASSWORD") # the gateway's loopback, no tunnel
LOCAL=$(resource local "$LOCAL_SITE" 127.0.0.1)

# resource_session RESOURCE_ID HOST -> "Cookie: name=value", a resource session as a signed-in browser holds it: the
# password sign-in (POST auth/resource/<id>/password -> a single-use request token), then the resource's own host
# exchanges the token for its cookie (?resource_session_request_param=<token>: 302 and Set-Cookie p_session_token).
resource_session() {
  local token headers cookie
  for i in $(seq 100); do
    token=$($GX curl -s -X POST "$API/auth/resource/$1/password" -H 'Content-Type: application/json' \
      -H 'X-CSRF-Token: x-csrf-protection' -d "{\"password\":\"$RESOURCE_PASSWORD\"}" | python3 -c "import json,sys; print(json.load(sys.stdin)['data']['session'])" 2>/dev/null)
    if [ -n "$token" ]; then
      headers=$($GX curl -s -o /dev/null -D - -H "Host: $2" "http://127.0.0.1:8080/1k?resource_session_request_param=$token")
      cookie=$(grep -i '^set-cookie: p_session_token' <<< "$headers" | head -1 | sed -E 's/^[Ss]et-[Cc]ookie: ([^;]*).*/\1/' | tr -d '\r')
      [ -n "$cookie" ] && { echo "Cookie: $cookie"; return 0; }
    fi
    sleep 0.1 # the edge picks resources up a moment after the API call
  done
  die "no session cookie for $2 from the password sign-in; last answer: $headers"
}

# newt in the site's namespace, dialling the server over the veth.
start "$SX" NEWTP "$NEWT/newt" --id "$NEWT_ID" --secret "$NEWT_SECRET" --endpoint http://10.230.0.1:3000 --mtu "$MTU"
for i in $(seq 600); do grep -q 'Tunnel up' "$W/NEWTP.log" && break; kill -0 "$NEWTP" 2>/dev/null || break; sleep 0.1; done
grep -q 'Tunnel up' "$W/NEWTP.log" || { cat "$W/NEWTP.log"; die "newt's tunnel did not come up"; }

APP_COOKIE=$(resource_session "$APP" app.bench.test)
LOCALPW_COOKIE=$(resource_session "$LOCALPW" localpw.bench.test)

# ---------------------------------------------------------------- checks: every path answers 200 with the right size
# path NAME URL [HEADER...]: the table of what is measured
declare -A URL HDR1 HDR2
path() { URL[$1]=$2; HDR1[$1]=${3:-}; HDR2[$1]=${4:-}; }
path direct        http://127.0.0.1:18080
path direct_veth   http://10.230.0.2:18080
path chain_wg      http://127.0.0.1:18082
path edge_newt     http://127.0.0.1:8080 "Host: app.bench.test" "$APP_COOKIE"
path nginx         http://127.0.0.1:18081
path haproxy       http://127.0.0.1:18084
path caddy         http://127.0.0.1:18085
path nginx_authreq http://127.0.0.1:18086
path edge_local    http://127.0.0.1:8080 "Host: local.bench.test"
path edge_local_pw http://127.0.0.1:8080 "Host: localpw.bench.test" "$LOCALPW_COOKIE"
ORDER="direct direct_veth chain_wg edge_newt nginx haproxy caddy nginx_authreq edge_local edge_local_pw"
hdrs() { [ -n "${HDR1[$1]}" ] && printf '%s\0' -H "${HDR1[$1]}"; [ -n "${HDR2[$1]}" ] && printf '%s\0' -H "${HDR2[$1]}"; return 0; }

check() { # NAME SIZE BYTES -> fails unless 200 and the size (newt may need a moment for its first target)
  local name=$1 got="" h=()
  mapfile -d '' h < <(hdrs "$name")
  for i in $(seq 100); do
    got=$($GX curl -s -o /dev/null -w '%{http_code} %{size_download}' "${h[@]}" "${URL[$name]}/$2")
    [ "$got" = "200 $3" ] && return 0
    sleep 0.1
  done
  die "$name /$2 answered '$got', not '200 $3'"
}
for n in $ORDER; do check "$n" 1k 1024; check "$n" 1m 1048576; done
# ...and our password resources refuse a request without the session: the check is really made per request.
for h in app.bench.test localpw.bench.test; do
  code=$($GX curl -s -o /dev/null -w '%{http_code}' -H "Host: $h" http://127.0.0.1:8080/1k)
  [ "$code" = 302 ] || die "$h without a session answered $code, not 302 (to its sign-in page)"
done
echo "all paths answer 200 with the full body; $APP_COOKIE opens app.bench.test, no cookie gets the sign-in redirect" >&2

if [ -n "${HOLD:-}" ]; then
  for n in $ORDER; do echo "$n: ip netns exec $GW wrk ${HDR1[$n]:+-H '${HDR1[$n]}' }${HDR2[$n]:+-H '${HDR2[$n]}' }${URL[$n]}/1k"; done
  echo "server pid $SERVER, newt pid $NEWTP, wireguard-go $WGGW/$WGSITE, logs in $W; kill -TERM the script (or Ctrl-C) to remove it all"
  while :; do sleep 3600 & wait $!; done # wait, unlike a bare sleep, lets the trap run at once
fi

# ---------------------------------------------------------------- measurement
# CPU ticks of the given root PIDs and their live children (nginx workers).
ticks() { local t=0 p c v; for p in "$@"; do for c in $p $(pgrep -P "$p"); do
  v=$(awk '{print $14+$15+$16+$17}' /proc/$c/stat 2>/dev/null); t=$((t+${v:-0})); done; done; echo $t; }
pids_of() { local x=${1#*=}; echo "${x//,/ }"; } # "name=pid,pid" -> "pid pid"
busy() { awk '/^cpu /{print $2+$3+$4+$6+$7+$8+$9}' /proc/stat; } # the whole machine's busy ticks
HZ=$(getconf CLK_TCK)
# Which processes each path keeps busy (CPU seconds of each group are recorded per run).
declare -A GROUPS_OF=(
  [direct]="origin=$ORIGIN"
  [direct_veth]="origin=$SITEORIGIN"
  [chain_wg]="proxy=$NPROXY auth=$AUTH wg=$WGGW,$WGSITE siteconn=$SITECONN origin=$SITEORIGIN"
  [edge_newt]="server=$SERVER newt=$NEWTP origin=$SITEORIGIN"
  [nginx]="proxy=$NPROXY origin=$ORIGIN"
  [haproxy]="proxy=$HAPROXY origin=$ORIGIN"
  [caddy]="proxy=$CADDY origin=$ORIGIN"
  [nginx_authreq]="proxy=$NPROXY auth=$AUTH origin=$ORIGIN"
  [edge_local]="server=$SERVER origin=$ORIGIN"
  [edge_local_pw]="server=$SERVER origin=$ORIGIN"
)
RES=$W/results.tsv
printf 'path\tsize\trps\tMBps\tp50_ms\tp99_ms\terrors\tcpu_seconds\trequests\tMB\n' > "$RES"

run_wrk() { # NAME SIZE [DURATION] -> one line in results.tsv (none for warm-ups)
  local name=$1 size=$2 dur=${3:-} g h=() names=() before=()
  mapfile -d '' h < <(hdrs "$name")
  if [ -n "$dur" ]; then $GX wrk -t2 -c64 -d"$dur" "${h[@]}" "${URL[$name]}/$size" > /dev/null 2>&1; return; fi
  for g in ${GROUPS_OF[$name]}; do names+=("${g%%=*}"); before+=("$(ticks $(pids_of "$g"))"); done
  local s0 s1 t0 t1 f="$W/raw/$name-$size.txt"
  s0=$(busy); t0=$(date +%s.%N)
  { TIMEFORMAT='%3U %3S'; time $GX $WRK "${h[@]}" "${URL[$name]}/$size" > "$f" 2>&1; } 2> "$f.time"
  t1=$(date +%s.%N); s1=$(busy)
  local el cpu i=0 wu ws a
  el=$(echo "$t1 - $t0" | bc -l)
  read -r wu ws < "$f.time"
  cpu="wrk=$(echo "$wu + $ws" | bc -l | xargs printf '%.1f')"
  for g in ${GROUPS_OF[$name]}; do
    a=$(ticks $(pids_of "$g")); cpu="$cpu,${names[$i]}=$(echo "($a - ${before[$i]}) / $HZ" | bc -l | xargs printf '%.1f')"; i=$((i+1))
  done
  cpu="$cpu,machine=$(echo "($s1 - $s0) / $HZ" | bc -l | xargs printf '%.1f')/$(echo "$(nproc) * $el" | bc -l | xargs printf '%.1f')"
  python3 - "$f" "$name" "$size" "$cpu" >> "$RES" <<'PY'
import re, sys
f, name, size, cpu = sys.argv[1:]
t = open(f).read()
def ms(s):
    m = re.match(r'([\d.]+)(us|ms|s|m)$', s); return float(m.group(1)) * {'us': 1e-3, 'ms': 1, 's': 1e3, 'm': 6e4}[m.group(2)]
def mb(s):
    m = re.match(r'([\d.]+)(B|KB|MB|GB)$', s); return float(m.group(1)) * {'B': 1 / 2**20, 'KB': 1 / 1024, 'MB': 1, 'GB': 1024}[m.group(2)]
rps = re.search(r'Requests/sec:\s+([\d.]+)', t); tr = re.search(r'Transfer/sec:\s+(\S+)', t)
p50 = re.search(r'^\s+50%\s+(\S+)', t, re.M); p99 = re.search(r'^\s+99%\s+(\S+)', t, re.M)
err = []
m = re.search(r'Socket errors: (.*)', t); m and err.append(m.group(1).replace(' ', ''))
m = re.search(r'Non-2xx or 3xx responses: (\d+)', t); m and err.append('non2xx:' + m.group(1))
m = re.search(r'(\d+) requests in .*?, ([\d.]+)(B|KB|MB|GB) read', t)
# wrk counts a 3xx as a success: far fewer bytes per answer than the file's are such answers. (wrk rounds the bytes it
# read to three digits, so a full run can show a little less than the file's size.)
if m and int(m.group(1)) and mb(m.group(2) + m.group(3)) * 2**20 / int(m.group(1)) < 0.9 * {'1k': 1024, '1m': 1048576}[size]:
    err.append('short:%.0fB/response' % (mb(m.group(2) + m.group(3)) * 2**20 / int(m.group(1))))
if not (rps and p50 and p99 and tr):
    print(f"{name}\t{size}\tNA\tNA\tNA\tNA\tFAILED\t{cpu}\tNA\tNA"); sys.exit()
n, read = (int(m.group(1)), '%.1f' % mb(m.group(2) + m.group(3))) if m else ('NA', 'NA')
print(f"{name}\t{size}\t{float(rps.group(1)):.0f}\t{mb(tr.group(1)):.1f}\t{ms(p50.group(1)):.2f}\t{ms(p99.group(1)):.2f}\t{';'.join(err) or '-'}\t{cpu}\t{n}\t{read}")
PY
  tail -1 "$RES" >&2
}

echo "warming up (unmeasured)..." >&2
for n in $ORDER; do run_wrk "$n" 1k 1s; done
for n in edge_newt edge_local edge_local_pw; do run_wrk "$n" 1k "$WARM"; run_wrk "$n" 1m 2s; done

echo "measuring: $WRK, per path 1 KB then 1 MB" >&2
log0=$(stat -c %s "$W/SERVER.log")
for n in $ORDER; do run_wrk "$n" 1k; run_wrk "$n" 1m; done
# The sessions are still good after the runs (a run full of 401s would show as non2xx, but check anyway).
check edge_newt 1k 1024; check edge_local_pw 1k 1024

log1=$(stat -c %s "$W/SERVER.log")
[ -n "${OUT:-}" ] && cp "$RES" "$W"/raw/* "$OUT"/ # keep the raw wrk outputs and the table
python3 - "$RES" "$DUR" <<'PY'
import csv, sys
rows = {(r['path'], r['size']): r for r in csv.DictReader(open(sys.argv[1]), delimiter='\t')}
def v(p, s, f):
    r = rows.get((p, s)); x = r and r[f]
    return float(x) if x not in (None, '', 'NA') else None
def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else '-'
# wrk's MB/s includes the response headers: ~200 B of each 1 MB answer (0.02 %), a sixth of each 1 KB one.
print(f"\n## wrk -t2 -c64 -d{sys.argv[2]} --latency, one run per line (CPU: seconds over the run; machine = busy/available)\n")
# CPU of everything on the path but wrk (proxies, tunnel ends, origin), per 1 KB request or per MB of 1 MB answers:
# what the path costs, less sensitive than the rates to what else the machine runs.
def path_cpu(r):
    kv = dict(x.split('=', 1) for x in r['cpu_seconds'].split(','))
    return sum(float(v) for k, v in kv.items() if k not in ('wrk', 'machine'))
def cost(p, s):
    r = rows.get((p, s))
    if not r or r['requests'] in ('NA', '0') or r['MB'] in ('NA', '0'): return None
    return path_cpu(r) * 1e6 / int(r['requests']) if s == '1k' else path_cpu(r) * 1e3 / float(r['MB'])
print("| path | size | req/s | MB/s | p50 ms | p99 ms | errors | CPU seconds | path CPU per request (1 KB, µs) or per MB (1 MB, ms) |")
print("|---|---|---:|---:|---:|---:|---|---|---:|")
for (p, s), r in rows.items():
    c = cost(p, s)
    print(f"| {p} | {s} | {r['rps']} | {r['MBps']} | {r['p50_ms']} | {r['p99_ms']} | {r['errors']} | {r['cpu_seconds'].replace(',', ' ')} | {c:.0f} |" if c is not None and s == '1k' else
          f"| {p} | {s} | {r['rps']} | {r['MBps']} | {r['p50_ms']} | {r['p99_ms']} | {r['errors']} | {r['cpu_seconds'].replace(',', ' ')} | {c:.1f} |" if c is not None else
          f"| {p} | {s} | {r['rps']} | {r['MBps']} | {r['p50_ms']} | {r['p99_ms']} | {r['errors']} | {r['cpu_seconds'].replace(',', ' ')} | - |")
g = lambda p, s: v(p, s, 'rps' if s == '1k' else 'MBps')
n0 = lambda x: f"{x:.0f}" if x is not None else '-'

print("\n## Ratios the goals name\n")
print("| ratio | value | goal |")
print("|---|---:|---|")
print(f"| edge → newt / nginx auth_request + wireguard-go, 1 KB req/s | {ratio(g('edge_newt', '1k'), g('chain_wg', '1k'))} | ≥ 2.5 |")
print(f"| edge → newt / nginx auth_request + wireguard-go, 1 MB MB/s | {ratio(g('edge_newt', '1m'), g('chain_wg', '1m'))} | ≥ 10 |")
print(f"| edge (local target) / nginx direct, 1 KB req/s | {ratio(g('edge_local', '1k'), g('direct', '1k'))} | ≥ 0.5 |")
print("\nThe same two tunnel comparisons by CPU cost (the anchor's path CPU over ours, per 1 KB request and per MB): "
      f"{ratio(cost('chain_wg', '1k'), cost('edge_newt', '1k'))} and {ratio(cost('chain_wg', '1m'), cost('edge_newt', '1m'))}.")
print("\n## Reverse proxies to the same origin, of nginx direct (1 KB req/s; 1 MB MB/s)\n")
print("| proxy | 1 KB req/s | of direct | p99 ms | 1 MB MB/s | of direct |")
print("|---|---:|---:|---:|---:|---:|")
for p in ['direct', 'nginx', 'haproxy', 'caddy', 'edge_local', 'nginx_authreq', 'edge_local_pw']:
    print(f"| {p} | {n0(g(p, '1k'))} | {ratio(g(p, '1k'), g('direct', '1k'))} | {v(p, '1k', 'p99_ms')} | {g(p, '1m') or '-'} | {ratio(g(p, '1m'), g('direct', '1m'))} |")
print("\n## Tunneled paths, of the site origin over the bare veth\n")
print("| path | 1 KB req/s | of veth | p99 ms | 1 MB MB/s | of veth |")
print("|---|---:|---:|---:|---:|---:|")
for p in ['direct_veth', 'chain_wg', 'edge_newt']:
    print(f"| {p} | {n0(g(p, '1k'))} | {ratio(g(p, '1k'), g('direct_veth', '1k'))} | {v(p, '1k', 'p99_ms')} | {g(p, '1m') or '-'} | {ratio(g(p, '1m'), g('direct_veth', '1m'))} |")
bad = [f"{p} {s}: {r['errors']}" for (p, s), r in rows.items() if r['errors'] != '-']
print("\nerrors: " + ("; ".join(bad) if bad else "none (no socket errors, no non-2xx/3xx answers)"))
PY
# What the server's console log cost: with the default settings YARP writes two Information lines per request.
echo "server console log during the measured runs: $(( (log1 - log0) / 1048576 )) MB ($(grep -c 'Proxying to' "$W/SERVER.log") 'Proxying to' lines in all)"
