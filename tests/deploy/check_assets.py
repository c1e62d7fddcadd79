#!/usr/bin/env python3
"""Asserts what the deploy assets promise their users, beyond what cfn-lint,
checkov and hadolint check: the properties a reviewer of issue 5 would look
for, so that a later edit cannot quietly drop one (a DesiredCount slipping
back into the service, a wildcard action in the task role, an environment
key the daemon's strict config would reject).

Run with the deploy venv's Python (cfn-lint's YAML loader reads the
CloudFormation short forms such as !Ref and !Sub): tests/deploy/assets.sh.
"""

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
FAILURES = []
PASSED = []

def check(description, condition):
    (PASSED if condition else FAILURES).append(description)


def as_list(value):
    return value if isinstance(value, list) else [value]


def strings_in(node):
    """Every string inside a template node, intrinsic functions included."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings_in(key)
            yield from strings_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings_in(item)


def statements_of(policies):
    for policy in policies:
        for statement in policy["PolicyDocument"]["Statement"]:
            if isinstance(statement, dict) and "Fn::If" in statement:
                yield from (branch for branch in statement["Fn::If"][1:] if isinstance(branch, dict) and "Effect" in branch)
            else:
                yield statement


def check_template():
    template = cfn_yaml.load(str(ROOT / "deploy/cloudformation/etl-medic.yaml"))
    params, res = template["Parameters"], template["Resources"]
    props = {name: resource.get("Properties", {}) for name, resource in res.items()}

    check("AutonomyMode defaults to shadow, allows only shadow/approve/auto",
          params["AutonomyMode"]["Default"] == "shadow"
          and sorted(params["AutonomyMode"]["AllowedValues"]) == ["approve", "auto", "shadow"])
    for name in ["JobNamePrefix", "ImageUri", "MinTasks", "MaxTasks", "Concurrency", "SubnetIds", "SecurityGroupIds"]:
        check(f"parameter {name} exists", name in params)

    queue, dlq = props["IncidentQueue"], props["DeadLetterQueue"]
    check("queue redrives to the DLQ after 5 receives",
          queue["RedrivePolicy"]["maxReceiveCount"] == 5
          and queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]})
    check("DLQ retention is longer than the queue's",
          int(dlq["MessageRetentionPeriod"]) > int(queue["MessageRetentionPeriod"]))
    check("both queues are KMS encrypted", "KmsMasterKeyId" in queue and "KmsMasterKeyId" in dlq)
    for policy_name in ["IncidentQueuePolicy", "DeadLetterQueuePolicy"]:
        allows = [s for s in props[policy_name]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
        check(f"{policy_name} lets only events.amazonaws.com send, conditioned on the rule's ARN",
              len(allows) == 1
              and allows[0]["Principal"] == {"Service": "events.amazonaws.com"}
              and allows[0]["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": ["GlueJobStateRule", "Arn"]})

    rule = props["GlueJobStateRule"]
    pattern = rule["EventPattern"]
    check("rule matches Glue Job State Change of the watched job prefix",
          pattern["source"] == ["aws.glue"] and pattern["detail-type"] == ["Glue Job State Change"]
          and pattern["detail"]["jobName"] == [{"prefix": {"Ref": "JobNamePrefix"}}])
    check("rule covers FAILED, TIMEOUT, SUCCEEDED and STOPPED",
          {"FAILED", "TIMEOUT", "SUCCEEDED", "STOPPED"} <= set(pattern["detail"]["state"]))
    target = rule["Targets"][0]
    check("rule target has a DLQ and a retry policy", "DeadLetterConfig" in target and "RetryPolicy" in target)

    check("cluster has Container Insights",
          {"Name": "containerInsights", "Value": "enabled"} in props["Cluster"]["ClusterSettings"]
          or {"Name": "containerInsights", "Value": "enhanced"} in props["Cluster"]["ClusterSettings"])

    task = props["TaskDefinition"]
    containers = {c["Name"]: c for c in task["ContainerDefinitions"]}
    app, collector = containers.get("etl-medic", {}), containers.get("adot-collector", {})
    check("task is Fargate awsvpc", task["RequiresCompatibilities"] == ["FARGATE"] and task["NetworkMode"] == "awsvpc")
    check("app has stopTimeout 120 and the init process",
          app.get("StopTimeout") == 120 and app.get("LinuxParameters", {}).get("InitProcessEnabled") is True)
    check("app health check is the binary's own healthcheck subcommand",
          app.get("HealthCheck", {}).get("Command", [])[:3] == ["CMD", "/usr/local/bin/etl-medic", "healthcheck"])
    env, env_conditions = {}, {}
    for entry in app.get("Environment", []):
        if "Fn::If" in entry:
            env_conditions[entry["Fn::If"][1]["Name"]] = entry["Fn::If"][0]
            entry = entry["Fn::If"][1]
        env[entry["Name"]] = entry["Value"]
    conditions = template["Conditions"]
    # safety.mode is the global default that class and job modes override;
    # force_shadow is the kill switch over every auto. Both always set.
    check("safety.mode is always AutonomyMode",
          "ETL_MEDIC__SAFETY__MODE" not in env_conditions
          and env.get("ETL_MEDIC__SAFETY__MODE") == {"Ref": "AutonomyMode"})
    check("safety.force_shadow is always ForceShadow",
          "ETL_MEDIC__SAFETY__FORCE_SHADOW" not in env_conditions
          and env.get("ETL_MEDIC__SAFETY__FORCE_SHADOW") == {"Ref": "ForceShadow"}
          and sorted(params["ForceShadow"]["AllowedValues"]) == ["false", "true"])
    class_params = [name for name in params if name.startswith("ClassMode")]
    check("there is a ClassMode parameter for each of the 9 failure classes", len(class_params) == 9)
    for name in class_params:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name[len("ClassMode"):]).upper()
        variable = f"ETL_MEDIC__SAFETY__CLASS_MODES__{snake}"
        check(f"{name}: inherit (the default) leaves {variable} unset, shadow/auto set it",
              params[name]["Default"] == "inherit"
              and sorted(params[name]["AllowedValues"]) == ["auto", "inherit", "shadow"]
              and env.get(variable) == {"Ref": name}
              and conditions.get(env_conditions.get(variable)) == {"Fn::Not": [{"Fn::Equals": [{"Ref": name}, "inherit"]}]})
    allowed = env.get("ETL_MEDIC__QUARANTINE__ALLOWED_PREFIXES", {}).get("Fn::Sub", "")
    check("quarantine.allowed_prefixes is set (with a data bucket) to the input and quarantine prefixes",
          env_conditions.get("ETL_MEDIC__QUARANTINE__ALLOWED_PREFIXES") == "HasDataBucket"
          and allowed == "s3://${DataBucketName}/${DataInputPrefix},s3://${DataBucketName}/${QuarantinePrefix}")
    check("ForceShadow defaults to false", params["ForceShadow"]["Default"] == "false")
    for key in ["ETL_MEDIC__QUEUE__URL", "ETL_MEDIC__QUEUE__CONCURRENCY", "ETL_MEDIC__INCIDENTS__TABLE",
                "ETL_MEDIC__AUDIT__BUCKET", "ETL_MEDIC__ESCALATION__SNS_TOPIC_ARN", "ETL_MEDIC__HTTP__LISTEN"]:
        check(f"app environment sets {key}", key in env)
    # (Whether the loader accepts these names is config_env.sh's check, with
    # the real binary.)
    check_collector_config(collector, env.get("ETL_MEDIC__HTTP__LISTEN"))

    check("service has no DesiredCount", "DesiredCount" not in props["Service"])
    tracking = [p for p in props.values() if p.get("PolicyType") == "TargetTrackingScaling"]
    metrics = tracking[0]["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]["Metrics"] if tracking else []
    names = {m["Id"]: m["MetricStat"]["Metric"]["MetricName"] for m in metrics if "MetricStat" in m}
    expressions = [m["Expression"].replace(" ", "") for m in metrics if "Expression" in m]
    visible = next((i for i, n in names.items() if n == "ApproximateNumberOfMessagesVisible"), None)
    running = next((i for i, n in names.items() if n == "RunningTaskCount"), None)
    check("target tracking on visible messages / running tasks (metric math)",
          visible and running and f"{visible}/{running}" in expressions)
    check("scaling can start from an empty service",
          "WakeFromZeroScaling" in res and params["MinTasks"]["Default"] >= 1)
    check("scalable target bounds come from MinTasks/MaxTasks",
          props["ScalableTarget"]["MinCapacity"] == {"Ref": "MinTasks"}
          and props["ScalableTarget"]["MaxCapacity"] == {"Ref": "MaxTasks"})

    statements = list(statements_of(props["TaskRole"]["Policies"]))
    actions = [a for s in statements for a in as_list(s["Action"])]
    check("task role names every action, with no wildcard", actions and all("*" not in a for a in actions))
    check("task role grants nothing on Resource '*'",
          all(r != "*" for s in statements for r in as_list(s["Resource"])))
    catalog = next((s for s in statements if "glue:UpdateTable" in as_list(s["Action"])), {})
    catalog_text = " ".join(strings_in(catalog.get("Resource", [])))
    check("catalog permissions are on the catalog, database and table ARNs",
          ":catalog" in catalog_text and ":database/" in catalog_text and ":table/" in catalog_text)
    def prefixes(statement):
        return sorted(r["Fn::Sub"].rsplit("/", 1)[1] for r in as_list(statement.get("Resource", [])))
    sources = next((s for s in statements if s.get("Sid") == "QuarantineMoveSources"), {})
    destination = next((s for s in statements if s.get("Sid") == "QuarantineMoveDestination"), {})
    check("quarantine move: Get/Delete on its source prefixes (input and quarantine) only",
          sorted(as_list(sources.get("Action", []))) == ["s3:DeleteObject", "s3:GetObject"]
          and prefixes(sources) == ["${DataInputPrefix}*", "${QuarantinePrefix}*"])
    allowed = next((e["Fn::If"][1]["Value"]["Fn::Sub"] for c in props["TaskDefinition"]["ContainerDefinitions"]
                    for e in c.get("Environment", []) if "Fn::If" in e
                    and e["Fn::If"][1].get("Name") == "ETL_MEDIC__QUARANTINE__ALLOWED_PREFIXES"), "")
    check("the role's quarantine sources are exactly quarantine.allowed_prefixes",
          sorted("arn:${AWS::Partition}:s3:::" + entry[len("s3://"):] + "*" for entry in allowed.split(","))
          == sorted(r["Fn::Sub"] for r in as_list(sources.get("Resource", []))))
    check("quarantine move: Put on the quarantine prefix only",
          as_list(destination.get("Action", [])) == ["s3:PutObject"]
          and prefixes(destination) == ["${QuarantinePrefix}*"])
    audit = next((s for s in statements if s.get("Sid") == "WriteAuditRecords"), {})
    check("audit records are append only: PutObject under audit/ of the audit bucket",
          as_list(audit.get("Action", [])) == ["s3:PutObject"]
          and audit.get("Resource") == {"Fn::Sub": "${AuditBucket.Arn}/audit/*"})
    check_role_matches_sdk_calls(actions)
    promoted = next((s for s in statements if s.get("Sid") == "ReadPromotedPolicy"), {})
    policy_path = next((e["Fn::If"][1]["Value"]["Fn::Sub"] for c in props["TaskDefinition"]["ContainerDefinitions"]
                        for e in c.get("Environment", []) if "Fn::If" in e
                        and e["Fn::If"][1].get("Name") == "ETL_MEDIC__POLICY__PATH"), "")
    check("the promoted policy: GetObject on exactly the object policy.path names, only when one is given",
          promoted.get("Action") == "s3:GetObject"
          and promoted.get("Resource") == {"Fn::Sub": "arn:${AWS::Partition}:s3:::${PolicyBucketName}/${PolicyObjectKey}"}
          and policy_path == "s3://${PolicyBucketName}/${PolicyObjectKey}"
          and any(isinstance(s, dict) and s.get("Fn::If", [None])[0] == "HasPolicyObject"
                  for s in props["TaskRole"]["Policies"][0]["PolicyDocument"]["Statement"]))
    listing = next((s for s in statements if s.get("Sid") == "ListInputAndQuarantinePrefixes"), {})
    check("listing the data bucket is limited to the same two prefixes",
          listing.get("Action") == "s3:ListBucket"
          and sorted(p["Fn::Sub"] for p in listing["Condition"]["StringLike"]["s3:prefix"])
          == ["${DataInputPrefix}*", "${QuarantinePrefix}*"])

    bucket = props["AuditBucket"]
    check("audit bucket is versioned", bucket["VersioningConfiguration"]["Status"] == "Enabled")
    check("audit bucket is KMS encrypted",
          bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms")
    check("audit bucket blocks all public access", all(bucket["PublicAccessBlockConfiguration"].values()))
    check("audit bucket Object Lock is optional (a condition)",
          bucket["ObjectLockEnabled"] == {"Fn::If": ["UseObjectLock", True, {"Ref": "AWS::NoValue"}]})
    table = props["IncidentTable"]
    check("incident table is on-demand with PITR and TTL",
          table["BillingMode"] == "PAY_PER_REQUEST"
          and table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
          and table["TimeToLiveSpecification"]["Enabled"] is True)
    check("escalation topic is encrypted", "KmsMasterKeyId" in props["EscalationTopic"])
    alarm_metrics = {(p.get("MetricName"), json.dumps(p.get("Dimensions"))) for p in props.values() if "MetricName" in p}
    check("alarm on DLQ not empty",
          ("ApproximateNumberOfMessagesVisible", json.dumps([{"Name": "QueueName", "Value": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}}])) in alarm_metrics)
    check("alarm on the age of the oldest message", any(m == "ApproximateAgeOfOldestMessage" for m, _ in alarm_metrics))
    check("log group has a retention", "RetentionInDays" in props["ServiceLogGroup"])
    check_alertmanager_definition(props["PrometheusWorkspace"]["AlertManagerDefinition"]["Fn::Sub"])
    check_webhook_secret(template)


WEBHOOK_VARIABLE = "ETL_MEDIC__ESCALATION__WEBHOOK_URL"
SECRET_PARAMETER, SECRET_KEY_PARAMETER = "EscalationWebhookSecretArn", "EscalationWebhookSecretKmsKeyArn"


def refs_to(node, name, path=()):
    """Where in `node` the parameter `name` is used (Ref or ${name} in a
    Sub), as key paths."""
    found = []
    if isinstance(node, dict):
        if node.get("Ref") == name or (isinstance(node.get("Fn::Sub"), str) and "${" + name + "}" in node["Fn::Sub"]):
            found.append(path)
        for key, value in node.items():
            found.extend(refs_to(value, name, path + (key,)))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found.extend(refs_to(item, name, path + (index,)))
    return found


def check_webhook_secret(template):
    """The escalation webhook URL is a credential: optional, from Secrets
    Manager through the task definition's Secrets only, read by the
    execution role on exactly that secret (and kms:Decrypt on exactly the
    optional key, through Secrets Manager only), never by the task role,
    never in an environment variable."""
    params, res, conditions = template["Parameters"], template["Resources"], template["Conditions"]
    secret, key = params.get(SECRET_PARAMETER, {}), params.get(SECRET_KEY_PARAMETER, {})
    check(f"{SECRET_PARAMETER} and {SECRET_KEY_PARAMETER} exist, both empty by default (no webhook)",
          secret.get("Default") == "" and key.get("Default") == "")
    secret_pattern, key_pattern = re.compile(secret.get("AllowedPattern", "x^")), re.compile(key.get("AllowedPattern", "x^"))
    good = ["", "arn:aws:secretsmanager:us-east-1:123456789012:secret:etl-medic/escalation-webhook-AbC123",
            "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:hook-a1B2c3"]
    # A name, a partial ARN (no suffix: the grant would not match the real
    # ARN), a JSON key selector, another service's ARN, a wildcard.
    bad = ["etl-medic/escalation-webhook",
           "arn:aws:secretsmanager:us-east-1:123456789012:secret:etl-medic/escalation-webhook",
           "arn:aws:secretsmanager:us-east-1:123456789012:secret:hook-AbC123:url::",
           "arn:aws:ssm:us-east-1:123456789012:parameter/hook-AbC123",
           "arn:aws:secretsmanager:us-east-1:123456789012:secret:*"]
    check(f"{SECRET_PARAMETER} admits empty or one full secret ARN, nothing broader",
          all(secret_pattern.fullmatch(v) for v in good) and not any(secret_pattern.fullmatch(v) for v in bad))
    check(f"{SECRET_KEY_PARAMETER} admits empty or one key ARN (no alias, no wildcard)",
          all(key_pattern.fullmatch(v) for v in ["", "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"])
          and not any(key_pattern.fullmatch(v) for v in ["alias/aws/secretsmanager", "arn:aws:kms:us-east-1:123456789012:alias/hook",
                                                           "arn:aws:kms:us-east-1:123456789012:key/*"]))
    check("HasEscalationWebhookSecret is the secret parameter being non-empty",
          conditions.get("HasEscalationWebhookSecret") == {"Fn::Not": [{"Fn::Equals": [{"Ref": SECRET_PARAMETER}, ""]}]})
    check("the KMS key counts only together with the secret",
          conditions.get("HasEscalationWebhookSecretKey") == {"Fn::And": [
              {"Condition": "HasEscalationWebhookSecret"},
              {"Fn::Not": [{"Fn::Equals": [{"Ref": SECRET_KEY_PARAMETER}, ""]}]}]})

    containers = res["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    app = next(c for c in containers if c["Name"] == "etl-medic")
    check(f"{WEBHOOK_VARIABLE} comes from the task definition's Secrets, only when the secret is set",
          app.get("Secrets") == {"Fn::If": ["HasEscalationWebhookSecret",
                                            [{"Name": WEBHOOK_VARIABLE, "ValueFrom": {"Ref": SECRET_PARAMETER}}],
                                            {"Ref": "AWS::NoValue"}]})
    environments = [c.get("Environment", []) for c in containers]
    check(f"{WEBHOOK_VARIABLE} is in no container's Environment, and no Environment names the secret",
          WEBHOOK_VARIABLE not in list(strings_in(environments))
          and not refs_to(environments, SECRET_PARAMETER)
          and all("Secrets" not in c for c in containers if c is not app))
    check("the secret parameter is used only by the condition, the app's Secrets and the execution role",
          sorted(path[:2] for path in refs_to(res, SECRET_PARAMETER))
          == [("ExecutionRole", "Properties"), ("TaskDefinition", "Properties")]
          and not refs_to(template.get("Outputs", {}), SECRET_PARAMETER)
          and len(refs_to(res["TaskDefinition"], SECRET_PARAMETER)) == 1)
    role_statements = list(statements_of(res["TaskRole"]["Properties"]["Policies"]))
    secret_grants = [s for s in role_statements if any(a.startswith("secretsmanager:") for a in as_list(s["Action"]))]
    check("the task role's only Secrets Manager grant is GetSecretValue on the Slack signing secret, and it does not name the webhook secret or its key",
          all(as_list(s["Action"]) == ["secretsmanager:GetSecretValue"]
              and s["Resource"] == {"Ref": "SlackSigningSecretArn"} for s in secret_grants)
          and not refs_to(res["TaskRole"], SECRET_PARAMETER) and not refs_to(res["TaskRole"], SECRET_KEY_PARAMETER))

    execution = res["ExecutionRole"]["Properties"]
    policies = execution.get("Policies", [])
    conditional = [p["Fn::If"] for p in policies if isinstance(p, dict) and "Fn::If" in p]
    check("the execution role's secret policy is its only inline policy, present only with the secret",
          len(policies) == 1 and len(conditional) == 1
          and conditional[0][0] == "HasEscalationWebhookSecret" and conditional[0][2] == {"Ref": "AWS::NoValue"})
    document = conditional[0][1]["PolicyDocument"] if conditional else {"Statement": []}
    plain = [s for s in document["Statement"] if "Fn::If" not in s]
    keyed = [s["Fn::If"] for s in document["Statement"] if "Fn::If" in s]
    check("execution role: secretsmanager:GetSecretValue on exactly the parameter's ARN, nothing else",
          plain == [{"Sid": "ReadEscalationWebhookSecret", "Effect": "Allow",
                     "Action": "secretsmanager:GetSecretValue", "Resource": {"Ref": SECRET_PARAMETER}}])
    decrypt = keyed[0][1] if len(keyed) == 1 else {}
    check("execution role: kms:Decrypt only with the key parameter, on exactly that key, via Secrets Manager only",
          len(keyed) == 1 and keyed[0][0] == "HasEscalationWebhookSecretKey" and keyed[0][2] == {"Ref": "AWS::NoValue"}
          and decrypt.get("Effect") == "Allow" and decrypt.get("Action") == "kms:Decrypt"
          and decrypt.get("Resource") == {"Ref": SECRET_KEY_PARAMETER}
          and decrypt.get("Condition") == {"StringLike": {"kms:ViaService": "secretsmanager.*.amazonaws.com"}})
    check("the key parameter is used only by the condition and that statement",
          sorted(path[:2] for path in refs_to(res, SECRET_KEY_PARAMETER)) == [("ExecutionRole", "Properties")]
          and len(refs_to(res, SECRET_KEY_PARAMETER)) == 1)
    check("the execution role keeps only the AWS managed task execution policy besides",
          execution.get("ManagedPolicyArns") == [
              {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"}])


# IAM actions for the SDK operations whose authorisation is not simply the
# operation's own name.
IAM_ACTIONS_OF = {
    "sqs:DeleteMessageBatch": ["sqs:DeleteMessage"],
    "sqs:ChangeMessageVisibilityBatch": ["sqs:ChangeMessageVisibility"],
    "sqs:SendMessageBatch": ["sqs:SendMessage"],
    "s3:ListObjectsV2": ["s3:ListBucket"],
    "s3:ListObjects": ["s3:ListBucket"],
    "s3:HeadObject": ["s3:GetObject"],
    "s3:CopyObject": ["s3:GetObject", "s3:PutObject"],
    "dynamodb:TransactWriteItems": ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"],
}
# Granted without an SDK call of etl-medic's: what the encrypted resources
# need of the caller, and the collector's remote write.
IMPLICIT_ACTIONS = {
    "kms:Decrypt": "reading the KMS-encrypted queue",
    "kms:GenerateDataKey": "sending to the encrypted queue and topic, writing the encrypted bucket",
    "kms:DescribeKey": "the encrypted incident table",
    "aps:RemoteWrite": "the ADOT collector sidecar",
}
# Calls only `etl-medic backtest` makes, under the read-only policy that
# `etl-medic backtest --print-iam-policy` prints; the daemon never makes them,
# so its task role must not grant them.
BACKTEST_ONLY = {
    "glue:GetJobs": "backtest lists the account's jobs; the daemon reads one job by name",
}
SERVICE_OF_ADAPTER = {
    "sqs.rs": "sqs", "s3.rs": "s3", "sns.rs": "sns", "glue_jobs.rs": "glue", "glue_catalog.rs": "glue",
    "cloudwatch_logs.rs": "logs", "dynamodb": "dynamodb",
    "approvals_sqs.rs": "sqs", "secrets.rs": "secretsmanager",
}


def sdk_operations():
    """Every `client.<operation>()` call in src/adapters/aws, as
    service:Operation."""
    operations = {}
    for source in sorted((ROOT / "src/adapters/aws").rglob("*.rs")):
        text = source.read_text()
        relative = source.relative_to(ROOT / "src/adapters/aws")
        for match in re.finditer(r"\bclient\s*\.\s*([a-z0-9_]+)\(\)", text):
            service = SERVICE_OF_ADAPTER.get(relative.parts[0])
            name = "".join(part.capitalize() for part in match.group(1).split("_"))
            operations.setdefault(f"{service}:{name}", set()).add(str(relative))
    return operations


def check_role_matches_sdk_calls(granted_actions):
    """The task role grants exactly what the AWS adapters call (mapped to IAM
    actions) plus the implicit actions above: nothing missing, nothing more."""
    operations = sdk_operations()
    unknown = sorted(op for op, files in operations.items() if op.startswith("None:"))
    check("every AWS adapter file has a known service" + (f": {unknown}" if unknown else ""), not unknown)
    needed = {}
    for operation, files in operations.items():
        if operation in BACKTEST_ONLY:
            continue
        for action in IAM_ACTIONS_OF.get(operation, [operation]):
            needed.setdefault(action, set()).add(operation)
    granted = set(granted_actions)
    missing = sorted(set(needed) - granted)
    extra = sorted(granted - set(needed) - set(IMPLICIT_ACTIONS))
    check("task role grants every action the AWS adapters call" + (f"; missing {missing}" if missing else ""), not missing)
    check("task role grants no action the AWS adapters do not call" + (f"; extra {extra}" if extra else ""), not extra)
    check(f"the adapters' calls were found ({len(operations)} operations)", len(operations) >= 20)


def check_collector_config(collector, app_listen):
    """The ADOT configuration passed in AOT_CONFIG_CONTENT, parsed as the
    collector will: it scrapes the app's /metrics as job etl-medic (the job
    alerts.yml's up{job=...} names), every pipeline component is defined,
    and it remote-writes to the stack's workspace with SigV4."""
    template_text = next(e["Value"]["Fn::Sub"] for e in collector["Environment"] if e["Name"] == "AOT_CONFIG_CONTENT")
    filled = template_text.replace("${AWS::Region}", "us-east-1").replace(
        "${PrometheusWorkspace.PrometheusEndpoint}", "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/")
    check("collector config substitutes only the region and the workspace endpoint", "${" not in filled)
    config = yaml.safe_load(filled)
    scrape = config["receivers"]["prometheus"]["config"]["scrape_configs"][0]
    check("collector scrapes the app's /metrics address as job etl-medic",
          scrape["job_name"] == "etl-medic" and scrape.get("metrics_path", "/metrics") == "/metrics"
          and scrape["static_configs"][0]["targets"] == [app_listen])
    alert_jobs = set(re.findall(r'up\{job="([^"]+)"\}', (ROOT / "deploy/prometheus/alerts.yml").read_text()))
    e2e_jobs = [job["job_name"] for job in yaml.safe_load((ROOT / "deploy/prometheus/prometheus-e2e.yml").read_text())["scrape_configs"]]
    check("the target alerts' up{job=...} and the e2e Prometheus use the collector's scrape job",
          alert_jobs == {scrape["job_name"]} and e2e_jobs == [scrape["job_name"]])
    service = config["service"]
    check("every extension the collector enables is configured",
          all(name in config["extensions"] for name in service["extensions"]))
    for name, pipeline in service["pipelines"].items():
        for kind in ["receivers", "processors", "exporters"]:
            check(f"collector pipeline {name}: every one of its {kind} is configured",
                  all(component in config.get(kind, {}) for component in pipeline.get(kind, [])))
    exporter = config["exporters"]["prometheusremotewrite"]
    check("collector remote-writes to the workspace with SigV4 for aps",
          exporter["endpoint"].endswith("/workspaces/ws-1/api/v1/remote_write")
          and exporter["auth"]["authenticator"] == "sigv4auth"
          and config["extensions"]["sigv4auth"]["service"] == "aps"
          and "prometheusremotewrite" in service["pipelines"]["metrics"]["exporters"])
    check("collector sets instance to the task ARN so tasks' series stay apart",
          {"key": "service.instance.id", "from_attribute": "aws.ecs.task.arn", "action": "upsert"}
          in config["processors"]["resource/instance"]["attributes"])


def check_alertmanager_definition(definition):
    """The workspace's alert manager definition is AMP's wrapper around an
    Alertmanager configuration; amtool validates the configuration with the
    template's substitutions filled in."""
    filled = definition.replace("${EscalationTopic}", "arn:aws:sns:us-east-1:123456789012:etl-medic")
    filled = filled.replace("${AWS::Region}", "us-east-1")
    check("alert manager definition substitutes only the topic and region", "${" not in filled)
    inner = yaml.safe_load(filled)["alertmanager_config"]
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as config_file:
        config_file.write(inner)
        config_file.flush()
        result = subprocess.run(["amtool", "check-config", config_file.name], capture_output=True, text=True)
    check("amtool accepts the alert manager definition" + ("" if result.returncode == 0 else ": " + result.stdout + result.stderr),
          result.returncode == 0)
    routed = yaml.safe_load(inner)
    check("every alert routes to the escalation topic",
          routed["route"]["receiver"] == "escalation-topic"
          and routed["receivers"][0]["sns_configs"][0]["topic_arn"].endswith(":etl-medic"))


def check_dashboard():
    dashboard = json.loads((ROOT / "deploy/grafana/etl-medic.json").read_text())
    variables = dashboard["templating"]["list"]
    check("dashboard has a Prometheus datasource variable",
          any(v["type"] == "datasource" and v["query"] == "prometheus" and v["name"] == "datasource" for v in variables))
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    check("every panel and query uses the datasource variable",
          all(p["datasource"]["uid"] == "${datasource}" and all(t["datasource"]["uid"] == "${datasource}" for t in p["targets"])
              for p in panels))
    ids = [p["id"] for p in dashboard["panels"]]
    check("panel ids are unique", len(ids) == len(set(ids)))
    cells = set()
    overlap = False
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        check(f'panel "{panel["title"]}" fits the 24-column grid', grid["x"] + grid["w"] <= 24)
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                overlap |= (x, y) in cells
                cells.add((x, y))
    check("no two panels overlap on the wall screen", not overlap)
    exprs = " ".join(t["expr"] for p in panels for t in p["targets"])
    for needle, what in [
        ("histogram_quantile(0.5, sum by (le) (rate(etl_medic_mttr_seconds_bucket", "MTTR p50 from the histogram"),
        ("histogram_quantile(0.9, sum by (le) (rate(etl_medic_mttr_seconds_bucket", "MTTR p90 from the histogram"),
        ('etl_medic_remediations_total{outcome="success"}', "remediation success rate"),
        ("sum by (class) (increase(etl_medic_incidents_total", "incidents by class"),
        ("sum by (action) (increase(etl_medic_incidents_total", "incidents by action"),
        ("sum by (rule) (increase(etl_medic_safety_replacements_total", "safety replacements by rule"),
        ("etl_medic_escalations_total", "escalations"),
        ("etl_medic_decision_duration_seconds_bucket", "decision latency"),
        ("etl_medic_queue_messages", "queue depth and backlog"),
        ("sum by (operation) (rate(etl_medic_aws_errors_total", "AWS errors by operation"),
        ("etl_medic_policy_info", "policy version"),
        ("etl_medic_in_flight_incidents", "in-flight incidents"),
        ("etl_medic_worker_slots", "worker slots"),
        ("sum by (mode) (increase(etl_medic_decisions_total", "decisions per autonomy mode"),
        ("etl_medic_approval_refusals_total", "refused approval requests"),
    ]:
        check(f"dashboard shows {what}", needle in exprs)
    # Webhook failures are etl_medic_aws_errors_total{operation="WebhookPost"}:
    # the panel must not filter operations, and the label value must be one
    # the daemon pre-registers (so the series is there at 0 from start-up).
    errors_panel = next((p for p in panels if any("etl_medic_aws_errors_total" in t["expr"] for t in p["targets"])), None)
    operations = aws_operations()
    check("the AWS errors panel shows every operation, the escalation webhook (WebhookPost) included",
          errors_panel is not None and "WebhookPost" in operations and "Publish" in operations
          and all("operation" not in re.sub(r"by \(operation\)", "", t["expr"]) for t in errors_panel["targets"]))
    alerts = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"][0]["rules"]
    delivery = next((r for r in alerts if r["alert"] == "EtlMedicEscalationDeliveryFailing"), {})
    watched = re.findall(r'operation=~"([^"]+)"', delivery.get("expr", ""))
    check("an alert watches escalation delivery (Publish and WebhookPost), pre-registered operations only",
          watched and set(watched[0].split("|")) == {"Publish", "WebhookPost"}
          and set(watched[0].split("|")) <= set(operations))


def aws_operations():
    """src/ports/operation.rs: the operation label values (Operation::as_str), all registered at 0."""
    text = (ROOT / "src/ports/operation.rs").read_text()
    return re.findall(r'Operation::[A-Za-z0-9]+ => "([A-Za-z0-9]+)"', text)


def check_dockerfile():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)", text, re.M)
    check("Dockerfile is multi-stage from a pinned rust image", len(stages) >= 2 and re.match(r"rust:\d+\.\d+\.\d+", stages[0]))
    check("runtime is distroless cc nonroot", stages[-1] == "gcr.io/distroless/cc-debian12:nonroot")
    check("dependencies build before the sources are copied",
          text.index("COPY Cargo.toml Cargo.lock") < text.index("cargo build") < text.index("COPY src"))
    check("runs as a non-root user", re.search(r"^USER\s+(?!0\b|root\b)\S+", text, re.M) is not None)
    check("exec-form ENTRYPOINT and CMD run",
          'ENTRYPOINT ["/usr/local/bin/etl-medic"]' in text and 'CMD ["run"]' in text)
    check("HEALTHCHECK runs the binary's healthcheck, no shell",
          re.search(r'HEALTHCHECK[^\n]*\\\n\s*CMD \["/usr/local/bin/etl-medic", "healthcheck"', text) is not None)
    check("config/ is there when the binary is compiled (include_str!) and in the image",
          text.index("COPY config ./config") < text.rindex("cargo build")
          and "COPY --from=builder /build/config ./config" in text)


def main():
    check_template()
    check_dashboard()
    check_dockerfile()
    for description in FAILURES:
        print(f"FAIL  {description}")
    print(f"assets: {len(PASSED)} passed, {len(FAILURES)} failed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
