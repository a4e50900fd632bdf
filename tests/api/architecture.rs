//! The shape of the workspace, checked: function crates stand alone, `shared` reaches nothing
//! of the workspace, and `shared`'s modules form a one-way stack. The stack is written down once,
//! here ([`SHARED_STACK`]); docs/architecture.md draws the same one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `shared`'s modules, bottom layer first. A module may use the modules of the layers below
/// its own, never one of its own layer or above (the crate root `lib.rs`, a façade of
/// re-exports, is not a layer). A new module takes its place here before it compiles into the
/// stack.
const SHARED_STACK: &[&[&str]] = &[
    &["error", "ids", "clock", "config"],
    &["validate", "aws", "telemetry", "notices"],
    &["secrets", "sealing"],
    &["store", "auth"],
    &["oidc"],
    &["http", "state"],
    &["events", "limits"],
    &["accounts"],
    &["posts", "properties", "notifications"],
    &["audit", "worker", "live"],
    &["webhooks"],
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// `cargo metadata` of the workspace (offline), with `extra` arguments.
/// The packages of this machine's platform only (`--filter-platform`): a build downloads only
/// those, and `--offline` must not need the sources of another platform's dependencies.
fn cargo_metadata(extra: &[&str]) -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("-vV")
        .output()
        .expect("rustc -vV runs");
    let host = String::from_utf8_lossy(&version.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc names its host");
    let output = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(["--filter-platform", &host])
        .args(extra)
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "cargo metadata failed: {output:?}");
    serde_json::from_slice(&output.stdout).expect("json")
}

/// `cargo metadata` of the workspace's own packages: name → (manifest dir, path dependencies).
fn workspace_packages() -> BTreeMap<String, (PathBuf, Vec<(String, PathBuf)>)> {
    let metadata = cargo_metadata(&["--no-deps"]);
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

/// One source file's code: comments and the unit-test module (which may reach anywhere to set
/// a case up) left out, lines joined so that a `use` group spanning lines reads as one.
fn code_of(source: &str) -> String {
    let code = source
        .split("#[cfg(test)]\nmod ")
        .next()
        .unwrap_or_default();
    code.lines()
        .map(|line| line.split("//").next().unwrap_or_default().trim())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The paths a `{…}` group names, each a `::`-joined path (`{a::{B, C}, d}` → `a::B`, `a::C`,
/// `d`), from `text` just after its opening brace. Nested groups are expanded.
fn group_paths(text: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    let mut parts = Vec::new();
    for (at, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                parts.push(&text[start..at]);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    for part in parts {
        let part = part.trim();
        match part.split_once("::{") {
            Some((prefix, inner)) => paths.extend(
                group_paths(inner)
                    .into_iter()
                    .map(|p| format!("{}::{p}", prefix.trim())),
            ),
            None if !part.is_empty() => paths.push(part.to_owned()),
            None => {}
        }
    }
    paths
}

/// Every path a file's code names after `prefix` (`crate::`, `super::`), groups expanded:
/// `crate::{error::ApiError, ids::UserId}` → `error::ApiError`, `ids::UserId`.
fn paths_after(code: &str, prefix: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        // `super::` inside `crate::super::` or `my_crate::` is not this prefix.
        let before = rest[..at].chars().next_back();
        let after = &rest[at + prefix.len()..];
        rest = after;
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        if let Some(group) = after.strip_prefix('{') {
            paths.extend(group_paths(group));
        } else {
            let path: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            match after[path.len()..].strip_prefix('{') {
                // `accounts::{a::Y, b}`: the group's paths, each under the path before it.
                Some(group) if path.ends_with("::") => {
                    paths.extend(group_paths(group).into_iter().map(|p| format!("{path}{p}")));
                }
                _ => paths.push(path.trim_end_matches(':').to_owned()),
            }
        }
    }
    paths
}

/// The top-level modules of the crate a file's code names (`crate::<module>…`).
fn crate_paths(source: &str) -> Vec<String> {
    paths_after(&code_of(source), "crate::")
        .into_iter()
        .filter_map(|path| path.split("::").next().map(str::to_owned))
        .filter(|m| !m.is_empty())
        .collect()
}

/// Loops between the files of one module (`auth/jwt.rs` uses `auth/keys.rs`, which uses
/// `auth/jwt.rs`): each file of `<module>/` other than `mod.rs` is a node, and `super::<file>` or
/// `crate::<module>::<file>` an edge. Returned as "module: a.rs <-> b.rs".
fn loops_inside_modules(src: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(src)
        .expect("read src")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let module = dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_owned();
        let mut edges: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("read module") {
            let path = entry.expect("entry").path();
            let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            if path.extension().is_some_and(|e| e == "rs") && stem != "mod" {
                names.push(stem.to_owned());
            }
        }
        for name in &names {
            let code =
                code_of(&std::fs::read_to_string(dir.join(format!("{name}.rs"))).expect("read"));
            let mut uses: Vec<String> = paths_after(&code, "super::")
                .into_iter()
                .chain(
                    paths_after(&code, "crate::")
                        .into_iter()
                        .filter_map(|p| p.strip_prefix(&format!("{module}::")).map(str::to_owned)),
                )
                .filter_map(|p| p.split("::").next().map(str::to_owned))
                .filter(|target| target != name && names.contains(target))
                .collect();
            uses.sort();
            uses.dedup();
            edges.insert(name.clone(), uses);
        }
        for (a, targets) in &edges {
            for b in targets {
                if a < b && edges.get(b).is_some_and(|back| back.contains(a)) {
                    found.push(format!("{module}: {a}.rs <-> {b}.rs"));
                }
            }
        }
    }
    found
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
    let module_of = |file: &Path| {
        file.strip_prefix(src)
            .expect("under src")
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("a module")
            .trim_end_matches(".rs")
            .to_owned()
    };
    // A `#[macro_export]` macro lives at the crate root (`crate::name`) but belongs to the
    // module that defines it: it stands in that module's layer.
    let mut macros: BTreeMap<String, String> = BTreeMap::new();
    for file in &files {
        let source = std::fs::read_to_string(file).expect("read");
        for exported in source.split("#[macro_export]").skip(1) {
            if let Some(name) = exported
                .trim_start()
                .strip_prefix("macro_rules! ")
                .and_then(|rest| {
                    rest.split(|c: char| !c.is_alphanumeric() && c != '_')
                        .next()
                })
            {
                macros.insert(name.to_owned(), module_of(file));
            }
        }
    }
    let mut found = Vec::new();
    for file in files {
        let relative = file.strip_prefix(src).expect("under src");
        let module = module_of(&file);
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
            let dep = macros.get(&dep).cloned().unwrap_or(dep);
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
    found.dedup();
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
fn no_two_files_of_a_module_use_each_other() {
    let found = loops_inside_modules(&root().join("shared/src"));
    assert!(
        found.is_empty(),
        "a loop inside a module: move what both need below them (into the module's mod.rs or a file both use):\n{}",
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
    // A group spanning lines, with a nested group, reaching up from the bottom layer.
    std::fs::write(
        copy.join("ids.rs"),
        "use crate::{\n    clock::Clock,\n    store::{keys, Table},\n};\n",
    )
    .expect("ids.rs");
    std::fs::write(copy.join("accounts/a.rs"), "use super::b::X;\n").expect("a.rs");
    std::fs::write(
        copy.join("accounts/b.rs"),
        "use crate::accounts::{a::Y, mod_item};\n",
    )
    .expect("b.rs");
    let loops = loops_inside_modules(&copy);
    let found = violations(&copy);
    std::fs::remove_dir_all(&copy).expect("clean up");
    assert_eq!(
        found,
        [
            "accounts/mod.rs: `accounts` uses `novel`, which has no place in SHARED_STACK",
            "error.rs: `error` (layer 0) uses `accounts` (layer 7)",
            "ids.rs: `ids` (layer 0) uses `clock` (layer 0)",
            "ids.rs: `ids` (layer 0) uses `store` (layer 3)",
        ],
        "{found:#?}"
    );
    assert_eq!(loops, ["accounts: a.rs <-> b.rs"]);
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

/// The files that may handle DynamoDB's raw shapes (`AttributeValue`, raw item maps, a
/// hand-serialised item): the store, and the tools that read raw records — the table scan
/// they share, the local pumps' filter, soak's ledger, the handler bench's canned answers, the bench's seeding of the
/// peer's own table (another project's shapes), the tests' raw reads and the
/// stream records their fixtures build. Everything
/// else reads and writes typed items, and names attributes through the items' `attributes!`.
const RAW_SHAPES_ALLOWED: &[&str] = &[
    "shared/src/store/",
    "infra/src/table.rs",
    "infra/src/pumps/filter.rs",
    "infra/src/bin/ferrite-soak/ledger.rs",
    "bench/handlers/benches/handlers.rs",
    "bench/runner/src/peer.rs",
    "tests/src/call.rs",
    "tests/src/outbox.rs",
    "tests/api/attacks/feeds.rs",
    "tests/api/attacks/mod.rs",
];

/// Each `.rs` file of the workspace's crates (not `target/`), relative to the root.
fn workspace_rust_files() -> Vec<(String, String)> {
    let root = root();
    let mut files = Vec::new();
    for dir in ["shared", "functions", "infra", "tests", "bench", "api-spec"] {
        let path = root.join(dir);
        if path.is_dir() {
            rust_files(&path, &mut files);
        }
    }
    files
        .into_iter()
        .filter(|f| !f.components().any(|c| c.as_os_str() == "target"))
        .map(|f| {
            let text = std::fs::read_to_string(&f).expect("source");
            let relative = f.strip_prefix(&root).expect("in the workspace");
            (relative.to_string_lossy().replace('\\', "/"), text)
        })
        .collect()
}

/// Where `source` handles a raw DynamoDB shape, as `file:line: what`.
fn raw_shapes(file: &str, source: &str) -> Vec<String> {
    const RAW: &[&str] = &[
        "AttributeValue",
        "RawItem",
        "serde_dynamo::",
        "Attr::declared",
    ];
    let code = source
        .split("#[cfg(test)]\nmod ")
        .next()
        .unwrap_or_default();
    code.lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .enumerate()
        .flat_map(|(n, line)| {
            RAW.iter()
                .filter(|raw| line.contains(*raw))
                .map(move |raw| format!("{file}:{}: {raw}", n + 1))
        })
        .collect()
}

#[test]
fn dynamodb_shapes_appear_only_in_the_store_and_the_tools_that_read_raw_records() {
    let found: Vec<String> = workspace_rust_files()
        .iter()
        .filter(|(file, _)| !RAW_SHAPES_ALLOWED.iter().any(|a| file.starts_with(a)))
        .filter(|(file, _)| file != "tests/api/architecture.rs")
        .flat_map(|(file, source)| raw_shapes(file, source))
        .collect();
    assert!(
        found.is_empty(),
        "read and write typed items; name attributes with the item's `attributes!` constants:\n{}",
        found.join("\n")
    );
    // The check itself: a domain file building a value by hand is caught.
    let planted = "fn f() { let v = aws_sdk_dynamodb::types::AttributeValue::S(x); }";
    assert_eq!(raw_shapes("shared/src/posts/x.rs", planted).len(), 1);
}

#[test]
fn the_store_takes_attribute_names_only_as_typed_attributes_of_items() {
    // An attribute named by text would let a domain file spell one that no item has.
    let mut found = Vec::new();
    for (file, source) in workspace_rust_files() {
        if !file.starts_with("shared/src/store/") {
            continue;
        }
        let code = code_of(&source);
        let after = |marker: &'static str| code.split(marker).skip(1);
        for signature in after("pub fn ").chain(after("pub async fn ")) {
            let signature = signature.split(['{', ';']).next().unwrap_or_default();
            let textual = ["attr: &str", "attr: String", "path: &[&str]", "attr: impl"]
                .iter()
                .any(|p| signature.contains(p));
            if textual {
                found.push(format!("{file}: pub fn {signature}"));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// The functions `make bench` builds for arm64 and measures (`bench/runner/src/main.rs`), each
/// under 4 MB stripped (BENCHMARKS.md, "Binary size").
const BENCHED: &[&str] = &[
    "health",
    "jwks",
    "posts-get",
    "posts-list",
    "users-me-get",
    "properties-list",
    "auth-login",
    "auth-refresh",
];

/// Crates a function links that no benched function does, with the function and the size of its
/// arm64 build measured with them (`cargo lambda build --release --arm64`, as `sam build` does).
/// worker-email is over the 4 MB goal (its SES client and template engine), and so is
/// worker-documents (the S3 client; the API functions sign S3 links without one): the #27 note.
const MEASURED_EXTRAS: &[(&str, &str, &str)] = &[
    ("aws-sdk-sesv2", "worker-email", "sending mail: 4.37 MB"),
    ("minijinja", "worker-email", "the mail templates: 4.37 MB"),
    ("memo-map", "worker-email", "minijinja's cache: 4.37 MB"),
    (
        "allocator-api2",
        "worker-documents",
        "the S3 client's LRU: 4.24 MB",
    ),
    (
        "aws-sdk-s3",
        "worker-documents",
        "reading, copying and removing uploads: 4.24 MB",
    ),
    (
        "aws-smithy-checksums",
        "worker-documents",
        "S3's response checksums: 4.24 MB",
    ),
    (
        "aws-smithy-xml",
        "worker-documents",
        "S3's XML protocol: 4.24 MB",
    ),
    ("crc", "worker-documents", "S3's checksums: 4.24 MB"),
    ("crc-catalog", "worker-documents", "S3's checksums: 4.24 MB"),
    ("crc-fast", "worker-documents", "S3's checksums: 4.24 MB"),
    (
        "foldhash",
        "worker-documents",
        "the S3 client's LRU: 4.24 MB",
    ),
    (
        "lru",
        "worker-documents",
        "the S3 client's identity cache: 4.24 MB",
    ),
    ("md-5", "worker-documents", "S3's checksums: 4.24 MB"),
    (
        "xmlparser",
        "worker-documents",
        "S3's XML protocol: 4.24 MB",
    ),
    (
        "spin",
        "worker-documents",
        "the S3 client's checksums: 4.24 MB",
    ),
];

/// Each function's linked crates (normal dependencies, transitively; proc-macros run at build
/// time and link nothing), from `cargo metadata`.
fn linked_crates() -> BTreeMap<String, std::collections::BTreeSet<String>> {
    let metadata = cargo_metadata(&[]);
    let packages: BTreeMap<&str, &serde_json::Value> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().expect("id"), p))
        .collect();
    let nodes: BTreeMap<&str, &serde_json::Value> = metadata["resolve"]["nodes"]
        .as_array()
        .expect("resolve")
        .iter()
        .map(|n| (n["id"].as_str().expect("id"), n))
        .collect();
    let proc_macro = |id: &str| {
        packages[id]["targets"]
            .as_array()
            .expect("targets")
            .iter()
            .any(|t| t["kind"].to_string().contains("proc-macro"))
    };
    let functions = root().join("functions");
    packages
        .iter()
        .filter(|(_, p)| {
            Path::new(p["manifest_path"].as_str().expect("path")).starts_with(&functions)
        })
        .map(|(id, p)| {
            let mut seen = std::collections::BTreeSet::new();
            let mut stack = vec![*id];
            while let Some(at) = stack.pop() {
                for dep in nodes[at]["deps"].as_array().expect("deps") {
                    let normal = dep["dep_kinds"]
                        .as_array()
                        .expect("kinds")
                        .iter()
                        .any(|k| k["kind"].is_null());
                    let id = dep["pkg"].as_str().expect("pkg");
                    if normal && !proc_macro(id) && seen.insert(id) {
                        stack.push(id);
                    }
                }
            }
            let names = seen
                .into_iter()
                .map(|id| packages[id]["name"].as_str().expect("name").to_owned())
                .collect();
            (p["name"].as_str().expect("name").to_owned(), names)
        })
        .collect()
}

/// Every function ≤ 4 MB for arm64 is measured by `make bench`, which CI does not run (release
/// builds of ~50 functions take longer than CI has). The proxy kept in CI: binaries grow past
/// what was measured when a function links a crate that no measured function links (an SDK
/// client, a template engine, a second TLS stack). So every function links only crates of the
/// benched functions, or crates measured with it ([`MEASURED_EXTRAS`]); a new one fails here
/// until its function's size is measured and recorded. Blind spots, for `make bench` and its
/// arm64 table: growth within the same crates (more SDK operations used), and a crate every
/// function depends on but only some link after dead-code removal — zxcvbn (word lists, regex engines), in
/// `shared` for all, linked by the three functions that set a password (6.1–6.3 MB, over the
/// goal: the #27 note) — and a crate behind a feature of `shared` that only some functions
/// enable (`cargo metadata` resolves features for the whole workspace): the KMS client of the
/// second-factor and webhook functions (`sealing`, 4.2–4.3 MB), the SQS client and the public
/// web's roots of the webhook worker (`webhook-delivery`) — over the goal: bench/history.md.
#[test]
fn every_function_links_only_crates_whose_size_was_measured() {
    let linked = linked_crates();
    let benched: std::collections::BTreeSet<&String> = BENCHED
        .iter()
        .flat_map(|name| {
            linked
                .get(*name)
                .unwrap_or_else(|| panic!("{name} is not a function"))
        })
        .collect();
    let mut unmeasured = Vec::new();
    for (function, crates) in &linked {
        for krate in crates.iter().filter(|c| !benched.contains(c)) {
            let measured = MEASURED_EXTRAS
                .iter()
                .any(|(c, f, _)| c == krate && f == function);
            if !measured {
                unmeasured.push(format!("{function} links {krate}"));
            }
        }
    }
    assert!(
        unmeasured.is_empty(),
        "crates no measured function links (measure the function's arm64 size, ≤ 4 MB, and add \
         it to MEASURED_EXTRAS):\n{}",
        unmeasured.join("\n")
    );
    for (krate, function, _) in MEASURED_EXTRAS {
        assert!(
            linked.get(*function).is_some_and(|c| c.contains(*krate)),
            "{function} no longer links {krate}: drop it from MEASURED_EXTRAS"
        );
    }
}
