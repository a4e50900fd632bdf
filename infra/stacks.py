"""The tree of stacks: template.yaml (the root) and the nested stacks its
`AWS::Serverless::Application` resources name by a local `Location` (stacks/*.yaml).

Two views of the tree:

- `tree(root)`: every stack on its own, as CloudFormation deploys it (the root first, then each
  nested stack with the logical id of its Application resource). What the per-stack rules read
  (resource counts, dependencies, what the SAM transform makes of each template).
- `flatten(root)`: one template of the whole tree, for the local stack. Each nested stack's
  parameters are replaced by what the root passes them (a `Ref` of a root parameter, or the
  value of a sibling's output for `Fn::GetAtt Sibling.Outputs.Name`), so every resource, route
  and policy resolves in one namespace. It requires what keeps that namespace sound, and the
  per-stack tests check too: logical ids are unique across the tree, a condition of the same
  name means the same thing everywhere, and every stack with functions has the same `Globals`.

Usage: stacks.py template.yaml prints the flattened template as JSON (what `infra/src` reads).
"""

from __future__ import annotations

import copy
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from samtranslator.yaml_helper import yaml_parse

APPLICATION = "AWS::Serverless::Application"


class TreeError(ValueError):
    """The tree of stacks is not one CloudFormation (or the local stack) can deploy."""


@dataclass
class Stack:
    """One template of the tree."""

    name: str  # "root", or the logical id of its Application resource in the root
    path: Path
    template: dict
    # For a nested stack: the parameters the root passes it (root-namespace expressions).
    passed: dict = field(default_factory=dict)

    @property
    def resources(self) -> dict:
        return self.template.get("Resources", {})


def load(path: Path) -> dict:
    return yaml_parse(Path(path).read_text())


def tree(root_path: str | Path) -> list[Stack]:
    """The root and its nested stacks, root first, nested stacks in template order."""
    root_path = Path(root_path)
    root = Stack("root", root_path, load(root_path))
    stacks = [root]
    for logical_id, resource in root.resources.items():
        if resource.get("Type") != APPLICATION:
            continue
        properties = resource.get("Properties", {})
        location = properties.get("Location")
        if not isinstance(location, str):
            raise TreeError(f"{logical_id}: Location must be a local template path")
        child_path = root_path.parent / location
        child = load(child_path)
        if any(r.get("Type") == APPLICATION for r in child.get("Resources", {}).values()):
            raise TreeError(f"{location}: one level of nesting only")
        stacks.append(Stack(logical_id, child_path, child, properties.get("Parameters", {})))
    return stacks


def _walk(value, visit):
    """Rebuilds `value`, letting `visit` replace any node (it returns None to keep recursing)."""
    replaced = visit(value)
    if replaced is not None:
        return replaced
    if isinstance(value, dict):
        return {k: _walk(v, visit) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, visit) for v in value]
    return value


_SUB_VAR = re.compile(r"\$\{([^!}][^}]*)\}")


def _as_sub_name(expression) -> str | None:
    """`${Name}` that means `expression` inside a Fn::Sub, when there is one."""
    if isinstance(expression, dict) and len(expression) == 1:
        ((key, argument),) = expression.items()
        if key == "Ref" and isinstance(argument, str):
            return argument
        if key == "Fn::GetAtt":
            parts = argument if isinstance(argument, list) else argument.split(".", 1)
            return ".".join(parts)
    return None


def substitute(value, bindings: dict):
    """`value` with every `Ref` of a bound name replaced by its expression (`Fn::Sub` too)."""

    def visit(node):
        if not isinstance(node, dict) or len(node) != 1:
            return None
        ((key, argument),) = node.items()
        if key == "Ref" and isinstance(argument, str) and argument in bindings:
            return copy.deepcopy(bindings[argument])
        if key == "Fn::Sub":
            if isinstance(argument, str):
                pattern, variables = argument, {}
            else:
                pattern, variables = argument[0], dict(argument[1])
            variables = {k: substitute(v, bindings) for k, v in variables.items()}

            def rename(match):
                name = match.group(1)
                if name in variables or name not in bindings:
                    return match.group(0)
                simple = _as_sub_name(bindings[name])
                if simple is not None:
                    return "${" + simple + "}"
                variables[name] = copy.deepcopy(bindings[name])
                return match.group(0)

            pattern = _SUB_VAR.sub(rename, pattern)
            return {"Fn::Sub": [pattern, variables] if variables else pattern}
        return None

    return _walk(value, visit)


def _unjoin(expression, parameter: dict):
    """A CommaDelimitedList parameter is passed to a nested stack as `Fn::Join [",", list]`:
    flattened, the nested stack sees the list again."""
    if parameter.get("Type") == "CommaDelimitedList" and isinstance(expression, dict):
        join = expression.get("Fn::Join")
        if isinstance(join, list) and len(join) == 2 and join[0] == ",":
            return join[1]
    return expression


def flatten(root_path: str | Path) -> dict:
    """The whole tree as one template (module docstring)."""
    stacks = tree(root_path)
    root, nested = stacks[0], {s.name: s for s in stacks[1:]}
    resolving: list[str] = []
    bindings_of: dict[str, dict] = {}

    def output(stack_name: str, output_name: str):
        stack = nested.get(stack_name)
        outputs = stack.template.get("Outputs", {}) if stack else {}
        if output_name not in outputs:
            raise TreeError(f"Fn::GetAtt {stack_name}.Outputs.{output_name}: no such output")
        return substitute(outputs[output_name]["Value"], bindings(stack))

    def in_root(value):
        """A root expression with sibling outputs replaced by what they are."""

        def visit(node):
            if isinstance(node, dict) and list(node) == ["Fn::GetAtt"]:
                argument = node["Fn::GetAtt"]
                parts = argument if isinstance(argument, list) else argument.split(".")
                if len(parts) == 3 and parts[1] == "Outputs" and parts[0] in nested:
                    return output(parts[0], parts[2])
                if len(parts) == 2 and parts[1].startswith("Outputs.") and parts[0] in nested:
                    return output(parts[0], parts[1].split(".", 1)[1])
            if isinstance(node, dict) and list(node) == ["Fn::Sub"]:
                if "Outputs." in json.dumps(node):
                    raise TreeError("use Fn::GetAtt for a nested stack's output, not Fn::Sub")
            return None

        return _walk(value, visit)

    def bindings(stack: Stack) -> dict:
        if stack.name in bindings_of:
            return bindings_of[stack.name]
        if stack.name in resolving:
            raise TreeError("circular dependency between nested stacks: " + " -> ".join(resolving))
        resolving.append(stack.name)
        result = {}
        parameters = stack.template.get("Parameters", {})
        for name in stack.passed:
            if name not in parameters:
                raise TreeError(f"{stack.name} is passed {name}, which it does not declare")
        for name, definition in parameters.items():
            if name in stack.passed:
                result[name] = _unjoin(in_root(stack.passed[name]), definition)
            elif "Default" in definition:
                result[name] = definition["Default"]
            else:
                raise TreeError(f"{stack.name}: parameter {name} is neither passed nor defaulted")
        resolving.pop()
        bindings_of[stack.name] = result
        return result

    flat = {
        key: copy.deepcopy(root.template[key])
        for key in ("AWSTemplateFormatVersion", "Transform", "Description", "Parameters", "Rules")
        if key in root.template
    }
    conditions = dict(root.template.get("Conditions", {}))
    resources = {k: v for k, v in root.resources.items() if v.get("Type") != APPLICATION}
    owner = {k: "root" for k in resources}
    globals_ = root.template.get("Globals")
    for stack in nested.values():
        bound = bindings(stack)
        for name, condition in stack.template.get("Conditions", {}).items():
            condition = substitute(condition, bound)
            if name in conditions and conditions[name] != condition:
                raise TreeError(f"condition {name} means different things in {stack.name} and elsewhere")
            conditions[name] = condition
        for logical_id, resource in stack.resources.items():
            if logical_id in owner:
                raise TreeError(f"{logical_id} is declared in {owner[logical_id]} and {stack.name}")
            owner[logical_id] = stack.name
            resources[logical_id] = substitute(resource, bound)
        if "Globals" in stack.template:
            stack_globals = substitute(stack.template["Globals"], bound)
            if globals_ is not None and stack_globals != globals_:
                raise TreeError(f"{stack.name}'s Globals differ from another stack's")
            globals_ = stack_globals
    if globals_ is not None:
        flat["Globals"] = globals_
    flat["Conditions"] = conditions
    flat["Resources"] = resources
    flat["Outputs"] = in_root(root.template.get("Outputs", {}))
    return flat


def main() -> None:
    json.dump(flatten(sys.argv[1]), sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
