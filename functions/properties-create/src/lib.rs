//! `POST /v1/properties` `{fileNumber, address, kind}` → 201 with `Location` and `ETag`: a
//! property owned by the caller. 409 `FILE_NUMBER_TAKEN` when another property has the file
//! number (compared without case).

use lambda_http::{Body, Request, Response};
use shared::properties::{self, Address, NewProperty, PropertyKind};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateProperty {
    /// 1–32 of `A-Z`, `0-9`, `-`, `/`; unique in the registry, compared without case.
    #[garde(skip)]
    #[schema(
        min_length = 1,
        max_length = 32,
        pattern = "^[A-Za-z0-9/-]+$",
        example = "B-2024/0042"
    )]
    pub file_number: String,
    #[garde(skip)]
    pub address: Address,
    #[garde(skip)]
    pub kind: PropertyKind,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let body: CreateProperty = shared::http::json_body(&req)?;
    let input = NewProperty::parse(&body.file_number, &body.address, body.kind)?;
    let property = properties::create(state, &me, input).await?;
    Ok(shared::http::with_etag(
        shared::http::created(&format!("/v1/properties/{}", property.id), &property)?,
        property.version,
    ))
}
