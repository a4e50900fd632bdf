//! Hello world on `lambda_http`, built the way the functions are: the reference every
//! function's cold start is compared with in BENCHMARKS.md.

use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_req: Request| async {
        Ok::<_, Error>(
            Response::builder()
                .status(200)
                .header("content-type", "text/plain")
                .body(Body::from("hello"))?,
        )
    }))
    .await
}
