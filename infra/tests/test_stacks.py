"""The tree of stacks (infra/stacks.py): how it is read as one template for the local stack, what
it refuses, and that SAM CLI's `sam build` finds every function of it.
Run: .venv/bin/python -m unittest discover infra/tests"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra"))

import stacks  # noqa: E402

ROOT_TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
  Origins: {Type: CommaDelimitedList, Default: "a,b"}
Resources:
  Base:
    Type: AWS::Serverless::Application
    Properties:
      Location: stacks/base.yaml
      Parameters:
        AppName: !Ref AWS::StackName
        Origins: !Join [",", !Ref Origins]
  Domain:
    Type: AWS::Serverless::Application
    Properties:
      Location: stacks/domain.yaml
      Parameters:
        Stage: !Ref Stage
        TableArn: !GetAtt Base.Outputs.TableArn
        TableName: !GetAtt Base.Outputs.TableName
Outputs:
  Table:
    Value: !GetAtt Base.Outputs.TableName
"""

BASE = """\
Parameters:
  AppName: {Type: String}
  Origins: {Type: CommaDelimitedList}
Resources:
  Table:
    Type: AWS::DynamoDB::Table
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: !Sub "${AppName}-api"
      CorsConfiguration: {AllowOrigins: !Ref Origins}
Outputs:
  TableArn: {Value: !GetAtt Table.Arn}
  TableName: {Value: !Ref Table}
"""

DOMAIN = """\
Parameters:
  Stage: {Type: String}
  TableArn: {Type: String}
  TableName: {Type: String}
  Memory: {Type: Number, Default: 256}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Globals:
  Function:
    Environment:
      Variables:
        TABLE_NAME: !Ref TableName
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      MemorySize: !Ref Memory
      Policies:
        - Statement:
            - Effect: Allow
              Action: dynamodb:Query
              Resource: [!Ref TableArn, !Sub "${TableArn}/index/*", !Sub "${Stage}-${TableName}"]
"""


class Flatten(unittest.TestCase):
    def tree(self, root: str = ROOT_TEMPLATE, base: str = BASE, domain: str = DOMAIN) -> Path:
        folder = Path(tempfile.mkdtemp(prefix="ferrite-stacks-"))
        self.addCleanup(shutil.rmtree, folder)
        (folder / "stacks").mkdir()
        (folder / "template.yaml").write_text(root)
        (folder / "stacks" / "base.yaml").write_text(base)
        (folder / "stacks" / "domain.yaml").write_text(domain)
        return folder / "template.yaml"

    def test_a_nested_stacks_parameters_become_what_the_root_passes_them(self) -> None:
        flat = stacks.flatten(self.tree())
        resources = flat["Resources"]
        self.assertEqual(set(resources), {"Table", "Api", "Fn"}, "the Applications are gone")
        statement = resources["Fn"]["Properties"]["Policies"][0]["Statement"][0]
        self.assertEqual(
            statement["Resource"],
            [
                {"Fn::GetAtt": ["Table", "Arn"]},
                {"Fn::Sub": "${Table.Arn}/index/*"},
                {"Fn::Sub": "${Stage}-${Table}"},
            ],
        )
        # A parameter left at its default is its default; the root's own parameters stay.
        self.assertEqual(resources["Fn"]["Properties"]["MemorySize"], 256)
        self.assertEqual(flat["Globals"]["Function"]["Environment"]["Variables"]["TABLE_NAME"], {"Ref": "Table"})
        self.assertEqual(flat["Conditions"]["IsProd"], {"Fn::Equals": [{"Ref": "Stage"}, "prod"]})
        # The root's stack name, where the nested stack had AppName; a list passed joined is a list.
        api = resources["Api"]["Properties"]
        self.assertEqual(api["Name"], {"Fn::Sub": "${AWS::StackName}-api"})
        self.assertEqual(api["CorsConfiguration"]["AllowOrigins"], {"Ref": "Origins"})
        self.assertEqual(flat["Outputs"]["Table"]["Value"], {"Ref": "Table"})

    def test_a_template_without_nested_stacks_is_itself_with_its_globals(self) -> None:
        single = self.tree(root=DOMAIN.replace("!Ref TableArn", "arn:table").replace("${TableArn}", "arn:table")
                           .replace("  TableArn: {Type: String}\n", ""))
        flat = stacks.flatten(single)
        self.assertEqual(flat["Globals"]["Function"]["Environment"]["Variables"]["TABLE_NAME"], {"Ref": "TableName"})
        self.assertEqual(set(flat["Resources"]), {"Fn"})

    def test_what_cloudformation_would_refuse_or_the_one_namespace_cannot_hold_is_an_error(self) -> None:
        cases = {
            "a logical id declared twice": dict(domain=DOMAIN.replace("  Fn:\n", "  Table:\n")),
            "a parameter neither passed nor defaulted": dict(root=ROOT_TEMPLATE.replace("        Stage: !Ref Stage\n", "")),
            "a parameter passed but not declared": dict(root=ROOT_TEMPLATE.replace("        Stage: !Ref Stage\n", "        Stage: !Ref Stage\n        Extra: x\n")),
            "an output that does not exist": dict(root=ROOT_TEMPLATE.replace("Base.Outputs.TableArn", "Base.Outputs.Nope")),
            "a condition meaning two things": dict(base=BASE.replace("Resources:", "Conditions:\n  IsProd: !Equals [a, b]\nResources:")),
        }
        for case, files in cases.items():
            with self.subTest(case):
                with self.assertRaises(stacks.TreeError):
                    stacks.flatten(self.tree(**files))


class Readme(unittest.TestCase):
    def test_the_readme_shows_every_stack_with_its_resource_count(self) -> None:
        """README's tree of stacks (Deploying) lists each stack with the resources
        CloudFormation receives for it (after the SAM transform): kept true here."""
        import sam_expand

        with contextlib.redirect_stderr(io.StringIO()):
            expanded = sam_expand.expand_tree(str(ROOT / "template.yaml"))
        files = {stack.name: stack.path.relative_to(ROOT) for stack in stacks.tree(ROOT / "template.yaml")}
        readme = (ROOT / "README.md").read_text()
        for name, template in expanded.items():
            with self.subTest(stack=name):
                shown = re.search(rf"{re.escape(str(files[name]))}(?: \(root\))?\s+(\d+)\s", readme)
                self.assertIsNotNone(shown, f"README's tree has no line for {files[name]}")
                self.assertEqual(int(shown.group(1)), len(template["Resources"]), f"{files[name]}'s count in README")


class SamBuild(unittest.TestCase):
    def test_sam_build_finds_every_function_of_the_tree_with_its_code_at_the_workspace_root(self) -> None:
        """`sam build` reads nested stacks with a local Location itself (SAM CLI's stack
        provider, which it builds from): every function of every stack, built by cargo-lambda
        from the workspace (CodeUri `..` of a template in stacks/)."""
        from samcli.lib.providers.sam_function_provider import SamFunctionProvider
        from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

        cwd = os.getcwd()
        os.chdir(ROOT)
        self.addCleanup(os.chdir, cwd)
        with contextlib.redirect_stderr(io.StringIO()):
            found, remote = SamLocalStackProvider.get_stacks("template.yaml")
            functions = list(SamFunctionProvider(found).get_all())
        self.assertEqual(remote, [])
        declared = [
            logical_id
            for stack in stacks.tree(ROOT / "template.yaml")
            for logical_id, resource in stack.resources.items()
            if resource["Type"] == "AWS::Serverless::Function"
        ]
        self.assertEqual(sorted(f.name for f in functions), sorted(declared))
        for function in functions:
            with self.subTest(function=function.full_path):
                self.assertEqual(Path(ROOT / function.codeuri).resolve(), ROOT)
                self.assertEqual(function.metadata["BuildMethod"], "rust-cargolambda")
                self.assertTrue((ROOT / "functions" / function.metadata["BuildProperties"]["Binary"]).is_dir())


if __name__ == "__main__":
    unittest.main()
