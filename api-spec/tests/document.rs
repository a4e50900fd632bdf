//! The committed `openapi.json` is what the types generate, and it describes exactly the routes
//! of the stacks, each with exactly the query parameters and headers its handler reads.

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

/// The stacks as one template, and a context where every parameter and resource resolves.
fn stacks() -> (infra::template::Template, infra::template::Context) {
    let template = infra::tree::template().expect("template");
    let mut ctx = infra::template::Context::local("spec", "us-east-1");
    for (name, definition) in template.parameters() {
        if definition.get("Default").is_none() {
            ctx.parameters.insert(name.to_owned(), "x".repeat(32));
        }
    }
    ctx.resolve_unprovisioned(&template);
    (template, ctx)
}

#[test]
fn the_document_has_exactly_the_routes_of_the_template() {
    let (template, ctx) = stacks();
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

/// What a handler's source reads from the request besides its path and body, as (`query` or
/// `header`, name): the literal names of its `query_param`/`enum_param` calls, `limit` and
/// `cursor` for `page_request`, and the headers of the helpers that read them.
fn reads_of(source: &str) -> BTreeSet<(String, String)> {
    let mut reads = BTreeSet::new();
    for call in ["query_param(", "enum_param("] {
        for (at, _) in source.match_indices(call) {
            let args = &source[at + call.len()..];
            let args = &args[..args.find(')').unwrap_or(args.len())];
            if let Some(name) = args.split('"').nth(1) {
                reads.insert(("query".to_owned(), name.to_owned()));
            }
        }
    }
    let helpers = [
        ("page_request(", "query", "limit"),
        ("page_request(", "query", "cursor"),
        ("if_match_version(", "header", "If-Match"),
        ("if_none_match(", "header", "If-None-Match"),
        ("cacheable_json(", "header", "If-None-Match"),
        ("\"idempotency-key\"", "header", "Idempotency-Key"),
    ];
    for (needle, place, name) in helpers {
        if source.contains(needle) {
            reads.insert((place.to_owned(), name.to_owned()));
        }
    }
    reads
}

#[test]
fn every_operation_documents_exactly_the_query_parameters_and_headers_its_handler_reads() {
    let (template, ctx) = stacks();
    let document: serde_json::Value =
        serde_json::from_str(&api_spec::document_json()).expect("json");
    let root = infra::workspace_root();
    let mut drift = Vec::new();
    let routes = infra::routes::routes(&template, &ctx).expect("routes");
    assert!(routes.len() > 40, "{} routes", routes.len());
    for route in routes {
        let method = route.method.clone().unwrap_or_default().to_lowercase();
        let source =
            std::fs::read_to_string(root.join(format!("functions/{}/src/lib.rs", route.binary)))
                .expect("the handler's source");
        let read = reads_of(&source);
        let documented: BTreeSet<(String, String)> =
            document["paths"][&route.path][&method]["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] != "path")
                .map(|p| {
                    (
                        p["in"].as_str().unwrap_or_default().to_owned(),
                        p["name"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
        if read != documented {
            drift.push(format!(
                "{}: the handler reads {:?} but the document lists {:?}",
                route.key(),
                read.difference(&documented).collect::<Vec<_>>(),
                documented.difference(&read).collect::<Vec<_>>()
            ));
        }
    }
    assert!(drift.is_empty(), "{}", drift.join("\n"));
}

#[test]
fn a_handlers_reads_are_found_in_its_source() {
    let reads = reads_of(
        "let page = shared::http::page_request(&req)?;\n\
         let s: Option<S> = shared::http::enum_param(&req, \"status\")?;\n\
         let t = query_param(req, field)?; let tag = query_param(&req, \"tag\")?;\n\
         expected: shared::http::if_match_version(&req)?",
    );
    let names: Vec<&str> = reads.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["If-Match", "cursor", "limit", "status", "tag"]);
}
