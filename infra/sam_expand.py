"""Expands template.yaml the way `sam deploy` does (the SAM translator, the library the SAM CLI
and CloudFormation's `AWS::Serverless` transform use) and prints the resulting CloudFormation
template as JSON: each function's execution role with its inline policies (policy templates such
as `DynamoDBReadPolicy` expanded) and the managed policies SAM attaches. Intrinsics are left as
they are; the local stack resolves them against the local resources (infra/src/iam.rs).

Usage: sam_expand.py template.yaml > expanded.json (what `make lint` hands cfn-lint, and what
infra/tests/test_aws_rules.py reads).
"""

import json
import logging
import os
import sys

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402


class NoManagedPolicyLookups:
    """SAM asks IAM for managed policy ARNs only when Policies name one by its short name."""

    def load(self) -> dict:
        return {}


def expand(path: str) -> dict:
    """The template at `path` as CloudFormation receives it from `sam deploy`."""
    with open(path) as source:
        template = yaml_parse(source.read())
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            # `sam package` replaces the local CodeUri with an S3 location before the transform.
            resource.setdefault("Properties", {})["CodeUri"] = "s3://local-stack/code.zip"
    return transform(template, {}, NoManagedPolicyLookups())


def main() -> None:
    # The translator notes, for every function, a feature toggle it has no configuration for:
    # not a finding about the template.
    logging.getLogger("samtranslator.feature_toggle.feature_toggle").setLevel(logging.ERROR)
    json.dump(expand(sys.argv[1]), sys.stdout, indent=1, sort_keys=True, default=str)


if __name__ == "__main__":
    main()
