"""`make new-function` (infra/new_function.py) writes a crate, its resources in its domain's stack
and its test the way the other functions are written, into a copy of the project's files.
Run: .venv/bin/python -m unittest discover infra/tests"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from cfnlint.decode import decode_str

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import new_function  # noqa: E402
import stacks  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def copy_project(root: Path) -> None:
    """The files new_function reads and writes: the tree of stacks and the tests' lists."""
    (root / "functions" / "health").mkdir(parents=True)
    (root / "tests" / "api" / "security").mkdir(parents=True)
    shutil.copytree(ROOT / "stacks", root / "stacks")
    shutil.copytree(ROOT / "api-spec" / "src" / "routes", root / "api-spec" / "src" / "routes")
    for name in ["template.yaml", "tests/Cargo.toml", "tests/api/main.rs", "tests/api/security/matrix.rs",
                 "tests/api/calls.rs"]:
        shutil.copy(ROOT / name, root / name)


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in [root / "template.yaml", *(root / "stacks").glob("*.yaml")]}


class NewFunction(unittest.TestCase):
    def setUp(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ferrite-new-function-"))
        self.addCleanup(shutil.rmtree, self.root)
        copy_project(self.root)

    def template(self, stack: str = "registry") -> dict:
        decoded, errors = decode_str((self.root / "stacks" / f"{stack}.yaml").read_text())
        self.assertFalse(errors, errors)
        return decoded

    def test_it_writes_the_crate_the_resource_with_its_policy_and_route_and_a_test(self) -> None:
        before = set(self.template()["Resources"])
        untouched = {k: v for k, v in snapshot(self.root).items() if k != "stacks/registry.yaml"}
        new_function.create(self.root, "gadgets-get", "GET /v1/gadgets/{id}", None, "registry")
        self.assertEqual({k: v for k, v in snapshot(self.root).items() if k != "stacks/registry.yaml"}, untouched)

        crate = self.root / "functions" / "gadgets-get"
        self.assertIn('name = "gadgets-get"', (crate / "Cargo.toml").read_text())
        self.assertNotIn("description", (crate / "Cargo.toml").read_text())
        self.assertIn("gadgets_get::handle", (crate / "src" / "main.rs").read_text())
        self.assertIn("accounts::authenticate", (crate / "src" / "lib.rs").read_text())

        resources = self.template()["Resources"]
        self.assertEqual(
            set(resources) - before,
            {"GadgetsGetFunction", "GadgetsGetCanaryAlarm", "GadgetsGetIntegration", "GadgetsGetRoute",
             "GadgetsGetPermission"},
        )
        function = resources["GadgetsGetFunction"]
        # Its canary releases are rolled back by an alarm on its own errors and failures.
        self.assertEqual(
            function["Properties"]["DeploymentPreference"]["Alarms"], [{"Ref": "GadgetsGetCanaryAlarm"}]
        )
        alarm = resources["GadgetsGetCanaryAlarm"]["Properties"]
        dimensions = [m["MetricStat"]["Metric"]["Dimensions"] for m in alarm["Metrics"] if "MetricStat" in m]
        self.assertIn([{"Name": "FunctionName", "Value": {"Ref": "GadgetsGetFunction"}}], dimensions)
        self.assertEqual(function["Metadata"]["BuildProperties"]["Binary"], "gadgets-get")
        properties = function["Properties"]
        self.assertEqual(properties["Description"], "GET /v1/gadgets/{id} - gadgets get")
        [statement] = properties["Policies"][0]["Statement"]
        self.assertEqual(statement["Action"], ["dynamodb:BatchGetItem"])
        self.assertEqual(statement["Resource"], [{"Ref": "TableArn"}])
        self.assertNotIn("Events", properties)
        route = resources["GadgetsGetRoute"]["Properties"]
        self.assertEqual(route["RouteKey"], "GET /v1/gadgets/{id}")
        self.assertEqual(route["Target"], {"Fn::Sub": "integrations/${GadgetsGetIntegration}"})
        integration = resources["GadgetsGetIntegration"]["Properties"]
        self.assertEqual(integration["IntegrationUri"], {"Ref": "GadgetsGetFunction.Alias"})
        permission = resources["GadgetsGetPermission"]["Properties"]
        self.assertEqual(permission["FunctionName"], {"Ref": "GadgetsGetFunction.Alias"})
        self.assertTrue(permission["SourceArn"]["Fn::Sub"].endswith("${HttpApiId}/*/GET/v1/gadgets/*"))

        manifest = (self.root / "tests" / "Cargo.toml").read_text()
        self.assertIn('gadgets-get = { path = "../functions/gadgets-get" }', manifest)
        main = (self.root / "tests" / "api" / "main.rs").read_text()
        mods = [line for line in main.splitlines() if line.startswith("mod ")]
        self.assertIn("mod gadgets_get;", mods)
        self.assertEqual(mods, sorted(mods), "the module list stays sorted")
        test = (self.root / "tests" / "api" / "gadgets_get.rs").read_text()
        self.assertIn(f'.param("id", "{new_function.SAMPLE_ID}")', test)
        self.assertIn("assert_eq!(anonymous.status, 401", test)

    def test_it_writes_the_three_rows_each_open_until_decided(self) -> None:
        routes = self.root / "api-spec" / "src" / "routes"
        before = {p.name: p.read_text() for p in routes.glob("*.rs")}
        new_function.create(self.root, "gadgets-get", "GET /v1/gadgets/{id}", None, "registry")
        # The operation, in the registry's routes file, at the end of its list.
        after = {p.name: p.read_text() for p in routes.glob("*.rs")}
        changed = [name for name in after if after[name] != before[name]]
        self.assertEqual(changed, ["properties.rs"])
        spec = after["properties.rs"]
        self.assertTrue(spec.startswith(before["properties.rs"][: -len(new_function.SPEC_END)]))
        self.assertTrue(spec.endswith(new_function.SPEC_END))
        row = spec[len(before["properties.rs"]) - len(new_function.SPEC_END):]
        for expected in ['path: "/v1/gadgets/{id}"', 'id: "gadgetsGet"', 'tag: "properties"',
                         "summary: crate::UNDECIDED", 'path_id_named::<UserId>("id")', "method: Get,"]:
            self.assertIn(expected, row)
        # The matrix row, before the marker, open until decided.
        matrix = (self.root / "tests" / "api" / "security" / "matrix.rs").read_text()
        self.assertIn(
            f'(Call::new("GET", "/v1/gadgets/{{id}}").param("id", "{new_function.SAMPLE_ID}"), DECIDE),\n'
            + new_function.MATRIX_MARKER,
            matrix,
        )
        # A test of its DynamoDB calls, failing until they are written down.
        calls = (self.root / "tests" / "api" / "calls.rs").read_text()
        self.assertIn("async fn gadgets_get_makes_the_documented_dynamodb_calls()", calls)
        self.assertIn('.bearer(&caller) => 204, ["(decide)"]);', calls)

    def test_the_project_has_the_markers_it_writes_beside(self) -> None:
        # The real files, not the copies: a marker removed by hand would break the next route.
        matrix = (ROOT / "tests" / "api" / "security" / "matrix.rs").read_text()
        self.assertEqual(matrix.count(new_function.MATRIX_MARKER), 1)
        self.assertIn("const DECIDE: [u16; 5]", matrix)
        for name in set(new_function.SPEC_FILES.values()) | {"me", "admin"}:
            text = (ROOT / "api-spec" / "src" / "routes" / f"{name}.rs").read_text()
            self.assertTrue(text.endswith(new_function.SPEC_END), name)
        self.assertIn("const UNDECIDED: &str", (ROOT / "api-spec" / "src" / "lib.rs").read_text())

    def test_a_description_yaml_would_misread_is_quoted(self) -> None:
        for text in ["GET /v1/x - readiness: the table answers", "- leading dash", "hash #inside"]:
            with self.subTest(text=text):
                root = Path(tempfile.mkdtemp(prefix="ferrite-new-function-"))
                self.addCleanup(shutil.rmtree, root)
                copy_project(root)
                new_function.create(root, "gadgets-ready", "GET /v1/gadgets/ready", text, "ops")
                decoded, errors = decode_str((root / "stacks" / "ops.yaml").read_text())
                self.assertFalse(errors, errors)
                self.assertEqual(decoded["Resources"]["GadgetsReadyFunction"]["Properties"]["Description"], text)

    def test_a_stack_that_ends_in_outputs_gets_the_resources_in_its_resources(self) -> None:
        outputs_before = self.template("notifications")["Outputs"]
        new_function.create(self.root, "gizmos-list", "GET /v1/gizmos", "Gizmos", "notifications")
        decoded = self.template("notifications")
        self.assertIn("GizmosListFunction", decoded["Resources"])
        self.assertIn("GizmosListRoute", decoded["Resources"])
        self.assertEqual(decoded["Outputs"], outputs_before)

    def test_a_route_goes_to_the_stack_that_routes_the_nearest_path(self) -> None:
        for name, route, stack in [
            ("users-me-gizmos", "GET /v1/users/me/gizmos", "users"),
            ("properties-gizmos", "POST /v1/properties/{id}/gizmos", "registry"),
            ("auth-gizmo", "POST /v1/auth/gizmo", "auth"),
        ]:
            with self.subTest(route=route):
                new_function.create(self.root, name, route, None)
                resource = f"{new_function.pascal(name)}Route"
                self.assertTrue(resource in self.template(stack)["Resources"], f"{resource} is not in {stack}")
        with self.assertRaises(new_function.Refused):
            new_function.create(self.root, "gadgets-list", "GET /v1/gadgets", None)

    def test_the_stacks_it_writes_pass_cfn_lint_and_the_local_stacks_reading(self) -> None:
        new_function.create(self.root, "gadget-parts-list", "GET /v1/gadgets/{id}/parts", "Units", "registry")
        lint = subprocess.run(
            [str(Path(sys.executable).parent / "cfn-lint"), str(self.root / "template.yaml"),
             str(self.root / "stacks" / "registry.yaml")],
            capture_output=True,
            text=True,
        )
        self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)
        flat = stacks.flatten(self.root / "template.yaml")
        self.assertEqual(flat["Resources"]["GadgetPartsListRoute"]["Properties"]["RouteKey"], "GET /v1/gadgets/{id}/parts")

    def test_it_refuses_a_taken_name_a_taken_route_and_malformed_input_writing_nothing(self) -> None:
        before = snapshot(self.root)
        cases = [
            ("health", "GET /v1/status"),  # the crate exists
            ("users-get-again", "GET /v1/users/{id}"),  # the route is taken
            ("Gadgets_List", "GET /v1/gadgets"),
            ("gadgets-list", "GET /gadgets"),
            ("gadgets-list", "FETCH /v1/gadgets"),
            ("gadgets-list", "GET /v1/gadgets"),  # no stack routes /v1/gadgets: STACK= says which
        ]
        for name, route in cases:
            with self.subTest(name=name, route=route):
                with self.assertRaises(new_function.Refused):
                    new_function.create(self.root, name, route, None)
        with self.assertRaises(new_function.Refused):
            new_function.create(self.root, "gadgets-list", "GET /v1/gadgets", None, "base")
        self.assertEqual(snapshot(self.root), before)
        self.assertEqual(
            sorted(p.name for p in (self.root / "functions").iterdir()), ["health"]
        )


if __name__ == "__main__":
    unittest.main()
