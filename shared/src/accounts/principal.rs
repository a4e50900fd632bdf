//! Who is calling, and may they do this. A handler states its rule in one line:
//!
//! ```ignore
//! let me = accounts::authenticate(state, &req).await?;   // 401 unless a valid token of a live session
//! accounts::require_role(&me, Role::Admin)?;              // 403 unless an admin
//! accounts::require_owner_or(&me, author_id, Role::Moderator)?;
//! ```
//!
//! [`authenticate`] verifies the JWT (no I/O) and then reads the user and the session in one
//! BatchGetItem: a token of a deleted or disabled user, or of a revoked session (logout,
//! password change), stops working at once instead of when it expires, and roles are always
//! the current ones.

use lambda_http::Request;

use super::items::{SessionItem, UserItem, UserStatus};
use crate::auth::{Role, jwt};
use crate::error::ApiError;
use crate::events::Actor;
use crate::ids::UserId;
use crate::state::State;

/// The authenticated caller: the current user record and the session the token belongs to.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: UserItem,
    pub session_id: String,
    /// When this session signed in (epoch seconds; `None` for sessions older than the record).
    pub authenticated_at: Option<i64>,
    /// When this session last gave a second factor.
    pub second_factor_at: Option<i64>,
}

impl Principal {
    pub fn id(&self) -> UserId {
        self.user.id
    }

    /// The caller as the actor of the events its request causes.
    pub fn actor(&self) -> Actor {
        self.user.actor()
    }

    pub fn roles(&self) -> &[Role] {
        &self.user.roles
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.user.roles.contains(&role)
    }
}

fn unauthorized(code: &'static str, detail: &str) -> ApiError {
    ApiError::Unauthorized {
        code,
        detail: detail.to_owned(),
    }
}

/// The bearer token of the `Authorization` header.
pub fn bearer_token(req: &Request) -> Result<&str, ApiError> {
    let header = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .ok_or_else(|| {
            unauthorized("MISSING_CREDENTIALS", "This endpoint needs a bearer token.")
        })?;
    let value = header
        .to_str()
        .map_err(|_| unauthorized("INVALID_TOKEN", "The Authorization header is malformed."))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| unauthorized("INVALID_TOKEN", "The Authorization header is malformed."))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(unauthorized(
            "INVALID_TOKEN",
            "Use `Authorization: Bearer <access token>`.",
        ));
    }
    Ok(token.trim())
}

/// 401 unless the request carries a valid access token of a live session of an active user.
pub async fn authenticate(state: &State, req: &Request) -> Result<Principal, ApiError> {
    Ok(authenticate_token(state, bearer_token(req)?).await?.0)
}

/// 401 unless `token` is a valid access token of a live session of an active user; the
/// principal and when the token expires (epoch seconds). For a token that does not travel in
/// an `Authorization` header (a WebSocket's subprotocol, see [`crate::live`]).
pub async fn authenticate_token(state: &State, token: &str) -> Result<(Principal, i64), ApiError> {
    let verifier = state.auth.verifier()?;
    let claims = jwt::verify(verifier, &state.auth.tokens, token).map_err(|error| match error {
        jwt::TokenError::Expired => {
            unauthorized("TOKEN_EXPIRED", "The access token has expired; refresh it.")
        }
        jwt::TokenError::Invalid => unauthorized("INVALID_TOKEN", "The access token is invalid."),
    })?;
    let user_id = UserId::parse(&claims.sub)
        .map_err(|_| unauthorized("INVALID_TOKEN", "The access token is invalid."))?;
    let (user, session) = super::load_user_and_session(&state.store, user_id, &claims.sid).await?;
    let revoked = || unauthorized("INVALID_TOKEN", "The session has ended; sign in again.");
    let user = user
        .filter(|u| u.status == UserStatus::Active)
        .ok_or_else(revoked)?;
    // A session of an older epoch ended with it (a password set, the account disabled).
    let session: SessionItem = session
        .filter(|s| s.epoch == user.session_epoch)
        .ok_or_else(revoked)?;
    let principal = Principal {
        user,
        session_id: session.session_id,
        authenticated_at: session.authenticated_at,
        second_factor_at: session.second_factor_at,
    };
    Ok((principal, claims.exp))
}

/// `None` for an anonymous request; the principal when a token is given; 401 when the token
/// given is not valid (a bad token is an error, not anonymity).
pub async fn authenticate_optional(
    state: &State,
    req: &Request,
) -> Result<Option<Principal>, ApiError> {
    if req.headers().contains_key(http::header::AUTHORIZATION) {
        authenticate(state, req).await.map(Some)
    } else {
        Ok(None)
    }
}

/// 403 unless the principal has `role`.
pub fn require_role(principal: &Principal, role: Role) -> Result<(), ApiError> {
    if principal.has_role(role) {
        Ok(())
    } else {
        Err(ApiError::Forbidden {
            detail: format!("This needs the {role} role."),
        })
    }
}

/// 403 unless the principal is `owner` or has `role`.
pub fn require_owner_or(principal: &Principal, owner: UserId, role: Role) -> Result<(), ApiError> {
    if principal.id() == owner || principal.has_role(role) || principal.has_role(Role::Admin) {
        Ok(())
    } else {
        Err(ApiError::Forbidden {
            detail: "Only the owner may do this.".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::Body;

    fn with_auth(value: Option<&str>) -> Request {
        let mut builder = http::Request::builder().uri("/v1/users/me");
        if let Some(v) = value {
            builder = builder.header("authorization", v);
        }
        builder.body(Body::Empty).expect("request")
    }

    #[test]
    fn the_bearer_token_is_read_from_the_authorization_header() {
        assert_eq!(
            bearer_token(&with_auth(Some("Bearer abc.def.ghi"))).expect("token"),
            "abc.def.ghi"
        );
        assert_eq!(
            bearer_token(&with_auth(Some("bearer  xyz"))).expect("token"),
            "xyz"
        );
        let missing = bearer_token(&with_auth(None)).unwrap_err();
        assert_eq!(
            (missing.status().as_u16(), missing.code()),
            (401, "MISSING_CREDENTIALS")
        );
        for bad in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "token"] {
            let error = bearer_token(&with_auth(Some(bad))).unwrap_err();
            assert_eq!(
                (error.status().as_u16(), error.code()),
                (401, "INVALID_TOKEN"),
                "{bad}"
            );
        }
    }
}
