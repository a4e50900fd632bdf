#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::worker::Error> {
    let worker = worker_documents::DocumentsWorker::new(shared::State::from_env()?)?;
    shared::worker::serve(worker, |worker, batch, deadline| {
        worker_documents::handle(worker, batch, shared::worker::deadline(deadline))
    })
    .await
}
