"""The local endpoint checks presigned links and browser uploads as S3 does (infra/local_s3.py):
boto3 signs (an implementation independent of ours), `requests` uploads as a browser's form
does, and every refusal carries S3's error code before anything is stored.
Run: .venv/bin/python -m unittest discover infra/tests"""

from __future__ import annotations

import unittest
import uuid
from urllib.parse import unquote_plus
import xml.etree.ElementTree as ET

import requests
import support
from botocore.config import Config

import boto3

SIGNER_SECRET = "ferrite-local-secret"


def s3_as(key: str, secret: str):  # type: ignore[no-untyped-def]
    url, _app = support.endpoint()
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(
            retries={"max_attempts": 1},
            s3={"addressing_style": "path"},
            signature_version="s3v4",
        ),
    )


def error_code(response: requests.Response) -> str:
    return ET.fromstring(response.content).findtext("Code") or ""


def error_message(response: requests.Response) -> str:
    return ET.fromstring(response.content).findtext("Message") or ""


class Uploads(unittest.TestCase):
    """A function presigns; a browser uploads or downloads; S3's rules decide."""

    def setUp(self) -> None:
        self.bucket = f"docs-{uuid.uuid4().hex[:12]}"
        self.operator = support.client("s3")
        self.operator.create_bucket(Bucket=self.bucket)
        _url, self.app = support.endpoint()
        self.app.clock_offset = 0.0
        self.signer_key = f"AKIA{uuid.uuid4().hex[:16].upper()}"
        self.register(
            [
                {
                    "Effect": "Allow",
                    "Action": ["s3:PutObject", "s3:GetObject"],
                    "Resource": f"arn:aws:s3:::{self.bucket}/documents/*",
                }
            ]
        )
        self.signer = s3_as(self.signer_key, SIGNER_SECRET)

    def tearDown(self) -> None:
        self.app.clock_offset = 0.0
        self.app.authorizer.unregister([self.signer_key])

    def register(self, statements: list[dict]) -> None:
        self.app.authorizer.register(
            [
                {
                    "accessKeyId": self.signer_key,
                    "secretAccessKey": SIGNER_SECRET,
                    "arn": "arn:aws:sts::123456789012:assumed-role/DocumentsRole/fn",
                    "name": "DocumentsFunction",
                    "statements": statements,
                }
            ]
        )

    def presigned_post(self, key: str, content_type: str = "application/pdf", size: int = 1000, expires: int = 300) -> dict:
        return self.signer.generate_presigned_post(
            self.bucket,
            key,
            Fields={"Content-Type": content_type},
            Conditions=[
                {"Content-Type": content_type},
                ["content-length-range", 1, size],
            ],
            ExpiresIn=expires,
        )

    def upload(self, post: dict, content: bytes, **changes: str) -> requests.Response:
        """A browser's multipart form: the fields as given, then the file."""
        fields = dict(post["fields"], **changes)
        return requests.post(
            post["url"],
            data=fields,
            files={"file": ("contract.pdf", content, fields.get("Content-Type", ""))},
            timeout=10,
        )

    def stored(self, key: str) -> bool:
        found = self.operator.list_objects_v2(Bucket=self.bucket, Prefix=key)
        return found.get("KeyCount", 0) > 0

    def test_a_browser_upload_within_its_policy_is_stored_with_its_content_type(self) -> None:
        key = f"documents/{uuid.uuid4().hex}"
        response = self.upload(self.presigned_post(key), b"%PDF-1.7 contract")
        self.assertEqual(response.status_code, 204, response.text)
        stored = self.operator.get_object(Bucket=self.bucket, Key=key)
        self.assertEqual(stored["Body"].read(), b"%PDF-1.7 contract")
        self.assertEqual(stored["ContentType"], "application/pdf")

    def test_an_upload_over_the_policys_size_is_refused_as_entity_too_large(self) -> None:
        key = f"documents/{uuid.uuid4().hex}"
        response = self.upload(self.presigned_post(key, size=10), b"%PDF-1.7 more than ten bytes")
        self.assertEqual(response.status_code, 400)
        self.assertEqual(error_code(response), "EntityTooLarge")
        self.assertFalse(self.stored(key))

    def test_another_content_type_than_the_policys_is_refused(self) -> None:
        key = f"documents/{uuid.uuid4().hex}"
        response = self.upload(self.presigned_post(key), b"<html>", **{"Content-Type": "text/html"})
        self.assertEqual(response.status_code, 403)
        self.assertEqual(error_code(response), "AccessDenied")
        self.assertIn("Policy Condition failed", error_message(response))
        self.assertFalse(self.stored(key))

    def test_another_key_than_the_policys_is_refused(self) -> None:
        key = f"documents/{uuid.uuid4().hex}"
        other = f"documents/{uuid.uuid4().hex}"
        response = self.upload(self.presigned_post(key), b"%PDF", key=other)
        self.assertEqual(response.status_code, 403)
        self.assertIn("Policy Condition failed", error_message(response))
        self.assertFalse(self.stored(other))

    def test_an_expired_policy_is_refused(self) -> None:
        key = f"documents/{uuid.uuid4().hex}"
        post = self.presigned_post(key, expires=60)
        self.app.clock_offset = 61.0
        response = self.upload(post, b"%PDF")
        self.assertEqual(response.status_code, 403)
        self.assertEqual(error_message(response), "Invalid according to Policy: Policy expired.")
        self.assertFalse(self.stored(key))

    def test_a_policy_changed_after_signing_does_not_match_its_signature(self) -> None:
        key = f"documents/{uuid.uuid4().hex}"
        post = self.presigned_post(key, size=10)
        larger = self.presigned_post(key, size=10**9)["fields"]["policy"]
        response = self.upload(post, b"%PDF-1.7 more than ten bytes", policy=larger)
        # The larger policy is genuinely signed, but not by the signature sent with it.
        self.assertEqual(response.status_code, 403)
        self.assertEqual(error_code(response), "SignatureDoesNotMatch")
        self.assertFalse(self.stored(key))

    def test_a_field_no_condition_names_is_refused(self) -> None:
        key = f"documents/{uuid.uuid4().hex}"
        response = self.upload(self.presigned_post(key), b"%PDF", **{"x-amz-meta-owner": "me"})
        self.assertEqual(response.status_code, 403)
        self.assertIn("Extra input fields: x-amz-meta-owner", error_message(response))

    def test_the_file_must_come_after_the_fields(self) -> None:
        key = f"documents/{uuid.uuid4().hex}"
        post = self.presigned_post(key)
        boundary = "b0undary"
        parts = [("file", b"%PDF")] + [(k, v.encode()) for k, v in post["fields"].items()]
        body = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'.encode()
            + (b'; filename="a.pdf"' if name == "file" else b"")
            + b"\r\n\r\n"
            + value
            + b"\r\n"
            for name, value in parts
        ) + f"--{boundary}--\r\n".encode()
        response = requests.post(
            post["url"],
            data=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            timeout=10,
        )
        self.assertEqual(response.status_code, 400)
        self.assertEqual(error_code(response), "InvalidArgument")
        self.assertFalse(self.stored(key))

    def test_a_signer_without_put_object_on_the_key_is_denied_by_iam(self) -> None:
        key = f"elsewhere/{uuid.uuid4().hex}"
        response = self.upload(self.presigned_post(key), b"%PDF")
        self.assertEqual(response.status_code, 403)
        self.assertEqual(error_code(response), "AccessDenied")
        self.assertIn("s3:PutObject", error_message(response))
        self.assertFalse(self.stored(key))

    def test_an_unknown_key_id_is_refused(self) -> None:
        key = f"documents/{uuid.uuid4().hex}"
        stranger = s3_as("AKIASTRANGER0000000", "whatever")
        post = stranger.generate_presigned_post(self.bucket, key, ExpiresIn=60)
        response = self.upload(post, b"%PDF")
        self.assertEqual(response.status_code, 403)
        self.assertEqual(error_code(response), "InvalidAccessKeyId")

    def test_a_presigned_link_serves_the_object_until_it_expires(self) -> None:
        key = f"documents/{uuid.uuid4().hex}"
        self.operator.put_object(Bucket=self.bucket, Key=key, Body=b"%PDF-1.7 deed")
        link = self.signer.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": 'attachment; filename="deed.pdf"',
            },
            ExpiresIn=60,
        )
        response = requests.get(link, timeout=10)
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.content, b"%PDF-1.7 deed")
        self.app.clock_offset = 61.0
        expired = requests.get(link, timeout=10)
        self.assertEqual(expired.status_code, 403)
        self.assertEqual(error_code(expired), "AccessDenied")
        self.assertEqual(error_message(expired), "Request has expired")

    def test_a_link_changed_after_signing_is_refused(self) -> None:
        key = f"documents/{uuid.uuid4().hex}"
        other = f"documents/{uuid.uuid4().hex}"
        for name in (key, other):
            self.operator.put_object(Bucket=self.bucket, Key=name, Body=b"%PDF")
        link = self.signer.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=60
        )
        for changed in (link.replace(key, other), link.replace("X-Amz-Expires=60", "X-Amz-Expires=600")):
            response = requests.get(changed, timeout=10)
            self.assertEqual(response.status_code, 403, changed)
            self.assertEqual(error_code(response), "SignatureDoesNotMatch")

    def test_a_link_signed_by_a_role_without_get_object_is_denied(self) -> None:
        key = f"private/{uuid.uuid4().hex}"
        self.operator.put_object(Bucket=self.bucket, Key=key, Body=b"%PDF")
        link = self.signer.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=60
        )
        response = requests.get(link, timeout=10)
        self.assertEqual(response.status_code, 403)
        self.assertIn("s3:GetObject", error_message(response))

    def test_objects_are_never_served_unsigned(self) -> None:
        key = f"documents/{uuid.uuid4().hex}"
        self.operator.put_object(Bucket=self.bucket, Key=key, Body=b"%PDF")
        url, _app = support.endpoint()
        response = requests.get(f"{url}/{self.bucket}/{key}", timeout=10)
        self.assertEqual(response.status_code, 403)
        self.assertEqual(error_code(response), "AccessDenied")
        unsigned_upload = requests.put(f"{url}/{self.bucket}/{key}", data=b"x", timeout=10)
        self.assertEqual(unsigned_upload.status_code, 403)

    def test_calls_signed_with_a_header_are_held_to_the_signers_policy(self) -> None:
        key = f"documents/{uuid.uuid4().hex}"
        self.signer.put_object(Bucket=self.bucket, Key=key, Body=b"%PDF")
        self.assertEqual(self.signer.get_object(Bucket=self.bucket, Key=key)["Body"].read(), b"%PDF")
        with self.assertRaises(Exception) as denied:
            self.signer.delete_object(Bucket=self.bucket, Key=key)
        self.assertIn("AccessDenied", str(denied.exception))
        self.assertTrue(self.stored(key))

    def test_a_copy_needs_get_object_on_its_source_and_put_object_on_its_target(self) -> None:
        source = f"private/{uuid.uuid4().hex}"
        allowed = f"documents/{uuid.uuid4().hex}"
        self.operator.put_object(Bucket=self.bucket, Key=source, Body=b"%PDF")
        self.operator.put_object(Bucket=self.bucket, Key=allowed, Body=b"%PDF")
        target = f"documents/{uuid.uuid4().hex}"
        with self.assertRaises(Exception) as denied:
            self.signer.copy_object(
                Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": source}
            )
        self.assertIn("s3:GetObject", str(denied.exception))
        self.assertFalse(self.stored(target))
        self.signer.copy_object(
            Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": allowed}
        )
        self.assertTrue(self.stored(target))


class Notifications(unittest.TestCase):
    """A bucket's notifications reach the queue the template names, if its policy lets S3."""

    def setUp(self) -> None:
        _url, self.app = support.endpoint()
        self.sqs = support.client("sqs")
        self.queue = self.sqs.create_queue(QueueName=f"docs-{uuid.uuid4().hex[:12]}")["QueueUrl"]
        self.queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self.bucket = f"docs-{uuid.uuid4().hex[:12]}"

    def allow_s3(self, bucket: str) -> None:
        self.app.authorizer.register_resource_policies(
            {
                self.queue_arn: [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "s3.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": self.queue_arn,
                        "Condition": {
                            "ArnEquals": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"},
                            "StringEquals": {"aws:SourceAccount": "123456789012"},
                        },
                    }
                ]
            }
        )

    def configure(self) -> str | None:
        return self.app.make_bucket(
            {
                "name": self.bucket,
                "notifications": [
                    {"queueArn": self.queue_arn, "events": ["s3:ObjectCreated:*"], "prefix": "incoming/"}
                ],
            }
        )

    def messages(self) -> list[dict]:
        import json

        found = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in found.get("Messages", [])]

    def test_an_upload_under_the_prefix_is_announced_on_the_queue(self) -> None:
        self.allow_s3(self.bucket)
        self.assertIsNone(self.configure())
        s3 = support.client("s3")
        s3.put_object(Bucket=self.bucket, Key="incoming/doc-1", Body=b"%PDF")
        s3.put_object(Bucket=self.bucket, Key="documents/doc-1", Body=b"%PDF")
        bodies = self.messages()
        # S3 announces a configuration with a test event, then each object under the prefix.
        self.assertEqual([b.get("Event") for b in bodies if "Event" in b], ["s3:TestEvent"])
        records = [r for b in bodies for r in b.get("Records", [])]
        # Keys in events are URL-encoded (S3: "red flower.jpg" is "red+flower.jpg"); moto also
        # encodes the slash, so readers decode.
        self.assertEqual([unquote_plus(r["s3"]["object"]["key"]) for r in records], ["incoming/doc-1"])
        self.assertTrue(records[0]["eventName"].startswith("ObjectCreated:"))

    def test_a_queue_whose_policy_does_not_let_s3_in_cannot_be_configured(self) -> None:
        self.allow_s3("some-other-bucket")
        refused = self.configure()
        self.assertIsNotNone(refused)
        self.assertIn("Unable to validate the following destination configurations", refused or "")
        self.assertEqual(self.messages(), [])


if __name__ == "__main__":
    unittest.main()
