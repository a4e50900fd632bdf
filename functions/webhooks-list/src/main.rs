#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(
        shared::State::from_env()?
            .with_cursor_key()?
            .require_verifier()?,
        webhooks_list::handle,
    )
    .await
}
