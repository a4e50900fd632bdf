//! The property registry's share of the workload: virtual users register properties with units,
//! list them, lease units to each other, end leases, transfer properties to each other (both
//! owners are mailed) and delete what they no longer hold. Every answer is one the API
//! documents for the situation; a transfer or lease to an account deleted meanwhile is the
//! documented 422.

use anyhow::{Result, bail};
use infra::traffic::{self, Rng};
use reqwest::Method;
use serde_json::json;

use super::world::{Account, Shared};

/// The statuses a step may answer; anything else fails the run.
fn expect_one_of(answer: &traffic::Answer, statuses: &[u16], what: &str) -> Result<()> {
    if !statuses.contains(&answer.status) {
        bail!(
            "{what}: {} (expected one of {statuses:?}) {}",
            answer.status,
            answer.body
        );
    }
    Ok(())
}

/// Another account of the run (to lease to or transfer to): it may have been deleted since.
fn someone_else(shared: &Shared, rng: &mut Rng, me: &str) -> Option<String> {
    let directory = shared.directory.lock().ok()?;
    let others: Vec<&String> = directory.keys().filter(|id| *id != me).collect();
    if others.is_empty() {
        return None;
    }
    let pick = usize::try_from(rng.below(others.len() as u64)).unwrap_or(0);
    Some(others[pick].clone())
}

#[allow(clippy::too_many_lines)] // a menu of steps reads best as one match
pub(crate) async fn step(shared: &Shared, rng: &mut Rng, account: &mut Account) -> Result<()> {
    let client = &shared.client;
    let token = account.access.clone();
    match rng.weighted(&[6, 6, 4, 4, 4, 2, 3, 2, 4]) {
        0 => {
            let n = shared
                .file_numbers
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let cities = [("Bristol", "GB"), ("Leeds", "GB"), ("Lyon", "FR")];
            let (city, country) = cities[usize::try_from(rng.below(3)).unwrap_or(0)];
            let created = client
                .post(
                    "create property",
                    "/v1/properties",
                    Some(&token),
                    &json!({
                        "fileNumber": format!("SOAK-{}-{n}", &shared.run[..10]),
                        "kind": "residential",
                        "address": {"line1": format!("{n} {}", traffic::words(rng, 2).join(" ")), "city": city, "postalCode": "AB1 2CD", "country": country}
                    }),
                )
                .await?;
            traffic::expect(&created, 201, "create property")?;
            let Some(id) = created.str("/id") else {
                bail!("a created property without an id");
            };
            let unit = client
                .post(
                    "add unit",
                    &format!("/v1/properties/{id}/units"),
                    Some(&token),
                    &json!({"label": format!("Flat {}", 1 + rng.below(9)), "bedrooms": rng.below(4)}),
                )
                .await?;
            traffic::expect(&unit, 201, "add unit")?;
            account.properties.push(id);
        }
        1 => {
            let country = if rng.chance(70) { "GB" } else { "FR" };
            let page = client
                .get(
                    "list properties",
                    &format!("/v1/properties?country={country}&limit=20"),
                    Some(&token),
                )
                .await?;
            traffic::expect(&page, 200, "list properties")?;
        }
        2 => {
            let mine = client
                .get("my properties", "/v1/users/me/properties", Some(&token))
                .await?;
            traffic::expect(&mine, 200, "my properties")?;
            // What others transferred to me is mine to manage now.
            if let Some(items) = mine.body["items"].as_array() {
                account.properties = items
                    .iter()
                    .filter_map(|p| p["id"].as_str().map(str::to_owned))
                    .collect();
            }
        }
        3 => {
            let (Some(id), Some(to)) = (
                account.properties.last().cloned(),
                someone_else(shared, rng, &account.id),
            ) else {
                return Ok(());
            };
            let read = client
                .get(
                    "get property",
                    &format!("/v1/properties/{id}"),
                    Some(&token),
                )
                .await?;
            let Some(etag) = read.etag.filter(|_| read.status == 200) else {
                return Ok(());
            };
            let moved = client
                .call(
                    "transfer property",
                    Method::POST,
                    &format!("/v1/properties/{id}/transfer"),
                    Some(&token),
                    &[("if-match", &etag)],
                    Some(&json!({"newOwnerId": to, "note": "soak"})),
                )
                .await?;
            // 422: the new owner deleted their account meanwhile.
            expect_one_of(&moved, &[201, 422], "transfer property")?;
            if moved.status == 201 {
                account.properties.retain(|p| *p != id);
            }
        }
        4 => {
            let (Some(id), Some(tenant)) = (
                account.properties.first().cloned(),
                someone_else(shared, rng, &account.id),
            ) else {
                return Ok(());
            };
            let read = client
                .get(
                    "get property",
                    &format!("/v1/properties/{id}"),
                    Some(&token),
                )
                .await?;
            let vacant = read.body["units"].as_array().and_then(|units| {
                units
                    .iter()
                    .find(|u| u["status"] == "vacant")
                    .and_then(|u| u["id"].as_str().map(str::to_owned))
            });
            let Some(unit) = vacant else {
                return Ok(());
            };
            let leased = client
                .post(
                    "create lease",
                    "/v1/leases",
                    Some(&token),
                    &json!({"unitId": unit, "tenantId": tenant, "startDate": "2026-12-01", "rent": {"amountMinor": 95_000, "currency": "GBP"}}),
                )
                .await?;
            expect_one_of(&leased, &[201, 422], "create lease")?;
            if let Some(lease) = leased.str("/id") {
                account.leases.push(lease);
            }
        }
        5 => {
            let Some(lease) = account.leases.pop() else {
                return Ok(());
            };
            let ended = client
                .post(
                    "end lease",
                    &format!("/v1/leases/{lease}/end"),
                    Some(&token),
                    &json!({"endDate": "2027-01-31"}),
                )
                .await?;
            // 404: the property was transferred, so the lease is no longer mine to end.
            expect_one_of(&ended, &[200, 404], "end lease")?;
        }
        6 => {
            let leases = client
                .get("my leases", "/v1/users/me/leases", Some(&token))
                .await?;
            traffic::expect(&leases, 200, "my leases")?;
        }
        7 => {
            let Some(id) = account.properties.first().cloned() else {
                return Ok(());
            };
            let deleted = client
                .call(
                    "delete property",
                    Method::DELETE,
                    &format!("/v1/properties/{id}"),
                    Some(&token),
                    &[],
                    None,
                )
                .await?;
            // 409: a unit of it is leased.
            expect_one_of(&deleted, &[204, 409], "delete property")?;
            if deleted.status == 204 {
                account.properties.retain(|p| *p != id);
            }
        }
        _ => {
            // The ledger of a lease I made: a rent charge or a payment (its Idempotency-Key sent
            // twice, as a client retrying would), then the ledger and the property's rent roll.
            let Some(lease) = account.leases.last().cloned() else {
                return Ok(());
            };
            let amount = 10_000 + rng.below(90_000);
            let posted = if rng.chance(50) {
                client
                    .post(
                        "post charge",
                        &format!("/v1/leases/{lease}/charges"),
                        Some(&token),
                        &json!({"category": "rent", "amountMinor": amount, "currency": "GBP", "effectiveDate": "2027-01-01"}),
                    )
                    .await?
            } else {
                let key = format!("soak-{}", rng.below(u64::MAX));
                let body = json!({"amountMinor": amount, "currency": "GBP", "effectiveDate": "2027-01-03"});
                let path = format!("/v1/leases/{lease}/payments");
                let headers = [("idempotency-key", key.as_str())];
                let first = client
                    .call(
                        "record payment",
                        Method::POST,
                        &path,
                        Some(&token),
                        &headers,
                        Some(&body),
                    )
                    .await?;
                expect_one_of(&first, &[201, 404], "record payment")?;
                client
                    .call(
                        "record payment",
                        Method::POST,
                        &path,
                        Some(&token),
                        &headers,
                        Some(&body),
                    )
                    .await?
            };
            // 404: the property was transferred, so the lease is no longer mine; a retried
            // payment answers 200 with the first one.
            expect_one_of(&posted, &[200, 201, 404], "post to a ledger")?;
            let ledger = client
                .get(
                    "lease ledger",
                    &format!("/v1/leases/{lease}/ledger"),
                    Some(&token),
                )
                .await?;
            expect_one_of(&ledger, &[200, 404], "lease ledger")?;
            if let Some(property) = account.properties.first().cloned() {
                let roll = client
                    .get(
                        "rent roll",
                        &format!("/v1/properties/{property}/rent-roll?month=2027-01"),
                        Some(&token),
                    )
                    .await?;
                // 403: transferred away meanwhile; 404: deleted.
                expect_one_of(&roll, &[200, 403, 404], "rent roll")?;
            }
        }
    }
    Ok(())
}
