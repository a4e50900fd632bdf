"""Expands the templates the way `sam deploy` does (the SAM translator, the library the SAM CLI
and CloudFormation's `AWS::Serverless` transform use): each function's execution role with its
inline policies (policy templates such as `DynamoDBReadPolicy` expanded), the managed policies
SAM attaches, aliases, versions, deployment groups. Intrinsics are left as they are; the local
stack resolves them against the local resources (infra/src/iam.rs).

Usage:
- sam_expand.py template.yaml: the whole tree of stacks flattened (infra/stacks.py), expanded,
  as JSON — what the local stack's IAM reads.
- sam_expand.py --tree template.yaml DIR: each stack of the tree expanded on its own, as
  CloudFormation receives it, into DIR/<stack>.json — what `make lint` hands cfn-lint.
"""

import json
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402

import stacks  # noqa: E402


class NoManagedPolicyLookups:
    """SAM asks IAM for managed policy ARNs only when Policies name one by its short name."""

    def load(self) -> dict:
        return {}


def expand_template(template: dict) -> dict:
    """`template` (parsed) as CloudFormation receives it from `sam deploy`."""
    template = json.loads(json.dumps(template))
    for logical_id, resource in template.get("Resources", {}).items():
        properties = resource.setdefault("Properties", {})
        # `sam package` uploads local artifacts and names their S3 location before the transform.
        if resource.get("Type") == "AWS::Serverless::Function":
            properties["CodeUri"] = "s3://local-stack/code.zip"
        if resource.get("Type") == stacks.APPLICATION:
            properties["Location"] = f"https://s3.amazonaws.com/local-stack/{logical_id}.template"
    return transform(template, {}, NoManagedPolicyLookups())


def expand(path: str) -> dict:
    """The template at `path` on its own (one stack of the tree), as CloudFormation receives it."""
    with open(path) as source:
        return expand_template(yaml_parse(source.read()))


def expand_flat(root: str) -> dict:
    """The whole tree rooted at `root`, flattened (infra/stacks.py), then expanded."""
    return expand_template(stacks.flatten(root))


def expand_tree(root: str) -> dict[str, dict]:
    """Each stack of the tree rooted at `root`, expanded on its own: {stack name: template}."""
    return {stack.name: expand_template(stack.template) for stack in stacks.tree(root)}


def main() -> None:
    # The translator notes, for every function, a feature toggle it has no configuration for:
    # not a finding about the template.
    logging.getLogger("samtranslator.feature_toggle.feature_toggle").setLevel(logging.ERROR)
    # Nor is its note that the metrics it keeps about each transform were never published.
    logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)
    if sys.argv[1] == "--tree":
        out = Path(sys.argv[3])
        out.mkdir(parents=True, exist_ok=True)
        for name, template in expand_tree(sys.argv[2]).items():
            with open(out / f"{name}.json", "w") as file:
                json.dump(template, file, indent=1, sort_keys=True, default=str)
        return
    json.dump(expand_flat(sys.argv[1]), sys.stdout, indent=1, sort_keys=True, default=str)


if __name__ == "__main__":
    main()
