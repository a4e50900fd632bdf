"""AWS's rules, checked on the templates as CloudFormation receives them: the tree of stacks
(template.yaml and the nested stacks of stacks/) expanded by the SAM translator
(`infra/sam_expand.py`, the library `sam deploy` and `make dev` use), so the aliases, deployment
groups, roles and permissions SAM adds are all there. Each test names the AWS documentation it
encodes and, when it fails, the resources it blames.

Two views: `tree()`, each stack expanded on its own (what CloudFormation counts and orders per
stack), and `expanded()`, the whole tree flattened into one namespace (infra/stacks.py) and
expanded, so a rule that spans stacks — a queue in the base stack and the worker that reads it
in another — is checked on both ends.

The local endpoint evaluates KMS key policies with the callers' policies (infra/local_iam.py),
but a key's administration, rotation and retention only matter in AWS, and no local service
applies Lambda's log-level filtering, so those rules are checked here on the template's
structure (Lambda's filtering also on what the functions print: shared::telemetry's tests and
tests/api/e2e/observability.rs).

`AWS_RULES_TEMPLATE=path` checks another template (an older revision, say).
Run: .venv/bin/python -m unittest discover infra/tests"""

from __future__ import annotations

import json
import re
import sys
import unittest
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aws_template import (  # noqa: E402
    ROOT,
    alarm_metrics,
    alarm_periods,
    dependencies,
    expanded,
    function_of,
    get_att,
    props,
    references,
    resources,
    rust_const,
    tree,
)
import stacks  # noqa: E402


class Dependencies(unittest.TestCase):
    def test_no_resource_depends_on_itself_through_others(self) -> None:
        """CloudFormation: "Resolve circular dependency errors" and the UpdatePolicy attribute
        (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-updatepolicy.html):
        a stack with a circular dependency fails to create (cfn-lint E3004). Checked in each
        stack (the root orders its nested stacks by the outputs they pass) and across the tree."""
        for name, template in [*tree().items(), ("the whole tree", expanded())]:
            with self.subTest(stack=name):
                self.assert_acyclic({i: dependencies(i, template) for i in template["Resources"]})

    def assert_acyclic(self, graph: dict[str, set[str]]) -> None:
        state: dict[str, int] = {}
        path: list[str] = []

        def visit(node: str) -> list[str] | None:
            state[node] = 1
            path.append(node)
            for nxt in sorted(graph[node]):
                if state.get(nxt) == 1:
                    return path[path.index(nxt):] + [nxt]
                if nxt not in state:
                    cycle = visit(nxt)
                    if cycle:
                        return cycle
            path.pop()
            state[node] = 2
            return None

        sys.setrecursionlimit(10_000)
        for node in sorted(graph):
            if node not in state:
                cycle = visit(node)
                self.assertIsNone(cycle, f"circular dependency: {' -> '.join(cycle or [])}")


class Canaries(unittest.TestCase):
    """CodeDeploy: "Monitoring deployments with CloudWatch alarms in CodeDeploy" — a deployment
    group watches at most 10 alarms (https://docs.aws.amazon.com/codedeploy/latest/userguide/limits.html),
    and rolls back when one of them is in ALARM during the deployment."""

    def groups(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(deployment group, function, group properties) of every alias with a canary."""
        out = []
        for alias_id, alias in resources("AWS::Lambda::Alias"):
            update = alias.get("UpdatePolicy", {}).get("CodeDeployLambdaAliasUpdate")
            if not update:
                continue
            group = update["DeploymentGroupName"]["Ref"]
            function = alias["Properties"]["FunctionName"]["Ref"]
            out.append((group, function, props(group)))
        return out

    def test_every_function_releases_through_a_deployment_group_with_alarms_of_its_own(self) -> None:
        functions = {f for f, _ in resources("AWS::Lambda::Function")}
        groups = self.groups()
        self.assertEqual({f for _, f, _ in groups}, functions, "functions without a canary")
        for group, function, properties in groups:
            alarms = properties.get("AlarmConfiguration", {}).get("Alarms", [])
            self.assertTrue(properties["AlarmConfiguration"].get("Enabled"), group)
            self.assertTrue(1 <= len(alarms) <= 10, f"{group}: {len(alarms)} alarms (1..10)")
            for entry in alarms:
                alarm_id = entry["Name"]["Ref"]
                # The alarm may name only its function (and the topic it notifies): anything
                # else it depends on may depend on the alias, closing a circle.
                named = dependencies(alarm_id) - {"AlarmTopic"}
                self.assertEqual(named, {function}, f"{alarm_id} of {group} names {sorted(named)}")

    def test_each_canary_alarm_sees_its_functions_errors_and_5xx_within_the_canary(self) -> None:
        """A handler answers a failure as a 500 problem+json, which Lambda's `Errors` does not
        count: the alarm also watches the `Failure` metric the function emits
        (shared::telemetry), by FunctionName. Periods of 60 s, so that it can fire within a
        5-minute canary (Canary10Percent5Minutes)."""
        failure = rust_const("shared/src/telemetry.rs", "FAILURE")
        dimension = rust_const("shared/src/telemetry.rs", "FUNCTION_NAME")
        for group, function, properties in self.groups():
            watched = []
            for entry in properties["AlarmConfiguration"]["Alarms"]:
                alarm = props(entry["Name"]["Ref"])
                self.assertTrue(all(p <= 60 for p in alarm_periods(alarm)), f"{group}: periods {alarm_periods(alarm)}")
                self.assertLessEqual(max(alarm_periods(alarm)) * alarm["EvaluationPeriods"], 300, group)
                watched += alarm_metrics(alarm)
            errors = {
                "Namespace": "AWS/Lambda",
                "MetricName": "Errors",
                "Dimensions": {"FunctionName": {"Ref": function}, "Resource": {"Fn::Sub": f"${{{function}}}:live"}},
            }
            failures = {
                "Namespace": {"Fn::Sub": "Ferrite/${AWS::StackName}"},
                "MetricName": failure,
                "Dimensions": {dimension: {"Ref": function}},
            }
            self.assertIn(errors, watched, f"{group} does not watch {function}'s live alias errors")
            self.assertIn(failures, watched, f"{group} does not watch {function}'s {failure} metric")


class Notifications(unittest.TestCase):
    def test_alarm_topics_are_encrypted_with_a_key_cloudwatch_may_use(self) -> None:
        """CloudWatch: "Using Amazon CloudWatch alarms" — an alarm cannot publish to a topic
        encrypted with the AWS managed key `alias/aws/sns`; a customer managed key's policy must
        allow cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey*
        (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html)."""
        topics = set()
        for _, alarm in resources("AWS::CloudWatch::Alarm"):
            for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
                for action in alarm["Properties"].get(key, []):
                    topics |= {r for r in references(action) if expanded()["Resources"].get(r, {}).get("Type") == "AWS::SNS::Topic"}
        self.assertTrue(topics, "no alarm notifies a topic")
        for topic in sorted(topics):
            key = props(topic).get("KmsMasterKeyId")
            if key is None:
                continue
            self.assertIsInstance(key, dict, f"{topic}: key {key!r} (an AWS managed or outside key: its policy cannot be checked)")
            key_id = key.get("Ref") or (get_att(key) or ("",))[0]
            policy = props(key_id)["KeyPolicy"]
            granted = set()
            for statement in policy["Statement"]:
                principal = statement.get("Principal", {})
                services = principal.get("Service", []) if isinstance(principal, dict) else []
                services = services if isinstance(services, list) else [services]
                if statement.get("Effect") == "Allow" and "cloudwatch.amazonaws.com" in services:
                    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                    condition = json.dumps(statement.get("Condition", {}))
                    self.assertTrue(
                        "aws:SourceAccount" in condition or "aws:SourceArn" in condition,
                        f"{key_id}: CloudWatch's grant is not scoped to this account",
                    )
                    granted |= set(actions)
            for action in ("kms:Decrypt", "kms:GenerateDataKey*"):
                self.assertIn(action, granted, f"{key_id} (encrypts {topic}) does not let CloudWatch {action}")


class Keys(unittest.TestCase):
    def test_every_key_can_be_administered_by_the_account(self) -> None:
        """KMS, "Default key policy": the statement allowing the account (`arn:…:root`) `kms:*`
        is what lets IAM policies, and so any administrator, manage and use the key; without
        it a key can become unmanageable and only AWS Support can recover it
        (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html)."""
        keys = list(resources("AWS::KMS::Key"))
        self.assertTrue(keys, "the stacks have KMS keys")
        for key, _ in keys:
            statements = props(key).get("KeyPolicy", {}).get("Statement", [])
            account = [
                s
                for s in statements
                if s.get("Effect") == "Allow"
                and ":root" in json.dumps(s.get("Principal", {}))
                and s.get("Action") in ("kms:*", ["kms:*"])
            ]
            self.assertTrue(account, f"{key}: its key policy does not let the account administer it")

    def test_every_key_rotates(self) -> None:
        """KMS, "Rotating AWS KMS keys": automatic rotation of a symmetric key's material
        yearly, old material kept for what it encrypted; off unless `EnableKeyRotation`
        (https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html)."""
        for key, _ in resources("AWS::KMS::Key"):
            spec = props(key).get("KeySpec", "SYMMETRIC_DEFAULT")
            if spec == "SYMMETRIC_DEFAULT":
                self.assertIs(props(key).get("EnableKeyRotation"), True, f"{key} does not rotate")

    def test_a_key_that_seals_stored_data_outlives_the_stack(self) -> None:
        """CloudFormation, "DeletionPolicy attribute", and KMS, "Deleting AWS KMS keys": deleting
        a stack schedules its keys' deletion (7–30 days), after which whatever they encrypted
        cannot be decrypted. A key the functions seal stored data with (a second factor's secret
        in the table) is kept like the table: `Retain` on deletion and replacement
        (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html,
        https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys.html)."""
        sealing = set()
        for _, function in resources("AWS::Lambda::Function"):
            variables = function["Properties"].get("Environment", {}).get("Variables", {})
            for name, value in variables.items():
                if name == "MFA_KEY_ARN":
                    sealing |= {r for r in references(value) if expanded()["Resources"].get(r, {}).get("Type") == "AWS::KMS::Key"}
        self.assertTrue(sealing, "some function seals with a key of the stacks")
        for key in sorted(sealing):
            resource = expanded()["Resources"][key]
            self.assertEqual(resource.get("DeletionPolicy"), "Retain", f"{key}: DeletionPolicy")
            self.assertEqual(resource.get("UpdateReplacePolicy"), "Retain", f"{key}: UpdateReplacePolicy")


class Buckets(unittest.TestCase):
    """S3 buckets that hold users' files (the documents' bucket, issue #31)."""

    def buckets(self) -> list[tuple[str, dict[str, Any]]]:
        found = list(resources("AWS::S3::Bucket"))
        self.assertTrue(found, "the stacks have a bucket")
        return found

    def test_every_bucket_is_private_owner_enforced_encrypted_and_tls_only(self) -> None:
        """S3, "Blocking public access to your Amazon S3 storage" (all four settings),
        "Controlling ownership of objects and disabling ACLs" (BucketOwnerEnforced: ACLs play no
        part, every object is the bucket owner's), "Setting default server-side encryption
        behavior" and "Security best practices for Amazon S3" (deny requests without
        `aws:SecureTransport`)
        (https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html,
        https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html,
        https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-encryption.html,
        https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html)."""
        policies: dict[str, list[dict[str, Any]]] = {}
        for _, policy in resources("AWS::S3::BucketPolicy"):
            for bucket in references(policy["Properties"]["Bucket"]):
                policies.setdefault(bucket, []).extend(policy["Properties"]["PolicyDocument"]["Statement"])
        for bucket, resource in self.buckets():
            p = resource["Properties"]
            block = p.get("PublicAccessBlockConfiguration", {})
            for setting in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
                self.assertIs(block.get(setting), True, f"{bucket}: {setting}")
            rules = p.get("OwnershipControls", {}).get("Rules", [])
            self.assertEqual([r.get("ObjectOwnership") for r in rules], ["BucketOwnerEnforced"], bucket)
            encryption = p.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
            self.assertTrue(encryption, f"{bucket}: no default encryption")
            tls = [
                s
                for s in policies.get(bucket, [])
                if s.get("Effect") == "Deny"
                and s.get("Principal") in ("*", {"AWS": "*"})
                and s.get("Action") in ("s3:*", ["s3:*"])
                and json.dumps(s.get("Condition", {})).replace(" ", "") == '{"Bool":{"aws:SecureTransport":"false"}}'
            ]
            self.assertTrue(tls, f"{bucket}: no bucket policy denies requests without TLS")
            covered = json.dumps(tls[0]["Resource"])
            self.assertIn(json.dumps({"Fn::GetAtt": [bucket, "Arn"]}), covered, f"{bucket}: the bucket itself")
            self.assertIn("/*", covered, f"{bucket}: its objects")

    def test_a_bucket_of_users_files_outlives_the_stack(self) -> None:
        """CloudFormation, "DeletionPolicy attribute": deleting a stack deletes its buckets (and
        fails on a non-empty one, leaving the stack in DELETE_FAILED); users' documents are kept
        like the table, `Retain` on deletion and replacement
        (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html)."""
        for bucket, resource in self.buckets():
            self.assertEqual(resource.get("DeletionPolicy"), "Retain", f"{bucket}: DeletionPolicy")
            self.assertEqual(resource.get("UpdateReplacePolicy"), "Retain", f"{bucket}: UpdateReplacePolicy")

    def test_a_bucket_name_is_lowercase_unique_and_at_most_63_characters(self) -> None:
        """S3, "General purpose bucket naming rules": 3–63 characters, lowercase letters,
        digits, dots and hyphens, unique across all accounts; a stack's name may have capitals
        and a fixed name collides with a second stack, so a named bucket's name is derived from
        the stack's id (its UUID: 36 lowercase characters), not from the stack's name
        (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html)."""
        uuid = "0f8d2c1e-7a4b-11ef-9b2e-0a1b2c3d4e5f"
        for bucket, resource in self.buckets():
            name = resource["Properties"].get("BucketName")
            if name is None:
                continue  # CloudFormation names it (lowercase, unique).
            self.assertNotIn("AWS::StackName", json.dumps(name), f"{bucket}: named after the stack's name")
            pattern, variables = name["Fn::Sub"]
            self.assertEqual(
                variables,
                {"StackUuid": {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}},
                bucket,
            )
            concrete = pattern.replace("${StackUuid}", uuid)
            self.assertRegex(concrete, r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", bucket)

    def test_a_bucket_notifies_only_queues_whose_policy_lets_s3_send_for_it_and_exists_first(self) -> None:
        """S3, "Granting permissions to publish event notification messages to a destination"
        (the queue's policy must allow `s3.amazonaws.com` `sqs:SendMessage`, conditioned on the
        bucket, `aws:SourceArn`, and its account, `aws:SourceAccount`) and "Walkthrough:
        Configuring a bucket for notifications": S3 checks the destinations when the
        notification is configured and the bucket's creation fails ("Unable to validate the
        following destination configurations") if the policy does not exist yet — so the bucket
        depends on the policy, which names the bucket by its (derived) name, not by a reference
        that would make a cycle. A queue encrypted with the AWS managed key `aws/sqs` cannot be
        a destination (S3 cannot use that key): SSE-SQS or a key whose policy admits S3
        (https://docs.aws.amazon.com/AmazonS3/latest/userguide/grant-destinations-permissions-to-s3.html,
        https://docs.aws.amazon.com/AmazonS3/latest/userguide/ways-to-add-notification-config-to-bucket.html)."""
        queue_policies: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for policy_id, policy in resources("AWS::SQS::QueuePolicy"):
            for queue in policy["Properties"]["Queues"]:
                for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                    queue_policies.setdefault(queue["Ref"], []).append((policy_id, statement))
        notified = 0
        for bucket, resource in self.buckets():
            name = resource["Properties"].get("BucketName")
            configuration = resource["Properties"].get("NotificationConfiguration", {})
            for target in configuration.get("QueueConfigurations", []):
                notified += 1
                queue = get_att(target["Queue"])
                self.assertIsNotNone(queue, f"{bucket}: a notification's queue is not a GetAtt")
                assert queue is not None
                self.assertIsNotNone(name, f"{bucket}: unnamed, so a queue policy can only name it by a reference (a cycle)")
                pattern, variables = name["Fn::Sub"]
                admitting = [
                    policy_id
                    for policy_id, s in queue_policies.get(queue[0], [])
                    if s.get("Effect") == "Allow"
                    and s.get("Principal") == {"Service": "s3.amazonaws.com"}
                    and "sqs:SendMessage" in json.dumps(s.get("Action"))
                    and s.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn")
                    == {"Fn::Sub": ["arn:${AWS::Partition}:s3:::" + pattern, variables]}
                    and s.get("Condition", {}).get("StringEquals", {}).get("aws:SourceAccount") == {"Ref": "AWS::AccountId"}
                ]
                self.assertTrue(admitting, f"{bucket} -> {queue[0]}: no queue policy lets S3 send for this bucket")
                self.assertTrue(
                    set(admitting) & dependencies(bucket),
                    f"{bucket}: does not depend on {admitting}, so S3 may check the destination before the policy exists",
                )
                self.assertNotIn(bucket, set().union(*(dependencies(p) for p in admitting)), "a cycle")
                attributes = props(queue[0])
                self.assertTrue(
                    attributes.get("SqsManagedSseEnabled") is True
                    or attributes.get("KmsMasterKeyId") not in (None, "alias/aws/sqs"),
                    f"{queue[0]}: S3 cannot send to a queue encrypted with aws/sqs",
                )
        self.assertTrue(notified, "no bucket notifies a queue")


class Email(unittest.TestCase):
    def evaluate(self, value: Any) -> Any:
        """A value with the parameters at their defaults (Ref, Fn::Split, Fn::Select)."""
        if isinstance(value, dict) and "Ref" in value:
            return expanded()["Parameters"][value["Ref"]].get("Default")
        if isinstance(value, dict) and "Fn::Split" in value:
            delimiter, text = value["Fn::Split"]
            return self.evaluate(text).split(delimiter)
        if isinstance(value, dict) and "Fn::Select" in value:
            index, values = value["Fn::Select"]
            return self.evaluate(values)[int(index)]
        return value

    def test_the_sender_is_a_domain_identity_with_easy_dkim_and_its_records_are_an_output(self) -> None:
        """SES: "Creating and verifying identities" — an email address identity is verified only
        by a link SES mails to it; a domain identity by DNS records, and Easy DKIM signs its mail
        (https://docs.aws.amazon.com/ses/latest/dg/creating-identities.html,
        https://docs.aws.amazon.com/ses/latest/dg/send-email-authentication-dkim-easy.html)."""
        identities = list(resources("AWS::SES::EmailIdentity"))
        self.assertTrue(identities, "the stack declares no SES identity")
        outputs = json.dumps(expanded().get("Outputs", {}))
        for logical_id, resource in identities:
            identity = self.evaluate(resource["Properties"]["EmailIdentity"])
            self.assertNotIn("@", identity, f"{logical_id} is an address identity ({identity})")
            dkim = resource["Properties"].get("DkimAttributes", {})
            self.assertNotEqual(dkim.get("SigningEnabled"), False, f"{logical_id}: DKIM signing off")
            for n in (1, 2, 3):
                for part in ("Name", "Value"):
                    self.assertIn(f"{logical_id}.DkimDNSToken{part}{n}", outputs, f"no output gives {logical_id}'s DKIM record {n}")

    def test_the_email_worker_settles_permanent_rejections_instead_of_retrying_them(self) -> None:
        """SES: "Sending email ... SendEmail errors" — MessageRejected, an unverified MAIL FROM
        domain, paused or suspended sending do not change on retry
        (https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html#API_SendEmail_Errors)."""
        text = (ROOT / "functions/worker-email/src/lib.rs").read_text()
        match = re.search(r"fn permanent_rejection\(.*?\n}\n", text, re.S)
        self.assertIsNotNone(match, "worker-email has no permanent_rejection")
        for variant in ("MessageRejected", "MailFromDomainNotVerifiedException", "SendingPausedException", "AccountSuspendedException"):
            self.assertIn(f"E::{variant}", match.group(0) if match else "", variant)


class Events(unittest.TestCase):
    def stream_readers(self) -> dict[str, list[str]]:
        readers: dict[str, list[str]] = {}
        for logical_id, pipe in resources("AWS::Pipes::Pipe"):
            source = get_att(pipe["Properties"]["Source"])
            if source and source[1] == "StreamArn":
                readers.setdefault(source[0], []).append(logical_id)
        for logical_id, mapping in resources("AWS::Lambda::EventSourceMapping"):
            source = get_att(mapping["Properties"].get("EventSourceArn"))
            if source and source[1] == "StreamArn":
                readers.setdefault(source[0], []).append(logical_id)
        return readers

    def test_a_table_stream_has_at_most_two_readers(self) -> None:
        """DynamoDB: "Change data capture for DynamoDB Streams" — no more than two processes
        should read the same stream shard at once, or they are throttled
        (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html)."""
        readers = self.stream_readers()
        self.assertTrue(readers, "nothing reads the table's stream")
        for table, names in readers.items():
            self.assertLessEqual(len(names), 2, f"{table}'s stream has {len(names)} readers: {names}")

    def test_pipes_start_at_the_oldest_record_so_a_replaced_pipe_skips_nothing(self) -> None:
        """EventBridge Pipes: DynamoDB stream sources — `StartingPosition` LATEST starts after
        what was written while the pipe was being (re)created; TRIM_HORIZON starts at the oldest
        record (https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_PipeSourceDynamoDBStreamParameters.html)."""
        for logical_id, pipe in resources("AWS::Pipes::Pipe"):
            position = pipe["Properties"]["SourceParameters"]["DynamoDBStreamParameters"]["StartingPosition"]
            self.assertEqual(position, "TRIM_HORIZON", logical_id)

    def test_rules_deliver_to_queues_that_let_them_with_retries_a_dead_letter_queue_and_an_alarm(self) -> None:
        """EventBridge: "Using resource-based policies for Amazon EventBridge" (an SQS target's
        queue policy must allow events.amazonaws.com sqs:SendMessage for the rule) and "Using
        dead-letter queues to process undelivered events"
        (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sqs-permissions,
        https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html)."""
        policies: dict[str, list[dict[str, Any]]] = {}
        for _, policy in resources("AWS::SQS::QueuePolicy"):
            for queue in policy["Properties"]["Queues"]:
                policies.setdefault(queue["Ref"], []).extend(policy["Properties"]["PolicyDocument"]["Statement"])
        alarmed = {
            json.dumps(m["Dimensions"].get("QueueName"))
            for _, alarm in resources("AWS::CloudWatch::Alarm")
            for m in alarm_metrics(alarm["Properties"])
        }

        def admits(queue: str, rule: str) -> bool:
            for statement in policies.get(queue, []):
                principal = statement.get("Principal", {})
                if statement.get("Effect") != "Allow" or principal.get("Service") != "events.amazonaws.com":
                    continue
                if "sqs:SendMessage" in json.dumps(statement["Action"]) and rule in references(statement.get("Condition", {})):
                    return True
            return False

        rules = list(resources("AWS::Events::Rule"))
        self.assertTrue(rules, "no rules")
        for rule, resource in rules:
            for target in resource["Properties"]["Targets"]:
                where = f"{rule} -> {target['Id']}"
                retry = target.get("RetryPolicy", {})
                self.assertTrue(retry, f"{where}: no RetryPolicy")
                self.assertLessEqual(retry.get("MaximumRetryAttempts", 185), 185, where)
                self.assertTrue(60 <= retry.get("MaximumEventAgeInSeconds", 86400) <= 86400, where)
                dlq = get_att(target.get("DeadLetterConfig", {}).get("Arn"))
                self.assertIsNotNone(dlq, f"{where}: no dead-letter queue")
                for queue in filter(None, [get_att(target["Arn"]), dlq]):
                    if expanded()["Resources"][queue[0]]["Type"] != "AWS::SQS::Queue":
                        continue
                    self.assertTrue(admits(queue[0], rule), f"{where}: {queue[0]}'s policy does not let {rule} send")
                self.assertIn(json.dumps({"Fn::GetAtt": [dlq[0], "QueueName"]}) if dlq else "", alarmed, f"{where}: no alarm on {dlq}")


class Metrics(unittest.TestCase):
    def test_metric_math_fills_every_operand_so_a_sparse_metric_does_not_silence_the_sum(self) -> None:
        """CloudWatch: "Using metric math" — an expression over a metric with no data point in a
        period has no value; FILL(m, 0) gives the missing points a value
        (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html)."""
        for logical_id, alarm in resources("AWS::CloudWatch::Alarm"):
            metrics = alarm["Properties"].get("Metrics", [])
            ids = {m["Id"] for m in metrics if "MetricStat" in m}
            for m in metrics:
                expression = m.get("Expression")
                if not expression:
                    continue
                for metric_id in ids:
                    uses = len(re.findall(rf"\b{metric_id}\b", expression))
                    filled = len(re.findall(rf"FILL\(\s*{metric_id}\s*,", expression))
                    self.assertEqual(uses, filled, f"{logical_id}: `{expression}` uses {metric_id} without FILL")

    def test_an_alarm_on_metric_math_watches_at_most_ten_metrics(self) -> None:
        """CloudWatch: "Create a CloudWatch alarm based on a metric math expression" — at most
        10 metrics (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Create-alarm-on-metric-math-expression.html)."""
        for logical_id, alarm in resources("AWS::CloudWatch::Alarm"):
            count = sum(1 for m in alarm["Properties"].get("Metrics", []) if "MetricStat" in m)
            self.assertLessEqual(count, 10, logical_id)

    def test_metrics_survive_every_log_level_the_template_allows(self) -> None:
        """Lambda: "Log-level filtering" — with JSON logs, a line without `level` (or without a
        valid timestamp) counts as INFO, so at WARN or ERROR every EMF document would be dropped
        (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html).
        The functions mark their EMF documents (shared::telemetry, tested there and on what the
        running functions print); here: the template allows no level they do not write."""
        allowed = expanded()["Parameters"]["LogLevel"]["AllowedValues"]
        self.assertLessEqual(set(allowed), {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"}, "FATAL drops every line the functions write")
        telemetry = (ROOT / "shared/src/telemetry.rs").read_text()
        self.assertIn('set_property("level"', telemetry)
        self.assertIn('"timestamp"', telemetry)
        for logical_id, function in resources("AWS::Lambda::Function"):
            logging = function["Properties"].get("LoggingConfig", {})
            self.assertEqual(logging.get("LogFormat"), "JSON", logical_id)
            self.assertEqual(logging.get("ApplicationLogLevel"), {"Ref": "LogLevel"}, logical_id)


class Secrets(unittest.TestCase):
    def test_secrets_are_named_by_cloudformation_so_a_deleted_stack_can_be_created_again(self) -> None:
        """Secrets Manager: "Delete an AWS Secrets Manager secret" — a deleted secret keeps its
        name for its 7-30 day recovery window, so a fixed name blocks re-creating the stack
        (https://docs.aws.amazon.com/secretsmanager/latest/userguide/manage_delete-secret.html)."""
        for logical_id, secret in resources("AWS::SecretsManager::Secret"):
            self.assertNotIn("Name", secret["Properties"], logical_id)


class Quotas(unittest.TestCase):
    def test_every_stack_is_within_cloudformations_quotas(self) -> None:
        """CloudFormation quotas, per stack (a nested stack is a stack): 500 resources, 200
        parameters, 200 outputs, a 1 MB template body from S3
        (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html)."""
        for name, template in tree().items():
            with self.subTest(stack=name):
                self.assertLessEqual(len(template["Resources"]), 500, "resources")
                self.assertLessEqual(len(template.get("Parameters", {})), 200, "parameters")
                self.assertLessEqual(len(template.get("Outputs", {})), 200, "outputs")
                self.assertLessEqual(len(json.dumps(template)), 1_000_000, "template body")

    def test_every_stack_keeps_room_to_grow(self) -> None:
        """Ferrite's own rule on CloudFormation's 500 resources per stack: a stack past 300 is
        split before it binds (about six resources a function: a domain stack adds ~20 functions
        at most before it must split). The message shows every stack's count."""
        counts = {name: len(template["Resources"]) for name, template in tree().items()}
        table = ", ".join(f"{name} {count}" for name, count in counts.items())
        full = [name for name, count in counts.items() if count > 300]
        self.assertFalse(full, f"past 300 resources: {full} (every stack: {table})")

    def test_every_functions_environment_fits_lambdas_4_kb(self) -> None:
        """Lambda quotas: environment variables, 4 KB for all keys and values
        (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html). Values are
        counted at their longest: parameters at their default or the longest their pattern
        allows for the key list, resource names and ARNs at 256 characters."""
        parameters = expanded()["Parameters"]

        def longest(value: Any) -> int:
            if isinstance(value, str):
                return len(value)
            if isinstance(value, (int, float, bool)):
                return len(str(value))
            if isinstance(value, dict) and "Ref" in value:
                name = value["Ref"]
                if name == "JwtPublicKeys":
                    return 3 * 61 - 1  # three kid=x keys during a rotation
                if name in parameters and "Default" in parameters[name]:
                    return len(str(parameters[name]["Default"]))
                return 256
            if isinstance(value, dict) and "Fn::If" in value:
                return max(longest(value["Fn::If"][1]), longest(value["Fn::If"][2]))
            if isinstance(value, dict) and "Fn::Sub" in value:
                pattern = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
                return len(pattern) + 256 * pattern.count("${")
            return 256

        for logical_id, function in resources("AWS::Lambda::Function"):
            variables = function["Properties"].get("Environment", {}).get("Variables", {})
            size = sum(len(k) + longest(v) for k, v in variables.items())
            self.assertLessEqual(size, 4096, f"{logical_id}: environment up to {size} bytes")

    def test_no_function_sets_a_reserved_environment_variable(self) -> None:
        """Lambda: "Defined runtime environment variables" — the runtime's reserved keys cannot
        be set; a function that sets one fails to create
        (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime)."""
        reserved = {
            "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
            "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
            "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
            "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
            "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
        }
        for logical_id, function in resources("AWS::Lambda::Function"):
            variables = set(function["Properties"].get("Environment", {}).get("Variables", {}))
            self.assertFalse(variables & reserved, f"{logical_id} sets {sorted(variables & reserved)}")

    def test_a_workers_queue_lets_a_message_be_received_at_least_five_times_before_its_dlq(self) -> None:
        """Lambda: "Using Lambda with Amazon SQS" — with a dead-letter queue, set the source
        queue's maxReceiveCount to at least 5, so a throttled or briefly failing worker does not
        dead-letter good messages
        (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html)."""
        for logical_id, mapping in resources("AWS::Lambda::EventSourceMapping"):
            source = get_att(mapping["Properties"]["EventSourceArn"])
            if not source or expanded()["Resources"][source[0]]["Type"] != "AWS::SQS::Queue":
                continue
            redrive = props(source[0]).get("RedrivePolicy")
            self.assertIsNotNone(redrive, f"{source[0]} (read by {logical_id}) has no dead-letter queue")
            self.assertGreaterEqual(int(default_of(redrive["maxReceiveCount"])), 5, source[0])

    def test_a_queues_visibility_timeout_covers_its_workers_timeout_six_times(self) -> None:
        """Lambda: "Using Lambda with Amazon SQS" — an event source mapping is refused when the
        queue's visibility timeout is below the function's timeout; AWS recommends six times
        (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html)."""
        for logical_id, mapping in resources("AWS::Lambda::EventSourceMapping"):
            source = get_att(mapping["Properties"]["EventSourceArn"])
            if not source or expanded()["Resources"][source[0]]["Type"] != "AWS::SQS::Queue":
                continue
            function_id = function_of(mapping["Properties"]["FunctionName"])
            timeout = props(function_id).get("Timeout", 3)
            visibility = props(source[0]).get("VisibilityTimeout", 30)
            self.assertGreaterEqual(visibility, 6 * timeout, f"{logical_id}: {source[0]} {visibility}s for {function_id}'s {timeout}s")
            self.assertIn("ReportBatchItemFailures", mapping["Properties"].get("FunctionResponseTypes", []), logical_id)


def default_of(value: Any) -> Any:
    """A value, or the default of the root parameter it refers to (what a stack deployed with the
    defaults gets)."""
    if isinstance(value, dict) and "Ref" in value:
        return expanded()["Parameters"][value["Ref"]]["Default"]
    return value


class WebhookRetries(unittest.TestCase):
    """The webhook worker retries a failed delivery by hiding its message for the next step
    (`ChangeMessageVisibility`) and gives up at the queue's `maxReceiveCount`. SQS, "Amazon SQS
    visibility timeout": the maximum is 12 hours from the receive, and `ChangeMessageVisibility`
    fails past it (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html,
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html);
    a message older than the queue's retention is deleted, never dead-lettered
    (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html)."""

    def worker(self) -> dict[str, Any]:
        return props("WorkerWebhooksFunction")

    def test_the_worker_gives_up_exactly_where_the_queue_dead_letters(self) -> None:
        variables = self.worker()["Environment"]["Variables"]
        redrive = props("WebhooksQueue")["RedrivePolicy"]
        self.assertEqual(variables["WEBHOOK_ATTEMPTS"], redrive["maxReceiveCount"])
        steps = [int(s) for s in str(default_of(variables["WEBHOOK_RETRY_SECONDS"])).split(",")]
        self.assertEqual(len(steps) + 1, int(default_of(redrive["maxReceiveCount"])))

    def test_every_step_fits_a_visibility_timeout_and_all_of_them_the_retention(self) -> None:
        variables = self.worker()["Environment"]["Variables"]
        steps = [int(s) for s in str(default_of(variables["WEBHOOK_RETRY_SECONDS"])).split(",")]
        timeout = self.worker()["Timeout"]
        for step in steps:
            self.assertLessEqual(step + timeout, 12 * 3600, f"a {step} s step after a {timeout} s invocation")
        retention = props("WebhooksQueue")["MessageRetentionPeriod"]
        visibility = props("WebhooksQueue")["VisibilityTimeout"]
        attempts = len(steps) + 1
        self.assertLess(sum(steps) + attempts * visibility, retention)

    def test_only_the_webhook_worker_changes_a_messages_visibility_and_only_on_its_queue(self) -> None:
        for logical_id, role in resources("AWS::IAM::Role"):
            for policy in role["Properties"].get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                    if "sqs:ChangeMessageVisibility" not in actions:
                        continue
                    self.assertEqual(logical_id, "WorkerWebhooksFunctionRole")
                    self.assertEqual(get_att(statement["Resource"]), ("WebhooksQueue", "Arn"))

    def test_production_refuses_test_targets(self) -> None:
        """The parameter that lets webhooks reach local addresses is for tests: a prod stack
        refuses it (the template's rules; the functions refuse it at start with STAGE=prod)."""
        assertions = expanded()["Rules"]["ProductionValues"]["Assertions"]
        self.assertIn({"Fn::Equals": [{"Ref": "WebhookTestTargets"}, ""]}, [a["Assert"] for a in assertions])
        self.assertEqual(expanded()["Parameters"]["WebhookTestTargets"]["Default"], "")


class Schedules(unittest.TestCase):
    """EventBridge Scheduler sends a schedule's target with the role its `Target.RoleArn` names:
    "Set up the execution role" — the role must trust `scheduler.amazonaws.com` and allow the
    target's action (https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html#setting-up-execution-role);
    "Configuring a schedule's dead-letter queue" — dead letters are sent with the same role, so
    it needs `sqs:SendMessage` on the DLQ too, and the DLQ must be a standard queue
    (https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html);
    `FlexibleTimeWindow` is required (AWS::Scheduler::Schedule,
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-scheduler-schedule.html).
    The local stack fires schedules with the same role (infra/src/schedules.rs), so a missing
    permission fails there too; this holds the DLQ, which the local stack never uses."""

    def statements(self, role: str) -> list[dict[str, Any]]:
        return [
            statement
            for policy in props(role).get("Policies", [])
            for statement in policy["PolicyDocument"]["Statement"]
        ]

    def allows(self, role: str, action: str, target: str) -> bool:
        for statement in self.statements(role):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            named = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if statement["Effect"] == "Allow" and action in actions and any(
                (get_att(r) or ("",))[0] == target for r in named
            ):
                return True
        return False

    def test_a_schedule_sends_with_a_role_scheduler_may_assume_to_its_queue_and_its_dead_letter_queue(self) -> None:
        schedules = list(resources("AWS::Scheduler::Schedule"))
        self.assertTrue(schedules, "the rent schedule")
        for logical_id, schedule in schedules:
            with self.subTest(schedule=logical_id):
                p = schedule["Properties"]
                self.assertIn("FlexibleTimeWindow", p)
                target = p["Target"]
                role = get_att(target["RoleArn"])[0]  # type: ignore[index]
                trust = props(role)["AssumeRolePolicyDocument"]["Statement"]
                self.assertTrue(
                    any(
                        st.get("Principal", {}).get("Service") == "scheduler.amazonaws.com" and st["Action"] == "sts:AssumeRole"
                        for st in trust
                    ),
                    f"{role} does not trust scheduler.amazonaws.com",
                )
                queue = get_att(target["Arn"])[0]  # type: ignore[index]
                self.assertEqual(expanded()["Resources"][queue]["Type"], "AWS::SQS::Queue", logical_id)
                self.assertTrue(self.allows(role, "sqs:SendMessage", queue), f"{role} may not send to {queue}")
                dlq = get_att(target.get("DeadLetterConfig", {}).get("Arn"))
                self.assertIsNotNone(dlq, f"{logical_id} has no dead-letter queue")
                self.assertTrue(self.allows(role, "sqs:SendMessage", dlq[0]), f"{role} may not send to {dlq[0]}")  # type: ignore[index]
                self.assertFalse(props(dlq[0]).get("FifoQueue"), "a schedule's DLQ is a standard queue")  # type: ignore[index]
                self.assertLessEqual(int(target["RetryPolicy"]["MaximumEventAgeInSeconds"]), 86400)


if __name__ == "__main__":
    unittest.main()
