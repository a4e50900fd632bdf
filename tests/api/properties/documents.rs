//! Documents of properties and leases against the local endpoint: recorded by the API, uploaded
//! by a browser straight to the bucket with the presigned POST (the local S3 checks its policy
//! as S3 does), checked by the documents worker on S3's notification, and downloaded with a
//! presigned link — each function signing as its own role, held to its S3 policy.

use ferrite_tests::documents::{documents_bucket, settle, upload_as_browser};
use ferrite_tests::{Call, TestApp, TestResponse};
use serde_json::{Value, json};
use shared::clock::Clock;

use super::{create, id_of, lease, property, unit};

const PDF: &[u8] = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";
const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R',
];

fn new_document(name: &str, content_type: &str, size: usize) -> Value {
    json!({"name": name, "contentType": content_type, "size": size})
}

async fn add_to_property(app: &TestApp, token: &str, property: &str, body: &Value) -> TestResponse {
    app.call(
        properties_documents_create::handle,
        Call::new("POST", "/v1/properties/{id}/documents")
            .param("id", property)
            .bearer(token)
            .json(body),
    )
    .await
}

async fn add_to_lease(app: &TestApp, token: &str, lease: &str, body: &Value) -> TestResponse {
    app.call(
        leases_documents_create::handle,
        Call::new("POST", "/v1/leases/{id}/documents")
            .param("id", lease)
            .bearer(token)
            .json(body),
    )
    .await
}

async fn fetch(app: &TestApp, token: &str, document: &str) -> TestResponse {
    app.call(
        documents_get::handle,
        Call::new("GET", "/v1/documents/{id}")
            .param("id", document)
            .bearer(token),
    )
    .await
}

/// A property of a new owner: (owner's token, property id).
async fn owned_property(app: &TestApp, email: &str) -> (String, String) {
    let (owner, _) = app.user(email, None).await;
    let number = format!("DOC-{}", &ulid::Ulid::new().to_string()[16..]);
    let created = create(app, &owner, &property(&number)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    (owner, id_of(&created))
}

/// A lease of a new unit of `property` to `tenant_id` from 2026-01-01: its id.
async fn leased(app: &TestApp, owner: &str, property: &str, tenant_id: &str) -> String {
    let label = format!("Flat {}", &ulid::Ulid::new().to_string()[20..]);
    let unit = unit(app, owner, property, &label).await;
    lease(app, owner, &unit, tenant_id, "2026-01-01").await
}

fn key_of(created: &TestResponse) -> String {
    created.body["upload"]["fields"]["key"]
        .as_str()
        .expect("the upload's key")
        .to_owned()
}

fn document_id(created: &TestResponse) -> String {
    created.body["document"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// Uploads [`PDF`] with `created`'s form as a browser would (S3 answers 204) and runs the
/// documents worker on its notification (no record fails): the document is ready.
async fn upload_checked(app: &TestApp, created: &TestResponse) {
    assert_eq!(
        upload_as_browser(&created.body["upload"], "document.pdf", PDF)
            .await
            .status,
        204
    );
    assert_eq!(
        settle(app, &[(&key_of(created), PDF.len() as u64)])
            .await
            .failed,
        0
    );
}

async fn stored(app: &TestApp, key: &str) -> bool {
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(app.state.sdk_config())
            .force_path_style(true)
            .build(),
    );
    s3.head_object()
        .bucket(documents_bucket().await)
        .key(key)
        .send()
        .await
        .is_ok()
}

#[tokio::test]
async fn an_owner_uploads_a_deed_as_a_browser_would_and_downloads_it_once_checked() {
    let app = TestApp::spawn().await;
    documents_bucket().await;
    let (owner, property) = owned_property(&app, "deed-owner@example.com").await;
    let created = add_to_property(
        &app,
        &owner,
        &property,
        &new_document("Title deed (2026).pdf", "application/pdf", PDF.len()),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = document_id(&created);
    assert_eq!(
        created.header("location"),
        Some(format!("/v1/documents/{id}").as_str())
    );
    assert_eq!(created.body["document"]["status"], "pending");
    let key = key_of(&created);
    assert_eq!(key, format!("incoming/{id}"), "keys carry ids only");
    // Pending: no link yet.
    let pending = fetch(&app, &owner, &id).await;
    assert_eq!(pending.status, 200);
    assert!(pending.body.get("download").is_none(), "{}", pending.body);

    let uploaded = upload_as_browser(&created.body["upload"], "deed.pdf", PDF).await;
    assert_eq!(uploaded.status, 204, "{}", uploaded.body);
    let outcome = settle(&app, &[(&key, PDF.len() as u64)]).await;
    assert_eq!(outcome.failed, 0);

    let ready = fetch(&app, &owner, &id).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.body["document"]["status"], "ready");
    assert_eq!(ready.body["document"]["size"], PDF.len());
    let link = ready.body["download"]["url"].as_str().expect("a link");
    let downloaded = ferrite_tests::http()
        .get(link)
        .send()
        .await
        .expect("S3 answers");
    assert_eq!(downloaded.status(), 200);
    assert_eq!(
        downloaded.headers()["content-disposition"],
        "attachment; filename=\"Title deed (2026).pdf\"; filename*=UTF-8''Title%20deed%20%282026%29.pdf"
    );
    assert_eq!(downloaded.headers()["content-type"], "application/pdf");
    assert_eq!(downloaded.bytes().await.expect("body").as_ref(), PDF);
    assert!(
        !stored(&app, &key).await,
        "the upload was moved out of incoming/"
    );
    let kinds: Vec<String> = app.outbox().await.into_iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&"document.added".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"document.ready".to_owned()), "{kinds:?}");
}

#[tokio::test]
async fn uploads_that_are_not_what_was_declared_are_rejected_removed_and_given_back_to_the_quota() {
    let app = TestApp::spawn().await;
    documents_bucket().await;
    let (owner, property) = owned_property(&app, "mistyped@example.com").await;
    // A PNG declared (and stored) as a PDF; an HTML page renamed .pdf.
    let html = b"<!doctype html><script>alert(1)</script>";
    let mut keys = Vec::new();
    let mut ids = Vec::new();
    for (name, file) in [("plan.pdf", PNG), ("contract.pdf", &html[..])] {
        let created = add_to_property(
            &app,
            &owner,
            &property,
            &new_document(name, "application/pdf", file.len()),
        )
        .await;
        assert_eq!(created.status, 201, "{}", created.body);
        let uploaded = upload_as_browser(&created.body["upload"], name, file).await;
        assert_eq!(
            uploaded.status, 204,
            "S3 takes it: the policy holds; {}",
            uploaded.body
        );
        keys.push((key_of(&created), file.len() as u64));
        ids.push(document_id(&created));
    }
    let pairs: Vec<(&str, u64)> = keys.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    assert_eq!(settle(&app, &pairs).await.failed, 0);
    for (id, (key, _)) in ids.iter().zip(&keys) {
        let rejected = fetch(&app, &owner, id).await;
        assert_eq!(
            rejected.body["document"]["status"], "rejected",
            "{}",
            rejected.body
        );
        assert_eq!(
            rejected.body["document"]["rejectedReason"],
            "the file's content is not of its declared type"
        );
        assert!(rejected.body.get("download").is_none());
        assert!(!stored(&app, key).await, "a refused upload is removed");
    }
    let property_item: Value = app
        .state
        .store
        .get(&shared::store::Key::new(
            format!("PROPERTY#{property}"),
            "PROPERTY",
        ))
        .await
        .expect("read")
        .expect("the property");
    assert_eq!(
        property_item["documentCount"], 0,
        "rejected documents leave the quota"
    );
    assert_eq!(property_item["documentBytes"], 0);
}

#[tokio::test]
async fn the_local_bucket_refuses_an_oversize_or_mistyped_upload_and_an_expired_link_before_any_worker_runs()
 {
    let app = TestApp::spawn().await;
    documents_bucket().await;
    let (owner, property) = owned_property(&app, "refused@example.com").await;
    let created = add_to_property(
        &app,
        &owner,
        &property,
        &new_document("deed.pdf", "application/pdf", 10),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let key = key_of(&created);
    // Larger than declared: S3 refuses by the policy's content-length-range.
    let oversize = upload_as_browser(&created.body["upload"], "deed.pdf", PDF).await;
    assert_eq!(
        (oversize.status, oversize.code()),
        (400, "EntityTooLarge"),
        "{}",
        oversize.body
    );
    // Another type than the policy's.
    let mut mistyped = created.body["upload"].clone();
    mistyped["fields"]["Content-Type"] = "text/html".into();
    let refused = upload_as_browser(&mistyped, "deed.pdf", b"%PDF-").await;
    assert_eq!(
        (refused.status, refused.code()),
        (403, "AccessDenied"),
        "{}",
        refused.body
    );
    assert!(!stored(&app, &key).await, "nothing reached the bucket");

    // A link handed out two minutes ago has expired (S3 answers 403 itself).
    let ready = add_to_property(
        &app,
        &owner,
        &property,
        &new_document("deed.pdf", "application/pdf", PDF.len()),
    )
    .await;
    let uploaded = upload_as_browser(&ready.body["upload"], "deed.pdf", PDF).await;
    assert_eq!(uploaded.status, 204, "{}", uploaded.body);
    settle(&app, &[(&key_of(&ready), PDF.len() as u64)]).await;
    let earlier = app.at(Clock::Fixed(
        std::time::SystemTime::now() - std::time::Duration::from_secs(120),
    ));
    let (admin, _) = earlier.admin("links-admin@example.com").await;
    let old = fetch(&earlier, &admin, &document_id(&ready)).await;
    let link = old.body["download"]["url"].as_str().expect("a link");
    let expired = ferrite_tests::http()
        .get(link)
        .send()
        .await
        .expect("S3 answers");
    assert_eq!(expired.status(), 403);
    assert!(
        expired
            .text()
            .await
            .unwrap_or_default()
            .contains("Request has expired")
    );
}

/// The notifications in `token`'s inbox, newest first.
async fn notices(app: &TestApp, token: &str) -> Vec<Value> {
    let inbox = ferrite_tests::workers::inbox(app, token, &[]).await;
    inbox.body["items"].as_array().expect("items").clone()
}

#[tokio::test]
async fn a_checked_document_is_told_to_the_owner_and_the_tenant_but_not_to_who_uploaded_it() {
    let app = TestApp::spawn().await;
    documents_bucket().await;
    let (owner, property) = owned_property(&app, "told-owner@example.com").await;
    let (tenant, tenant_id) = app.user("told-tenant@example.com", None).await;
    let lease = leased(&app, &owner, &property, &tenant_id).await;
    // The tenant adds the signed contract; the owner adds a floor plan to the lease and a
    // deed to the property; an upload that is not what it said is rejected.
    let mut keys = Vec::new();
    let mut added = Vec::new();
    for (token, to_lease, name, bytes) in [
        (&tenant, true, "contract.pdf", PDF),
        (&owner, true, "plan.pdf", PDF),
        (&owner, false, "deed.pdf", PDF),
        (&owner, false, "photo.pdf", PNG),
    ] {
        let body = new_document(name, "application/pdf", bytes.len());
        let created = if to_lease {
            add_to_lease(&app, token, &lease, &body).await
        } else {
            add_to_property(&app, token, &property, &body).await
        };
        assert_eq!(created.status, 201, "{}", created.body);
        let upload = upload_as_browser(&created.body["upload"], name, bytes).await;
        assert_eq!(upload.status, 204);
        keys.push((key_of(&created), bytes.len() as u64));
        added.push(document_id(&created));
    }
    let keys: Vec<(&str, u64)> = keys.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    assert_eq!(settle(&app, &keys).await.failed, 0);
    assert!(
        ferrite_tests::workers::notify(&app)
            .await
            .batch_item_failures
            .is_empty()
    );

    let owners = notices(&app, &owner).await;
    assert_eq!(owners.len(), 1, "only the tenant's upload: {owners:?}");
    assert_eq!(owners[0]["type"], "document.added");
    assert_eq!(
        owners[0]["data"],
        json!({"documentId": added[0], "name": "contract.pdf", "propertyId": property, "leaseId": lease})
    );
    let tenants: Vec<String> = notices(&app, &tenant)
        .await
        .iter()
        .map(|n| n["type"].as_str().expect("type").to_owned())
        .collect();
    assert_eq!(
        tenants,
        ["document.added", "lease.created"],
        "the plan of the lease, not the property's deed nor the rejected upload"
    );
}

#[tokio::test]
async fn a_replayed_upload_or_a_repeated_event_changes_nothing_once_the_document_is_decided() {
    let app = TestApp::spawn().await;
    documents_bucket().await;
    let (owner, property) = owned_property(&app, "replay@example.com").await;
    let created = add_to_property(
        &app,
        &owner,
        &property,
        &new_document("deed.pdf", "application/pdf", PDF.len()),
    )
    .await;
    let (key, id) = (key_of(&created), document_id(&created));
    upload_checked(&app, &created).await;
    // The same form again (its policy is still valid), then the same event twice.
    let forged = b"%PDF-1.7 another file entirely";
    assert_eq!(
        upload_as_browser(&created.body["upload"], "deed.pdf", forged)
            .await
            .status,
        204
    );
    let again = settle(
        &app,
        &[(&key, forged.len() as u64), (&key, forged.len() as u64)],
    )
    .await;
    assert_eq!(again.failed, 0);
    assert!(!stored(&app, &key).await, "the replayed upload is removed");
    let document = fetch(&app, &owner, &id).await;
    let link = document.body["download"]["url"].as_str().expect("a link");
    let body = ferrite_tests::http()
        .get(link)
        .send()
        .await
        .expect("S3")
        .bytes()
        .await
        .expect("body");
    assert_eq!(body.as_ref(), PDF, "the checked file stays what it was");
    let ready_events = app
        .outbox()
        .await
        .into_iter()
        .filter(|e| e.kind == "document.ready")
        .count();
    assert_eq!(ready_events, 1);
}

#[tokio::test]
async fn who_may_add_and_read_a_propertys_and_a_leases_documents() {
    let app = TestApp::spawn().await;
    documents_bucket().await;
    let (owner, property) = owned_property(&app, "who-owner@example.com").await;
    let (tenant, tenant_id) = app.user("who-tenant@example.com", None).await;
    let (stranger, _) = app.user("who-stranger@example.com", None).await;
    let (admin, _) = app.admin("who-admin@example.com").await;
    let lease = leased(&app, &owner, &property, &tenant_id).await;
    let body = new_document("contract.pdf", "application/pdf", PDF.len());

    // A property's documents: its owner and admins.
    assert_eq!(
        add_to_property(&app, &stranger, &property, &body)
            .await
            .status,
        403
    );
    assert_eq!(
        add_to_property(&app, &tenant, &property, &body)
            .await
            .status,
        403
    );
    let deed = add_to_property(&app, &admin, &property, &body).await;
    assert_eq!(deed.status, 201, "{}", deed.body);
    let deed = document_id(&deed);
    assert_eq!(fetch(&app, &owner, &deed).await.status, 200);
    assert_eq!(
        fetch(&app, &tenant, &deed).await.status,
        404,
        "a tenant sees the lease's only"
    );
    assert_eq!(fetch(&app, &stranger, &deed).await.status, 404);

    // A lease's: the tenant too (a signed contract), a stranger not at all.
    assert_eq!(
        add_to_lease(&app, &stranger, &lease, &body).await.status,
        404
    );
    let contract = add_to_lease(&app, &tenant, &lease, &body).await;
    assert_eq!(contract.status, 201, "{}", contract.body);
    assert_eq!(contract.body["document"]["leaseId"], lease.as_str());
    assert_eq!(contract.body["document"]["propertyId"], property.as_str());
    let contract = document_id(&contract);
    for token in [&owner, &tenant, &admin] {
        assert_eq!(fetch(&app, token, &contract).await.status, 200);
    }
    assert_eq!(fetch(&app, &stranger, &contract).await.status, 404);
    assert_eq!(
        fetch(&app, &stranger, &ulid::Ulid::new().to_string())
            .await
            .status,
        404
    );

    // Once the lease has ended its tenant reads its documents but adds none.
    let ended = app
        .call(
            leases_end::handle,
            Call::new("POST", "/v1/leases/{id}/end")
                .param("id", &lease)
                .bearer(&owner)
                .json(&json!({"endDate": "2026-06-30"})),
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    assert_eq!(fetch(&app, &tenant, &contract).await.status, 200);
    let refused = add_to_lease(&app, &tenant, &lease, &body).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(add_to_lease(&app, &owner, &lease, &body).await.status, 201);
}

#[tokio::test]
async fn requests_are_checked_field_by_field_and_quotas_are_refused_with_409_and_413() {
    let app = TestApp::spawn_with(
        Clock::System,
        &[
            ("DOCUMENTS_PER_PROPERTY", "2"),
            ("DOCUMENT_MAX_BYTES", "1000"),
            ("DOCUMENT_BYTES_PER_PROPERTY", "1500"),
        ],
    )
    .await;
    documents_bucket().await;
    let (owner, property) = owned_property(&app, "quota@example.com").await;
    let invalid = add_to_property(
        &app,
        &owner,
        &property,
        &json!({"name": "  ", "contentType": "text/html", "size": 0, "path": "/etc"}),
    )
    .await;
    assert_eq!(invalid.status, 400, "an unknown field: {}", invalid.body);
    let invalid = add_to_property(
        &app,
        &owner,
        &property,
        &json!({"name": "  ", "contentType": "text/html", "size": 0}),
    )
    .await;
    assert_eq!(invalid.status, 422, "{}", invalid.body);
    let mut fields: Vec<&str> = invalid.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["contentType", "name", "size"],
        "every problem at once"
    );
    let too_big = add_to_property(
        &app,
        &owner,
        &property,
        &new_document("a.pdf", "application/pdf", 1001),
    )
    .await;
    assert_eq!(too_big.status, 422, "{}", too_big.body);

    let first = add_to_property(
        &app,
        &owner,
        &property,
        &new_document("a.pdf", "application/pdf", 1000),
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.body);
    let bytes = add_to_property(
        &app,
        &owner,
        &property,
        &new_document("b.pdf", "application/pdf", 501),
    )
    .await;
    assert_eq!(bytes.status, 413, "{}", bytes.body);
    assert_eq!(bytes.body["code"], "DOCUMENT_BYTES_QUOTA");
    let second = add_to_property(
        &app,
        &owner,
        &property,
        &new_document("b.pdf", "image/PNG", 500),
    )
    .await;
    assert_eq!(second.status, 201, "{}", second.body);
    assert_eq!(second.body["document"]["contentType"], "image/png");
    let third = add_to_property(
        &app,
        &owner,
        &property,
        &new_document("c.pdf", "application/pdf", 1),
    )
    .await;
    assert_eq!(third.status, 409, "{}", third.body);
    assert_eq!(third.body["code"], "DOCUMENT_QUOTA");
    let missing = add_to_property(
        &app,
        &owner,
        &ulid::Ulid::new().to_string(),
        &new_document("c.pdf", "application/pdf", 1),
    )
    .await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn documents_added_at_once_never_exceed_the_propertys_quota() {
    let app = TestApp::spawn_with(Clock::System, &[("DOCUMENTS_PER_PROPERTY", "3")]).await;
    documents_bucket().await;
    let (owner, property) = owned_property(&app, "racing-docs@example.com").await;
    let call = |n: usize| {
        Call::new("POST", "/v1/properties/{id}/documents")
            .param("id", &property)
            .bearer(&owner)
            .json(&new_document(&format!("{n}.pdf"), "application/pdf", 100))
    };
    let statuses = app
        .statuses_at_once(
            properties_documents_create::handle,
            (0..8).map(call).collect(),
        )
        .await;
    let created = statuses.iter().filter(|s| **s == 201).count();
    assert_eq!(created, 3, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn the_worker_acknowledges_s3s_test_event_and_refuses_another_buckets() {
    let app = TestApp::spawn().await;
    let bucket = documents_bucket().await;
    let worker = ferrite_tests::documents::documents_worker(&app);
    let test_event = ferrite_tests::documents::s3_test_event();
    let other = ferrite_tests::documents::object_created("someone-elses-bucket", "incoming/x", 1);
    let outcome = worker_documents::handle(
        &worker,
        ferrite_tests::sqs_event(&[test_event, other, "not json".to_owned()]),
        ferrite_tests::unhurried(),
    )
    .await;
    assert_eq!(outcome.records, 3);
    assert_eq!(
        outcome.failed, 2,
        "the other bucket's event and the garbage fail"
    );
    assert!(!bucket.is_empty());
}

async fn remove(app: &TestApp, token: &str, document: &str) -> TestResponse {
    app.call(
        documents_delete::handle,
        Call::new("DELETE", "/v1/documents/{id}")
            .param("id", document)
            .bearer(token),
    )
    .await
}

#[tokio::test]
async fn a_deleted_document_gives_its_quota_back_and_the_worker_removes_its_file() {
    let app = TestApp::spawn().await;
    documents_bucket().await;
    let (owner, property) = owned_property(&app, "delete-owner@example.com").await;
    let created = add_to_property(
        &app,
        &owner,
        &property,
        &new_document("deed.pdf", "application/pdf", PDF.len()),
    )
    .await;
    let id = document_id(&created);
    upload_checked(&app, &created).await;
    let stored_key = format!("documents/{id}");
    assert!(stored(&app, &stored_key).await);

    assert_eq!(remove(&app, &owner, &id).await.status, 204);
    assert_eq!(fetch(&app, &owner, &id).await.status, 404);
    let property_item: Value = app
        .state
        .store
        .get(&shared::store::Key::new(
            format!("PROPERTY#{property}"),
            "PROPERTY",
        ))
        .await
        .expect("read")
        .expect("the property");
    assert_eq!(property_item["documentCount"], 0);
    assert_eq!(property_item["documentBytes"], 0);
    // The event reaches the worker (DocumentsRule), which removes the file; twice is harmless.
    let deleted = app.last_event("document.deleted").await.expect("the event");
    let record = ferrite_tests::stream_record(&deleted);
    let worker = ferrite_tests::documents::documents_worker(&app);
    let outcome = worker_documents::handle(
        &worker,
        ferrite_tests::sqs_event(&[record.clone(), record]),
        ferrite_tests::unhurried(),
    )
    .await;
    assert_eq!(outcome.failed, 0);
    assert!(!stored(&app, &stored_key).await, "the file is gone");
}

#[tokio::test]
async fn two_deletions_at_once_delete_once_and_a_tenant_deletes_only_while_the_lease_runs() {
    let app = TestApp::spawn().await;
    documents_bucket().await;
    let (owner, property) = owned_property(&app, "delete-race@example.com").await;
    let (tenant, tenant_id) = app.user("delete-tenant@example.com", None).await;
    let lease = leased(&app, &owner, &property, &tenant_id).await;
    let body = new_document("contract.pdf", "application/pdf", 100);
    let raced = document_id(&add_to_lease(&app, &tenant, &lease, &body).await);
    let call = || {
        Call::new("DELETE", "/v1/documents/{id}")
            .param("id", &raced)
            .bearer(&owner)
    };
    let mut statuses = app
        .statuses_at_once(documents_delete::handle, vec![call(), call()])
        .await;
    statuses.sort_unstable();
    assert_eq!(statuses, [204, 404]);
    let deleted = app
        .outbox()
        .await
        .into_iter()
        .filter(|e| e.kind == "document.deleted")
        .count();
    assert_eq!(deleted, 1);

    let running = document_id(&add_to_lease(&app, &tenant, &lease, &body).await);
    assert_eq!(remove(&app, &tenant, &running).await.status, 204);
    let kept = document_id(&add_to_lease(&app, &tenant, &lease, &body).await);
    let ended = app
        .call(
            leases_end::handle,
            Call::new("POST", "/v1/leases/{id}/end")
                .param("id", &lease)
                .bearer(&owner)
                .json(&json!({"endDate": "2026-06-30"})),
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    assert_eq!(remove(&app, &tenant, &kept).await.status, 403);
    let (stranger, _) = app.user("delete-stranger@example.com", None).await;
    assert_eq!(remove(&app, &stranger, &kept).await.status, 404);
    assert_eq!(remove(&app, &owner, &kept).await.status, 204);
}

async fn listing(
    app: &TestApp,
    token: &str,
    route: &str,
    id: &str,
    cursor: Option<&str>,
) -> TestResponse {
    let call = Call::new("GET", route)
        .param("id", id)
        .query("limit", "2")
        .bearer(token);
    let call = match cursor {
        Some(cursor) => call.query("cursor", cursor),
        None => call,
    };
    if route.starts_with("/v1/properties") {
        app.call(properties_documents_list::handle, call).await
    } else {
        app.call(leases_documents_list::handle, call).await
    }
}

#[tokio::test]
async fn a_propertys_and_a_leases_documents_are_listed_newest_first_page_by_page_to_who_may_read_them()
 {
    let app = TestApp::spawn().await;
    documents_bucket().await;
    let (owner, property) = owned_property(&app, "list-owner@example.com").await;
    let (tenant, tenant_id) = app.user("list-tenant@example.com", None).await;
    let (stranger, _) = app.user("list-stranger@example.com", None).await;
    let lease = leased(&app, &owner, &property, &tenant_id).await;
    let mut own = Vec::new();
    for n in 0..3 {
        let body = new_document(&format!("plan {n}.pdf"), "application/pdf", 100);
        own.push(document_id(
            &add_to_property(&app, &owner, &property, &body).await,
        ));
    }
    let contract = document_id(
        &add_to_lease(
            &app,
            &tenant,
            &lease,
            &new_document("contract.pdf", "application/pdf", 100),
        )
        .await,
    );

    let first = listing(
        &app,
        &owner,
        "/v1/properties/{id}/documents",
        &property,
        None,
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let cursor = first.body["nextCursor"].as_str().expect("a second page");
    let second = listing(
        &app,
        &owner,
        "/v1/properties/{id}/documents",
        &property,
        Some(cursor),
    )
    .await;
    let listed: Vec<&str> = first.body["items"]
        .as_array()
        .into_iter()
        .chain(second.body["items"].as_array())
        .flatten()
        .filter_map(|d| d["id"].as_str())
        .collect();
    own.reverse();
    assert_eq!(
        listed, own,
        "newest first, the lease's document not among the property's"
    );
    assert!(second.body.get("nextCursor").is_none_or(Value::is_null));

    for token in [&owner, &tenant] {
        let leases = listing(&app, token, "/v1/leases/{id}/documents", &lease, None).await;
        assert_eq!(leases.status, 200, "{}", leases.body);
        assert_eq!(leases.body["items"][0]["id"], contract.as_str());
        assert_eq!(leases.body["items"][0]["status"], "pending");
    }
    assert_eq!(
        listing(&app, &stranger, "/v1/leases/{id}/documents", &lease, None)
            .await
            .status,
        404
    );
    assert_eq!(
        listing(
            &app,
            &tenant,
            "/v1/properties/{id}/documents",
            &property,
            None
        )
        .await
        .status,
        403
    );
}

#[tokio::test]
async fn a_deleted_propertys_documents_and_its_leases_are_purged_resumably_and_their_files_removed()
{
    let app = TestApp::spawn().await;
    documents_bucket().await;
    let (owner, property) = owned_property(&app, "purge-owner@example.com").await;
    let (tenant, tenant_id) = app.user("purge-tenant@example.com", None).await;
    let lease = leased(&app, &owner, &property, &tenant_id).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let body = new_document(&format!("plan {n}.pdf"), "application/pdf", PDF.len());
        let created = add_to_property(&app, &owner, &property, &body).await;
        upload_checked(&app, &created).await;
        ids.push(document_id(&created));
    }
    let contract = add_to_lease(
        &app,
        &tenant,
        &lease,
        &new_document("contract.pdf", "application/pdf", 100),
    )
    .await;
    ids.push(document_id(&contract));
    let ended = app
        .call(
            leases_end::handle,
            Call::new("POST", "/v1/leases/{id}/end")
                .param("id", &lease)
                .bearer(&owner)
                .json(&json!({"endDate": "2026-06-30"})),
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    let deleted = app
        .call(
            properties_delete::handle,
            Call::new("DELETE", "/v1/properties/{id}")
                .param("id", &property)
                .bearer(&owner),
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    let event = app.last_event("property.deleted").await.expect("the event");
    let record = ferrite_tests::stream_record(&event);
    let worker = ferrite_tests::documents::documents_worker(&app);
    // A run whose deadline has passed stops at once and asks to be delivered again.
    let stopped = worker_documents::handle(
        &worker,
        ferrite_tests::sqs_event(std::slice::from_ref(&record)),
        std::time::SystemTime::now(),
    )
    .await;
    assert_eq!(
        stopped.batch_item_failures.len(),
        1,
        "unfinished: delivered again"
    );
    let finished = worker_documents::handle(
        &worker,
        ferrite_tests::sqs_event(&[record.clone(), record]),
        ferrite_tests::unhurried(),
    )
    .await;
    assert_eq!(finished.failed, 0);
    assert!(finished.batch_item_failures.is_empty());
    let (admin, _) = app.admin("purge-admin@example.com").await;
    for id in &ids {
        assert_eq!(fetch(&app, &admin, id).await.status, 404, "{id} purged");
    }
    // Each purged document's own event removes its file.
    let removals: Vec<String> = app
        .outbox()
        .await
        .iter()
        .filter(|e| e.kind == "document.deleted")
        .map(ferrite_tests::stream_record)
        .collect();
    assert_eq!(removals.len(), ids.len());
    let removed = worker_documents::handle(
        &worker,
        ferrite_tests::sqs_event(&removals),
        ferrite_tests::unhurried(),
    )
    .await;
    assert_eq!(removed.failed, 0);
    for id in &ids[..3] {
        assert!(
            !stored(&app, &format!("documents/{id}")).await,
            "{id}'s file removed"
        );
    }
}

#[tokio::test]
async fn a_transfer_hands_the_propertys_documents_to_the_new_owner_at_once() {
    let app = TestApp::spawn().await;
    documents_bucket().await;
    let (seller, property) = owned_property(&app, "doc-seller@example.com").await;
    let (buyer, buyer_id) = app.user("doc-buyer@example.com", None).await;
    let deed = document_id(
        &add_to_property(
            &app,
            &seller,
            &property,
            &new_document("deed.pdf", "application/pdf", 100),
        )
        .await,
    );
    assert_eq!(fetch(&app, &buyer, &deed).await.status, 404);
    let sold = super::transfer(&app, &seller, &property, &json!({"newOwnerId": buyer_id})).await;
    assert_eq!(sold.status, 201, "{}", sold.body);
    // Nothing of the documents was rewritten: they follow the property.
    assert_eq!(fetch(&app, &buyer, &deed).await.status, 200);
    assert_eq!(fetch(&app, &seller, &deed).await.status, 404);
    let listed = listing(
        &app,
        &buyer,
        "/v1/properties/{id}/documents",
        &property,
        None,
    )
    .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["items"][0]["id"], deed.as_str());
    let more = add_to_property(
        &app,
        &buyer,
        &property,
        &new_document("survey.pdf", "application/pdf", 100),
    )
    .await;
    assert_eq!(more.status, 201, "{}", more.body);
}
