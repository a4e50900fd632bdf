#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(
        shared::State::from_env()?
            .with_sealer()?
            .require_verifier()?,
        webhooks_create::handle,
    )
    .await
}
