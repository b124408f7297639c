#!/usr/bin/env bash
# Two `bertsharp serve` replicas behind HAProxy on loopback, under load from `balancer-load`, while
# each replica in turn is sent SIGTERM mid-load and started again: the drain (not ready for
# --drain-delay seconds while still serving, then finishing what is in flight) should cost no request.
# Needs haproxy (apt-get install haproxy). Run from the repository root:
#   bash bench/haproxy_drain.sh            # drain on: --drain-delay 3
#   DRAIN=0 bash bench/haproxy_drain.sh    # the same without a drain delay, for comparison
# Everything listens on 127.0.0.1 only; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v haproxy >/dev/null || { echo "haproxy is not installed (apt-get install haproxy)" >&2; exit 1; }
DRAIN=${DRAIN:-3}
SECONDS_OF_LOAD=${SECONDS_OF_LOAD:-45}
CLIENTS=${CLIENTS:-8}
PORT_LB=18080 PORT_A=18081 PORT_B=18082

for project in src/BertSharp.Cli bench/BertSharp.Bench; do
  build_log=$(dotnet build "$project" -c Release -v q -nologo 2>&1) || { echo "$build_log" >&2; exit 1; }
done
cli=(dotnet src/BertSharp.Cli/bin/Release/net10.0/BertSharp.Cli.dll)
bench=(dotnet bench/BertSharp.Bench/bin/Release/net10.0/BertSharp.Bench.dll)

work=$(mktemp -d /tmp/bertsharp-haproxy-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ "${status:-1}" -eq 0 ] || tail -n 20 "$work/haproxy.log" "$work/a.log" "$work/b.log" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

model=$("${bench[@]}" balancer-load --write-model "$work" | tail -1)

declare -A replica_pid
start_replica() { # name port
  # One core per replica: the two share this machine, as two pods would share a node.
  DOTNET_PROCESSOR_COUNT=1 "${cli[@]}" serve --model "$model" --urls "http://127.0.0.1:$2" \
    --drain-delay "$DRAIN" --shutdown-timeout 20 >>"$work/$1.log" 2>&1 &
  replica_pid[$1]=$!
  pids+=("$!")
}
wait_ready() { # port
  for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/health/ready")" = 200 ] && return 0
    sleep 0.1
  done
  echo "replica on port $1 never became ready" >&2; return 1
}

cat >"$work/haproxy.cfg" <<CFG
global
  maxconn 1000
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  # A replica busy with a batch on its one core may answer a health check late; late is not down.
  timeout check 5s
  # A request that found a replica closing its connections is sent again, to the other one:
  # /v1/classify has no side effects, so a retry is safe.
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response 503
  option http-buffer-request
frontend bertsharp
  bind 127.0.0.1:$PORT_LB
  default_backend replicas
backend replicas
  balance roundrobin
  option httpchk GET /health/ready
  http-check expect status 200
  # Two failed checks 500 ms apart take a draining replica out, well inside its drain delay.
  default-server check inter 500ms fall 2 rise 2
  server a 127.0.0.1:$PORT_A
  server b 127.0.0.1:$PORT_B
CFG
haproxy -c -q -f "$work/haproxy.cfg"
haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
pids+=("$!")

start_replica a $PORT_A
start_replica b $PORT_B
wait_ready $PORT_A
wait_ready $PORT_B
sleep 1.5 # HAProxy's "rise 2" at 500 ms

"${bench[@]}" balancer-load --url "http://127.0.0.1:$PORT_LB" --seconds "$SECONDS_OF_LOAD" --concurrency "$CLIENTS" >"$work/load.log" 2>&1 &
load=$!
pids+=("$load")

restart() { # name port
  local began=$(date +%s.%N)
  kill -TERM "${replica_pid[$1]}"
  for _ in $(seq 1 300); do kill -0 "${replica_pid[$1]}" 2>/dev/null || break; sleep 0.1; done
  wait "${replica_pid[$1]}" && code=0 || code=$?
  local stopped=$(date +%s.%N)
  start_replica "$1" "$2"
  wait_ready "$2"
  printf 'replica %s: SIGTERM → exit %d after %.1f s, ready again %.1f s after that\n' "$1" "$code" \
    "$(echo "$stopped - $began" | bc)" "$(echo "$(date +%s.%N) - $stopped" | bc)"
}
sleep 8
restart a $PORT_A
sleep 8
restart b $PORT_B
wait "$load" && status=0 || status=$?
cat "$work/load.log"
echo "drain delay ${DRAIN} s; load exit status $status (0: no failed request)"
exit "$status"
