#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::worker::Error> {
    let worker = worker_notifications::NotificationsWorker::new(shared::State::from_env()?, |k| {
        std::env::var(k).ok()
    })?;
    shared::worker::serve(worker, |worker, batch, _deadline| {
        worker_notifications::handle(worker, batch)
    })
    .await
}
