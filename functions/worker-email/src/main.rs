use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = shared::State::from_env()?;
    let worker: &'static worker_email::EmailWorker =
        Box::leak(Box::new(worker_email::EmailWorker::new(state, |k| {
            std::env::var(k).ok()
        })?));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, std::convert::Infallible>(worker_email::handle(worker, event.payload).await)
    }))
    .await
}
