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
use utoipa::openapi::path::HttpMethod;
use utoipa::openapi::schema::{ObjectBuilder, Type};

use super::{
    Auth, Body, Param, Route, body, date_time, header, json, list_etag_header, paged, path_id,
    path_id_named, query, schema_ref, string, version_header,
};

mod admin;
mod auth;
mod me;
mod ops;
mod posts;
mod properties;

use self::{admin::admin, auth::auth, me::me, ops::ops, posts::posts, properties::properties};

/// Every operation of the API, by tag (the order is the reference page's; the document itself
/// orders paths by name).
pub(crate) fn routes() -> Vec<Route> {
    [ops(), auth(), me(), posts(), properties(), admin()]
        .into_iter()
        .flatten()
        .collect()
}

/// A page of `name` items (`{items, nextCursor}`).
fn page(name: &'static str) -> Body {
    Body::Json(Box::new(schema_ref(name)))
}

/// The `If-Match` header of an optimistic update.
fn if_match() -> Param {
    version_header("If-Match", "The version read (`\"3\"`); stale → 412.")
}
