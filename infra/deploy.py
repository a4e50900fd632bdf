"""`make deploy ENV=dev|prod`: one environment of samconfig.toml deployed without a prompt.

1. Reads `[ENV.deploy.parameters]` of samconfig.toml: the stack, its region, its parameters.
2. In prod, refuses values that only suit a laptop (localhost, example.com, plain http, the
   REPLACE-ME placeholders), before anything is created.
3. Ensures the token signing keys exist in Secrets Manager in the stack's region, under the
   name the template derives from the stack (`<stack>/jwt-signing-keys`), and reads the key
   parameters from them (`ferrite-admin keys ensure`: `JwtPublicKeys`, `SigningKeyId`).
4. Runs `sam deploy --config-env ENV` with the environment's parameters plus the key
   parameters (`--parameter-overrides` replaces samconfig's list, so the whole list is
   passed), in the same region. `--guided` only when asked (`GUIDED=1`).

`--dry-run` prints the commands instead of running them (the tests use it).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What only suits a laptop, refused in prod (a substring of any value below).
LOCAL_VALUES = ("localhost", "127.0.0.1", "example.com", "example.org", "REPLACE-ME")
CHECKED_IN_PROD = ("AppBaseUrl", "CorsAllowedOrigins", "EmailSender", "AlarmEmail")


class DeployError(Exception):
    pass


def environment(samconfig: Path, env: str) -> dict[str, str]:
    """The deploy parameters of `env` in samconfig.toml."""
    config = tomllib.loads(samconfig.read_text())
    section = config.get(env, {}).get("deploy", {}).get("parameters")
    if section is None:
        known = sorted(k for k, v in config.items() if isinstance(v, dict) and "deploy" in v)
        raise DeployError(f"samconfig.toml has no [{env}.deploy.parameters] (environments: {', '.join(known)})")
    for required in ("stack_name", "region"):
        if not section.get(required):
            raise DeployError(f"[{env}.deploy.parameters] needs {required}")
    return section


def overrides(section: dict[str, str]) -> dict[str, str]:
    """`parameter_overrides` as a mapping (`Key=Value` words, values may be quoted)."""
    pairs: dict[str, str] = {}
    for word in shlex.split(section.get("parameter_overrides", "")):
        key, sep, value = word.partition("=")
        if not sep:
            raise DeployError(f"parameter_overrides: {word!r} is not Key=Value")
        pairs[key] = value
    return pairs


def production_problems(parameters: dict[str, str]) -> list[str]:
    """Why these parameters must not reach a prod stack (empty when they may)."""
    problems = []
    for name in CHECKED_IN_PROD:
        value = parameters.get(name, "")
        if name != "AlarmEmail" and not value:
            problems.append(f"{name} is not set (its default is for a laptop)")
        local = [v for v in LOCAL_VALUES if v in value]
        if local:
            problems.append(f"{name}={value} names {local[0]}")
    base = parameters.get("AppBaseUrl", "")
    if base and not base.startswith("https://"):
        problems.append(f"AppBaseUrl={base} is not https")
    return problems


def key_parameters(printed: str) -> dict[str, str]:
    """What `ferrite-admin keys ensure` printed: `JwtPublicKeys=… SigningKeyId=…`."""
    pairs = dict(word.partition("=")[::2] for word in printed.split())
    missing = [k for k in ("JwtPublicKeys", "SigningKeyId") if not pairs.get(k)]
    if missing:
        raise DeployError(f"ferrite-admin keys ensure printed no {', '.join(missing)}")
    return pairs


def commands(env: str, section: dict[str, str], keys: dict[str, str] | None, guided: bool, admin: list[str]) -> list[list[str]]:
    """The commands the deploy runs, in order (`keys` None: still to be read)."""
    stack, region = section["stack_name"], section["region"]
    parameters = overrides(section)
    secret = parameters.get("SigningKeySecretName") or f"{stack}/jwt-signing-keys"
    ensure = admin + ["keys", "ensure", "--region", region, "--secret-id", secret]
    parameters.update(keys or {"JwtPublicKeys": "<printed by the command above>", "SigningKeyId": "<printed by the command above>"})
    deploy = ["sam", "deploy", "--config-env", env, "--region", region]
    deploy += ["--parameter-overrides", *[f"{k}={v}" for k, v in parameters.items()]]
    if guided:
        deploy.append("--guided")
    return [ensure, deploy]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("env", help="a section of samconfig.toml: dev, prod")
    parser.add_argument("--guided", action="store_true", help="let sam deploy ask (GUIDED=1)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    parser.add_argument("--samconfig", type=Path, default=ROOT / "samconfig.toml")
    args = parser.parse_args()
    admin = shlex.split(os.environ.get("FERRITE_ADMIN", "cargo run --quiet --package infra --bin ferrite-admin --"))
    try:
        section = environment(args.samconfig, args.env)
        parameters = overrides(section)
        if parameters.get("Stage") != args.env and args.env in ("dev", "prod"):
            raise DeployError(f"[{args.env}] must set Stage={args.env} in parameter_overrides")
        if parameters.get("Stage") == "prod":
            problems = production_problems(parameters)
            if problems:
                raise DeployError("refusing to deploy prod:\n  " + "\n  ".join(problems))
        ensure, _ = commands(args.env, section, None, args.guided, admin)
        if args.dry_run:
            for command in commands(args.env, section, None, args.guided, admin):
                print(shlex.join(command))
            return 0
        print(f"deploy: {section['stack_name']} in {section['region']}", file=sys.stderr)
        printed = subprocess.run(ensure, check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT).stdout
        _, deploy = commands(args.env, section, key_parameters(printed), args.guided, admin)
        subprocess.run(deploy, check=True, cwd=ROOT)
    except DeployError as error:
        print(f"deploy: {error}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        print(f"deploy: {shlex.join(error.cmd)} failed ({error.returncode})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
