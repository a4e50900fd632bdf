"""AWS's rules for a tree of stacks, checked on the templates as CloudFormation receives them
(`aws_template`): nested stacks that name things after the root, a table that outlives every
stack operation, one HTTP API whose routes live in the domain stacks. Each test names the AWS
documentation it encodes.
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
    TEMPLATE,
    expanded,
    props,
    resources,
    tree,
)
import stacks  # noqa: E402


class NestedStacks(unittest.TestCase):
    """The tree: a root of nested stacks (`AWS::Serverless::Application` → `AWS::CloudFormation::Stack`)."""

    def test_a_nested_stack_names_things_after_the_root_not_after_itself(self) -> None:
        """CloudFormation: "Pseudo parameters reference" — `AWS::StackName` is the name of the
        stack it is used in, and a nested stack's name is `<root>-<LogicalId>-<suffix>`
        (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/pseudo-parameter-reference.html,
        https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-nested-stacks.html):
        metric namespaces, log groups and secret names built from it would differ per stack, and
        from what `make deploy` and the functions expect. Nested stacks take the root's name as
        the `AppName` parameter."""
        def named(value: Any) -> bool:
            if isinstance(value, dict):
                if value.get("Ref") == "AWS::StackName":
                    return True
                sub = value.get("Fn::Sub")
                pattern = sub[0] if isinstance(sub, list) else sub
                if isinstance(pattern, str) and "${AWS::StackName}" in pattern:
                    return True
                return any(named(v) for v in value.values())
            return isinstance(value, list) and any(named(v) for v in value)

        for stack in stacks.tree(TEMPLATE)[1:]:
            for section in ("Resources", "Outputs", "Conditions", "Globals"):
                uses = [i for i, v in stack.template.get(section, {}).items() if named(v)]
                self.assertFalse(uses, f"{stack.path.name}, {section}: {uses} name AWS::StackName")

    def test_the_table_outlives_every_stack_operation(self) -> None:
        """CloudFormation: "DeletionPolicy attribute" — deleting or replacing a nested stack deletes
        its resources unless they are retained
        (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html);
        DynamoDB's deletion protection refuses a DeleteTable from anyone, CloudFormation included
        (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithTables.Basics.html#WorkingWithTables.Basics.DeletionProtection)."""
        tables = [(name, i, t) for name, template in tree().items()
                  for i, t in template["Resources"].items() if t["Type"] == "AWS::DynamoDB::Table"]
        self.assertEqual([(name, i) for name, i, _ in tables], [("Base", "Table")], "one table, in the base stack")
        _, _, table = tables[0]
        self.assertEqual(table.get("DeletionPolicy"), "Retain")
        self.assertEqual(table.get("UpdateReplacePolicy"), "Retain")
        self.assertIs(table["Properties"].get("DeletionProtectionEnabled"), True)
        base = tree()["root"]["Resources"]["Base"]
        self.assertNotIn("Condition", base, "the base stack always exists")

    def test_nested_applications_deploy_with_the_auto_expand_capability(self) -> None:
        """SAM: "Deploying nested applications" — a template with `AWS::Serverless::Application`
        is deployed with CAPABILITY_AUTO_EXPAND (and CAPABILITY_IAM for the roles)
        (https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-template-nested-applications.html)."""
        config = (ROOT / "samconfig.toml").read_text()
        sections = re.findall(r'\[(\w+)\.deploy\.parameters\]([^\[]*)', config)
        self.assertTrue(sections, "samconfig.toml has deploy sections")
        for env, body in sections:
            capabilities = re.search(r'capabilities = "([^"]*)"', body)
            self.assertIsNotNone(capabilities, env)
            self.assertIn("CAPABILITY_AUTO_EXPAND", capabilities.group(1).split(), env)
            self.assertIn("CAPABILITY_IAM", capabilities.group(1).split(), env)


def apis(protocol: str) -> list[str]:
    """The logical ids of the APIs of `protocol` (`HTTP`, `WEBSOCKET`)."""
    return [i for i, api in resources("AWS::ApiGatewayV2::Api")
            if api["Properties"]["ProtocolType"] == protocol]


def of_api(kind: str, protocol: str) -> list[tuple[str, dict[str, Any]]]:
    """The resources of `kind` (routes, integrations, stages) of the APIs of `protocol`."""
    ids = apis(protocol)
    return [(i, r) for i, r in resources(kind)
            if any(r["Properties"]["ApiId"] == {"Ref": api} for api in ids)]


class Api(unittest.TestCase):
    """One HTTP API in the base stack; its routes beside their functions in the domain stacks."""

    def routes(self) -> dict[str, dict[str, Any]]:
        return {p["RouteKey"]: {"id": i, **p} for i, r in of_api("AWS::ApiGatewayV2::Route", "HTTP")
                for p in [r["Properties"]]}

    def test_the_api_has_no_body_that_would_erase_the_routes_of_other_stacks(self) -> None:
        """API Gateway: "Import an OpenAPI file to update an existing API definition" and
        ReimportApi — an HTTP API defined by `Body` is re-imported on update, overwriting its
        definition, routes created outside the body included
        (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-import-api-update.html,
        https://docs.aws.amazon.com/apigatewayv2/latest/api-reference/apis-apiid.html#apis-apiidput)."""
        http = [(i, r) for i, r in resources("AWS::ApiGatewayV2::Api") if i in apis("HTTP")]
        self.assertEqual(len(http), 1, "one HTTP API: one base URL for clients")
        self.assertLessEqual(len(apis("WEBSOCKET")), 1, "at most one WebSocket API")
        for logical_id, api in resources("AWS::ApiGatewayV2::Api"):
            for key in ("Body", "BodyS3Location"):
                self.assertFalse(key in api["Properties"], f"{logical_id} has a {key}")
        self.assertFalse(list(resources("AWS::Serverless::HttpApi")))

    def test_route_changes_deploy_themselves(self) -> None:
        """API Gateway: a route changes what clients see only once deployed to a stage; a stage
        with `AutoDeploy` deploys every change of the API
        (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-stage.html):
        without it, a route added by a domain stack would never be served."""
        stages = [p["Properties"] for _, p in of_api("AWS::ApiGatewayV2::Stage", "HTTP")]
        self.assertEqual([s["StageName"] for s in stages], ["$default"])
        self.assertIs(stages[0].get("AutoDeploy"), True)
        # The WebSocket API's stage too (a WebSocket API has no `$default` stage: a named one).
        for _, stage in of_api("AWS::ApiGatewayV2::Stage", "WEBSOCKET"):
            self.assertIs(stage["Properties"].get("AutoDeploy"), True)
            self.assertRegex(stage["Properties"]["StageName"], r"^[A-Za-z0-9_-]+$")

    def test_the_api_stays_within_its_route_and_integration_quotas(self) -> None:
        """API Gateway: "Quotas for configuring and running an HTTP API" — 300 routes per API
        (raisable) and 300 integrations per API (not raisable)
        (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html). One
        integration per function, shared by its routes."""
        self.assertLessEqual(len(self.routes()), 300)
        integrations = of_api("AWS::ApiGatewayV2::Integration", "HTTP")
        self.assertLessEqual(len(integrations), 300)
        uris = [json.dumps(i["Properties"]["IntegrationUri"], sort_keys=True) for _, i in integrations]
        self.assertEqual(len(uris), len(set(uris)), "one integration per function")

    def test_every_route_invokes_a_live_alias_that_lets_api_gateway_call_it_for_that_route(self) -> None:
        """API Gateway: "Create AWS Lambda proxy integrations for HTTP APIs" — the function's
        resource policy must let apigateway.amazonaws.com invoke it from the route's ARN
        (`…:api-id/stage/METHOD/path`, path parameters as `*`); without it the route answers
        500 (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html,
        https://docs.aws.amazon.com/apigateway/latest/developerguide/arn-format-reference.html).
        The integration targets the `live` alias, so canary releases shift the API's traffic."""
        everything = expanded()["Resources"]
        permissions = [p["Properties"] for _, p in resources("AWS::Lambda::Permission")]
        http = apis("HTTP")
        self.assertTrue(self.routes(), "no routes")
        for key, route in self.routes().items():
            with self.subTest(route=key):
                self.assertEqual(route["ApiId"], {"Ref": http[0]})
                target = re.fullmatch(r"integrations/\$\{(\w+)\}", route["Target"]["Fn::Sub"])
                self.assertIsNotNone(target, route["Target"])
                integration = props(target.group(1))
                self.assertEqual(integration["ApiId"], {"Ref": http[0]})
                self.assertEqual(integration["IntegrationType"], "AWS_PROXY")
                self.assertEqual(integration["PayloadFormatVersion"], "2.0")
                alias = integration["IntegrationUri"]["Ref"]
                self.assertEqual(everything[alias]["Type"], "AWS::Lambda::Alias")
                self.assertEqual(everything[alias]["Properties"]["Name"], "live")
                method, path = key.split(" ", 1)
                arn_path = re.sub(r"\{[^}]+\}", "*", path)
                expected = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${" + http[0] + "}/*/" + method + arn_path
                granted = [p for p in permissions if p["FunctionName"] == {"Ref": alias}
                           and p["Principal"] == "apigateway.amazonaws.com"
                           and p["Action"] == "lambda:InvokeFunction"
                           and p["SourceArn"] == {"Fn::Sub": expected}]
                self.assertTrue(granted, f"no permission lets the API invoke {alias} for {key}")


class WebSocketApi(unittest.TestCase):
    """The WebSocket API of live notifications (stacks/notifications.yaml)."""

    def test_its_routes_invoke_live_aliases_by_invocation_uri_with_post_and_a_permission(self) -> None:
        """API Gateway: "Set up a WebSocket API integration request" — a Lambda proxy
        integration of a WebSocket API names its function by the invocation URI
        `arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function ARN>/invocations`
        (an HTTP API takes the ARN alone) and `IntegrationMethod` POST ("For WebSocket APIs, if
        you use a Lambda integration, you must set the integration method to POST",
        https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-integration.html),
        and "Control access to WebSocket APIs" — the
        function's resource policy must let apigateway.amazonaws.com invoke it from
        `…:<api-id>/<stage>/<route key>`
        (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-integration-requests.html,
        https://docs.aws.amazon.com/apigateway/latest/developerguide/arn-format-reference.html).
        `$connect` and `$disconnect` are there: connections are recorded and forgotten."""
        everything = expanded()["Resources"]
        permissions = [p["Properties"] for _, p in resources("AWS::Lambda::Permission")]
        [api] = apis("WEBSOCKET")
        routes = {r["Properties"]["RouteKey"]: r["Properties"]
                  for _, r in of_api("AWS::ApiGatewayV2::Route", "WEBSOCKET")}
        self.assertEqual(set(routes), {"$connect", "$disconnect"})
        for key, route in routes.items():
            with self.subTest(route=key):
                target = re.fullmatch(r"integrations/\$\{(\w+)\}", route["Target"]["Fn::Sub"])
                self.assertIsNotNone(target, route["Target"])
                integration = props(target.group(1))
                self.assertEqual(integration["ApiId"], {"Ref": api})
                self.assertEqual(integration["IntegrationType"], "AWS_PROXY")
                self.assertNotIn("PayloadFormatVersion", integration)
                self.assertEqual(integration.get("IntegrationMethod"), "POST")
                uri, variables = integration["IntegrationUri"]["Fn::Sub"]
                found = re.fullmatch(
                    r"arn:\$\{AWS::Partition\}:apigateway:\$\{AWS::Region\}:lambda:path/2015-03-31/functions/\$\{(\w+)\}/invocations",
                    uri)
                self.assertIsNotNone(found, uri)
                alias = variables[found.group(1)]["Ref"]
                self.assertEqual(everything[alias]["Type"], "AWS::Lambda::Alias")
                self.assertEqual(everything[alias]["Properties"]["Name"], "live")
                expected = ("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${"
                            + api + "}/*/" + key)
                granted = [p for p in permissions if p["FunctionName"] == {"Ref": alias}
                           and p["Principal"] == "apigateway.amazonaws.com"
                           and p["SourceArn"] == {"Fn::Sub": expected}]
                self.assertTrue(granted, f"no permission lets the API invoke {alias} for {key}")

    def test_its_stage_logs_nothing_that_needs_the_account_wide_cloudwatch_role(self) -> None:
        """API Gateway: "Configure logging for WebSocket APIs" — access and execution logging of a
        WebSocket (or REST) API needs the CloudWatch Logs role ARN set in the account's API
        Gateway settings (`AWS::ApiGateway::Account`), which HTTP APIs do not
        (https://docs.aws.amazon.com/apigateway/latest/developerguide/websocket-api-logging.html).
        Without it the stage fails to create; an application's stack must not take over that
        account-wide setting, so the stage asks for neither."""
        for stage_id, stage in of_api("AWS::ApiGatewayV2::Stage", "WEBSOCKET"):
            settings = stage["Properties"]
            self.assertNotIn("AccessLogSettings", settings, stage_id)
            route = settings.get("DefaultRouteSettings", {})
            self.assertIn(route.get("LoggingLevel", "OFF"), ("OFF",), stage_id)
            self.assertFalse(route.get("DataTraceEnabled", False), stage_id)
        self.assertFalse(list(resources("AWS::ApiGateway::Account")))

    def test_the_pushing_function_may_manage_exactly_the_stages_connections(self) -> None:
        """API Gateway: "Use @connections commands in your backend service" — a backend sends to
        and closes connections with `execute-api:ManageConnections` on
        `arn:aws:execute-api:<region>:<account>:<api-id>/<stage>/<METHOD>/@connections/*`
        (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-how-to-call-websocket-api-connections.html).
        Only the notifications worker has it, for POST and DELETE on its own API's stage."""
        [api] = apis("WEBSOCKET")
        [(stage, _)] = of_api("AWS::ApiGatewayV2::Stage", "WEBSOCKET")
        holders: dict[str, list[Any]] = {}
        for role_id, role in resources("AWS::IAM::Role"):
            for policy in role["Properties"].get("Policies", []):
                for statement in policy["PolicyDocument"].get("Statement", []):
                    if "execute-api:" in json.dumps(statement.get("Action")):
                        holders.setdefault(role_id, []).extend(statement["Resource"])
        self.assertEqual(list(holders), ["WorkerNotificationsFunctionRole"])
        prefix = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${" + api + "}/${" + stage + "}/"
        self.assertEqual(
            sorted(r["Fn::Sub"] for r in holders["WorkerNotificationsFunctionRole"]),
            [prefix + "DELETE/@connections/*", prefix + "POST/@connections/*"])


if __name__ == "__main__":
    unittest.main()
