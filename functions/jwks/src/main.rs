#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init_from_env()?;
    let keys = shared::auth::keys::VerifyingKeys::from_env()?;
    shared::http::serve(keys, jwks::handle).await
}
