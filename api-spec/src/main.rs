//! `make openapi`: writes the generated document to `openapi.json` at the workspace root.

fn main() -> std::io::Result<()> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi.json");
    std::fs::write(&path, api_spec::document_json())?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
