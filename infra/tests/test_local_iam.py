"""The local IAM (infra/local_iam.py) authorises as AWS does: the evaluation logic, what each
request asks for, and denials in each protocol's shape through the endpoint.
Run: .venv/bin/python -m unittest discover infra/tests"""

from __future__ import annotations

import base64
import json
import unittest
import uuid

import support
import local_iam
from botocore.exceptions import ClientError
from local_iam import Requested, evaluate, requested_actions

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/app"


def allow(actions, resources, condition=None):  # type: ignore[no-untyped-def]
    statement = {"Effect": "Allow", "Action": actions, "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


class Evaluation(unittest.TestCase):
    def test_an_allow_is_needed_and_an_explicit_deny_wins(self) -> None:
        statements = [allow(["dynamodb:GetItem", "dynamodb:Put*"], [TABLE])]
        self.assertEqual(evaluate(statements, Requested("dynamodb:GetItem", TABLE)), "Allow")
        self.assertEqual(evaluate(statements, Requested("dynamodb:putitem", TABLE)), "Allow")
        self.assertEqual(
            evaluate(statements, Requested("dynamodb:DeleteItem", TABLE)), "ImplicitDeny"
        )
        statements.append({"Effect": "Deny", "Action": "dynamodb:PutItem", "Resource": "*"})
        self.assertEqual(
            evaluate(statements, Requested("dynamodb:PutItem", TABLE)), "ExplicitDeny"
        )

    def test_resources_match_by_arn_so_a_table_grant_does_not_cover_its_indexes(self) -> None:
        statements = [allow("dynamodb:Query", TABLE)]
        self.assertEqual(evaluate(statements, Requested("dynamodb:Query", TABLE)), "Allow")
        index = f"{TABLE}/index/gsi1"
        self.assertEqual(evaluate(statements, Requested("dynamodb:Query", index)), "ImplicitDeny")
        statements = [allow("dynamodb:Query", f"{TABLE}/index/*")]
        self.assertEqual(evaluate(statements, Requested("dynamodb:Query", index)), "Allow")
        self.assertEqual(evaluate(statements, Requested("dynamodb:Query", TABLE)), "ImplicitDeny")
        # A wildcard does not span the colon-separated segments of an ARN.
        statements = [allow("dynamodb:Query", "arn:aws:dynamodb:*:table/app")]
        self.assertEqual(evaluate(statements, Requested("dynamodb:Query", TABLE)), "ImplicitDeny")
        # Resource names are case-sensitive.
        statements = [allow("dynamodb:Query", TABLE.upper())]
        self.assertEqual(evaluate(statements, Requested("dynamodb:Query", TABLE)), "ImplicitDeny")

    def test_a_service_principal_gets_in_only_through_a_resource_policy_naming_its_source(self) -> None:
        # SQS: "Amazon EventBridge ... the queue policy must allow events.amazonaws.com
        # sqs:SendMessage", scoped by aws:SourceArn to the rule.
        queue = "arn:aws:sqs:us-east-1:123456789012:audit"
        rule = "arn:aws:events:us-east-1:123456789012:rule/bus/audit"
        authorizer = local_iam.Authorizer()
        authorizer.register(
            [
                {"accessKeyId": "AKIARULE", "arn": rule, "statements": [], "name": "AuditRule",
                 "service": "events.amazonaws.com", "sourceArn": rule},
                {"accessKeyId": "AKIAOTHER", "arn": rule + "x", "statements": [], "name": "Other",
                 "service": "events.amazonaws.com", "sourceArn": rule + "x"},
            ]
        )
        send = lambda key: authorizer.authorize(key, "sqs:SendMessage", queue, "us-east-1")  # noqa: E731
        self.assertEqual(send("AKIARULE"), "ImplicitDeny", "no queue policy: refused")
        authorizer.register_resource_policies(
            {
                queue: [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": queue,
                        "Condition": {"ArnEquals": {"aws:SourceArn": rule}},
                    }
                ]
            }
        )
        self.assertEqual(send("AKIARULE"), "Allow")
        self.assertEqual(send("AKIAOTHER"), "ImplicitDeny", "another rule is not the source")
        self.assertEqual(
            authorizer.authorize("AKIARULE", "sqs:DeleteMessage", queue, "us-east-1"), "ImplicitDeny"
        )
        self.assertIsNone(authorizer.authorize("AKIAUNKNOWN", "sqs:SendMessage", queue, "us-east-1"))

    def test_a_role_is_allowed_by_its_policies_or_a_resource_policy_naming_it_and_denied_by_either(self) -> None:
        queue = "arn:aws:sqs:us-east-1:123456789012:q"
        session = "arn:aws:sts::123456789012:assumed-role/WorkerRole/worker"
        authorizer = local_iam.Authorizer()
        authorizer.register([{"accessKeyId": "AKIAROLE", "arn": session, "statements": [], "name": "W"}])
        self.assertEqual(authorizer.authorize("AKIAROLE", "sqs:SendMessage", queue, "us-east-1"), "ImplicitDeny")
        grant = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/WorkerRole"},
                 "Action": "sqs:SendMessage", "Resource": queue}
        authorizer.register_resource_policies({queue: [grant]})
        self.assertEqual(authorizer.authorize("AKIAROLE", "sqs:SendMessage", queue, "us-east-1"), "Allow")
        authorizer.register_resource_policies({queue: [grant, {**grant, "Effect": "Deny", "Principal": "*"}]})
        self.assertEqual(authorizer.authorize("AKIAROLE", "sqs:SendMessage", queue, "us-east-1"), "ExplicitDeny")

    def test_put_events_is_checked_against_each_bus_it_names(self) -> None:
        body = json.dumps({"Entries": [{"EventBusName": "app-events"}, {}]}).encode()
        wanted = requested_actions(
            "POST", "/", "AWSEvents.PutEvents", body, "application/x-amz-json-1.1",
            "us-east-1", "123456789012",
        )
        self.assertEqual(
            [(r.action, r.resource) for r in wanted],
            [
                ("events:PutEvents", "arn:aws:events:us-east-1:123456789012:event-bus/app-events"),
                ("events:PutEvents", "arn:aws:events:us-east-1:123456789012:event-bus/default"),
            ],
        )

    def test_not_action_and_not_resource_invert_the_match(self) -> None:
        statements = [{"Effect": "Allow", "NotAction": "dynamodb:DeleteItem", "NotResource": "arn:aws:sqs:*"}]
        self.assertEqual(evaluate(statements, Requested("dynamodb:GetItem", TABLE)), "Allow")
        self.assertEqual(
            evaluate(statements, Requested("dynamodb:DeleteItem", TABLE)), "ImplicitDeny"
        )

    def test_conditions_need_every_key_and_operator_to_hold(self) -> None:
        statements = [
            allow("ses:SendEmail", "*", {"StringEquals": {"ses:FromAddress": "no-reply@x.io"}})
        ]
        ok = Requested("ses:SendEmail", "arn:aws:ses:us-east-1:1:identity/no-reply@x.io", {"ses:FromAddress": "no-reply@x.io"})
        spoofed = Requested("ses:SendEmail", ok.resource, {"ses:FromAddress": "ceo@x.io"})
        missing = Requested("ses:SendEmail", ok.resource, {})
        self.assertEqual(evaluate(statements, ok), "Allow")
        self.assertEqual(evaluate(statements, spoofed), "ImplicitDeny")
        self.assertEqual(evaluate(statements, missing), "ImplicitDeny")
        if_exists = [allow("ses:SendEmail", "*", {"StringEqualsIfExists": {"ses:FromAddress": "a@x.io"}})]
        self.assertEqual(evaluate(if_exists, missing), "Allow")
        recipients = [
            allow("ses:SendEmail", "*", {"ForAllValues:StringLike": {"ses:Recipients": "*@x.io"}})
        ]
        self.assertEqual(
            evaluate(recipients, Requested("ses:SendEmail", "*", {"ses:Recipients": ["a@x.io", "b@x.io"]})),
            "Allow",
        )
        self.assertEqual(
            evaluate(recipients, Requested("ses:SendEmail", "*", {"ses:Recipients": ["a@x.io", "b@y.io"]})),
            "ImplicitDeny",
        )

    def test_an_unknown_condition_operator_fails_loudly(self) -> None:
        statements = [allow("sqs:SendMessage", "*", {"IpAddressLike": {"aws:SourceIp": "1"}})]
        with self.assertRaises(local_iam.UnmodelledRequest):
            evaluate(statements, Requested("sqs:SendMessage", "*", {"aws:SourceIp": "1"}))


def asked(target: str, body: dict, method: str = "POST", path: str = "/") -> list[tuple[str, str]]:
    wanted = requested_actions(
        method,
        path,
        target,
        json.dumps(body).encode(),
        "application/x-amz-json-1.0",
        "us-east-1",
        "123456789012",
        lambda name: f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-AbCdEf",
    )
    return [(w.action, w.resource.replace("arn:aws:dynamodb:us-east-1:123456789012:", "")) for w in wanted]


class WhatARequestAsksFor(unittest.TestCase):
    def test_a_transaction_is_checked_item_by_item_with_the_item_actions(self) -> None:
        body = {
            "TransactItems": [
                {"Put": {"TableName": "app", "Item": {}}},
                {"Update": {"TableName": "app", "Key": {}}},
                {"Delete": {"TableName": "other", "Key": {}}},
                {"ConditionCheck": {"TableName": "app", "Key": {}}},
            ]
        }
        self.assertEqual(
            asked("DynamoDB_20120810.TransactWriteItems", body),
            [
                ("dynamodb:PutItem", "table/app"),
                ("dynamodb:UpdateItem", "table/app"),
                ("dynamodb:DeleteItem", "table/other"),
                ("dynamodb:ConditionCheckItem", "table/app"),
            ],
        )

    def test_batch_reads_are_checked_per_table_and_queries_per_index(self) -> None:
        self.assertEqual(
            asked("DynamoDB_20120810.BatchGetItem", {"RequestItems": {"a": {}, "b": {}}}),
            [("dynamodb:BatchGetItem", "table/a"), ("dynamodb:BatchGetItem", "table/b")],
        )
        self.assertEqual(
            asked("DynamoDB_20120810.Query", {"TableName": "app", "IndexName": "gsi1"}),
            [("dynamodb:Query", "table/app/index/gsi1")],
        )

    def test_stream_reads_are_checked_against_the_stream(self) -> None:
        stream = "arn:aws:dynamodb:us-east-1:123456789012:table/app/stream/2026"
        self.assertEqual(
            asked("DynamoDBStreams_20120810.GetRecords", {"ShardIterator": f"{stream}|1|abc"}),
            [("dynamodb:GetRecords", "table/app/stream/2026")],
        )

    def test_sqs_batches_need_the_single_message_actions_on_the_queue(self) -> None:
        self.assertEqual(
            asked("AmazonSQS.SendMessageBatch", {"QueueUrl": "http://h:1/123456789012/q"}),
            [("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:q")],
        )
        self.assertEqual(
            asked("AmazonSQS.DeleteMessageBatch", {"QueueUrl": "http://h:1/123456789012/q"}),
            [("sqs:DeleteMessage", "arn:aws:sqs:us-east-1:123456789012:q")],
        )

    def test_secrets_are_checked_against_their_full_arn(self) -> None:
        self.assertEqual(
            asked("secretsmanager.GetSecretValue", {"SecretId": "ferrite/keys"}),
            [("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:123456789012:secret:ferrite/keys-AbCdEf")],
        )

    def test_sending_mail_carries_the_sender_in_the_context(self) -> None:
        wanted = requested_actions(
            "POST",
            "/v2/email/outbound-emails",
            "",
            json.dumps(
                {
                    "FromEmailAddress": "Ferrite <no-reply@x.io>",
                    "Destination": {"ToAddresses": ["a@y.io"]},
                }
            ).encode(),
            "application/json",
            "us-east-1",
            "123456789012",
        )
        self.assertEqual(len(wanted), 1)
        self.assertEqual(wanted[0].action, "ses:SendEmail")
        self.assertEqual(wanted[0].resource, "arn:aws:ses:us-east-1:123456789012:identity/no-reply@x.io")
        self.assertEqual(wanted[0].context["ses:FromAddress"], "no-reply@x.io")
        self.assertEqual(wanted[0].context["ses:Recipients"], ["a@y.io"])


KEY = "arn:aws:kms:us-east-1:123456789012:key/0f3f6a52-7a9d-4c3e-9e8f-2b1d4c5a6e7f"
ROLE_SESSION = "arn:aws:sts::123456789012:assumed-role/FnRole/fn"


class Keys(unittest.TestCase):
    """KMS: what a call asks for, and the key policy's say."""

    def kms(self, operation: str, body: dict) -> list[Requested]:  # type: ignore[type-arg]
        return requested_actions(
            "POST", "/", f"TrentService.{operation}", json.dumps(body).encode(),
            "application/x-amz-json-1.1", "us-east-1", "123456789012",
            kms_key=lambda reference: KEY if reference in (KEY, KEY.rsplit("/", 1)[1], "alias/mfa") else None,
        )

    def test_a_key_is_checked_by_its_arn_however_the_call_names_it(self) -> None:
        for named in (KEY, KEY.rsplit("/", 1)[1], "alias/mfa"):
            wanted = self.kms("Encrypt", {"KeyId": named, "Plaintext": "eA==", "EncryptionContext": {"userId": "u1"}})
            self.assertEqual([(w.action, w.resource) for w in wanted], [("kms:Encrypt", KEY)], named)
            self.assertEqual(wanted[0].context["kms:EncryptionContext:userId"], "u1")
            self.assertEqual(wanted[0].context["kms:EncryptionContextKeys"], ["userId"])

    def test_a_decrypt_that_names_no_key_is_checked_against_the_key_of_its_ciphertext(self) -> None:
        key_id = KEY.rsplit("/", 1)[1]
        blob = base64.b64encode(key_id.encode() + b"\0" * 40).decode()
        wanted = self.kms("Decrypt", {"CiphertextBlob": blob})
        self.assertEqual([(w.action, w.resource) for w in wanted], [("kms:Decrypt", KEY)])
        re_encrypt = self.kms("ReEncrypt", {"CiphertextBlob": blob, "DestinationKeyId": "alias/mfa"})
        self.assertEqual(
            [w.action for w in re_encrypt], ["kms:ReEncryptFrom", "kms:ReEncryptTo"]
        )

    def register(self, policy: list | None, statements: list) -> local_iam.Authorizer:  # type: ignore[type-arg]
        authorizer = local_iam.Authorizer()
        authorizer.register([{"accessKeyId": "AKIAFN", "arn": ROLE_SESSION, "statements": statements, "name": "Fn"}])
        if policy is not None:
            authorizer.register_resource_policies({KEY: policy})
        return authorizer

    def test_the_key_policy_decides_and_lets_identity_policies_count_only_when_it_names_the_account(self) -> None:
        root = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"}
        grant = allow(["kms:Decrypt"], [KEY])
        decide = lambda authorizer, action: authorizer.authorize("AKIAFN", action, KEY, "us-east-1")  # noqa: E731
        # The default key policy (none registered) and an explicit one naming the account: the
        # role's own policy decides.
        for policy in (None, [root]):
            authorizer = self.register(policy, [grant])
            self.assertEqual(decide(authorizer, "kms:Decrypt"), "Allow")
            self.assertEqual(decide(authorizer, "kms:Encrypt"), "ImplicitDeny")
        # A key policy that does not name the account: an identity policy alone gets nowhere.
        other = {**root, "Principal": {"AWS": "arn:aws:iam::123456789012:role/Admin"}}
        self.assertEqual(decide(self.register([other], [grant]), "kms:Decrypt"), "ImplicitDeny")
        # A key policy naming the role allows it without any identity policy.
        named = {**root, "Principal": {"AWS": "arn:aws:iam::123456789012:role/FnRole"}, "Action": "kms:Decrypt"}
        self.assertEqual(decide(self.register([named], []), "kms:Decrypt"), "Allow")
        # An explicit deny in the key policy wins over everything.
        deny = {**root, "Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt"}
        self.assertEqual(decide(self.register([root, deny], [grant]), "kms:Decrypt"), "ExplicitDeny")
        # A condition on the encryption context is the policy's to state.
        scoped = allow(["kms:Decrypt"], [KEY], {"StringEquals": {"kms:EncryptionContext:purpose": "mfa"}})
        authorizer = self.register([root], [scoped])
        with_context = Requested("kms:Decrypt", KEY, {"kms:EncryptionContext:purpose": "mfa"})
        without = Requested("kms:Decrypt", KEY)
        principal = authorizer.principals["AKIAFN"]
        self.assertEqual(authorizer.decide(principal, with_context, "us-east-1"), "Allow")
        self.assertEqual(authorizer.decide(principal, without, "us-east-1"), "ImplicitDeny")


class ThroughTheEndpoint(unittest.TestCase):
    """A registered key is held to its statements; denials look like AWS's."""

    def setUp(self) -> None:
        _url, app = support.endpoint()
        self.operator = support.client("dynamodb")
        self.table = f"iam-{uuid.uuid4().hex[:10]}"
        self.operator.create_table(
            TableName=self.table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{self.table}"
        self.key = "AKIA" + uuid.uuid4().hex[:16].upper()
        app.authorizer.register(
            [
                {
                    "accessKeyId": self.key,
                    "arn": "arn:aws:sts::123456789012:assumed-role/r/reader",
                    "name": "Reader",
                    "statements": [allow(["dynamodb:GetItem"], [arn])],
                }
            ]
        )
        self.operator.put_item(TableName=self.table, Item={"pk": {"S": "a"}})

    def test_an_allowed_call_goes_through_and_a_denied_one_is_access_denied(self) -> None:
        reader = support.client("dynamodb", key=self.key)
        got = reader.get_item(TableName=self.table, Key={"pk": {"S": "a"}})
        self.assertEqual(got["Item"]["pk"]["S"], "a")
        with self.assertRaises(ClientError) as raised:
            reader.put_item(TableName=self.table, Item={"pk": {"S": "b"}})
        error = raised.exception.response["Error"]
        self.assertEqual(error["Code"], "AccessDeniedException")
        self.assertIn("is not authorized to perform: dynamodb:PutItem on resource:", error["Message"])
        self.assertIn(f"table/{self.table}", error["Message"])
        # Nothing was written.
        self.assertNotIn("Item", self.operator.get_item(TableName=self.table, Key={"pk": {"S": "b"}}))
        # TransactGetItems needs GetItem on each item's table (IAM has no TransactGetItems).
        got = reader.transact_get_items(
            TransactItems=[{"Get": {"TableName": self.table, "Key": {"pk": {"S": "a"}}}}]
        )
        self.assertEqual(got["Responses"][0]["Item"]["pk"]["S"], "a")

    def test_other_services_answer_a_denial_in_their_own_protocol(self) -> None:
        sqs = support.client("sqs", key=self.key)
        with self.assertRaises(ClientError) as raised:
            sqs.send_message(QueueUrl="http://localhost/123456789012/q", MessageBody="x")
        self.assertIn(raised.exception.response["Error"]["Code"], ("AccessDenied", "AccessDeniedException"))
        secrets = support.client("secretsmanager", key=self.key)
        with self.assertRaises(ClientError) as raised:
            secrets.get_secret_value(SecretId="anything")
        self.assertEqual(raised.exception.response["Error"]["Code"], "AccessDeniedException")
        ses = support.client("sesv2", key=self.key)
        with self.assertRaises(ClientError) as raised:
            ses.send_email(
                FromEmailAddress="a@x.io",
                Destination={"ToAddresses": ["b@x.io"]},
                Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "t"}}}},
            )
        self.assertEqual(raised.exception.response["Error"]["Code"], "AccessDeniedException")

    def test_a_key_is_used_only_as_its_policies_allow_and_a_denial_is_kms_own(self) -> None:
        operator_kms = support.client("kms")
        key = operator_kms.create_key(Description="iam test")["KeyMetadata"]
        alias = f"alias/iam-{uuid.uuid4().hex[:8]}"
        operator_kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
        _url, app = support.endpoint()
        role_key = "AKIA" + uuid.uuid4().hex[:16].upper()
        app.authorizer.register(
            [
                {
                    "accessKeyId": role_key,
                    "arn": "arn:aws:sts::123456789012:assumed-role/Sealer/sealer",
                    "name": "Sealer",
                    "statements": [allow(["kms:Encrypt"], [key["Arn"]])],
                }
            ]
        )
        sealer = support.client("kms", key=role_key)
        sealed = sealer.encrypt(KeyId=alias, Plaintext=b"secret", EncryptionContext={"userId": "u1"})
        with self.assertRaises(ClientError) as raised:
            sealer.decrypt(CiphertextBlob=sealed["CiphertextBlob"], EncryptionContext={"userId": "u1"})
        error = raised.exception.response["Error"]
        self.assertEqual(error["Code"], "AccessDeniedException")
        self.assertIn(f"kms:Decrypt on resource: {key['Arn']}", error["Message"])
        opened = operator_kms.decrypt(CiphertextBlob=sealed["CiphertextBlob"], EncryptionContext={"userId": "u1"})
        self.assertEqual(opened["Plaintext"], b"secret")
        # A key policy that leaves the account out: the role's own grant is not enough.
        app.authorizer.register_resource_policies(
            {key["Arn"]: [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/Other"},
                           "Action": "kms:*", "Resource": "*"}]}
        )
        with self.assertRaises(ClientError):
            sealer.encrypt(KeyId=key["KeyId"], Plaintext=b"secret")

    def test_the_operators_credentials_are_not_restricted(self) -> None:
        self.operator.put_item(TableName=self.table, Item={"pk": {"S": "c"}})
        self.operator.delete_item(TableName=self.table, Key={"pk": {"S": "c"}})


if __name__ == "__main__":
    unittest.main()
