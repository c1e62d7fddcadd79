#!/usr/bin/env bash
# End-to-end check of the dashboard and alert rules against what etl-medic
# really exports: starts `etl-medic demo` and a real Prometheus (Debian's
# package) on loopback, lets Prometheus scrape the demo every second, then
# asserts with promql_e2e.py that every PromQL expression in
# deploy/grafana/etl-medic.json and deploy/prometheus/alerts.yml parses and
# returns data. It also runs `etl-medic healthcheck` against the demo's
# /healthz, as the container's HEALTHCHECK does. Both processes are stopped
# on exit, whatever happens.
#
# Usage: tests/deploy/prometheus_e2e.sh <path-to-etl-medic-binary>
# Tunables (environment): E2E_INCIDENTS (default 60), E2E_LINGER_SECS (300,
# the demo's serving time after its incidents; the script stops it earlier),
# E2E_TIMEOUT_SECS (120, how long expressions may take to all have data).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

binary=${1:-}
if [ -z "$binary" ] || [ ! -x "$binary" ]; then
  echo "usage: $0 <path-to-etl-medic-binary> (got '${binary}', not an executable)" >&2
  exit 2
fi
binary=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")
incidents=${E2E_INCIDENTS:-60}
linger_secs=${E2E_LINGER_SECS:-300}
timeout_secs=${E2E_TIMEOUT_SECS:-120}

deploy_ensure_prometheus
work_dir=$(mktemp -d "${TMPDIR:-/tmp}/etl-medic-e2e.XXXXXX")
demo_pid=""
prometheus_pid=""
stop_all() {
  local status=$?
  for pid in "$demo_pid" "$prometheus_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [ "$status" != 0 ]; then
    echo "--- demo log (tail) ---" >&2; tail -n 30 "$work_dir/demo.log" >&2 2>/dev/null || true
    echo "--- prometheus log (tail) ---" >&2; tail -n 30 "$work_dir/prometheus.log" >&2 2>/dev/null || true
  fi
  rm -rf "$work_dir"
  exit "$status"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# Two distinct free loopback ports, chosen by the kernel.
read -r demo_port prometheus_port < <(python3 - <<'PY'
import socket
sockets = [socket.socket() for _ in range(2)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))
for s in sockets:
    s.close()
PY
)

cp "$DEPLOY_REPO_ROOT/deploy/prometheus/prometheus-e2e.yml" "$work_dir/prometheus.yml"
cp "$DEPLOY_REPO_ROOT/deploy/prometheus/alerts.yml" "$work_dir/alerts.yml"
printf '[{"targets": ["127.0.0.1:%s"], "labels": {}}]\n' "$demo_port" > "$work_dir/targets.json"
expected_rules=$(grep -c '^ *- alert:' "$work_dir/alerts.yml")

# Prometheus first, so that it scrapes the demo while incidents are worked.
prometheus --config.file="$work_dir/prometheus.yml" \
  --storage.tsdb.path="$work_dir/data" \
  --web.listen-address="127.0.0.1:$prometheus_port" \
  --log.level=warn >"$work_dir/prometheus.log" 2>&1 &
prometheus_pid=$!
prometheus_url="http://127.0.0.1:$prometheus_port"

"$binary" demo --listen "127.0.0.1:$demo_port" --linger-secs "$linger_secs" \
  --incidents "$incidents" >"$work_dir/demo.log" 2>&1 &
demo_pid=$!

# Wait for both to answer, then for a few seconds of successful scrapes.
wait_for() {
  local what=$1 url=$2 seconds=$3
  for _ in $(seq "$seconds"); do
    if python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" "$url" 2>/dev/null; then
      return 0
    fi
    for pid in "$demo_pid" "$prometheus_pid"; do
      kill -0 "$pid" 2>/dev/null || { echo "FAIL: a process exited early while waiting for $what" >&2; return 1; }
    done
    sleep 1
  done
  echo "FAIL: $what did not answer at $url within ${seconds}s" >&2
  return 1
}
wait_for prometheus "$prometheus_url/-/ready" 60
wait_for "etl-medic demo" "http://127.0.0.1:$demo_port/metrics" 60
# The container HEALTHCHECK and the ECS health check run exactly this.
if ! "$binary" healthcheck --url "http://127.0.0.1:$demo_port/healthz"; then
  echo "FAIL: etl-medic healthcheck against the running demo's /healthz" >&2
  exit 1
fi
echo "etl-medic healthcheck --url http://127.0.0.1:$demo_port/healthz: exit 0"
scraped=0
for _ in $(seq 60); do
  scraped=$(python3 - "$prometheus_url" <<'PY'
import json, sys, urllib.parse, urllib.request
query = urllib.parse.urlencode({"query": 'sum_over_time(up{job="etl-medic"}[1m])'})
with urllib.request.urlopen(sys.argv[1] + "/api/v1/query?" + query, timeout=5) as response:
    result = json.load(response)["data"]["result"]
print(int(float(result[0]["value"][1])) if result else 0)
PY
)
  [ "$scraped" -ge 5 ] && break
  sleep 1
done
if [ "$scraped" -lt 5 ]; then
  echo "FAIL: prometheus scraped the demo successfully only $scraped times in 60s" >&2
  exit 1
fi
echo "prometheus $prometheus_url scrapes etl-medic demo on 127.0.0.1:$demo_port ($scraped good scrapes so far)"

python3 "$DEPLOY_REPO_ROOT/tests/deploy/promql_e2e.py" \
  --prometheus "$prometheus_url" \
  --dashboard "$DEPLOY_REPO_ROOT/deploy/grafana/etl-medic.json" \
  --expected-rules "$expected_rules" \
  --timeout-secs "$timeout_secs"
