//! `POST /v1/auth/oidc/{provider}` `{idToken, nonce, name?}` → 200 with a token pair (`amr`
//! `["oidc"]`): signs in to the account the provider's identity is linked to, links it to the
//! account of its address when both sides vouch for the address, or creates an account. With a
//! second factor in force, 401 `MFA_REQUIRED` and a challenge. `provider`: `google`, `apple`,
//! `oidc` — 404 when this deployment does not accept it. 401 `INVALID_ID_TOKEN` for a token that
//! does not verify (signature, issuer, audience, expiry, nonce), `ID_TOKEN_USED` for one that
//! signed in before; 409 `ACCOUNT_EXISTS`; 503 when the provider's keys cannot be fetched.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::validate::{DisplayName, IdToken, Nonce};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProviderSignIn {
    /// The ID token the provider gave the client for this sign-in.
    pub id_token: IdToken,
    /// The nonce the client made for this sign-in and gave the provider (Apple: its SHA-256).
    pub nonce: Nonce,
    /// The name of a new account, when the provider's token has none (Apple's first sign-in
    /// gives the name to the client only).
    pub name: Option<DisplayName>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let name = shared::http::path_param(&req, "provider")?;
    let provider = accounts::federated::provider(state, &name)?;
    let body: ProviderSignIn = shared::http::json_body(&req)?;
    let identity =
        accounts::federated::verify(state, provider, &body.id_token, &body.nonce).await?;
    let client = accounts::Client::of(&req);
    let session =
        accounts::federated::sign_in_with_identity(state, &identity, body.name.as_ref(), &client)
            .await?;
    shared::http::json(StatusCode::OK, &session)
}
