#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(
        shared::State::from_env()?.require_verifier()?,
        webhooks_patch::handle,
    )
    .await
}
