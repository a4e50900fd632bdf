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
/// `header`, name): the literal names of its `query_param`/`enum_param`/`flag_param` calls, `limit` and
/// `cursor` for `page_request`, and the headers of the helpers that read them.
fn reads_of(source: &str) -> BTreeSet<(String, String)> {
    let mut reads = BTreeSet::new();
    for call in ["query_param(", "enum_param(", "flag_param("] {
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
        ("idempotency_key(", "header", "Idempotency-Key"),
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

#[test]
fn every_route_says_what_it_does() {
    // `make new-function` writes an operation whose summary is still to be decided.
    assert!(
        api_spec::undecided().is_empty(),
        "describe these operations (api-spec/src/routes): {:?}",
        api_spec::undecided()
    );
}

/// The limits of every request body are the domain's: a request field is a domain type whose
/// schema is built from the constants its constructor checks, so no request schema spells a
/// length, a range or a pattern of its own (where it could drift from the rule).
#[test]
fn every_limit_of_a_request_body_is_a_domain_types_own() {
    const LIMITS: &[&str] = &[
        "maxLength",
        "minLength",
        "pattern",
        "maximum",
        "exclusiveMinimum",
        "maxItems",
        "minItems",
    ];
    use shared::validate as v;
    let document: serde_json::Value =
        serde_json::from_str(&api_spec::document_json()).expect("the document");
    let schemas = &document["components"]["schemas"];
    let mut bodies = BTreeSet::new();
    for operations in document["paths"].as_object().expect("paths").values() {
        for operation in operations.as_object().expect("operations").values() {
            if let Some(reference) =
                operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
            {
                bodies.insert(reference.rsplit('/').next().expect("a name").to_owned());
            }
        }
    }
    assert!(bodies.len() >= 20, "{bodies:?}");
    let mut hand_written = Vec::new();
    let mut pending: Vec<String> = bodies.into_iter().collect();
    let mut seen = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(properties) = schemas[&name]["properties"].as_object() else {
            continue;
        };
        for (field, schema) in properties {
            let text = schema.to_string();
            // Nested request objects (an address, a rent) are checked the same way.
            for part in text.split("#/components/schemas/").skip(1) {
                let nested = part.split('"').next().expect("a name");
                if schemas[nested]["properties"].is_object() {
                    pending.push(nested.to_owned());
                }
            }
            let inline = LIMITS
                .iter()
                .filter(|limit| text.contains(&format!("\"{limit}\"")));
            for limit in inline {
                hand_written.push(format!("{name}.{field}: {limit}"));
            }
        }
    }
    assert!(
        hand_written.is_empty(),
        "a request field with limits of its own (make it a domain type, see shared::validate):\n{}",
        hand_written.join("\n")
    );

    // And the domain types' schemas carry their constants.
    let bound = |name: &str, key: &str| schemas[name][key].as_u64();
    for (name, min, max) in [
        ("Email", 1, v::EMAIL_MAX_LEN),
        ("Password", v::PASSWORD_MIN_CHARS, v::PASSWORD_MAX_CHARS),
        ("DisplayName", 1, v::DISPLAY_NAME_MAX_CHARS),
        ("Token", 1, v::TOKEN_MAX_LEN),
        ("Title", 1, shared::posts::TITLE_MAX_CHARS),
        ("FileNumber", 1, shared::properties::FILE_NUMBER_MAX_CHARS),
        ("AddressLine", 1, shared::properties::ADDRESS_LINE_MAX_CHARS),
        ("PostalCode", 1, shared::properties::POSTAL_CODE_MAX_CHARS),
    ] {
        let (min, max) = (min as u64, max as u64);
        assert_eq!(
            (bound(name, "minLength"), bound(name, "maxLength")),
            (Some(min), Some(max)),
            "{name}"
        );
    }
    assert_eq!(
        bound("Markdown", "maxLength"),
        Some(shared::posts::BODY_MAX_CHARS as u64)
    );
    assert_eq!(
        bound("Tags", "maxItems"),
        Some(shared::posts::MAX_TAGS as u64)
    );
}
