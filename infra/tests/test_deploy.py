"""`make deploy ENV=…` (infra/deploy.py): one environment of samconfig.toml, no prompt, one region
for the keys and the stack, prod refusing what only suits a laptop. Run with `--dry-run`, which
prints the commands instead of running them.
Run: .venv/bin/python -m unittest discover infra/tests"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import deploy  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "infra" / "deploy.py"


def run(*args: str, samconfig: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--samconfig", str(samconfig)] if samconfig else []
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--dry-run", *extra],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "FERRITE_ADMIN": "ferrite-admin"},
    )


class Deploy(unittest.TestCase):
    def test_dev_deploys_its_section_without_a_prompt_with_the_keys_in_the_stacks_region(self) -> None:
        done = run("dev")
        self.assertEqual(done.returncode, 0, done.stderr)
        ensure, sam = [shlex.split(line) for line in done.stdout.strip().splitlines()]
        section = deploy.environment(ROOT / "samconfig.toml", "dev")
        region = section["region"]
        self.assertEqual(
            ensure,
            ["ferrite-admin", "keys", "ensure", "--region", region, "--secret-id", f"{section['stack_name']}/jwt-signing-keys"],
        )
        self.assertEqual(sam[:6], ["sam", "deploy", "--config-env", "dev", "--region", region])
        self.assertNotIn("--guided", sam)
        overrides = sam[sam.index("--parameter-overrides") + 1 :]
        # The whole list: samconfig's parameters and the key parameters.
        self.assertIn("Stage=dev", overrides)
        self.assertTrue(any(o.startswith("JwtPublicKeys=") for o in overrides), overrides)
        self.assertTrue(any(o.startswith("SigningKeyId=") for o in overrides), overrides)

    def test_guided_is_only_when_asked(self) -> None:
        done = run("dev", "--guided")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("--guided", done.stdout)

    def test_the_committed_prod_section_is_refused_until_its_placeholders_are_replaced(self) -> None:
        done = run("prod")
        self.assertEqual(done.returncode, 2)
        self.assertIn("refusing to deploy prod", done.stderr)
        self.assertIn("AppBaseUrl=https://REPLACE-ME", done.stderr)
        self.assertEqual(done.stdout, "")

    def test_prod_refuses_localhost_example_com_and_plain_http_and_accepts_real_values(self) -> None:
        def samconfig(overrides: str) -> Path:
            path = Path(tempfile.mkdtemp(prefix="ferrite-deploy-")) / "samconfig.toml"
            path.write_text(
                f'version = 0.1\n[prod.deploy.parameters]\nstack_name = "shop-prod"\nregion = "eu-central-1"\nparameter_overrides = "{overrides}"\n'
            )
            return path

        good = "Stage=prod AppBaseUrl=https://app.shop.io CorsAllowedOrigins=https://app.shop.io EmailSender=no-reply@shop.io"
        done = run("prod", samconfig=samconfig(good))
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("--region eu-central-1", done.stdout)
        self.assertIn("shop-prod/jwt-signing-keys", done.stdout)
        for bad, named in [
            (good.replace("https://app.shop.io CorsAllowedOrigins", "http://app.shop.io CorsAllowedOrigins"), "not https"),
            (good.replace("CorsAllowedOrigins=https://app.shop.io", "CorsAllowedOrigins=http://localhost:5173"), "localhost"),
            (good.replace("no-reply@shop.io", "no-reply@example.com"), "example.com"),
            ("Stage=prod AppBaseUrl=https://app.shop.io CorsAllowedOrigins=https://app.shop.io", "EmailSender is not set"),
        ]:
            refused = run("prod", samconfig=samconfig(bad))
            self.assertEqual(refused.returncode, 2, bad)
            self.assertIn(named, refused.stderr, bad)

    def test_an_unknown_environment_or_a_section_of_another_stage_is_refused(self) -> None:
        done = run("staging")
        self.assertEqual(done.returncode, 2)
        self.assertIn("no [staging.deploy.parameters]", done.stderr)
        path = Path(tempfile.mkdtemp(prefix="ferrite-deploy-")) / "samconfig.toml"
        path.write_text('[dev.deploy.parameters]\nstack_name = "x"\nregion = "eu-west-1"\nparameter_overrides = "Stage=prod"\n')
        mixed = run("dev", samconfig=path)
        self.assertEqual(mixed.returncode, 2)
        self.assertIn("must set Stage=dev", mixed.stderr)

    def test_the_key_parameters_are_read_from_what_ferrite_admin_prints(self) -> None:
        keys = deploy.key_parameters("JwtPublicKeys=a=b,c=d SigningKeyId=abc\n")
        self.assertEqual(keys, {"JwtPublicKeys": "a=b,c=d", "SigningKeyId": "abc"})
        with self.assertRaises(deploy.DeployError):
            deploy.key_parameters("something else")


if __name__ == "__main__":
    unittest.main()
