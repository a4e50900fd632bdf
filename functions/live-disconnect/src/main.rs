#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::live::Error> {
    shared::live::serve(shared::State::from_env()?, live_disconnect::handle).await
}
