//! Documents as tests need them: the test world's bucket, a browser's upload with a presigned
//! POST, S3's event notifications, and the documents worker run on them as the template's
//! function.

use crate::{TestApp, endpoint, http, sqs_event};

/// The documents' bucket of the test world (named after the `test` stack's id, as the roles'
/// policies name it), made on the endpoint once per test process; without notifications: tests
/// hand the worker S3's events themselves.
pub async fn documents_bucket() -> String {
    static MADE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    MADE.get_or_init(|| async {
        let name = crate::world::documents_bucket_name();
        let answer = http()
            .post(format!("{}/_ferrite/s3/buckets", endpoint()))
            .json(&serde_json::json!({ "buckets": [{ "name": name, "notifications": [] }] }))
            .send()
            .await
            .expect("the local endpoint answers");
        assert!(answer.status().is_success(), "the test bucket was refused");
        name
    })
    .await
    .clone()
}

/// What S3 answered a browser's upload: status and body.
#[derive(Debug)]
pub struct Uploaded {
    pub status: u16,
    pub body: String,
}

impl Uploaded {
    /// S3's error code in an XML error body.
    pub fn code(&self) -> &str {
        self.body
            .split("<Code>")
            .nth(1)
            .and_then(|rest| rest.split("</Code>").next())
            .unwrap_or_default()
    }
}

/// Uploads `file` with the presigned POST `upload` (`{url, fields}`) exactly as a browser's
/// form does: `multipart/form-data`, every field, then the file last, named `file`.
pub async fn upload_as_browser(
    upload: &serde_json::Value,
    file_name: &str,
    file: &[u8],
) -> Uploaded {
    let (content_type, body) = infra::traffic::browser_form(upload, file_name, file);
    let answer = http()
        .post(upload["url"].as_str().expect("url"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("the local endpoint answers");
    Uploaded {
        status: answer.status().as_u16(),
        body: answer.text().await.unwrap_or_default(),
    }
}

/// S3's notification of an object created at `key` of `bucket` (the fixture, AWS's shape, with
/// the key URL-encoded as S3 sends it).
pub fn object_created(bucket: &str, key: &str, size: u64) -> String {
    let fixture = std::fs::read_to_string(
        infra::workspace_root().join("tests/fixtures/s3-event-object-created.json"),
    )
    .expect("fixture");
    let mut event: serde_json::Value = serde_json::from_str(&fixture).expect("json");
    let record = &mut event["Records"][0]["s3"];
    record["bucket"]["name"] = bucket.into();
    record["bucket"]["arn"] = format!("arn:aws:s3:::{bucket}").into();
    record["object"]["key"] = key.replace('/', "%2F").into();
    record["object"]["size"] = size.into();
    event.to_string()
}

/// S3's test event, sent once when a notification is configured.
pub fn s3_test_event() -> String {
    std::fs::read_to_string(infra::workspace_root().join("tests/fixtures/s3-test-event.json"))
        .expect("fixture")
}

/// The documents worker of `app`'s world, as the template's function (signing as its role).
pub fn documents_worker(app: &TestApp) -> worker_documents::DocumentsWorker {
    worker_documents::DocumentsWorker::new(app.state_of("WorkerDocumentsFunction").clone())
        .expect("the documents worker")
}

/// Runs the documents worker on S3's notifications of `keys` (uploads of the test bucket).
pub async fn settle(app: &TestApp, keys: &[(&str, u64)]) -> shared::worker::BatchOutcome {
    let bucket = documents_bucket().await;
    let bodies: Vec<String> = keys
        .iter()
        .map(|(key, size)| object_created(&bucket, key, *size))
        .collect();
    worker_documents::handle(
        &documents_worker(app),
        sqs_event(&bodies),
        crate::unhurried(),
    )
    .await
}
