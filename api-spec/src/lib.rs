//! The OpenAPI 3.1 document of the Ferrite API.
//!
//! Schemas come from the request and response types themselves (`#[derive(utoipa::ToSchema)]`
//! next to `Deserialize`/`Serialize`), so a field added to a type is in the document, and the
//! components are gathered from the rows that name the types (no second list). The operations
//! are the table in [`routes`]: one row per route of the stacks (a test checks that the two
//! agree), each with the statuses it can answer. Errors are added by rule, so no route
//! forgets one: every route can answer 500; every route that touches DynamoDB 503 (with
//! `Retry-After`); a body means 400/413/415/422; a bearer token 401.
//!
//! `make openapi` writes `openapi.json` at the workspace root; the `api-docs` function serves that
//! file, and a test fails when it differs from [`document`].

mod routes;

use routes::routes;

use std::collections::BTreeMap;

use utoipa::ToSchema;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ComponentsBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref, RefOr, Required,
    ResponseBuilder, ServerBuilder,
};

use shared::error::Problem;

/// The summary `make new-function` writes: the route's description is still to be decided (a
/// test fails while any route has it).
const UNDECIDED: &str = "(undecided)";

const JSON: &str = "application/json";
const PROBLEM: &str = "application/problem+json";
const BEARER: &str = "bearer";

/// How a route authenticates its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// No token.
    None,
    /// A bearer token is required (401 without one).
    Required,
    /// Anonymous callers are served; a token, when given, must be valid (401 otherwise).
    Optional,
    /// A bearer token, and a recent authentication: the password in the body or a sign-in of
    /// the session within 10 minutes (401 `REAUTHENTICATION_REQUIRED`).
    Recent,
    /// A bearer token, and with a second factor on a step-up: one given in the session within
    /// 10 minutes or `code`/`recoveryCode` in the body (401 `MFA_REQUIRED`, no challenge).
    StepUp,
    /// Both [`Auth::Recent`] and [`Auth::StepUp`].
    RecentAndStepUp,
}

impl Auth {
    /// What a 401 of the route means.
    fn unauthorized(self) -> &'static str {
        match self {
            Self::None | Self::Required | Self::Optional => {
                "No valid credentials (missing, invalid or expired token; wrong password)"
            }
            Self::Recent => {
                "No valid credentials; `REAUTHENTICATION_REQUIRED`: give `password`, or sign in again (a sign-in counts for 10 minutes)"
            }
            Self::StepUp => {
                "No valid credentials; `MFA_REQUIRED` (second factor on): give `code` (or `recoveryCode`), or verify a sign-in within the last 10 minutes"
            }
            Self::RecentAndStepUp => {
                "No valid credentials; `REAUTHENTICATION_REQUIRED`: give `password` or sign in again; `MFA_REQUIRED` (second factor on): give `code` (or `recoveryCode`) unless this session gave one within 10 minutes"
            }
        }
    }
}

/// One route.
struct Route {
    method: HttpMethod,
    path: &'static str,
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
    auth: Auth,
    /// Reads DynamoDB or Secrets Manager (so it can answer 503).
    store: bool,
    body: Option<Typed>,
    params: Vec<Param>,
    /// (status, description, body schema).
    ok: Vec<(u16, &'static str, Option<Body>)>,
    /// Error statuses beyond the ones added by rule.
    errors: &'static [u16],
}

enum Body {
    Json(Box<Typed>),
    Html,
    Script,
}

struct Param {
    name: &'static str,
    location: ParameterIn,
    required: bool,
    schema: Typed,
    description: &'static str,
}

/// A schema a route uses: what the operation shows (a `$ref`, or the schema inline) and the
/// named schemas it brings into the components (the type's own and the ones it nests). The
/// components are gathered from the routes: a type named in a row is in the document, and no
/// second list has to name it.
#[derive(Clone)]
struct Typed {
    shown: RefOr<Schema>,
    defines: Vec<(String, RefOr<Schema>)>,
}

/// The named schema of `T` (a `$ref`), defined with what it nests.
fn of<T: ToSchema>() -> Typed {
    let mut defines = vec![(T::name().into_owned(), T::schema())];
    T::schemas(&mut defines);
    Typed {
        shown: schema_ref(&T::name()),
        defines,
    }
}

impl From<ObjectBuilder> for Typed {
    /// A schema shown inline: it defines nothing.
    fn from(shown: ObjectBuilder) -> Self {
        RefOr::<Schema>::from(shown).into()
    }
}

impl From<RefOr<Schema>> for Typed {
    /// A schema shown inline: it defines nothing.
    fn from(shown: RefOr<Schema>) -> Self {
        Self {
            shown,
            defines: Vec::new(),
        }
    }
}

fn schema_ref(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

#[allow(clippy::unnecessary_wraps)] // reads as a table cell: `Some(body)` or `None`
fn json<T: ToSchema>() -> Option<Body> {
    Some(Body::Json(Box::new(of::<T>())))
}

#[allow(clippy::unnecessary_wraps)] // reads as a table cell: `Some(body)` or `None`
fn body<T: ToSchema>() -> Option<Typed> {
    Some(of::<T>())
}

fn string(max: usize) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(max))
        .into()
}

fn path_id<T: ToSchema>() -> Param {
    path_id_named::<T>("id")
}

/// A path parameter `name` holding an id of `T` (`/properties/{id}/units/{unitId}`).
fn path_id_named<T: ToSchema>(name: &'static str) -> Param {
    Param {
        name,
        location: ParameterIn::Path,
        required: true,
        schema: of::<T>(),
        description: "The id (a ULID).",
    }
}

fn page_params() -> Vec<Param> {
    vec![
        Param {
            name: "limit",
            location: ParameterIn::Query,
            required: false,
            schema: RefOr::from(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1))
                    .maximum(Some(100))
                    .default(Some(20.into())),
            )
            .into(),
            description: "Page size, 1–100 (default 20).",
        },
        Param {
            name: "cursor",
            location: ParameterIn::Query,
            required: false,
            schema: string(2048).into(),
            description: "`nextCursor` of the previous page. Opaque and signed: a tampered or foreign cursor is a 400.",
        },
    ]
}

/// `params`, then `limit` and `cursor`: the parameters of a listing.
fn paged(mut params: Vec<Param>) -> Vec<Param> {
    params.extend(page_params());
    params
}

fn date_time() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::DateTime,
        )))
        .into()
}

fn query(name: &'static str, schema: impl Into<Typed>, description: &'static str) -> Param {
    Param {
        name,
        location: ParameterIn::Query,
        required: false,
        schema: schema.into(),
        description,
    }
}

fn header(name: &'static str, schema: impl Into<Typed>, description: &'static str) -> Param {
    Param {
        name,
        location: ParameterIn::Header,
        required: false,
        schema: schema.into(),
        description,
    }
}

fn version_header(name: &'static str, description: &'static str) -> Param {
    header(
        name,
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r#"^(W/)?"[0-9]+"$"#)),
        description,
    )
}

/// `If-None-Match` of a public list: the `ETag` of the page held (a digest of its body).
fn list_etag_header() -> Param {
    header(
        "If-None-Match",
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r#"^(W/)?"[0-9a-f]{32}"$"#)),
        "The page's `ETag` held: unchanged → 304 (public pages are cacheable for a minute).",
    )
}

fn problem(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM,
            ContentBuilder::new()
                .schema(Some(schema_ref("Problem")))
                .build(),
        )
        .build()
}

fn problem_with_header(description: &str, header: &str, about: &str) -> utoipa::openapi::Response {
    let mut response = problem(description);
    response.headers.insert(
        header.to_owned(),
        HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(Type::String))
            .description(Some(about))
            .build(),
    );
    response
}

fn unauthorized(description: &str) -> utoipa::openapi::Response {
    problem_with_header(
        description,
        "WWW-Authenticate",
        "`Bearer`, with `error=\"invalid_token\"` for a bad token",
    )
}

fn error_response(status: u16) -> utoipa::openapi::Response {
    match status {
        400 => problem(
            "The request cannot be read: malformed JSON, an unknown field, a bad parameter or cursor",
        ),
        401 => unauthorized(Auth::Required.unauthorized()),
        403 => problem("Authenticated, but not allowed"),
        404 => problem("No such resource (or not visible to the caller)"),
        409 => problem("Conflicts with the current state (`EMAIL_TAKEN`, `LAST_ADMIN`, …)"),
        412 => problem("The version given (`If-Match` or `version`) is stale"),
        413 => problem("The body is too large"),
        415 => problem("The body is not `application/json` (UTF-8)"),
        422 => problem(
            "The body is well-formed but invalid: every invalid field is listed in `errors`",
        ),
        429 => {
            let mut response =
                problem_with_header("Too many attempts", "Retry-After", "Seconds to wait");
            for (name, about) in [
                (
                    "RateLimit-Policy",
                    "The quota policies that refused, e.g. `\"post-create\";q=30;w=3600` (IETF draft-ietf-httpapi-ratelimit-headers; also sent on the answers that counted)",
                ),
                (
                    "RateLimit",
                    "What is left of each policy's quota and when it resets, e.g. `\"post-create\";r=0;t=1800`",
                ),
            ] {
                response.headers.insert(
                    name.to_owned(),
                    HeaderBuilder::new()
                        .schema(ObjectBuilder::new().schema_type(Type::String))
                        .description(Some(about))
                        .build(),
                );
            }
            response
        }
        500 => problem("An unexpected failure (generic: the cause is logged, never returned)"),
        503 => problem_with_header(
            "A dependency (DynamoDB) is unavailable or throttling",
            "Retry-After",
            "Seconds to wait",
        ),
        other => problem(&format!("Error {other}")),
    }
}

fn operation(route: &Route) -> Operation {
    let mut op = OperationBuilder::new()
        .operation_id(Some(route.id))
        .summary(Some(route.summary))
        .tag(route.tag);
    for param in &route.params {
        op = op.parameter(
            ParameterBuilder::new()
                .name(param.name)
                .parameter_in(param.location.clone())
                .required(if param.required {
                    Required::True
                } else {
                    Required::False
                })
                .description(Some(param.description))
                .schema(Some(param.schema.shown.clone())),
        );
    }
    if let Some(schema) = &route.body {
        op = op.request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(
                    JSON,
                    ContentBuilder::new()
                        .schema(Some(schema.shown.clone()))
                        .build(),
                )
                .build(),
        ));
    }
    match route.auth {
        Auth::None => {}
        Auth::Required | Auth::Recent | Auth::StepUp | Auth::RecentAndStepUp => {
            op = op.security(SecurityRequirement::new(BEARER, Vec::<String>::new()));
        }
        Auth::Optional => {
            op = op
                .security(SecurityRequirement::default())
                .security(SecurityRequirement::new(BEARER, Vec::<String>::new()));
        }
    }
    let mut statuses: BTreeMap<u16, utoipa::openapi::Response> = BTreeMap::new();
    for (status, description, content) in &route.ok {
        let mut response = ResponseBuilder::new().description(*description);
        match content {
            Some(Body::Json(schema)) => {
                response = response.content(
                    JSON,
                    ContentBuilder::new()
                        .schema(Some(schema.shown.clone()))
                        .build(),
                );
            }
            Some(Body::Html | Body::Script) => {
                let media = if matches!(content, Some(Body::Html)) {
                    "text/html"
                } else {
                    "text/javascript"
                };
                response = response.content(
                    media,
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                        .build(),
                );
            }
            None => {}
        }
        statuses.insert(*status, response.build());
    }
    let mut errors: Vec<u16> = route.errors.to_vec();
    errors.push(500);
    if route.store {
        errors.push(503);
    }
    if route.body.is_some() {
        errors.extend([400, 413, 415, 422]);
    }
    if route.auth != Auth::None {
        errors.push(401);
    }
    for status in errors {
        statuses.entry(status).or_insert_with(|| match status {
            401 => unauthorized(route.auth.unauthorized()),
            other => error_response(other),
        });
    }
    for (status, response) in statuses {
        op = op.response(status.to_string(), response);
    }
    op.build()
}

/// Every named schema the operations use, gathered from the routes (with the ones they nest),
/// the problem every error answers with, and the bearer scheme.
fn components(routes: &[Route]) -> utoipa::openapi::Components {
    let mut defined: BTreeMap<String, RefOr<Schema>> = BTreeMap::new();
    let mut define = |typed: &Typed| {
        for (name, schema) in &typed.defines {
            defined
                .entry(name.clone())
                .or_insert_with(|| schema.clone());
        }
    };
    define(&of::<Problem>());
    define(&of::<shared::webhooks::Payload>());
    for route in routes {
        route.params.iter().for_each(|param| define(&param.schema));
        route.body.iter().for_each(&mut define);
        for (_, _, content) in &route.ok {
            if let Some(Body::Json(typed)) = content {
                define(typed);
            }
        }
    }
    ComponentsBuilder::new()
        .schemas_from_iter(defined)
        .security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from register, login or refresh (EdDSA JWT, 15 minutes).",
                    ))
                    .build(),
            ),
        )
        .build()
}

/// The whole document.
pub fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
    let mut by_path: BTreeMap<&str, PathItem> = BTreeMap::new();
    let routes = routes();
    for route in &routes {
        let item = PathItem::new(route.method.clone(), operation(route));
        by_path
            .entry(route.path)
            .and_modify(|existing| existing.merge_operations(item.clone()))
            .or_insert(item);
    }
    for (path, item) in by_path {
        paths = paths.path(path, item);
    }

    let components = components(&routes);

    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Ferrite API")
                .version(shared::VERSION)
                .description(Some(
                    "Accounts and auth, users with roles, posts, a property registry and an audit trail. Every error is \
                     RFC 9457 `application/problem+json` with a stable `code`.",
                ))
                .build(),
        )
        .servers(Some([ServerBuilder::new().url("/").build()]))
        .tags(Some(
            [
                (
                    "auth",
                    "Registration, sign-in, tokens, password and email flows",
                ),
                ("me", "The signed-in user's account"),
                ("posts", "Posts and feeds"),
                (
                    "properties",
                    "The property registry: properties, owners, ownership transfers",
                ),
                (
                    "documents",
                    "Deeds, plans and contracts of properties and leases: uploaded to S3 and downloaded from it by presigned requests",
                ),
                ("admin", "Users and the audit trail (admin role)"),
                ("ops", "Health and this document"),
            ]
            .map(|(name, description)| {
                TagBuilder::new()
                    .name(name)
                    .description(Some(description))
                    .build()
            }),
        ))
        .paths(paths.build())
        .components(Some(components))
        .build()
}

/// The deliveries a webhook endpoint receives, one per event type (OpenAPI 3.1 `webhooks`,
/// which utoipa does not model): each a `POST` of the type's [`Payload`](shared::webhooks::Payload)
/// with the three Standard Webhooks headers; a 2xx answer within 10 s is a delivery, anything
/// else is retried.
fn webhooks() -> serde_json::Value {
    use shared::webhooks::EventType;
    let header = |name: &str, description: &str| {
        serde_json::json!({
            "name": name, "in": "header", "required": true,
            "schema": {"type": "string"}, "description": description,
        })
    };
    let parameters = serde_json::json!([
        header(
            "webhook-id",
            "The event's id: the same on every attempt (drop repeats by it)."
        ),
        header(
            "webhook-timestamp",
            "When this attempt was signed, in seconds since 1970 (refuse one far from your clock)."
        ),
        header(
            "webhook-signature",
            "`v1,` and the base64 HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.<body>` keyed with the secret's bytes (after `whsec_`)."
        ),
    ]);
    let mut hooks = serde_json::Map::new();
    for kind in EventType::ALL {
        let description = webhook_description(kind);
        hooks.insert(
            kind.as_str().to_owned(),
            serde_json::json!({"post": {
                "operationId": format!("webhook-{}", kind.as_str().replace('.', "-")),
                "summary": description,
                "tags": ["admin"],
                "parameters": parameters,
                "requestBody": {"required": true, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Payload"},
                }}},
                "responses": {
                    "2XX": {"description": "Delivered"},
                    "default": {"description": "Retried with backoff (redirects are not followed); after the last attempt the event goes to the dead-letter queue"},
                },
            }}),
        );
    }
    serde_json::Value::Object(hooks)
}

/// What a delivery of `kind` tells (the variant's documentation in `shared::webhooks`).
fn webhook_description(kind: shared::webhooks::EventType) -> &'static str {
    use shared::webhooks::EventType as T;
    match kind {
        T::PropertyCreated => "A property was registered",
        T::PropertyUpdated => "A property's address or kind changed (`data.changed` names which)",
        T::PropertyTransferred => {
            "A property changed owner (`data.previousOwnerId`, `data.ownerId`)"
        }
        T::PropertyDeleted => "A property was removed from the registry",
        T::LeaseCreated => "A lease was made (`data.tenantId`)",
        T::LeaseRenewed => "A lease's end date or rent changed (`data.changed` names which)",
        T::LeaseEnded => "A lease was ended",
        T::PostPublished => "A post was published",
        T::PostHidden => "A moderator hid a post",
        T::PostUnhidden => "A moderator published a hidden post again",
        T::PostDeleted => "A post was deleted",
    }
}

/// The document as committed (`openapi.json`): pretty JSON with a final newline, with the
/// deliveries webhook endpoints receive (`webhooks`).
pub fn document_json() -> String {
    let text = document()
        .to_pretty_json()
        .expect("the document serialises");
    // Appended as the document's last member, its fields kept in utoipa's order.
    let body = text
        .trim_end()
        .strip_suffix('}')
        .expect("the document is an object")
        .trim_end();
    let hooks = serde_json::to_string_pretty(&webhooks())
        .expect("the webhooks serialise")
        .replace('\n', "\n  ");
    format!("{body},\n  \"webhooks\": {hooks}\n}}\n")
}

fn method_name(method: &HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
        HttpMethod::Put => "PUT",
        HttpMethod::Delete => "DELETE",
        HttpMethod::Patch => "PATCH",
        HttpMethod::Head => "HEAD",
        HttpMethod::Options => "OPTIONS",
        HttpMethod::Trace => "TRACE",
    }
}

/// `METHOD /path` of every operation whose description is still to be decided.
pub fn undecided() -> Vec<String> {
    routes()
        .iter()
        .filter(|r| r.summary == UNDECIDED)
        .map(|r| format!("{} {}", method_name(&r.method), r.path))
        .collect()
}

/// `(method, path)` of every operation, for checks against template.yaml.
pub fn operations() -> Vec<(String, String)> {
    routes()
        .iter()
        .map(|r| (method_name(&r.method).to_owned(), r.path.to_owned()))
        .collect()
}
