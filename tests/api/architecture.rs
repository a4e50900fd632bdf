//! The shape of the workspace, checked: function crates stand alone, `shared` reaches nothing
//! of the workspace, and `shared`'s modules form a one-way stack. The stack is written down once,
//! here ([`SHARED_STACK`]); README's Layout section draws the same one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `shared`'s modules, bottom layer first. A module may use the modules of the layers below
/// its own, never one of its own layer or above (the crate root `lib.rs`, a façade of
/// re-exports, is not a layer). A new module takes its place here before it compiles into the
/// stack.
const SHARED_STACK: &[&[&str]] = &[
    &["error", "ids", "clock", "config"],
    &["validate", "aws", "telemetry"],
    &["store", "auth"],
    &["http", "state"],
    &["events", "limits"],
    &["accounts"],
    &["posts", "properties"],
    &["audit", "worker"],
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// `cargo metadata` of the workspace's own packages: name → (manifest dir, path dependencies).
fn workspace_packages() -> BTreeMap<String, (PathBuf, Vec<(String, PathBuf)>)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "cargo metadata failed: {output:?}");
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|package| {
            let manifest = PathBuf::from(package["manifest_path"].as_str().expect("manifest"));
            let deps = package["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter_map(|dep| {
                    let path = dep["path"].as_str()?;
                    Some((
                        dep["name"].as_str().expect("name").to_owned(),
                        PathBuf::from(path),
                    ))
                })
                .collect();
            (
                package["name"].as_str().expect("name").to_owned(),
                (manifest.parent().expect("package dir").to_path_buf(), deps),
            )
        })
        .collect()
}

#[test]
fn no_function_crate_depends_on_another_and_shared_depends_on_no_crate_of_the_workspace() {
    let functions = root().join("functions");
    let packages = workspace_packages();
    let mut found = 0;
    for (name, (dir, deps)) in &packages {
        if dir.starts_with(&functions) {
            found += 1;
            for (dep, path) in deps {
                assert!(
                    !path.starts_with(&functions),
                    "function crate {name} depends on function crate {dep}: move what they share into `shared`"
                );
            }
        }
    }
    assert!(found >= 29, "the function crates are found ({found})");
    let (_, shared_deps) = &packages["shared"];
    assert!(
        shared_deps.is_empty(),
        "`shared` depends on {shared_deps:?}: it is the bottom of the workspace (infra, tests, \
         functions and benchmarks build on it, never the other way round)"
    );
}

/// The `crate::<module>` paths of one source file's code: comments and the unit-test module
/// (which may reach anywhere to set a case up) left out.
fn crate_paths(source: &str) -> Vec<String> {
    let code = source
        .split("#[cfg(test)]\nmod ")
        .next()
        .unwrap_or_default();
    let mut modules = Vec::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `crate::{a, b}` names several: the braces' contents are read on their own.
            if name.is_empty() && after.starts_with('{') {
                let inner = after[1..].split('}').next().unwrap_or_default();
                modules.extend(
                    inner
                        .split(',')
                        .map(|part| {
                            part.trim()
                                .split("::")
                                .next()
                                .unwrap_or_default()
                                .to_owned()
                        })
                        .filter(|m| !m.is_empty()),
                );
            } else if !name.is_empty() {
                modules.push(name);
            }
            rest = after;
        }
    }
    modules
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A layer violation of `shared`, as "file: module (layer) uses dep (layer)".
fn violations(src: &Path) -> Vec<String> {
    let layer_of = |module: &str| {
        SHARED_STACK
            .iter()
            .position(|layer| layer.contains(&module))
    };
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut found = Vec::new();
    for file in files {
        let relative = file.strip_prefix(src).expect("under src");
        let module = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("a module")
            .trim_end_matches(".rs")
            .to_owned();
        if module == "lib" {
            continue;
        }
        let Some(own) = layer_of(&module) else {
            found.push(format!(
                "{}: module `{module}` has no place in SHARED_STACK",
                relative.display()
            ));
            continue;
        };
        let source = std::fs::read_to_string(&file).expect("read");
        for dep in crate_paths(&source) {
            if dep == module {
                continue;
            }
            match layer_of(&dep) {
                Some(layer) if layer < own => {}
                Some(layer) => found.push(format!(
                    "{}: `{module}` (layer {own}) uses `{dep}` (layer {layer})",
                    relative.display()
                )),
                None => found.push(format!(
                    "{}: `{module}` uses `{dep}`, which has no place in SHARED_STACK",
                    relative.display()
                )),
            }
        }
    }
    found.sort();
    found
}

#[test]
fn every_module_of_shared_uses_only_the_layers_below_its_own() {
    let src = root().join("shared/src");
    let found = violations(&src);
    assert!(
        found.is_empty(),
        "the stack is one-way (see SHARED_STACK):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_stack_check_sees_an_import_that_runs_up() {
    // The checker itself: a base module reaching into accounts, in a copy of shared/src.
    let copy = std::env::temp_dir().join(format!("ferrite-stack-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(copy.join("accounts")).expect("dir");
    std::fs::write(copy.join("lib.rs"), "pub mod error;\npub mod accounts;\n").expect("lib");
    std::fs::write(
        copy.join("error.rs"),
        "//! crate::accounts in a comment is no import\nuse crate::accounts::Principal;\n\
         #[cfg(test)]\nmod tests { use crate::posts::x; }\n",
    )
    .expect("error.rs");
    std::fs::write(
        copy.join("accounts/mod.rs"),
        "use crate::{error::ApiError, ids::UserId};\nuse crate::novel::Thing;\n",
    )
    .expect("accounts");
    let found = violations(&copy);
    std::fs::remove_dir_all(&copy).expect("clean up");
    assert_eq!(
        found,
        [
            "accounts/mod.rs: `accounts` uses `novel`, which has no place in SHARED_STACK",
            "error.rs: `error` (layer 0) uses `accounts` (layer 5)",
        ],
        "{found:#?}"
    );
}

#[test]
fn each_function_is_described_once_in_the_template() {
    let template: String = infra::tree::files(&root().join("template.yaml"))
        .expect("the stacks")
        .iter()
        .map(|file| std::fs::read_to_string(file).expect("a template of the tree"))
        .collect();
    let functions = template.matches("Type: AWS::Serverless::Function").count();
    assert!(functions >= 29, "{functions} functions");
    let mut described = 0;
    for block in template.split("Type: AWS::Serverless::Function").skip(1) {
        // The resource's own lines: up to the next resource (two spaces, then a name).
        let next_resource = |line: &&str| {
            line.strip_prefix("  ")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_alphanumeric()))
                || line.starts_with(|c: char| c.is_ascii_alphanumeric())
        };
        let mut own = block
            .lines()
            .skip(1)
            .take_while(|line| !next_resource(line));
        if own.any(|line| line.starts_with("      Description: ")) {
            described += 1;
        }
    }
    assert_eq!(described, functions, "every function has its Description");
    let functions_dir = root().join("functions");
    for entry in std::fs::read_dir(&functions_dir).expect("functions") {
        let manifest = entry.expect("entry").path().join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).expect("manifest");
        assert!(
            !text
                .lines()
                .any(|l| l.trim_start().starts_with("description")),
            "{}: the function's description lives in its stack's template only",
            manifest.display()
        );
    }
}
