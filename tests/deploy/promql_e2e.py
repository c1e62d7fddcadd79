#!/usr/bin/env python3
"""Asserts that every PromQL expression of the dashboard and the alert rules
parses and returns data on a real Prometheus that scrapes a real etl-medic.

Run by prometheus_e2e.sh, which starts both processes. Standard library only.

What "returns data" means:
- an expression with no comparison or set operator at its top level must
  return at least one sample;
- an expression that compares (`x > 0.8`) or combines (`a and on() b`) may
  legitimately return nothing (the alert is not firing), so it only has to
  parse, and every operand that is not a number literal must itself return
  data: that proves the metric names, labels and functions it relies on
  exist in what etl-medic exports.

- a sample that is NaN is not data: a query whose every sample is NaN (a
  rate or quantile over a window with no increase) fails, unless it is
  listed in ALLOWED_ALL_NAN with the reason it cannot have a value in the
  demo;
- `absent(X)` / `absent_over_time(X[d])` returns nothing exactly when
  things are healthy (it is the "no etl-medic target at all" alert). For
  it, the check is both halves of what it means: X itself must return data
  (the selector names series the scrape really produces, so the alert is
  not vacuous), and the absent() expression must return nothing (with
  etl-medic being scraped, the alert is quiet). This is explicit, per
  expression, not a relaxation of the other checks.

The alert expressions are taken from Prometheus's /api/v1/rules, i.e. from
the alerts.yml the server loaded, and every rule must report health "ok".
Checks are retried until they all pass or the timeout ends, because series
such as the MTTR histogram appear only once the demo has closed incidents.
"""

import argparse
import json
import math
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

# What Grafana substitutes before sending a query; the values are ones that
# make sense for a scrape interval of 1 s.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "${__rate_interval}": "1m",
    "$__interval": "15s",
    "${__interval}": "15s",
    "$__range": "1h",
    "${__range}": "1h",
}

# Queries allowed to answer with NaN only, each with why it cannot have a
# value against the demo. Keyed by the query's origin as reported below
# (`dashboard "<panel>" <refId>` or `alert <name>`, plus ` operand <expr>`
# for an operand of a comparison). Empty: once the demo's incidents have
# settled, every query of the dashboard and the alerts has a value.
ALLOWED_ALL_NAN = {
}

NUMBER = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")
# What may follow a binary operator before its right operand.
MODIFIERS = re.compile(
    r"^\s*(bool\b\s*)?((on|ignoring)\s*\([^)]*\)\s*)?((group_left|group_right)\b\s*(\([^)]*\))?\s*)?"
)
# Lowest precedence first; PromQL binds comparisons tighter than and/unless,
# and those tighter than or.
PRECEDENCE_LEVELS = [["or"], ["and", "unless"], ["==", "!=", ">=", "<=", ">", "<"]]
IDENT_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:")


def split_top_level(expr, operators):
    """Operands of `expr` split at top-level occurrences of `operators`, or
    None when none occurs outside brackets and strings."""
    operands, depth, start, index, quote = [], 0, 0, 0, None
    symbols = sorted((op for op in operators if not op.isalpha()), key=len, reverse=True)
    words = [op for op in operators if op.isalpha()]
    while index < len(expr):
        char = expr[index]
        if quote:
            if char == "\\":
                index += 2
                continue
            if char == quote:
                quote = None
            index += 1
            continue
        if char in "\"'`":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0:
            matched = next((op for op in symbols if expr.startswith(op, index)), None)
            if matched is None:
                for word in words:
                    end = index + len(word)
                    before_ok = index == 0 or expr[index - 1] not in IDENT_CHARS
                    after_ok = end >= len(expr) or expr[end] not in IDENT_CHARS
                    if expr[index:end].lower() == word and before_ok and after_ok:
                        matched = word
                        break
            if matched is not None:
                operands.append(expr[start:index])
                index += len(matched)
                start = index
                continue
        index += 1
    if not operands:
        return None
    operands.append(expr[start:])
    return [MODIFIERS.sub("", operand, count=1).strip() for operand in operands]


def operands_needing_data(expr):
    """The sub-expressions that must return data for `expr` to be meaningful:
    `expr` itself when it has no top-level comparison or set operator, else
    the non-literal operands, recursively."""
    for level in PRECEDENCE_LEVELS:
        operands = split_top_level(expr, level)
        if operands is not None:
            leaves = []
            for operand in operands:
                if not NUMBER.match(operand):
                    leaves.extend(operands_needing_data(operand))
            return leaves
    return [expr.strip()]


def substitute_grafana_variables(expr):
    for name in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, GRAFANA_VARIABLES[name])
    return expr


def dashboard_expressions(path):
    with open(path, encoding="utf-8") as handle:
        dashboard = json.load(handle)
    found = []

    def walk(panels):
        for panel in panels:
            walk(panel.get("panels", []))
            for target in panel.get("targets", []):
                if target.get("expr"):
                    origin = f'dashboard "{panel.get("title")}" {target.get("refId")}'
                    found.append((origin, substitute_grafana_variables(target["expr"])))

    walk(dashboard.get("panels", []))
    return found


class Prometheus:
    def __init__(self, base_url):
        self.base_url = base_url.rstrip("/")

    def get(self, path, params=None):
        url = self.base_url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            # A bad query is a 400 with a JSON body naming the parse error.
            return json.load(error)

    def query(self, expr):
        return self.get("/api/v1/query", {"query": expr})

    def rules(self):
        groups = self.get("/api/v1/rules").get("data", {}).get("groups", [])
        return [rule for group in groups for rule in group.get("rules", [])]


def all_nan(result):
    values = [sample["value"][1] for sample in result if "value" in sample]
    return bool(values) and all(math.isnan(float(value)) for value in values)


def absent_inner(expr):
    """X when `expr` is exactly absent(X) or absent_over_time(X), else None."""
    match = re.match(r"^\s*(absent|absent_over_time)\s*\((.*)\)\s*$", expr, re.S)
    if not match:
        return None
    inner, depth = match.group(2), 0
    for char in inner:  # the outer brackets must enclose the whole argument
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return None
    return inner.strip() if depth == 0 else None


def shorten(expr, width=70):
    flat = " ".join(expr.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def evaluate(prometheus, origin, expr):
    """One line of the report per query, and whether the expression passed."""
    lines, passed = [], True
    whole = prometheus.query(expr)
    if whole.get("status") != "success":
        return [f"FAIL  {origin}: does not evaluate: {whole.get('error')}\n      {expr}"], False
    leaves = operands_needing_data(expr)
    if leaves == [expr.strip()]:
        checks = [(expr, whole)]
    else:
        count = len(whole["data"]["result"])
        lines.append(f"ok    {origin}: parses, {count} series now (a comparison may be empty)")
        checks = [(leaf, prometheus.query(leaf)) for leaf in leaves]
    for leaf, answer in checks:
        label = origin if leaf == expr else f"{origin} operand {shorten(leaf)}"
        if answer.get("status") != "success":
            lines.append(f"FAIL  {label}: does not evaluate: {answer.get('error')}\n      {leaf}")
            passed = False
            continue
        result = answer["data"]["result"]
        inner = absent_inner(leaf)
        if inner is not None:
            # Healthy means empty; the selector inside must match real series.
            if result:
                lines.append(f"FAIL  {label}: absent() returns data although etl-medic is scraped\n      {leaf}")
                passed = False
            inner_lines, inner_passed = check_result(f"{label} inside absent()", inner, prometheus.query(inner))
            lines.append(f"ok    {label}: absent() empty while scraped" if not result else "")
            lines.extend(inner_lines)
            passed &= inner_passed
            continue
        leaf_lines, leaf_passed = check_result(label, leaf, answer)
        lines.extend(leaf_lines)
        passed &= leaf_passed
    return [line for line in lines if line], passed


def check_result(label, expr, answer):
    """Data, and not only NaN (unless ALLOWED_ALL_NAN says why)."""
    if answer.get("status") != "success":
        return [f"FAIL  {label}: does not evaluate: {answer.get('error')}\n      {expr}"], False
    result = answer["data"]["result"]
    if not result:
        return [f"FAIL  {label}: returns no data\n      {expr}"], False
    if all_nan(result):
        reason = ALLOWED_ALL_NAN.get(label)
        if reason is None:
            return [f"FAIL  {label}: every sample is NaN (no increase in its window?)\n      {expr}"], False
        return [f"ok    {label}: {len(result)} series, all NaN, allowed: {reason}"], True
    return [f"ok    {label}: {len(result)} series"], True


def run_checks(prometheus, dashboard_path, expected_rules):
    rules = prometheus.rules()
    report, failures = [], 0
    names = sorted(rule["name"] for rule in rules)
    if len(rules) != expected_rules:
        report.append(f"FAIL  prometheus loaded {len(rules)} rules, alerts.yml has {expected_rules}: {names}")
        failures += 1
    for rule in rules:
        if rule.get("health") != "ok":
            report.append(f"FAIL  alert {rule['name']}: health {rule.get('health')} {rule.get('lastError', '')}")
            failures += 1
    expressions = dashboard_expressions(dashboard_path)
    expressions += [(f'alert {rule["name"]}', rule["query"]) for rule in rules]
    for origin, expr in expressions:
        lines, passed = evaluate(prometheus, origin, expr)
        report.extend(lines)
        failures += 0 if passed else 1
    return report, failures, len(expressions)


def wait_until_settled(prometheus, expr, quiet_secs, timeout_secs):
    """Waits until `expr` (a count of closed incidents) is above zero and has
    not moved for `quiet_secs`: the demo has worked its incidents while being
    scraped, so rates and quantiles are computed over real increases rather
    than over a counter that appeared already complete."""
    deadline = time.monotonic() + timeout_secs
    last_value, unchanged_since = None, time.monotonic()
    while time.monotonic() < deadline:
        result = prometheus.query(expr).get("data", {}).get("result", [])
        value = float(result[0]["value"][1]) if result else 0.0
        now = time.monotonic()
        if value != last_value:
            last_value, unchanged_since = value, now
        elif value > 0 and now - unchanged_since >= quiet_secs:
            print(f"settled: {expr} = {value:g}, unchanged for {quiet_secs:g}s")
            return
        time.sleep(1.0)
    print(f"not settled within {timeout_secs:g}s: {expr} = {last_value}; checking anyway")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prometheus", required=True, help="base URL, e.g. http://127.0.0.1:9091")
    parser.add_argument("--dashboard", required=True)
    parser.add_argument("--expected-rules", type=int, required=True)
    parser.add_argument("--timeout-secs", type=float, default=90.0)
    parser.add_argument("--settle-expr", default="sum(etl_medic_incidents_total)")
    parser.add_argument("--settle-quiet-secs", type=float, default=3.0)
    args = parser.parse_args()

    prometheus = Prometheus(args.prometheus)
    wait_until_settled(prometheus, args.settle_expr, args.settle_quiet_secs, args.timeout_secs)
    deadline = time.monotonic() + args.timeout_secs
    while True:
        report, failures, total = run_checks(prometheus, args.dashboard, args.expected_rules)
        if failures == 0 or time.monotonic() >= deadline:
            break
        time.sleep(2.0)
    print("\n".join(report))
    nan_only = sum(", all NaN, allowed:" in line for line in report)
    print(f"{nan_only} queries returned only NaN, each allowed in ALLOWED_ALL_NAN with its reason")
    print(f"promql: {total - failures} passed, {failures} failed")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
