//! The committed `openapi.json` is what the types generate, and it describes exactly the routes
//! of template.yaml.

use std::collections::BTreeSet;

#[test]
fn the_committed_openapi_json_is_what_the_types_generate() {
    let path = infra::workspace_root().join("openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == api_spec::document_json(),
        "openapi.json is out of date with the Rust types: run `make openapi` and commit it"
    );
}

#[test]
fn the_document_has_exactly_the_routes_of_the_template() {
    let template = infra::tree::template().expect("template");
    let mut ctx = infra::template::Context::local("spec", "us-east-1");
    for (name, definition) in template.parameters() {
        if definition.get("Default").is_none() {
            ctx.parameters.insert(name.to_owned(), "x".repeat(32));
        }
    }
    for resource in template.resources() {
        ctx.refs.insert(
            resource.logical_id.to_owned(),
            resource.logical_id.to_owned(),
        );
    }
    let routed: BTreeSet<(String, String)> = infra::routes::routes(&template, &ctx)
        .expect("routes")
        .iter()
        .map(|r| {
            let key = r.key();
            let (method, path) = key.split_once(' ').expect("METHOD /path");
            (method.to_owned(), path.to_owned())
        })
        .collect();
    let documented: BTreeSet<(String, String)> = api_spec::operations().into_iter().collect();
    assert_eq!(
        documented.len(),
        api_spec::operations().len(),
        "no route twice"
    );
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "in the template but not the document: {undocumented:?}; in the document but not routed: {unrouted:?}"
    );
}

#[test]
fn every_operation_has_a_unique_id_and_every_error_is_a_problem() {
    let document: serde_json::Value =
        serde_json::from_str(&api_spec::document_json()).expect("json");
    let mut ids = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operations") {
            let id = operation["operationId"].as_str().expect("operationId");
            assert!(ids.insert(id.to_owned()), "{id} twice");
            let responses = operation["responses"].as_object().expect("responses");
            assert!(responses.contains_key("500"), "{method} {path}: 500");
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        response["content"]["application/problem+json"]["schema"]["$ref"],
                        "#/components/schemas/Problem",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
}
