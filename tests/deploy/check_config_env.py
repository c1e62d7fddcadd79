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

The task definition's Secrets (the escalation webhook URL, from Secrets
Manager) are resolved by ECS at task start, so `etl-medic config` cannot see
them through the template: each secret the parameter set produces is
simulated by setting its variable to a sample value, as ECS would, and the
output must show "<set, not shown>" and never the value itself. A secret
value that is not a URL must be refused (exit 64) without being repeated.

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
# Secrets Manager ARNs the scenarios pass, and the plain-text value ECS would
# put in the container's environment for each.
WEBHOOK_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:etl-medic/escalation-webhook-AbC123"
WEBHOOK_SECRET_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SECRET_SAMPLES = {
    WEBHOOK_SECRET_ARN: "https://hooks.slack.com/services/T00000000/B00000000/sampleSecretToken123",
}
NOT_SHOWN = "<set, not shown>"
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
            "escalation.webhook_url": None,
            "policy.path": "config/policy.json",
        }),
        ("a promoted policy object", {**base, "PolicyBucketName": "example-policies", "PolicyObjectKey": "etl-medic/policy.json"}, {
            "policy.path": "s3://example-policies/etl-medic/policy.json",
        }),
        ("AutonomyMode=auto, ForceShadow=true, every class set", {**base, "AutonomyMode": "auto", "ForceShadow": "true", **classes}, {
            "safety.mode": "auto",
            "safety.force_shadow": True,
            "safety.class_modes": {CLASS_PARAMETERS[name]: mode for name, mode in classes.items()},
        }),
        ("no data bucket", {**base, "DataBucketName": ""}, {
            "quarantine.allowed_prefixes": [],
        }),
        ("escalation webhook secret, customer managed key", {
            **base,
            "EscalationWebhookSecretArn": WEBHOOK_SECRET_ARN,
            "EscalationWebhookSecretKmsKeyArn": WEBHOOK_SECRET_KEY_ARN,
        }, {
            "escalation.webhook_url": NOT_SHOWN,
            "escalation.sns_topic_arn": RESOURCE_SAMPLES["EscalationTopic"],
        }),
        # A key without a secret is ignored: still no webhook.
        ("a webhook key but no secret", {**base, "EscalationWebhookSecretKmsKeyArn": WEBHOOK_SECRET_KEY_ARN}, {
            "escalation.webhook_url": None,
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


def secrets_of_app(template, values):
    """The app container's Secrets as {variable: ValueFrom}, evaluated."""
    evaluator = Evaluator(template, values)
    containers = template["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    app = next(c for c in containers if c["Name"] == "etl-medic")
    node = app.get("Secrets", [])
    if isinstance(node, dict) and "Fn::If" in node:
        name, when_true, when_false = node["Fn::If"]
        node = when_true if evaluator.condition(name) else when_false
    if node == {"Ref": "AWS::NoValue"}:
        return {}
    return {entry["Name"]: evaluator.value(entry["ValueFrom"]) for entry in node}


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
    secrets = secrets_of_app(template, values)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("ETL_MEDIC")}
    environment.update(variables)
    print(f"--- {name}")
    passed = failed = 0
    for variable, arn in sorted(secrets.items()):
        # A secret only ever arrives through Secrets, never also in plain text.
        if variable in variables or arn not in SECRET_SAMPLES:
            print(f"FAIL  secret {variable} from {arn}: also in Environment, or not the scenario's secret")
            failed += 1
            continue
        environment[variable] = SECRET_SAMPLES[arn]
        print(f"ok    secret {variable} from {arn} (ECS's part simulated)")
        passed += 1
    completed = subprocess.run([binary, "config"], env=environment, capture_output=True, text=True, timeout=60)
    if completed.returncode != 0:
        print(f"FAIL  etl-medic config rejected the stack's environment (exit {completed.returncode}):")
        print("      " + completed.stderr.strip())
        return passed, failed + len(variables) + len(expectations)
    settings = json.loads(completed.stdout)
    for variable in sorted(secrets):
        value = environment.get(variable, "")
        dotted = variable[len("ETL_MEDIC__"):].lower().replace("__", ".")
        shown = lookup(settings, dotted)
        if value and (value in completed.stdout or value in completed.stderr or shown != NOT_SHOWN):
            print(f"FAIL  {variable}: etl-medic config shows {dotted} as {shown!r} or prints the secret")
            failed += 1
        else:
            print(f"ok    {variable}: {dotted} shows {NOT_SHOWN!r}, the value is printed nowhere")
            passed += 1
        # A wrong secret stops the task at start-up, without repeating it.
        bad_value = "hooks.example.invalid/services/notAUrlSecretToken456"
        refused = subprocess.run([binary, "config"], env={**environment, variable: bad_value},
                                 capture_output=True, text=True, timeout=60)
        if refused.returncode != 64 or bad_value in refused.stdout + refused.stderr or dotted not in refused.stderr:
            print(f"FAIL  {variable}=<not a URL>: exit {refused.returncode}, expected 64 naming {dotted} without the value")
            failed += 1
        else:
            print(f"ok    {variable}=<not a URL>: refused with exit 64, naming {dotted}, not the value")
            passed += 1
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
