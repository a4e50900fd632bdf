use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state: &'static shared::State = Box::leak(Box::new(shared::State::from_env()?));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        let deadline = worker_purge::deadline(event.context.deadline);
        Ok::<_, std::convert::Infallible>(
            worker_purge::handle(state, event.payload, deadline).await,
        )
    }))
    .await
}
