#!/usr/bin/env python3
"""Asserts that the ETL_MEDIC__* variables the CloudFormation task definition
sets are accepted by the real etl-medic configuration loader and land on the
keys they are meant for.

The daemon's settings deny unknown fields, so a misspelt variable would stop
every task at start-up with exit 64; this catches it offline. Each variable
gets a sample of what the stack would put there (a parameter's default, a
plausible resource name, `auto` for the autonomy settings so that the
per-class keys are exercised), `etl-medic config` prints the effective
settings as JSON, and every variable must show up at its key path.

Usage (deploy venv's Python, for cfn-lint's YAML loader):
    check_config_env.py <etl-medic binary>
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]

# What the stack's resources resolve to, in the shapes AWS gives them.
RESOURCE_SAMPLES = {
    "IncidentQueue": "https://sqs.us-east-1.amazonaws.com/123456789012/etl-medic-IncidentQueue-1A2B3C",
    "IncidentTable": "etl-medic-IncidentTable-1A2B3C",
    "AuditBucket": "etl-medic-auditbucket-1a2b3c",
    "EscalationTopic": "arn:aws:sns:us-east-1:123456789012:etl-medic-EscalationTopic-1A2B3C",
}


def sample(value, params):
    """A concrete value for a template expression, or None for AWS::NoValue."""
    if isinstance(value, (str, int, float)):
        return str(value)
    if "Ref" in value:
        name = value["Ref"]
        if name in RESOURCE_SAMPLES:
            return RESOURCE_SAMPLES[name]
        if name == "AWS::NoValue":
            return None
        parameter = params[name]
        if "auto" in parameter.get("AllowedValues", []):
            return "auto"
        return str(parameter["Default"])
    if "Fn::If" in value:
        _, when_true, when_false = value["Fn::If"]
        chosen = sample(when_false, params)
        return chosen if chosen is not None else sample(when_true, params)
    raise ValueError(f"no sample for {value}")


def environment_of_app(template):
    params = template["Parameters"]
    containers = template["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    app = next(c for c in containers if c["Name"] == "etl-medic")
    variables = {}
    for entry in app["Environment"]:
        if "Fn::If" in entry:
            entry = entry["Fn::If"][1]
        if entry["Name"].startswith("ETL_MEDIC__"):
            variables[entry["Name"]] = sample(entry["Value"], params)
    return variables


def lookup(settings, name):
    node = settings
    for part in name[len("ETL_MEDIC__"):].lower().split("__"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def main():
    binary = sys.argv[1]
    template = cfn_yaml.load(str(ROOT / "deploy/cloudformation/etl-medic.yaml"))
    variables = environment_of_app(template)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("ETL_MEDIC")}
    environment.update(variables)
    completed = subprocess.run([binary, "config"], env=environment, capture_output=True, text=True, timeout=60)
    if completed.returncode != 0:
        print(f"FAIL  etl-medic config rejected the stack's environment (exit {completed.returncode}):")
        print("      " + completed.stderr.strip())
        print(f"config: 0 passed, {len(variables)} failed")
        return 1
    settings = json.loads(completed.stdout)
    failures = 0
    for name, value in sorted(variables.items()):
        landed = lookup(settings, name)
        if landed is None or str(landed) != value:
            print(f"FAIL  {name}={value} did not land: the settings show {landed!r}")
            failures += 1
        else:
            print(f"ok    {name}={value}")
    print(f"config: {len(variables) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
