//! `GET /v1/audit` (admin), newest first, `?limit=&cursor=` and exactly one of:
//! `entityType` + `entityId` (an entity's history), `actorId` (what someone did), or
//! `from` + `to` (RFC 3339, UTC, within one calendar month). Each is one Query.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::audit::{self, AuditQuery};
use shared::auth::Role;
use shared::http::query_param;
use shared::{ApiError, State, accounts};

fn bad(field: &str, message: &str) -> ApiError {
    ApiError::invalid_parameter(field, message)
}

fn timestamp(req: &Request, field: &str) -> Result<(u64, String), ApiError> {
    let raw =
        query_param(req, field)?.ok_or_else(|| bad(field, "is required with a time range"))?;
    audit::parse_timestamp(raw).ok_or_else(|| {
        bad(
            field,
            "must be an RFC 3339 UTC time such as 2026-11-24T05:44:53Z",
        )
    })
}

/// Which slice of the trail the query string asks for.
pub fn audit_query(req: &Request) -> Result<AuditQuery, ApiError> {
    let entity = (
        query_param(req, "entityType")?,
        query_param(req, "entityId")?,
    );
    let actor = query_param(req, "actorId")?;
    let time = query_param(req, "from")?.is_some() || query_param(req, "to")?.is_some();
    let chosen = usize::from(entity.0.is_some() || entity.1.is_some())
        + usize::from(actor.is_some())
        + usize::from(time);
    if chosen != 1 {
        return Err(bad(
            "entityType",
            "choose one of: entityType+entityId, actorId, or from+to",
        ));
    }
    let bounded = |field: &str, value: &str| {
        if value.is_empty() || value.len() > 200 {
            Err(bad(field, "must be 1-200 characters"))
        } else {
            Ok(value.to_owned())
        }
    };
    if let Some(actor) = actor {
        return Ok(AuditQuery::Actor(bounded("actorId", actor)?));
    }
    if time {
        let (from_ms, from_month) = timestamp(req, "from")?;
        let (to_ms, to_month) = timestamp(req, "to")?;
        if from_ms > to_ms {
            return Err(bad("from", "must not be after `to`"));
        }
        if from_month != to_month {
            return Err(bad("to", "must be in the same calendar month as `from`"));
        }
        return Ok(AuditQuery::Time {
            month: from_month,
            from_ms,
            to_ms,
        });
    }
    match entity {
        (Some(kind), Some(id)) => Ok(AuditQuery::Entity {
            kind: bounded("entityType", kind)?,
            id: bounded("entityId", id)?,
        }),
        (None, _) => Err(bad("entityType", "is required with entityId")),
        (_, None) => Err(bad("entityId", "is required with entityType")),
    }
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    accounts::require_role(&me, Role::Admin)?;
    let query = audit_query(&req)?;
    let page = shared::http::page_request(&req)?;
    let entries = audit::query(&state.store, &query, &page).await?;
    shared::http::json(StatusCode::OK, &entries)
}
