#!/usr/bin/env bash
# bench/proxy/run.sh [path/to/weir] - proxy overhead on 127.0.0.1, measured in one run:
#   direct     wrk -> fixed-response upstream (nginx `return 200`)
#   nginx      wrk -> nginx reverse proxy (keep-alive upstream) -> upstream
#   weir       wrk -> weir serve (azure kind, default policy, no audit) -> upstream
#   weir+audit the same with the audit trail on (durability batch)
# 4 KB chat completion bodies, nothing for the policy to find. The proxy under test and
# the upstream share core 1 (taskset), wrk runs on core 0, so each proxy gets the same
# CPU. Prints a markdown table: requests/s, latency percentiles at saturation and with one
# connection, server CPU per request (the proxy process only), weir's RSS idle and peak.
set -euo pipefail
cd "$(dirname "$0")/../.."
WEIR=${1:-build/weir}
DUR=${DURATION:-10s}
CONN=${CONNECTIONS:-64}
[ -x "$WEIR" ] || { echo "no weir binary at $WEIR (build first)" >&2; exit 2; }
command -v wrk >/dev/null && command -v nginx >/dev/null || {
  echo "needs wrk and nginx: apt-get install wrk nginx" >&2; exit 2; }

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

freeport() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
UP=$(freeport); NG=$(freeport); WE=$(freeport); WA=$(freeport); WE2=$(freeport); WA2=$(freeport)
python3 bench/proxy/body.py > "$tmp/body.json"
RESP='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Thanks, the migration plan looks reasonable; keep the rollback window short."},"finish_reason":"stop"}],"usage":{"prompt_tokens":900,"completion_tokens":20,"total_tokens":920}}'

nginx_conf() { # $1 name, $2 server block
  mkdir -p "$tmp/$1"
  cat > "$tmp/$1/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $tmp/$1/nginx.pid;
error_log $tmp/$1/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $tmp/$1/cbt; proxy_temp_path $tmp/$1/pt;
  fastcgi_temp_path $tmp/$1/ft; uwsgi_temp_path $tmp/$1/ut; scgi_temp_path $tmp/$1/st;
  client_max_body_size 32m; client_body_buffer_size 64k;
  keepalive_requests 1000000;
  $2
}
NGX
}
nginx_conf upstream "server { listen 127.0.0.1:$UP; location / { default_type application/json; return 200 '$RESP'; } }"
nginx_conf proxy "upstream up { server 127.0.0.1:$UP; keepalive 128; }
  server { listen 127.0.0.1:$NG; location / { proxy_pass http://up; proxy_http_version 1.1;
    proxy_set_header Connection \"\"; proxy_buffering on; } }"

taskset -c 1 nginx -p "$tmp/upstream" -c "$tmp/upstream/nginx.conf" & pids+=($!)
taskset -c 1 nginx -p "$tmp/proxy" -c "$tmp/proxy/nginx.conf" & pids+=($!)

weir_conf() { # $1 file, $2 port, $3 admin, $4 audit yaml
  cat > "$1" <<YML
admin: 127.0.0.1:$3
workers: 1
log_level: warn
$4
upstreams:
  - name: azure
    kind: azure
    listen: 127.0.0.1:$2
    endpoint: http://127.0.0.1:$UP
    region: swedencentral
    deployment_type: datazone
    api_key_env: BENCH_AZURE_KEY
YML
}
weir_conf "$tmp/weir.yaml" "$WE" "$WA" ""
weir_conf "$tmp/weir-audit.yaml" "$WE2" "$WA2" "audit: { dir: $tmp/trail, durability: batch }"
export BENCH_AZURE_KEY=bench-key
taskset -c 1 "$WEIR" serve --config "$tmp/weir.yaml" 2>"$tmp/weir.log" & WPID=$!; pids+=($WPID)
taskset -c 1 "$WEIR" serve --config "$tmp/weir-audit.yaml" 2>"$tmp/weir-audit.log" & WPID2=$!; pids+=($WPID2)

wait_ok() { for _ in $(seq 100); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
            echo "not up: $1" >&2; cat "$tmp"/*.log >&2; exit 1; }
wait_ok "http://127.0.0.1:$WA/readyz"; wait_ok "http://127.0.0.1:$WA2/readyz"
for p in $UP $NG; do for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.1; done; done

rss_kb() { awk -v k="$2" '$1==k":" {print $2}' "/proc/$1/status"; }
cpu_ticks() { # utime+stime of a process and its children threads (nginx: the workers)
  local t=0 p
  for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo $t; }
nginx_workers() { pgrep -P "$(cat "$tmp/$1/nginx.pid")" | tr '\n' ' '; }

IDLE_RSS=$(rss_kb $WPID VmRSS)
export BODY_FILE="$tmp/body.json"
HZ=$(getconf CLK_TCK)
declare -A RPS P50 P99 L1 L99 CPU
run() { # name port pids...
  local name=$1 port=$2; shift 2
  # warm up, then measure
  taskset -c 0 wrk -t1 -c"$CONN" -d2s -s bench/proxy/post.lua "http://127.0.0.1:$port" >/dev/null
  local c0; c0=$(cpu_ticks "$@")
  taskset -c 0 wrk -t1 -c"$CONN" -d"$DUR" --latency -s bench/proxy/post.lua "http://127.0.0.1:$port" > "$tmp/$name.wrk"
  local c1; c1=$(cpu_ticks "$@")
  local reqs; reqs=$(awk '/requests in/ {print $1}' "$tmp/$name.wrk")
  RPS[$name]=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$tmp/$name.wrk")
  P50[$name]=$(awk '$1=="50%" {print $2}' "$tmp/$name.wrk")
  P99[$name]=$(awk '$1=="99%" {print $2}' "$tmp/$name.wrk")
  CPU[$name]=$(awk -v d=$((c1 - c0)) -v n="$reqs" -v hz="$HZ" 'BEGIN { if (n>0) printf "%.1f", d/hz/n*1e6; else print "-" }')
  grep -q 'Non-2xx' "$tmp/$name.wrk" && { echo "$name: non-2xx answers:" >&2; cat "$tmp/$name.wrk" >&2; }
  taskset -c 0 wrk -t1 -c1 -d3s --latency -s bench/proxy/post.lua "http://127.0.0.1:$port" > "$tmp/$name.lat"
  L1[$name]=$(awk '$1=="50%" {print $2}' "$tmp/$name.lat")
  L99[$name]=$(awk '$1=="99%" {print $2}' "$tmp/$name.lat")
}
run direct "$UP" $(nginx_workers upstream)
run nginx "$NG" $(nginx_workers proxy)
run weir "$WE" "$WPID"
run weir+audit "$WE2" "$WPID2"
PEAK_RSS=$(rss_kb $WPID VmHWM)
PEAK_RSS2=$(rss_kb $WPID2 VmHWM)

echo "| target | requests/s | p50 | p99 | p50 (1 conn) | p99 (1 conn) | server CPU µs/request |"
echo "|---|---|---|---|---|---|---|"
for n in direct nginx weir weir+audit; do
  echo "| $n | ${RPS[$n]} | ${P50[$n]} | ${P99[$n]} | ${L1[$n]} | ${L99[$n]} | ${CPU[$n]} |"
done
echo
echo "weir RSS: idle ${IDLE_RSS} kB, peak under load ${PEAK_RSS} kB (with audit: ${PEAK_RSS2} kB)"
echo "($CONN connections, $DUR, 4 KB bodies; server CPU for direct is the upstream itself)"
