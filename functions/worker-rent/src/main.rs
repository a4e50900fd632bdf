#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::worker::Error> {
    shared::worker::serve(shared::State::from_env()?, |state, batch, deadline| {
        worker_rent::handle(state, batch, shared::worker::deadline(deadline))
    })
    .await
}
