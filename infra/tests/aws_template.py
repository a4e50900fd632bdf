"""The templates as CloudFormation receives them, for the AWS-rules tests: the tree of stacks
(template.yaml and stacks/) expanded by the SAM translator, each stack on its own (`tree()`) and
the whole tree in one namespace (`expanded()`), with the lookups the rules share.

`AWS_RULES_TEMPLATE=path` checks another template (an older revision, say)."""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import sys
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "infra"))

import sam_expand  # noqa: E402

TEMPLATE = os.environ.get("AWS_RULES_TEMPLATE", str(ROOT / "template.yaml"))
PSEUDO = {"AWS::AccountId", "AWS::NoValue", "AWS::NotificationARNs", "AWS::Partition",
          "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"}


@functools.cache
def expanded() -> dict[str, Any]:
    """The whole tree in one namespace, expanded."""
    # The translator prints feature-toggle notes on stderr; they are not findings.
    with contextlib.redirect_stderr(io.StringIO()):
        return sam_expand.expand_flat(TEMPLATE)


@functools.cache
def tree() -> dict[str, dict[str, Any]]:
    """Each stack of the tree expanded on its own: {"root" or the nested stack's logical id: template}."""
    with contextlib.redirect_stderr(io.StringIO()):
        return sam_expand.expand_tree(TEMPLATE)


def resources(kind: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in expanded()["Resources"].items():
        if kind is None or resource["Type"] == kind:
            yield logical_id, resource


def props(logical_id: str) -> dict[str, Any]:
    return expanded()["Resources"][logical_id].get("Properties", {})


def references(value: Any) -> set[str]:
    """The logical ids and parameters a value names: `Ref`, `Fn::GetAtt`, `${…}` of `Fn::Sub`."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, argument in value.items():
            if key == "Ref" and isinstance(argument, str):
                found.add(argument)
            elif key == "Fn::GetAtt":
                target = argument[0] if isinstance(argument, list) else str(argument).split(".")[0]
                found.add(target)
            elif key == "Fn::Sub":
                pattern = argument[0] if isinstance(argument, list) else argument
                variables = argument[1] if isinstance(argument, list) and len(argument) > 1 else {}
                for name in re.findall(r"\$\{([^}!][^}]*)\}", pattern if isinstance(pattern, str) else ""):
                    name = name.split(".")[0]
                    if name not in variables:
                        found.add(name)
                found |= references(variables)
            else:
                found |= references(argument)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found - PSEUDO


def dependencies(logical_id: str, template: dict[str, Any] | None = None) -> set[str]:
    """What CloudFormation must create before a resource of `template` (the flattened tree by
    default): everything its properties, its `DependsOn` and its `UpdatePolicy` name (an
    UpdatePolicy's refs are dependencies too)."""
    template = template or expanded()
    resource = template["Resources"][logical_id]
    depends = resource.get("DependsOn", [])
    named = references(resource.get("Properties", {})) | references(resource.get("UpdatePolicy", {}))
    named |= set(depends if isinstance(depends, list) else [depends])
    return {n for n in named if n in template["Resources"]}


def is_ref(value: Any, logical_id: str) -> bool:
    return value == {"Ref": logical_id}


def get_att(value: Any) -> tuple[str, str] | None:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        argument = value["Fn::GetAtt"]
        parts = argument if isinstance(argument, list) else str(argument).split(".", 1)
        return parts[0], parts[1]
    return None


def rust_const(path: str, name: str) -> str:
    """A `pub const NAME: &str = "…";` of the Rust sources: the rules below hold the template to
    what the code emits."""
    text = (ROOT / path).read_text()
    match = re.search(rf'pub const {name}: &str = "([^"]*)";', text)
    assert match, f"{path} has no const {name}"
    return match.group(1)


def function_of(name: Any) -> str:
    """The `AWS::Lambda::Function` a `FunctionName` names: the function, or its alias's."""
    named = name["Ref"]
    resource = expanded()["Resources"][named]
    if resource["Type"] == "AWS::Lambda::Alias":
        return resource["Properties"]["FunctionName"]["Ref"]
    return named


def alarm_periods(alarm: dict[str, Any]) -> list[int]:
    if "Metrics" in alarm:
        return [m["MetricStat"]["Period"] for m in alarm["Metrics"] if "MetricStat" in m]
    return [alarm.get("Period", 0)]


def alarm_metrics(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """Every metric an alarm watches: namespace, name and dimensions {name: value}."""
    if "Metrics" in alarm:
        stats = [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m]
    else:
        stats = [alarm]
    return [
        {
            "Namespace": m.get("Namespace"),
            "MetricName": m.get("MetricName"),
            "Dimensions": {d["Name"]: d["Value"] for d in m.get("Dimensions", [])},
        }
        for m in stats
    ]
