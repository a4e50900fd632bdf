"""README.md and docs/ say only true things about the repository, checked without a browser:
every relative link reaches a file (and its `#anchor` a heading of it), every `make <target>`
is a target of the Makefile, every `--bin`/`-p`/`--package` of a `cargo` command is a binary
or package of the workspace, and every path (a code span or command word whose first segment
is an entry of the repository's root: `infra/…`, `stacks/*.yaml`, `template.yaml`) exists.
Run: .venv/bin/python -m unittest discover infra/tests"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Made by the tools, not committed: a path under one of these is not checked.
GENERATED = (".local", ".venv", ".tools", ".aws-sam", "target")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
MAKE = re.compile(r"(?<![\w-])make ([a-z][a-z0-9-]*)")


def documents(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)}


def make_targets(root: Path) -> set[str]:
    return set(re.findall(r"^([a-z][a-z0-9-]*):", (root / "Makefile").read_text(), re.M))


@functools.cache
def cargo_names(root: Path) -> set[str]:
    """The workspace's packages and binaries."""
    metadata = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout)
    names = set()
    for package in metadata["packages"]:
        names.add(package["name"])
        names |= {t["name"] for t in package["targets"] if "bin" in t["kind"]}
    return names


def is_repository_path(word: str, root: Path) -> bool:
    """A word that names a file of the repository: its first segment is an entry of the root."""
    word = word.rstrip(".,;:)")
    if not word or " " in word or "<" in word or "{" in word or "://" in word or word.startswith("-"):
        return False
    first = word.split("/")[0]
    if first in GENERATED or not first:
        return False
    return (root / first).exists() and ("/" in word or "." in first)


def path_exists(word: str, root: Path) -> bool:
    word = word.rstrip(".,;:)")
    if any(c in word for c in "*?["):
        return any(root.glob(word))
    return (root / word).exists()


def findings(root: Path) -> list[str]:
    found = []
    targets = make_targets(root)
    for document in documents(root):
        text = document.read_text()
        where = document.relative_to(root)
        for target in LINK.findall(text):
            if re.match(r"^[a-z]+:", target):
                continue  # http(s), mailto: not checked offline
            file, _, anchor = target.partition("#")
            linked = (document.parent / file).resolve() if file else document
            if not linked.exists():
                found.append(f"{where}: link to {target}: no such file")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                found.append(f"{where}: link to {target}: no such heading")
        code = [m.group(1) for m in FENCE.finditer(text)] + CODE_SPAN.findall(FENCE.sub("", text))
        for snippet in code:
            for target in MAKE.findall(snippet):
                if target not in targets:
                    found.append(f"{where}: `make {target}`: no such target in the Makefile")
            words = snippet.split()
            for i, word in enumerate(words):
                if word in ("--bin", "-p", "--package") and i + 1 < len(words) and words[i - 1 : i] != ["new-function"]:
                    if words[0] in ("cargo", "$ADMIN") or "cargo" in words[:i]:
                        name = words[i + 1]
                        if name not in cargo_names(root):
                            found.append(f"{where}: `{' '.join(words[:i + 2])}`: no package or binary {name}")
                elif is_repository_path(word, root) and not path_exists(word, root):
                    found.append(f"{where}: {word}: no such file")
    return sorted(set(found))


class Documentation(unittest.TestCase):
    def test_every_link_target_command_and_path_in_readme_and_docs_is_true(self) -> None:
        found = findings(ROOT)
        self.assertFalse(found, "\n".join(found))

    def test_the_readme_stays_short_and_maps_every_document(self) -> None:
        readme = (ROOT / "README.md").read_text()
        self.assertLessEqual(len(readme.splitlines()), 300, "README: the picture, the two commands, what works, a map")
        for document in sorted((ROOT / "docs").glob("*.md")):
            self.assertIn(f"](docs/{document.name})", readme, f"README links {document.name}")

    def test_the_check_finds_a_broken_link_anchor_target_command_and_path(self) -> None:
        root = Path(tempfile.mkdtemp(prefix="ferrite-docs-"))
        self.addCleanup(shutil.rmtree, root)
        (root / "docs").mkdir()
        (root / "infra").mkdir()
        (root / "infra" / "real.py").write_text("")
        (root / "Makefile").write_text("dev:\n\techo\n")
        (root / "Cargo.toml").write_text('[workspace]\nmembers = []\nresolver = "3"\n')
        (root / "docs" / "a.md").write_text("# A\n\n## Real heading\n")
        (root / "README.md").write_text(
            "# R\n\n[ok](docs/a.md#real-heading) [gone](docs/b.md) [anchor](docs/a.md#nope) "
            "[web](https://example.com)\n\n`make dev` `make nope` `infra/real.py` `infra/gone.py` "
            "`application/json` `.local/x.json`\n\n```sh\ncargo run --bin ghost\n```\n"
        )
        self.assertEqual(
            findings(root),
            [
                "README.md: `cargo run --bin ghost`: no package or binary ghost",
                "README.md: `make nope`: no such target in the Makefile",
                "README.md: infra/gone.py: no such file",
                "README.md: link to docs/a.md#nope: no such heading",
                "README.md: link to docs/b.md: no such file",
            ],
        )


if __name__ == "__main__":
    unittest.main()
