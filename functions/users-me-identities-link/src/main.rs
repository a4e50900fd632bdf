#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(
        shared::State::from_env()?
            .with_sealer()?
            .require_verifier()?
            .with_oidc(),
        users_me_identities_link::handle,
    )
    .await
}
