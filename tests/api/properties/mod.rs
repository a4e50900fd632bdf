//! The property registry in-process against the local endpoint: registration with unique file
//! numbers, reads with the owner, transfers conditioned on the version, the ownership history,
//! and owners who cannot leave their properties behind.

mod documents;
mod leases;
mod ledger;
mod owners;
mod registry;
mod rent;
mod rent_roll;
mod transfers;
mod units;

use ferrite_tests::{Call, TestApp, TestResponse};
use serde_json::{Value, json};

fn property(file_number: &str) -> Value {
    json!({
        "fileNumber": file_number,
        "address": {
            "line1": "Hauptstraße 1",
            "city": "Berlin",
            "postalCode": "10115",
            "country": "de"
        },
        "kind": "residential"
    })
}

async fn create(app: &TestApp, token: &str, body: &Value) -> TestResponse {
    app.call(
        properties_create::handle,
        Call::new("POST", "/v1/properties").bearer(token).json(body),
    )
    .await
}

async fn get(app: &TestApp, token: &str, id: &str) -> TestResponse {
    app.call(
        properties_get::handle,
        Call::new("GET", "/v1/properties/{id}")
            .param("id", id)
            .bearer(token),
    )
    .await
}

fn transfer_call(token: &str, id: &str, body: &Value) -> Call {
    Call::new("POST", "/v1/properties/{id}/transfer")
        .param("id", id)
        .bearer(token)
        .json(body)
}

async fn transfer(app: &TestApp, token: &str, id: &str, body: &Value) -> TestResponse {
    app.call(properties_transfer::handle, transfer_call(token, id, body))
        .await
}

async fn history(app: &TestApp, token: &str, id: &str, limit: u16) -> TestResponse {
    app.call(
        properties_history::handle,
        Call::new("GET", "/v1/properties/{id}/ownership-history")
            .param("id", id)
            .query("limit", &limit.to_string())
            .bearer(token),
    )
    .await
}

/// A new unit labelled `label` of `property`: its id.
async fn unit(app: &TestApp, owner: &str, property: &str, label: &str) -> String {
    let unit = app
        .call(
            units_create::handle,
            Call::new("POST", "/v1/properties/{id}/units")
                .param("id", property)
                .bearer(owner)
                .json(&json!({"label": label})),
        )
        .await;
    assert_eq!(unit.status, 201, "{}", unit.body);
    id_of(&unit)
}

/// A lease of `unit` to `tenant_id` from `start` (125,000 EUR a month): its id.
async fn lease(app: &TestApp, owner: &str, unit: &str, tenant_id: &str, start: &str) -> String {
    let lease = app
        .call(
            leases_create::handle,
            Call::new("POST", "/v1/leases").bearer(owner).json(&json!({
                "unitId": unit, "tenantId": tenant_id, "startDate": start,
                "rent": {"amountMinor": 125_000, "currency": "EUR"}
            })),
        )
        .await;
    assert_eq!(lease.status, 201, "{}", lease.body);
    id_of(&lease)
}

fn id_of(response: &TestResponse) -> String {
    response.body["id"].as_str().expect("id").to_owned()
}

async fn list(app: &TestApp, token: &str, query: &[(&str, &str)]) -> TestResponse {
    let mut call = Call::new("GET", "/v1/properties").bearer(token);
    for (name, value) in query {
        call = call.query(name, value);
    }
    app.call(properties_list::handle, call).await
}

fn file_numbers(response: &TestResponse) -> Vec<String> {
    response.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["fileNumber"].as_str().expect("fileNumber").to_owned())
        .collect()
}

fn at(file_number: &str, city: &str, country: &str, kind: &str) -> Value {
    let mut body = property(file_number);
    body["address"]["city"] = json!(city);
    body["address"]["country"] = json!(country);
    body["kind"] = json!(kind);
    body
}
