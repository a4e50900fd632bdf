//! `POST /v1/properties` `{fileNumber, address, kind}` → 201 with `Location` and `ETag`: a
//! property owned by the caller. 409 `FILE_NUMBER_TAKEN` when another property has the file
//! number (compared without case).

use lambda_http::{Body, Request, Response};
use shared::properties::{self, FileNumber, NewAddress, NewProperty, PropertyKind};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateProperty {
    pub file_number: FileNumber,
    pub address: NewAddress,
    pub kind: PropertyKind,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let body: CreateProperty = shared::http::json_body(&req)?;
    let input = NewProperty {
        file_number: body.file_number,
        address: body.address,
        kind: body.kind,
    };
    let property = properties::create(state, &me, input).await?;
    Ok(shared::http::with_etag(
        shared::http::created(&format!("/v1/properties/{}", property.id), &property)?,
        property.version,
    ))
}
