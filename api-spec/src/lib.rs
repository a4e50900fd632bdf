//! The OpenAPI 3.1 document of the Ferrite API.
//!
//! Schemas come from the request and response types themselves (`#[derive(utoipa::ToSchema)]`
//! next to `Deserialize`/`Serialize`), so a field added to a type is in the document. The
//! operations are the table below: one row per route of template.yaml (a test checks that the
//! two agree), each with the statuses it can answer. Errors are added by rule, so no route
//! forgets one: every route can answer 500; every route that touches DynamoDB 503 (with
//! `Retry-After`); a body means 400/413/415/422; a bearer token 401.
//!
//! `make openapi` writes `openapi.json` at the workspace root; the `api-docs` function serves that
//! file, and a test fails when it differs from [`document`].

mod routes;

use routes::routes;

use std::collections::BTreeMap;

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
use utoipa::{PartialSchema, ToSchema};

use shared::accounts::items::{UserStatus, UserView};
use shared::accounts::{Session, TokenPair};
use shared::audit::AuditEntry;
use shared::auth::Role;
use shared::auth::keys::{Jwk, Jwks};
use shared::error::{FieldError, Problem};
use shared::events::{Actor, ActorKind, Change, Entity};
use shared::ids::{EventId, LeaseId, PropertyId, UnitId, UserId};
use shared::posts::{PostId, PostStatus, PostSummary, PostView, Tag};
use shared::properties::{
    LeaseStatus, LeaseView, PropertyView, Rent, TransferView, UnitStatus, UnitView,
};
use shared::store::Page;

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
    body: Option<RefOr<Schema>>,
    params: Vec<Param>,
    /// (status, description, body schema).
    ok: Vec<(u16, &'static str, Option<Body>)>,
    /// Error statuses beyond the ones added by rule.
    errors: &'static [u16],
}

enum Body {
    Json(Box<RefOr<Schema>>),
    Html,
    Script,
}

struct Param {
    name: &'static str,
    location: ParameterIn,
    required: bool,
    schema: RefOr<Schema>,
    description: &'static str,
}

fn schema_ref(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

#[allow(clippy::unnecessary_wraps)] // reads as a table cell: `Some(body)` or `None`
fn json<T: ToSchema>() -> Option<Body> {
    Some(Body::Json(Box::new(schema_ref(&T::name()))))
}

#[allow(clippy::unnecessary_wraps)] // reads as a table cell: `Some(body)` or `None`
fn body<T: ToSchema>() -> Option<RefOr<Schema>> {
    Some(schema_ref(&T::name()))
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
        schema: schema_ref(&T::name()),
        description: "The id (a ULID).",
    }
}

fn page_params() -> Vec<Param> {
    vec![
        Param {
            name: "limit",
            location: ParameterIn::Query,
            required: false,
            schema: ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(100))
                .default(Some(20.into()))
                .into(),
            description: "Page size, 1–100 (default 20).",
        },
        Param {
            name: "cursor",
            location: ParameterIn::Query,
            required: false,
            schema: string(2048),
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

fn query(name: &'static str, schema: RefOr<Schema>, description: &'static str) -> Param {
    Param {
        name,
        location: ParameterIn::Query,
        required: false,
        schema,
        description,
    }
}

fn header(name: &'static str, schema: RefOr<Schema>, description: &'static str) -> Param {
    Param {
        name,
        location: ParameterIn::Header,
        required: false,
        schema,
        description,
    }
}

fn version_header(name: &'static str, description: &'static str) -> Param {
    header(
        name,
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r#"^(W/)?"[0-9]+"$"#))
            .into(),
        description,
    )
}

/// `If-None-Match` of a public list: the `ETag` of the page held (a digest of its body).
fn list_etag_header() -> Param {
    header(
        "If-None-Match",
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r#"^(W/)?"[0-9a-f]{32}"$"#))
            .into(),
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

fn error_response(status: u16) -> utoipa::openapi::Response {
    match status {
        400 => problem(
            "The request cannot be read: malformed JSON, an unknown field, a bad parameter or cursor",
        ),
        401 => problem_with_header(
            "No valid credentials (missing, invalid or expired token; wrong password)",
            "WWW-Authenticate",
            "`Bearer`, with `error=\"invalid_token\"` for a bad token",
        ),
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
                .schema(Some(param.schema.clone())),
        );
    }
    if let Some(schema) = &route.body {
        op = op.request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(
                    JSON,
                    ContentBuilder::new().schema(Some(schema.clone())).build(),
                )
                .build(),
        ));
    }
    match route.auth {
        Auth::None => {}
        Auth::Required => op = op.security(SecurityRequirement::new(BEARER, Vec::<String>::new())),
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
                    ContentBuilder::new().schema(Some(*schema.clone())).build(),
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
        statuses
            .entry(status)
            .or_insert_with(|| error_response(status));
    }
    for (status, response) in statuses {
        op = op.response(status.to_string(), response);
    }
    op.build()
}

fn register<T: ToSchema>(
    components: ComponentsBuilder,
    nested: &mut Vec<(String, RefOr<Schema>)>,
) -> ComponentsBuilder {
    T::schemas(nested);
    components.schema_from::<T>()
}

/// Every schema the operations name, with the ones they nest, and the bearer scheme.
fn components() -> utoipa::openapi::Components {
    let mut nested = Vec::new();
    let mut components = ComponentsBuilder::new();
    components = register::<Problem>(components, &mut nested);
    components = register::<FieldError>(components, &mut nested);
    components = register::<health::Health>(components, &mut nested);
    components = register::<health_ready::Readiness>(components, &mut nested);
    components = register::<Jwks>(components, &mut nested);
    components = register::<shared::accounts::PublicProfile>(components, &mut nested);
    components = register::<Jwk>(components, &mut nested);
    components = register::<Session>(components, &mut nested);
    components = register::<auth_register::Pending>(components, &mut nested);
    components = register::<TokenPair>(components, &mut nested);
    components = register::<UserView>(components, &mut nested);
    components = register::<UserStatus>(components, &mut nested);
    components = register::<UserId>(components, &mut nested);
    components = register::<Role>(components, &mut nested);
    components = register::<PostView>(components, &mut nested);
    components = register::<PostSummary>(components, &mut nested);
    components = register::<PostStatus>(components, &mut nested);
    components = register::<PostId>(components, &mut nested);
    components = register::<Tag>(components, &mut nested);
    components = register::<AuditEntry>(components, &mut nested);
    components = register::<EventId>(components, &mut nested);
    components = register::<Actor>(components, &mut nested);
    components = register::<ActorKind>(components, &mut nested);
    components = register::<Entity>(components, &mut nested);
    components = register::<Change>(components, &mut nested);
    components = register::<auth_register::Register>(components, &mut nested);
    components = register::<auth_login::Login>(components, &mut nested);
    components = register::<auth_refresh::Refresh>(components, &mut nested);
    components = register::<auth_logout::Logout>(components, &mut nested);
    components = register::<auth_password_forgot::Forgot>(components, &mut nested);
    components = register::<auth_password_reset::Reset>(components, &mut nested);
    components = register::<auth_email_verify::Verify>(components, &mut nested);
    components = register::<auth_email_change_confirm::ConfirmEmailChange>(components, &mut nested);
    components = register::<users_me_patch::ProfilePatch>(components, &mut nested);
    components = register::<users_me_delete::DeleteMe>(components, &mut nested);
    components = register::<users_me_password::ChangePassword>(components, &mut nested);
    components = register::<users_me_email::ChangeEmail>(components, &mut nested);
    components = register::<users_patch::UserPatch>(components, &mut nested);
    components = register::<posts_create::CreatePost>(components, &mut nested);
    components = register::<posts_patch::PatchPost>(components, &mut nested);
    components = register::<PropertyView>(components, &mut nested);
    components = register::<TransferView>(components, &mut nested);
    components = register::<PropertyId>(components, &mut nested);
    components = register::<properties_create::CreateProperty>(components, &mut nested);
    components = register::<properties_transfer::TransferProperty>(components, &mut nested);
    components = register::<properties_patch::PatchProperty>(components, &mut nested);
    components = register::<UnitView>(components, &mut nested);
    components = register::<UnitId>(components, &mut nested);
    components = register::<UnitStatus>(components, &mut nested);
    components = register::<units_create::CreateUnit>(components, &mut nested);
    components = register::<units_patch::PatchUnit>(components, &mut nested);
    components = register::<LeaseView>(components, &mut nested);
    components = register::<LeaseId>(components, &mut nested);
    components = register::<LeaseStatus>(components, &mut nested);
    components = register::<Rent>(components, &mut nested);
    components = register::<leases_create::CreateLease>(components, &mut nested);
    components = register::<leases_end::EndLease>(components, &mut nested);
    components = components
        .schema("PostPage", Page::<PostSummary>::schema())
        .schema("UserPage", Page::<UserView>::schema())
        .schema("AuditPage", Page::<AuditEntry>::schema())
        .schema("TransferPage", Page::<TransferView>::schema())
        .schema("PropertyPage", Page::<PropertyView>::schema())
        .schema("LeasePage", Page::<LeaseView>::schema())
        .schemas_from_iter(nested)
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
        );
    components.build()
}

/// The whole document.
pub fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
    let mut by_path: BTreeMap<&str, PathItem> = BTreeMap::new();
    for route in routes() {
        let item = PathItem::new(route.method.clone(), operation(&route));
        by_path
            .entry(route.path)
            .and_modify(|existing| existing.merge_operations(item.clone()))
            .or_insert(item);
    }
    for (path, item) in by_path {
        paths = paths.path(path, item);
    }

    let components = components();

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

/// The document as committed (`openapi.json`): pretty JSON with a final newline.
pub fn document_json() -> String {
    let mut text = document()
        .to_pretty_json()
        .expect("the document serialises");
    text.push('\n');
    text
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

/// `(method, path)` of every operation, for checks against template.yaml.
pub fn operations() -> Vec<(String, String)> {
    routes()
        .iter()
        .map(|r| (method_name(&r.method).to_owned(), r.path.to_owned()))
        .collect()
}
