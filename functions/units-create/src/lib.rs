//! `POST /v1/properties/{id}/units` `{label, floor?, bedrooms?, areaM2?, status?}` → 201 with the
//! unit (the owner or an admin); its label is unique in the property (409 `UNIT_LABEL_TAKEN`).

use lambda_http::{Body, Request, Response};
use shared::properties::{self, AreaM2, Bedrooms, Floor, Label, SettableUnitStatus, UnitFields};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateUnit {
    pub label: Label,
    #[serde(default)]
    pub floor: Option<Floor>,
    #[serde(default)]
    pub bedrooms: Option<Bedrooms>,
    #[serde(default)]
    pub area_m2: Option<AreaM2>,
    /// `vacant` (the default) or `unavailable`.
    #[serde(default)]
    pub status: Option<SettableUnitStatus>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    let body: CreateUnit = shared::http::json_body(&req)?;
    let fields = UnitFields {
        label: Some(body.label),
        floor: body.floor,
        bedrooms: body.bedrooms,
        area_m2: body.area_m2,
        status: body.status,
    };
    let unit = properties::add_unit(state, &me, id, &fields).await?;
    shared::http::created(&format!("/v1/properties/{id}"), &unit)
}
