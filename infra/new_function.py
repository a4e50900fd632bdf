"""`make new-function NAME=properties-list ROUTE="GET /v1/properties"`: a new function crate that
looks like the others.

Writes, and changes nothing else:
- `functions/NAME/` — Cargo.toml (the three dependencies every API function has), `src/main.rs`
  (the one-line wiring), `src/lib.rs` (a handler that authenticates the caller and answers 204);
- its resources at the end of its domain's stack (`stacks/<domain>.yaml`: STACK=, or the stack
  that routes the longest stretch of the new path already, e.g. `/v1/users/me/...` goes beside
  `/v1/users/me`): the function with its description (the one place a function is described)
  and a least-privilege policy — `dynamodb:BatchGetItem` on the table, which is exactly what
  `accounts::authenticate` calls; add the actions the handler makes as you write it (the local
  stack enforces the policy, so a missing one fails the test) —, the alarm its canary releases
  watch (`<Fn>CanaryAlarm`, see `canary_alarm`), and its route: an integration with its `live`
  alias, the route, and the permission that lets the API invoke it (`route`);
- `tests/api/<name>.rs` — a test of the handler in-process against the local endpoint, as the
  template's function, listed in `tests/api/main.rs`, with the crate added to `tests/Cargo.toml`;
- the three rows every route has, each failing its test until the decision in it is made:
  its OpenAPI operation (`api-spec/src/routes/<tag>.rs`, summary `UNDECIDED`: say what it does,
  its parameters, answers and errors), its row of the authorization matrix
  (`tests/api/security/matrix.rs`, `DECIDE`: the status for each kind of caller) and its test of
  DynamoDB calls (`tests/api/calls.rs`: the operations of its happy path).

Then: write the handler and make those decisions.
"""

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
ROUTE = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) (/v1(/[A-Za-z0-9._-]+|/\{[a-z][A-Za-z0-9]*\})+)$")
SAMPLE_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


class Refused(Exception):
    """The request cannot be carried out; nothing was written."""


def pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def snake(name: str) -> str:
    return name.replace("-", "_")


def cargo_toml(name: str) -> str:
    return f"""[package]
name = "{name}"
version.workspace = true
edition.workspace = true
rust-version.workspace = true
license.workspace = true
publish.workspace = true

[dependencies]
shared.workspace = true
lambda_http.workspace = true
tokio.workspace = true

[lints]
workspace = true
"""


def main_rs(name: str) -> str:
    return f"""#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {{
    shared::http::serve(
        shared::State::from_env()?.require_verifier()?,
        {snake(name)}::handle,
    )
    .await
}}
"""


def lib_rs(method: str, path: str) -> str:
    return f"""//! `{method} {path}` → 204 for a signed-in caller; 401 otherwise.

use lambda_http::{{Body, Request, Response}};
use shared::{{ApiError, State, accounts}};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {{
    let _me = accounts::authenticate(state, &req).await?;
    Ok(shared::http::no_content())
}}
"""


def yaml_string(text: str) -> str:
    """`text` as a YAML scalar: plain when YAML reads it back as that string, else quoted."""
    plain = not (": " in text or " #" in text or text[:1] in "!&*-?{}[],#|>@`'\"%" or text != text.strip())
    return text if plain else json.dumps(text)


def canary_alarm(function: str) -> str:
    """The alarm a function's deployment group watches (`<Fn>CanaryAlarm`): the `live` alias's
    invocation errors plus the failures the function counts itself (5xx answers, failed records:
    `shared::telemetry::metric::FAILURE`), one-minute periods so a five-minute canary sees them.
    It names the function and its alias through `!Ref`/`!Sub` of the function only: an alarm that
    depended on the API (which depends on every alias) would close a dependency circle through the
    alias's UpdatePolicy."""
    stem = function.removesuffix("Function")
    return f"""  {stem}CanaryAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmDescription: !Sub "${{{function}}} (live alias) failed an invocation, answered 5xx or failed a record in the last minute; a canary release of it rolls back."
      Metrics:
        - Id: errors
          ReturnData: false
          MetricStat:
            Metric:
              Namespace: AWS/Lambda
              MetricName: Errors
              Dimensions:
                - {{ Name: FunctionName, Value: !Ref {function} }}
                - {{ Name: Resource, Value: !Sub "${{{function}}}:live" }}
            Period: 60
            Stat: Sum
        - Id: failures
          ReturnData: false
          MetricStat:
            Metric:
              Namespace: !Ref MetricsNamespace
              MetricName: Failure
              Dimensions: [{{ Name: FunctionName, Value: !Ref {function} }}]
            Period: 60
            Stat: Sum
        - Id: failed
          Label: invocation errors and failures
          Expression: FILL(errors, 0) + FILL(failures, 0)
      EvaluationPeriods: 1
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
      TreatMissingData: notBreaching
      AlarmActions: [!Ref AlarmTopicArn]
"""


def route(function: str, method: str, path: str) -> str:
    """What SAM's `HttpApi` event would generate, written out because the API is declared in the
    base stack: an integration with the function's `live` alias (payload format 2.0), the route,
    and the permission that lets API Gateway invoke the alias from that route only (path
    parameters as `*` in the ARN)."""
    stem = function.removesuffix("Function")
    arn_path = re.sub(r"\{[^}]+\}", "*", path)
    return f"""  {stem}Integration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref HttpApiId
      IntegrationType: AWS_PROXY
      IntegrationUri: !Ref {function}.Alias
      PayloadFormatVersion: "2.0"

  {stem}Route:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref HttpApiId
      RouteKey: {method} {path}
      Target: !Sub "integrations/${{{stem}Integration}}"

  {stem}Permission:
    Type: AWS::Lambda::Permission
    Properties:
      Action: lambda:InvokeFunction
      FunctionName: !Ref {function}.Alias
      Principal: apigateway.amazonaws.com
      SourceArn: !Sub "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{HttpApiId}}/*/{method}{arn_path}"
"""


def resource(name: str, method: str, path: str, description: str) -> str:
    description = yaml_string(description)
    return f"""  {pascal(name)}Function:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: {name}
    Properties:
      Description: {description}
      DeploymentPreference:
        Alarms: [!Ref {pascal(name)}CanaryAlarm]
      Policies:
        - Statement:
            - Effect: Allow
              Action:
                - dynamodb:BatchGetItem
              Resource:
                - !Ref TableArn

""" + canary_alarm(f"{pascal(name)}Function") + "\n" + route(f"{pascal(name)}Function", method, path)


def path_params(path: str) -> list[str]:
    return re.findall(r"\{([A-Za-z0-9]+)\}", path)


def sample_call(method: str, path: str) -> str:
    """The tests' `Call` of the route, each path parameter a sample id."""
    return f'Call::new("{method}", "{path}")' + "".join(f'.param("{p}", "{SAMPLE_ID}")' for p in path_params(path))


def test_rs(name: str, method: str, path: str) -> str:
    call = sample_call(method, path)
    return f"""//! `{method} {path}` in-process against the local endpoint, as the template's function.

use ferrite_tests::{{Call, TestApp}};

#[tokio::test]
async fn {snake(name)}_refuses_an_anonymous_caller_and_answers_a_signed_in_one() {{
    let app = TestApp::spawn().await;
    let anonymous = app.call({snake(name)}::handle, {call}).await;
    assert_eq!(anonymous.status, 401, "{{:?}}", anonymous.body);
    let (token, _) = app.user("{name}@example.com", None).await;
    let answer = app
        .call({snake(name)}::handle, {call}.bearer(&token))
        .await;
    assert_eq!(answer.status, 204, "{{:?}}", answer.body);
}}
"""


# Where a stack's operations are described in api-spec (`users`: `/v1/users/me…` is the caller's
# own account, the rest the admin's).
SPEC_FILES = {
    "auth": "auth",
    "posts": "posts",
    "registry": "properties",
    "documents": "documents",
    "ops": "ops",
}
MATRIX_MARKER = "        // make new-function adds its rows here.\n"
SPEC_END = "\n    ]\n}\n"


def spec_file(stack: str, path: str) -> str:
    """The routes file (and tag) of api-spec that describes a route of `stack`."""
    if stack in ("users", "notifications"):
        return "me" if path == "/v1/users/me" or path.startswith("/v1/users/me/") else "admin"
    if stack not in SPEC_FILES:
        raise Refused(f"the {stack} stack has no routes in api-spec: choose another with STACK=")
    return SPEC_FILES[stack]


def camel(name: str) -> str:
    first, *rest = name.split("-")
    return first + "".join(part.capitalize() for part in rest)


def imported(text: str, name: str) -> bool:
    """Whether the routes file `text` has `name` in scope through its `use super::{…}` or its
    `use HttpMethod::{…}` (the workspace denies naming by path what is imported)."""
    groups = re.findall(r"use (?:super|HttpMethod)::\{([^}]*)\}", text)
    return any(name in re.split(r"[\s,]+", group) for group in groups)


def spec_row(name: str, method: str, path: str, tag: str, text: str) -> str:
    params = path_params(path)
    verb = method.capitalize()
    verb = verb if imported(text, verb) else f"HttpMethod::{verb}"
    id_type = "UserId" if imported(text, "UserId") else "shared::ids::UserId"
    helper = "path_id_named" if imported(text, "path_id_named") else "crate::path_id_named"
    # Each path parameter as an id of a type to decide (a UserId until then).
    param_list = ", ".join(f'{helper}::<{id_type}>("{p}")' for p in params)
    return f"""        Route {{
            method: {verb},
            path: "{path}",
            id: "{camel(name)}",
            tag: "{tag}",
            // make new-function: what it does, in one line; its parameters (the id types),
            // answers and errors. The document's tests fail until it is said.
            summary: crate::UNDECIDED,
            auth: Auth::Required,
            store: true,
            body: None,
            params: vec![{param_list}],
            ok: vec![(204, "Done", None)],
            errors: &[],
        }},"""


def matrix_row(method: str, path: str) -> str:
    call = sample_call(method, path)
    return f"""        // make new-function: the status each kind of caller gets (see the header of `rows`).
        ({call}, DECIDE),
"""


def calls_test(name: str, method: str, path: str) -> str:
    call = sample_call(method, path)
    return f"""
#[tokio::test]
async fn {snake(name)}_makes_the_documented_dynamodb_calls() {{
    let (app, log) = TestApp::spawn_counting().await;
    let (caller, _) = app.user("{name}-calls@example.com", None).await;
    // make new-function: the operations of its happy path (and docs/architecture.md's table).
    row!(app, log: {snake(name)}::handle, {call}.bearer(&caller) => 204, ["(decide)"]);
}}
"""


def domain_stack(root: Path, templates: dict[Path, str], path: str, stack: str | None) -> Path:
    """The nested stack a new route belongs in: `stack` when given, else the one whose routes
    share the longest run of leading path segments with `path` (at least `/v1/<first>`)."""
    nested = {p.stem: p for p in templates if p.parent.name == "stacks"}
    if stack is not None:
        if stack not in nested or stack == "base":
            raise Refused(f"STACK={stack!r}: one of {sorted(set(nested) - {'base'})}")
        return nested[stack]
    segments = path.split("/")
    best, best_rank = None, (2, False)
    for template_path in nested.values():
        for key in re.findall(r"^      RouteKey: \S+ (\S+)$", templates[template_path], re.M):
            other = key.split("/")
            shared = next((i for i, (a, b) in enumerate(zip(segments, other)) if a != b), min(len(segments), len(other)))
            # Ties go to a route that is wholly a prefix of the new path (/v1/users/me for
            # /v1/users/me/x, over /v1/users/me/posts).
            rank = (shared, shared == len(other))
            if rank > best_rank:
                best, best_rank = template_path, rank
    if best is None:
        raise Refused(f"no stack routes anything under {'/'.join(segments[:3])} yet: choose one with STACK=")
    return best


def with_resource(template: str, resources: str) -> str:
    """`template` with `resources` at the end of its `Resources:` section: before the sections
    that may follow it (`Outputs:`), never after them."""
    following = re.search(r"^(Outputs|Metadata|Rules):", template, re.MULTILINE)
    if following is None:
        return template.rstrip("\n") + "\n\n" + resources
    head, tail = template[: following.start()], template[following.start():]
    return head.rstrip("\n") + "\n\n" + resources.rstrip("\n") + "\n\n" + tail


def create(root: Path, name: str, route: str, description: str | None, stack: str | None = None) -> list[Path]:
    if not NAME.match(name):
        raise Refused(f"NAME={name!r}: lower-case words joined by '-', e.g. properties-list")
    match = ROUTE.match(route)
    if not match:
        raise Refused(f'ROUTE={route!r}: a method and a path under /v1, e.g. "GET /v1/properties/{{id}}"')
    method, path = match.group(1), match.group(2)
    crate = root / "functions" / name
    if crate.exists():
        raise Refused(f"{crate} exists already")
    templates = {p: p.read_text() for p in [root / "template.yaml", *sorted((root / "stacks").glob("*.yaml"))]}
    logical_id = f"{pascal(name)}Function"
    for template_path, template in templates.items():
        where = template_path.relative_to(root)
        for taken in (logical_id, f"{pascal(name)}Route", f"{pascal(name)}Integration"):
            if re.search(rf"^  {taken}:", template, re.M):
                raise Refused(f"{where} has a {taken} already")
        if re.search(rf"^      RouteKey: {re.escape(method)} {re.escape(path)}$", template, re.M):
            raise Refused(f"{where} routes {method} {path} to another function already")
    template_path = domain_stack(root, templates, path, stack)
    template = templates[template_path]
    tests_manifest = root / "tests" / "Cargo.toml"
    manifest = tests_manifest.read_text()
    marker = "# The function crates, whose handlers the tests call in-process.\n"
    if marker not in manifest:
        raise Refused(f"{tests_manifest} has no line {marker.strip()!r}")
    tests_main = root / "tests" / "api" / "main.rs"
    main = tests_main.read_text()
    test_module = snake(name)
    test_file = root / "tests" / "api" / f"{test_module}.rs"
    if test_file.exists() or re.search(rf"^mod {test_module};$", main, re.M):
        raise Refused(f"the test module {test_module} exists already")

    spec = spec_file(template_path.stem, path)
    spec_path = root / "api-spec" / "src" / "routes" / f"{spec}.rs"
    spec_text = spec_path.read_text()
    if not spec_text.endswith(SPEC_END):
        raise Refused(f"{spec_path} does not end with its route list")
    matrix_path = root / "tests" / "api" / "security" / "matrix.rs"
    matrix = matrix_path.read_text()
    if MATRIX_MARKER not in matrix:
        raise Refused(f"{matrix_path} has no line {MATRIX_MARKER.strip()!r}")
    calls_path = root / "tests" / "api" / "calls.rs"
    calls = calls_path.read_text()

    text = description or f"{method} {path} - {name.replace('-', ' ')}"
    (crate / "src").mkdir(parents=True)
    written = [crate / "Cargo.toml", crate / "src" / "main.rs", crate / "src" / "lib.rs"]
    written[0].write_text(cargo_toml(name))
    written[1].write_text(main_rs(name))
    written[2].write_text(lib_rs(method, path))
    template_path.write_text(with_resource(template, resource(name, method, path, text)))
    tests_manifest.write_text(
        manifest.replace(marker, f'{marker}{name} = {{ path = "../functions/{name}" }}\n', 1)
    )
    mods = re.findall(r"^mod [a-z0-9_]+;$", main, re.M)
    after = max((m for m in mods if m < f"mod {test_module};"), default=None)
    if after is None:
        main = main.replace(mods[0], f"mod {test_module};\n{mods[0]}", 1)
    else:
        main = main.replace(after, f"{after}\nmod {test_module};", 1)
    tests_main.write_text(main)
    test_file.write_text(test_rs(name, method, path))
    spec_path.write_text(spec_text[: -len(SPEC_END)] + "\n" + spec_row(name, method, path, spec, spec_text) + SPEC_END)
    matrix_path.write_text(matrix.replace(MATRIX_MARKER, matrix_row(method, path) + MATRIX_MARKER, 1))
    calls_path.write_text(calls.rstrip("\n") + "\n" + calls_test(name, method, path))
    return [*written, template_path, tests_manifest, tests_main, test_file, spec_path, matrix_path, calls_path]


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--route", required=True)
    parser.add_argument("--description")
    parser.add_argument("--stack", help="the nested stack (stacks/<stack>.yaml); default: the one routing the nearest path")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    try:
        written = create(args.root, args.name, args.route, args.description, args.stack)
    except Refused as refused:
        print(f"new-function: {refused}", file=sys.stderr)
        return 2
    # Formatted like the rest (`make lint` checks it); rustfmt comes with the toolchain.
    rust = [str(path) for path in written if path.suffix == ".rs"]
    try:
        subprocess.run(["rustfmt", "--edition", "2024", *rust], check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"new-function: rustfmt did not run ({error}): run `cargo fmt`", file=sys.stderr)
    for path in written:
        print(f"  wrote {path.relative_to(args.root)}")
    print(
        "Next: write the handler and its test, add the actions it calls to its policy, and make the\n"
        "three decisions the written rows leave open (each fails its test until made): the OpenAPI\n"
        "operation's summary, parameters and answers; who may call it (the matrix's DECIDE); the\n"
        "DynamoDB calls of its happy path (calls.rs)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
