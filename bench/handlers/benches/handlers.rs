//! The in-process work of the main handlers, without I/O: what a request costs in CPU besides
//! its DynamoDB round trips. `make bench` runs this and copies the medians into BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::hint::black_box;

use aws_sdk_dynamodb::types::AttributeValue;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use lambda_http::{Body, Request};
use shared::ApiError;
use shared::auth::Role;
use shared::auth::jwt::{self, TokenSettings};
use shared::auth::keys::{KeySet, VerifyingKeys};
use shared::config::Secret;
use shared::posts::{Author, PostItem, PostSummary, PostView};
use shared::store::CursorCodec;

const REGISTER_EVENT: &str = include_str!("../../../tests/fixtures/apigw-v2-post-json.json");
const GET_EVENT: &str = include_str!("../../../tests/fixtures/apigw-v2-get-with-params.json");
const AMAZON_ROOTS: &[u8] = include_bytes!("../../../shared/src/aws/amazon-roots.pem");

fn post_request(body: &serde_json::Value) -> Request {
    let mut event: serde_json::Value = serde_json::from_str(REGISTER_EVENT).unwrap();
    event["body"] = serde_json::Value::String(body.to_string());
    event["isBase64Encoded"] = serde_json::Value::Bool(false);
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

fn post_item(i: usize) -> PostItem {
    let id = shared::posts::PostId::generate();
    let author = shared::ids::UserId::generate();
    PostItem {
        pk: format!("POST#{id}"),
        sk: "POST".into(),
        gsi1pk: format!("AUTHOR#{author}"),
        gsi1sk: format!("POST#{id}"),
        gsi2pk: Some(format!("AUTHOR#{author}#PUBLISHED")),
        gsi2sk: Some("2026-11-24T08:00:00.000Z".into()),
        id,
        author_id: author,
        title: format!("Post number {i}: notes on cold starts"),
        body: "Rust on Lambda starts in milliseconds. ".repeat(40),
        tags: vec!["rust".into(), "lambda".into(), "dynamodb".into()],
        status: shared::posts::PostStatus::Published,
        created_at: "2026-11-24T08:00:00.000Z".into(),
        updated_at: "2026-11-24T08:00:00.000Z".into(),
        published_at: Some("2026-11-24T08:00:00.000Z".into()),
        published_ms: Some(1_795_507_200_000),
        version: 3,
    }
}

fn requests(c: &mut Criterion) {
    let mut group = c.benchmark_group("request");
    group.bench_function("API Gateway v2 event JSON -> Request", |b| {
        b.iter(|| lambda_http::request::from_str(black_box(GET_EVENT)).unwrap());
    });
    group.finish();
}

fn bodies(c: &mut Criterion) {
    let mut group = c.benchmark_group("body");
    let register = post_request(&serde_json::json!({
        "email": "ada@example.com", "name": "Ada Lovelace", "password": "violet anchor drifts north"
    }));
    group.bench_function(
        "register: parse into the newtypes (each checked as it is read)",
        |b| {
            b.iter(|| {
                let body: auth_register::Register =
                    shared::http::json_body(black_box(&register)).unwrap();
                body
            });
        },
    );
    let create = post_request(&serde_json::json!({
        "title": "Notes on cold starts", "body": "Rust on Lambda starts in milliseconds. ".repeat(40),
        "tags": ["rust", "lambda", "dynamodb"], "status": "published"
    }));
    group.bench_function("posts-create: parse + validate", |b| {
        b.iter(|| {
            let body: posts_create::CreatePost =
                shared::http::json_body(black_box(&create)).unwrap();
            body
        });
    });
    let malformed = post_request(&serde_json::json!({"title": 7, "extra": true}));
    group.bench_function("invalid body -> 400/422 problem+json response", |b| {
        b.iter(|| {
            let error = shared::http::json_body::<posts_create::CreatePost>(black_box(&malformed))
                .unwrap_err();
            shared::http::finish("req-1", Err(error))
        });
    });
    group.finish();
}

fn tokens(c: &mut Criterion) {
    let mut group = c.benchmark_group("token");
    let set = KeySet::generate().unwrap();
    let key = set.signing_key().unwrap();
    let keys = VerifyingKeys::parse(&set.public_keys().unwrap()).unwrap();
    let settings = TokenSettings {
        issuer: "ferrite".into(),
        audience: "ferrite-api".into(),
    };
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let user = shared::ids::UserId::generate().to_string();
    let token = jwt::mint(&key, &settings, &user, &[Role::User], "session", now).unwrap();
    let mut req = lambda_http::request::from_str(GET_EVENT).unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    group.bench_function("authorize: bearer header + EdDSA JWT verify", |b| {
        b.iter(|| {
            let token = shared::accounts::bearer_token(black_box(&req)).unwrap();
            jwt::verify(&keys, &settings, token).unwrap()
        });
    });
    group.bench_function("mint an access token (login, refresh)", |b| {
        b.iter(|| {
            jwt::mint(
                &key,
                &settings,
                &user,
                &[Role::User],
                "session",
                black_box(now),
            )
            .unwrap()
        });
    });
    group.finish();
}

fn responses(c: &mut Criterion) {
    let mut group = c.benchmark_group("response");
    let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(post_item(0)).unwrap();
    group.bench_function(
        "posts-get: DynamoDB item -> PostView -> JSON with ETag",
        |b| {
            // The SDK hands items over owned: cloning them is set-up, not measured.
            b.iter_batched(
                || item.clone(),
                |item| {
                    let post: PostItem = serde_dynamo::from_item(black_box(item)).unwrap();
                    let response = shared::http::json(
                        lambda_http::http::StatusCode::OK,
                        &PostView::of(
                            &post,
                            Author {
                                id: post.author_id,
                                name: "Ada".into(),
                            },
                        ),
                    )
                    .unwrap();
                    shared::http::finish(
                        "req-1",
                        Ok(shared::http::with_etag(response, post.version)),
                    )
                },
                BatchSize::SmallInput,
            );
        },
    );
    let page: Vec<HashMap<String, AttributeValue>> = (0..20)
        .map(|i| serde_dynamo::to_item(post_item(i)).unwrap())
        .collect();
    let codec = CursorCodec::new(Secret::new(b"0123456789abcdef0123456789abcdef".to_vec()));
    group.bench_function(
        "posts-list: 20 items -> summaries -> JSON + signed cursor",
        |b| {
            b.iter_batched(
                || page.clone(),
                |owned| {
                    let items: Vec<PostItem> = serde_dynamo::from_items(black_box(owned)).unwrap();
                    let summaries: Vec<PostSummary> = items.iter().map(PostSummary::from).collect();
                    let last = &page[19];
                    let key: HashMap<String, AttributeValue> = ["pk", "sk"]
                        .iter()
                        .map(|k| ((*k).to_owned(), last[*k].clone()))
                        .collect();
                    let cursor = ready(codec.encode("feed", &key)).expect("a keyed codec");
                    shared::http::json(
                        lambda_http::http::StatusCode::OK,
                        &serde_json::json!({"items": summaries, "nextCursor": cursor}),
                    )
                    .unwrap()
                },
                BatchSize::SmallInput,
            );
        },
    );
    let cursor = ready(codec.encode(
        "feed",
        &HashMap::from([
            ("pk".to_owned(), AttributeValue::S("FEED#2026-11".into())),
            (
                "sk".to_owned(),
                AttributeValue::S("01JDX0000000000000000000".into()),
            ),
        ]),
    ))
    .expect("a keyed codec");
    group.bench_function("check and decode a page cursor", |b| {
        b.iter(|| ready(codec.decode("feed", black_box(&cursor))).unwrap());
    });
    group.bench_function(
        "server error -> generic 500 problem+json (cause logged)",
        |b| {
            b.iter(|| {
                shared::http::finish(
                    "req-1",
                    Err::<lambda_http::Response<Body>, _>(ApiError::internal(black_box("boom"))),
                )
            });
        },
    );
    group.finish();
}

/// What building the SDK's HTTPS client costs in trust-store work (the client does exactly this
/// when its connector is created): the bundled Amazon roots versus the system store.
fn trust_store(c: &mut Criterion) {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut group = c.benchmark_group("tls roots");
    group.bench_function("bundled Amazon roots (5 certificates)", |b| {
        b.iter(|| {
            let mut store = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(black_box(AMAZON_ROOTS)) {
                store.add(cert.unwrap()).unwrap();
            }
            store
        });
    });
    group.sample_size(20);
    group.bench_function("system store (rustls-native-certs)", |b| {
        b.iter(|| {
            let certs = rustls_native_certs::load_native_certs().certs;
            let mut store = rustls::RootCertStore::empty();
            store.add_parsable_certificates(certs);
            store
        });
    });
    // What the provider sign-in and linking functions build at init (#29): Mozilla's roots,
    // compiled in as parsed anchors (no file, no PEM), a TLS configuration and hyper's client.
    group.bench_function(
        "the public web's client (webpki-roots, TLS config, hyper)",
        |b| b.iter(shared::oidc::WebFetch::new),
    );
    group.finish();
}

criterion_group!(benches, requests, bodies, tokens, responses, trust_store);
criterion_main!(benches);

/// The output of a future that is ready at once (a codec with its key given never waits).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => unreachable!("a given key is never awaited"),
    }
}
