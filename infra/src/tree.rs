//! The tree of stacks — `template.yaml` (the root) and the nested stacks it names
//! (`stacks/*.yaml`) — as the local stack reads it: one template of the whole tree.
//!
//! `infra/stacks.py` flattens the tree (each nested stack's parameters replaced by what the
//! root passes them, so every resource, route and policy resolves in one namespace) and
//! `infra/sam_expand.py` expands that with the SAM translator. Both run in the project's Python
//! and are cached by the content of every template of the tree in `.local/tree/` (the translator
//! takes about two seconds to load).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use sha2::{Digest as _, Sha256};

use crate::template::Template;

/// The repository's tree of stacks as one template (`infra/stacks.py`).
pub fn template() -> Result<Template> {
    flattened(&crate::workspace_root(), &crate::template_path())
}

/// The tree rooted at `template_path` as one template, as written (SAM resources, short forms
/// in their long form).
pub fn flattened(root: &Path, template_path: &Path) -> Result<Template> {
    run_cached(root, "infra/stacks.py", template_path, "flat")
}

/// The tree rooted at `template_path` as one template, expanded by the SAM translator: the
/// functions' roles and policies, aliases, event source mappings.
pub fn expanded(root: &Path, template_path: &Path) -> Result<Template> {
    run_cached(root, "infra/sam_expand.py", template_path, "expanded")
}

/// The templates of the tree rooted at `template_path`: itself and every `*.yaml` of the
/// `stacks/` folder beside it, in name order.
pub fn files(template_path: &Path) -> Result<Vec<PathBuf>> {
    let mut files = vec![template_path.to_path_buf()];
    let dir = template_path
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("stacks");
    if dir.is_dir() {
        let mut nested: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
            .collect();
        nested.sort();
        files.extend(nested);
    }
    Ok(files)
}

fn run_cached(root: &Path, script: &str, template_path: &Path, kind: &str) -> Result<Template> {
    let mut hasher = Sha256::new();
    for file in files(template_path)? {
        hasher.update(file.to_string_lossy().as_bytes());
        hasher.update(std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?);
    }
    for code in ["infra/stacks.py", "infra/sam_expand.py"] {
        hasher.update(std::fs::read(root.join(code)).unwrap_or_default());
    }
    let key: String = hasher
        .finalize()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = root.join(".local/tree");
    let cached = dir.join(format!("{kind}-{key}.json"));
    if let Ok(json) = std::fs::read_to_string(&cached) {
        return Template::parse(&json).with_context(|| format!("parsing {}", cached.display()));
    }
    let python = crate::moto::python(root);
    let output = Command::new(&python)
        .arg(root.join(script))
        .arg(template_path)
        .output()
        .with_context(|| format!("running {} (make setup installs it)", python.display()))?;
    if !output.status.success() {
        bail!(
            "{script} could not read the stacks of {}:\n{}",
            template_path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    std::fs::create_dir_all(&dir)?;
    // Written whole, then renamed: concurrent test processes never read half a file.
    let partial = dir.join(format!("{kind}-{key}.json.{}.partial", std::process::id()));
    std::fs::write(&partial, &output.stdout)?;
    std::fs::rename(&partial, &cached)?;
    Template::parse(&String::from_utf8(output.stdout)?).context("parsing the stacks' template")
}
