#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::worker::Error> {
    let worker =
        worker_webhooks::WebhooksWorker::new(shared::State::from_env()?.with_sealer()?, |k| {
            std::env::var(k).ok()
        })?;
    shared::worker::serve(worker, |worker, batch, _deadline| {
        worker_webhooks::handle(worker, batch)
    })
    .await
}
