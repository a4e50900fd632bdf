#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::live::Error> {
    shared::live::serve(
        shared::State::from_env()?.require_verifier()?,
        live_connect::handle,
    )
    .await
}
