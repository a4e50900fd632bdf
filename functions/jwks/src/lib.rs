//! `GET /.well-known/jwks.json` → the public keys (current and previous) that verify access
//! tokens, cacheable for five minutes. No I/O and no AWS client: its whole state is the public
//! keys from `JWT_PUBLIC_KEYS`.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use shared::ApiError;
use shared::auth::keys::VerifyingKeys;

// Every handler has the same async signature, whether or not it awaits anything.
#[allow(clippy::unused_async)]
pub async fn handle(keys: &VerifyingKeys, _req: Request) -> Result<Response<Body>, ApiError> {
    let mut response = shared::http::json(StatusCode::OK, &keys.jwks())?;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300, stale-while-revalidate=60"),
    );
    Ok(response)
}
