//! `POST /v1/users/me/identities/{provider}` `{idToken, nonce, password?, code? | recoveryCode?}`
//! → 201 with the linked identity: from now on signing in with the provider reaches my account,
//! whatever address the provider has. Needs a recent sign-in or the password, and — with a second
//! factor in force — a step-up (it adds a way in). `provider`: `google`, `apple`, `oidc` — 404
//! when this deployment does not accept it. 401 `INVALID_ID_TOKEN`, `ID_TOKEN_USED`; 409
//! `IDENTITY_ALREADY_LINKED`, `PROVIDER_ALREADY_LINKED` (unlink the other first),
//! `IDENTITY_LINKED_ELSEWHERE` (it signs in to another account); 503 when the provider's keys
//! cannot be fetched.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::validate::{GivenPassword, IdToken, Nonce, OtpCode, RecoveryCode};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LinkIdentity {
    /// The ID token the provider gave the client for this link.
    pub id_token: IdToken,
    /// The nonce the client made for it and gave the provider (Apple: its SHA-256).
    pub nonce: Nonce,
    /// The current password: needed unless this session signed in within the last 10 minutes.
    pub password: Option<GivenPassword>,
    /// With a second factor in force and none given in this session within 10 minutes: a
    /// current code of the authenticator app (or give `recoveryCode`).
    #[serde(default)]
    pub code: Option<OtpCode>,
    /// One of the recovery codes, in place of `code`.
    #[serde(default)]
    pub recovery_code: Option<RecoveryCode>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let name = shared::http::path_param(&req, "provider")?;
    let provider = accounts::federated::provider(state, &name)?;
    let body: LinkIdentity = shared::http::json_body(&req)?;
    let identity =
        accounts::federated::verify(state, provider, &body.id_token, &body.nonce).await?;
    // The token first: a code is spent only on a link that can happen.
    accounts::mfa::step_up(state, &me, body.code.as_ref(), body.recovery_code.as_ref()).await?;
    let password = body.password.as_ref().map(GivenPassword::expose);
    let linked = accounts::federated::link_while_signed_in(state, &me, &identity, password).await?;
    shared::http::json(StatusCode::CREATED, &linked)
}
