//! The route table: every operation of the API with its parameters, body, answers and who may
//! call it — data, read by [`crate::document`].

use shared::accounts::items::{UserStatus, UserView};
use shared::accounts::{PublicProfile, Session};
use shared::auth::Role;
use shared::auth::keys::Jwks;
use shared::ids::UserId;
use shared::ids::{LeaseId, PropertyId, UnitId};
use shared::posts::{PostId, PostStatus, PostView, Tag};
use shared::properties::{LeaseView, PropertyKind, PropertyView, TransferView, UnitView};
use utoipa::ToSchema;
use utoipa::openapi::path::{HttpMethod, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};

use shared::audit::AuditEntry;
use shared::posts::PostSummary;
use shared::store::Page;
use utoipa::PartialSchema;

use super::{
    Auth, Body, Param, Route, Typed, body, date_time, header, json, list_etag_header, of, paged,
    path_id, path_id_named, query, schema_ref, string, version_header,
};

mod admin;
mod auth;
mod documents;
mod me;
mod ops;
mod posts;
mod properties;

use self::{
    admin::admin, auth::auth, documents::documents, me::me, ops::ops, posts::posts,
    properties::properties,
};

/// Every operation of the API, by tag (the order is the reference page's; the document itself
/// orders paths by name).
pub(crate) fn routes() -> Vec<Route> {
    [
        ops(),
        auth(),
        me(),
        posts(),
        properties(),
        documents(),
        admin(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A page of `T` items (`{items, nextCursor}`), named `name`.
fn page<T: ToSchema>(name: &'static str) -> Body {
    let mut defines = vec![(name.to_owned(), Page::<T>::schema())];
    defines.extend(of::<T>().defines);
    Body::Json(Box::new(Typed {
        shown: schema_ref(name),
        defines,
    }))
}

/// The `If-Match` header of an optimistic update.
fn if_match() -> Param {
    version_header("If-Match", "The version read (`\"3\"`); stale → 412.")
}

/// The `Idempotency-Key` header (1–128 visible ASCII characters): replays the first answer for
/// 24 hours; the same key with another request is a 422. `required` for a payment.
fn idempotency_key(required: bool, description: &'static str) -> Param {
    Param {
        required,
        ..header(
            "Idempotency-Key",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(128))
                .pattern(Some("^[!-~]+$")),
            description,
        )
    }
}

/// `{provider}`: one of the providers a deployment may accept.
fn provider_param() -> Param {
    Param {
        name: "provider",
        location: ParameterIn::Path,
        required: true,
        schema: ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["google", "apple", "oidc"]))
            .into(),
        description: "The provider: `google`, `apple`, or `oidc` (the deployment's generic issuer). One the deployment does not accept is a 404.",
    }
}
