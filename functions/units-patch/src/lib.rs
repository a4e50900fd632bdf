//! `PATCH /v1/properties/{id}/units/{unitId}` `{label?, floor?, bedrooms?, areaM2?, status?}` →
//! the unit (the owner or an admin). A leased unit's status follows its lease.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::properties::{self, AreaM2, Bedrooms, Floor, Label, SettableUnitStatus, UnitFields};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PatchUnit {
    #[serde(default)]
    pub label: Option<Label>,
    #[serde(default)]
    pub floor: Option<Floor>,
    #[serde(default)]
    pub bedrooms: Option<Bedrooms>,
    #[serde(default)]
    pub area_m2: Option<AreaM2>,
    /// `vacant` or `unavailable`.
    #[serde(default)]
    pub status: Option<SettableUnitStatus>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    let unit = shared::http::path_id(&req, "unitId")?;
    let body: PatchUnit = shared::http::json_body(&req)?;
    let fields = UnitFields {
        label: body.label,
        floor: body.floor,
        bedrooms: body.bedrooms,
        area_m2: body.area_m2,
        status: body.status,
    };
    let unit = properties::update_unit(state, &me, id, unit, &fields).await?;
    shared::http::json(StatusCode::OK, &unit)
}
