#!/usr/bin/env bash
# promtool over the alert rules: syntax and PromQL (`check rules`), the unit
# tests (`test rules`), and that every alert in alerts.yml has a unit test in
# which it fires and one in which it stays quiet.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
deploy_ensure_prometheus
cd "$DEPLOY_REPO_ROOT/deploy/prometheus"
promtool --version 2>&1 | head -n 1
promtool check rules alerts.yml
promtool test rules alerts_test.yml
untested=""
unquiet=""
for alert in $(sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\).*/\1/p' alerts.yml); do
  # A test case that expects this alert to fire: its alertname line is
  # followed (before the next alertname) by an exp_labels entry.
  if ! awk -v name="$alert" '
      /alertname:/ { current = ($2 == name) }
      current && /exp_labels:/ { found = 1 }
      END { exit !found }' alerts_test.yml; then
    untested="$untested $alert"
  fi
  # And one in which it must stay quiet: exp_alerts: [].
  if ! awk -v name="$alert" '
      /alertname:/ { current = ($2 == name) }
      current && /exp_alerts: *\[\]/ { found = 1 }
      END { exit !found }' alerts_test.yml; then
    unquiet="$unquiet $alert"
  fi
done
if [ -n "$untested" ] || [ -n "$unquiet" ]; then
  [ -z "$untested" ] || echo "FAIL: alerts without a firing unit test:$untested" >&2
  [ -z "$unquiet" ] || echo "FAIL: alerts without a unit test in which they stay quiet:$unquiet" >&2
  exit 1
fi
echo "promtool: $(grep -c '^ *- alert:' alerts.yml) alert rules valid, each with a firing and a quiet unit test, all unit tests pass"
