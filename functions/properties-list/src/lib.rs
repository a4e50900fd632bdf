//! `GET /v1/properties?ownerId= | country=[&city=[&kind=]] | fileNumber=` `&limit=&cursor=` →
//! a page of properties with their owners (any signed-in user). Each filter is served by a key
//! or an index; another combination is a 400 that says which are served.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::http::{enum_param, page_request, query_param};
use shared::properties::{self, FilterParams, PropertyFilter};
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    accounts::authenticate(state, &req).await?;
    let filter = PropertyFilter::from_params(FilterParams {
        owner_id: query_param(&req, "ownerId")?,
        country: query_param(&req, "country")?,
        city: query_param(&req, "city")?,
        kind: enum_param(&req, "kind")?,
        file_number: query_param(&req, "fileNumber")?,
    })?;
    let page = page_request(&req)?;
    let found = properties::list(state, &filter, &page).await?;
    shared::http::json(StatusCode::OK, &found)
}
