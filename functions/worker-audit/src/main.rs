#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::worker::Error> {
    let worker =
        worker_audit::AuditWorker::new(shared::State::from_env()?, |k| std::env::var(k).ok())?;
    shared::worker::serve(worker, |worker, batch, _deadline| {
        worker_audit::handle(worker, batch)
    })
    .await
}
