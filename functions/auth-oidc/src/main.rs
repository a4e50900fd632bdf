#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(
        shared::State::from_env()?.with_signing_key()?.with_oidc(),
        auth_oidc::handle,
    )
    .await
}
