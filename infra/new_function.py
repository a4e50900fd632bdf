"""`make new-function NAME=properties-list ROUTE="GET /v1/properties"`: a new function crate that
looks like the others.

Writes, and changes nothing else:
- `functions/NAME/` — Cargo.toml (the three dependencies every API function has), `src/main.rs`
  (the one-line wiring), `src/lib.rs` (a handler that authenticates the caller and answers 204);
- its resource in template.yaml, before `Outputs:`, with the alarm its canary releases watch
  (`<Fn>CanaryAlarm`, see `canary_alarm`) — the route, the description (the one place a
  function is described), and a least-privilege policy: `dynamodb:BatchGetItem` on the table,
  which is exactly what `accounts::authenticate` calls; add the actions the handler makes as you
  write it (the local stack enforces the policy, so a missing one fails the test);
- `tests/api/<name>.rs` — a test of the handler in-process against the local endpoint, as the
  template's function, listed in `tests/api/main.rs`, with the crate added to `tests/Cargo.toml`.

Then: write the handler, its OpenAPI operation (api-spec: a test compares the route tables), its
row in the authorization matrix (tests/api/security) and in the DynamoDB call-count table.
"""

import argparse
import json
import re
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
              Namespace: !Sub "Ferrite/${{AWS::StackName}}"
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
      AlarmActions: [!Ref AlarmTopic]

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
      CodeUri: .
      Description: {description}
      DeploymentPreference:
        Alarms: [!Ref {pascal(name)}CanaryAlarm]
      Policies:
        - Statement:
            - Effect: Allow
              Action:
                - dynamodb:BatchGetItem
              Resource:
                - !GetAtt Table.Arn
      Events:
        Route:
          Type: HttpApi
          Properties:
            ApiId: !Ref HttpApi
            Path: {path}
            Method: {method}

""" + canary_alarm(f"{pascal(name)}Function")


def test_rs(name: str, method: str, path: str) -> str:
    params = re.findall(r"\{([A-Za-z0-9]+)\}", path)
    call = f'Call::new("{method}", "{path}")' + "".join(
        f'.param("{p}", "{SAMPLE_ID}")' for p in params
    )
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


def create(root: Path, name: str, route: str, description: str | None) -> list[Path]:
    if not NAME.match(name):
        raise Refused(f"NAME={name!r}: lower-case words joined by '-', e.g. properties-list")
    match = ROUTE.match(route)
    if not match:
        raise Refused(f'ROUTE={route!r}: a method and a path under /v1, e.g. "GET /v1/properties/{{id}}"')
    method, path = match.group(1), match.group(2)
    crate = root / "functions" / name
    if crate.exists():
        raise Refused(f"{crate} exists already")
    template_path = root / "template.yaml"
    template = template_path.read_text()
    logical_id = f"{pascal(name)}Function"
    if re.search(rf"^  {logical_id}:", template, re.M):
        raise Refused(f"template.yaml has a {logical_id} already")
    if re.search(rf"^\s+Path: {re.escape(path)}\n\s+Method: {method}$", template, re.M):
        raise Refused(f"template.yaml routes {method} {path} to another function already")
    outputs = template.find("\nOutputs:")
    if outputs < 0:
        raise Refused("template.yaml has no Outputs section to insert the function before")
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

    text = description or f"{method} {path} - {name.replace('-', ' ')}"
    (crate / "src").mkdir(parents=True)
    written = [crate / "Cargo.toml", crate / "src" / "main.rs", crate / "src" / "lib.rs"]
    written[0].write_text(cargo_toml(name))
    written[1].write_text(main_rs(name))
    written[2].write_text(lib_rs(method, path))
    template_path.write_text(
        template[: outputs + 1].rstrip("\n") + "\n\n" + resource(name, method, path, text)
        + template[outputs + 1 :]
    )
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
    return [*written, template_path, tests_manifest, tests_main, test_file]


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--route", required=True)
    parser.add_argument("--description")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    try:
        written = create(args.root, args.name, args.route, args.description)
    except Refused as refused:
        print(f"new-function: {refused}", file=sys.stderr)
        return 2
    for path in written:
        print(f"  wrote {path.relative_to(args.root)}")
    print(
        "Next: write the handler and its test, add the actions it calls to its policy, its OpenAPI\n"
        "operation (api-spec), its row in the authorization matrix and the call-count table."
    )
    return 0


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
