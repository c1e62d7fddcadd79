#!/usr/bin/env python3
"""Asserts that the ETL_MEDIC__* variables the CloudFormation task definition
sets are accepted by the real etl-medic configuration loader and land on the
keys they are meant for, with the meaning the guide promises.

The daemon's settings deny unknown fields, so a misspelt variable would stop
every task at start-up with exit 64; this catches it offline. The template's
app environment is evaluated as CloudFormation would (Ref, Fn::Sub, Fn::If
over the template's own Conditions, AWS::NoValue) for a few parameter sets:
the defaults, every autonomy setting switched on, and no data bucket. For
each, `etl-medic config` prints the effective settings as JSON; every
variable must show up at its key path (a comma list as a list, true/false as
a boolean), and the autonomy and quarantine settings must be what that
parameter set means.

Usage (deploy venv's Python, for cfn-lint's YAML loader):
    check_config_env.py <etl-medic binary>
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]

# What the stack's resources and pseudo parameters resolve to, in the shapes
# AWS gives them.
RESOURCE_SAMPLES = {
    "IncidentQueue": "https://sqs.us-east-1.amazonaws.com/123456789012/etl-medic-IncidentQueue-1A2B3C",
    "IncidentTable": "etl-medic-IncidentTable-1A2B3C",
    "AuditBucket": "etl-medic-auditbucket-1a2b3c",
    "EscalationTopic": "arn:aws:sns:us-east-1:123456789012:etl-medic-EscalationTopic-1A2B3C",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "etl-medic",
    "AWS::Partition": "aws",
}
# Parameters without a default, as the guide's `aws cloudformation deploy` passes them.
REQUIRED = {
    "JobNamePrefix": "sales_",
    "GlueDatabase1": "sales",
    "ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/etl-medic:0.1.0",
    "SubnetIds": "subnet-0aaa",
    "SecurityGroupIds": "sg-0ccc",
}
CLASS_PARAMETERS = {
    "ClassModeTransientInfra": "transient_infra",
    "ClassModeResourceExhaustion": "resource_exhaustion",
    "ClassModeSchemaDrift": "schema_drift",
    "ClassModeDataQuality": "data_quality",
    "ClassModeSourceUnavailable": "source_unavailable",
    "ClassModePermissionConfig": "permission_config",
    "ClassModeCodeBug": "code_bug",
    "ClassModeTimeout": "timeout",
    "ClassModeUnknown": "unknown",
}


def scenarios(params):
    """(name, parameter values, expectations on the effective settings)."""
    defaults = {name: str(p["Default"]) for name, p in params.items() if "Default" in p}
    base = {**defaults, **REQUIRED, "DataBucketName": "example-data-lake"}
    # Alternate auto and shadow so that both values of a class key are loaded.
    classes = {name: ("auto" if index % 2 == 0 else "shadow") for index, name in enumerate(CLASS_PARAMETERS)}
    lake = "s3://example-data-lake/"
    return [
        ("defaults (shadow, kill switch off, classes inherit)", base, {
            "safety.mode": "shadow",
            "safety.force_shadow": False,
            "safety.class_modes": {},
            "quarantine.allowed_prefixes": [lake + defaults["DataInputPrefix"], lake + defaults["QuarantinePrefix"]],
            "safety.quarantine_prefix": defaults["QuarantinePrefix"],
        }),
        ("AutonomyMode=auto, ForceShadow=true, every class set", {**base, "AutonomyMode": "auto", "ForceShadow": "true", **classes}, {
            "safety.mode": "auto",
            "safety.force_shadow": True,
            "safety.class_modes": {CLASS_PARAMETERS[name]: mode for name, mode in classes.items()},
        }),
        ("no data bucket", {**base, "DataBucketName": ""}, {
            "quarantine.allowed_prefixes": [],
        }),
    ]


class Evaluator:
    def __init__(self, template, values):
        self.template, self.values = template, values
        self.conditions = {}

    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = self.boolean(self.template["Conditions"][name])
        return self.conditions[name]

    def boolean(self, node):
        (function, argument), = node.items()
        if function == "Fn::Equals":
            return self.value(argument[0]) == self.value(argument[1])
        if function == "Fn::Not":
            return not self.boolean(argument[0])
        if function == "Fn::Or":
            return any(self.boolean(item) for item in argument)
        if function == "Fn::And":
            return all(self.boolean(item) for item in argument)
        if function == "Condition":
            return self.condition(argument)
        raise ValueError(f"condition function {function} not evaluated")

    def value(self, node):
        """A concrete value, or None for AWS::NoValue."""
        if isinstance(node, (str, int, float, bool)):
            return str(node)
        (function, argument), = node.items()
        if function == "Ref":
            if argument == "AWS::NoValue":
                return None
            if argument in RESOURCE_SAMPLES:
                return RESOURCE_SAMPLES[argument]
            return self.values[argument]
        if function == "Fn::If":
            name, when_true, when_false = argument
            return self.value(when_true if self.condition(name) else when_false)
        if function == "Fn::Sub" and isinstance(argument, str):
            return re.sub(r"\$\{([^}!]+)\}", lambda m: self.value({"Ref": m.group(1)}), argument)
        if function == "Condition":
            return self.condition(argument)
        raise ValueError(f"no sample for {node}")


def environment_of_app(template, values):
    evaluator = Evaluator(template, values)
    containers = template["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    app = next(c for c in containers if c["Name"] == "etl-medic")
    variables = {}
    for entry in app["Environment"]:
        if "Fn::If" in entry:
            name, when_true, when_false = entry["Fn::If"]
            entry = when_true if evaluator.condition(name) else when_false
            if entry == {"Ref": "AWS::NoValue"}:
                continue
        if entry["Name"].startswith("ETL_MEDIC__"):
            variables[entry["Name"]] = evaluator.value(entry["Value"])
    return variables


def lookup(settings, dotted):
    node = settings
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def as_set_by_environment(landed):
    """How the loaded value reads when written back as an environment value."""
    if isinstance(landed, bool):
        return "true" if landed else "false"
    if isinstance(landed, list):
        return ",".join(str(item) for item in landed)
    return None if landed is None else str(landed)


def run_scenario(binary, template, name, values, expectations):
    variables = environment_of_app(template, values)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("ETL_MEDIC")}
    environment.update(variables)
    completed = subprocess.run([binary, "config"], env=environment, capture_output=True, text=True, timeout=60)
    print(f"--- {name}")
    if completed.returncode != 0:
        print(f"FAIL  etl-medic config rejected the stack's environment (exit {completed.returncode}):")
        print("      " + completed.stderr.strip())
        return 0, len(variables) + len(expectations)
    settings = json.loads(completed.stdout)
    passed = failed = 0
    for variable, value in sorted(variables.items()):
        dotted = variable[len("ETL_MEDIC__"):].lower().replace("__", ".")
        landed = as_set_by_environment(lookup(settings, dotted))
        if landed != value:
            print(f"FAIL  {variable}={value} did not land: {dotted} shows {landed!r}")
            failed += 1
        else:
            print(f"ok    {variable}={value}")
            passed += 1
    for dotted, expected in expectations.items():
        landed = lookup(settings, dotted)
        if landed != expected:
            print(f"FAIL  {dotted} is {landed!r}, expected {expected!r}")
            failed += 1
        else:
            print(f"ok    {dotted} = {json.dumps(landed)}")
            passed += 1
    return passed, failed


def main():
    binary = sys.argv[1]
    template = cfn_yaml.load(str(ROOT / "deploy/cloudformation/etl-medic.yaml"))
    passed = failed = 0
    for name, values, expectations in scenarios(template["Parameters"]):
        ok, bad = run_scenario(binary, template, name, values, expectations)
        passed, failed = passed + ok, failed + bad
    print(f"config: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
