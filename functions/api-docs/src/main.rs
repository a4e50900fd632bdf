#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init_from_env()?;
    shared::http::serve((), api_docs::handle).await
}
