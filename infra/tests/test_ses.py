"""The local endpoint's SES refuses what SES refuses and moto accepts: a send that names a
configuration set that does not exist.
Run: .venv/bin/python -m unittest discover infra/tests"""

from __future__ import annotations

import unittest
import uuid

import support


class ConfigurationSets(unittest.TestCase):
    def send(self, ses, sender: str, configuration_set: str | None):  # type: ignore[no-untyped-def]
        extra = {"ConfigurationSetName": configuration_set} if configuration_set else {}
        return ses.send_email(
            FromEmailAddress=sender,
            Destination={"ToAddresses": ["someone@example.com"]},
            Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}},
            **extra,
        )

    def test_a_send_naming_a_missing_configuration_set_is_refused_and_an_existing_one_goes(self) -> None:
        ses = support.client("sesv2")
        sender = f"sender-{uuid.uuid4().hex[:8]}@example.com"
        ses.create_email_identity(EmailIdentity=sender)
        with self.assertRaises(ses.exceptions.NotFoundException):
            self.send(ses, sender, f"missing-{uuid.uuid4().hex[:8]}")
        name = f"set-{uuid.uuid4().hex[:8]}"
        ses.create_configuration_set(ConfigurationSetName=name)
        self.assertIn("MessageId", self.send(ses, sender, name))
        self.assertIn("MessageId", self.send(ses, sender, None))


if __name__ == "__main__":
    unittest.main()
