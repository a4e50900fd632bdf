//! What an operator reads, from the functions as they run under the local stack: JSON log
//! lines that name their request, function and cold start at the top level, and the EMF
//! documents CloudWatch would turn into metrics.

use ferrite_tests::{PASSWORD, eventually};

use super::{post, register_over_http};

/// The functions' output so far, the lines that are JSON.
fn log_lines() -> Vec<serde_json::Value> {
    let path =
        std::env::var("FERRITE_FUNCTIONS_LOG").expect("`make test` exports the functions log");
    std::fs::read_to_string(path)
        .expect("the functions log")
        .lines()
        .filter_map(|line| serde_json::from_str(line.trim()).ok())
        .collect()
}

/// The EMF document of the invocation `request_id` that holds `metric`.
fn emf<'a>(
    lines: &'a [serde_json::Value],
    request_id: &str,
    metric: &str,
) -> Option<&'a serde_json::Value> {
    lines.iter().find(|doc| {
        doc["requestId"] == request_id
            && doc["_aws"]["CloudWatchMetrics"]
                .as_array()
                .is_some_and(|sets| {
                    sets.iter().any(|set| {
                        set["Metrics"]
                            .as_array()
                            .is_some_and(|m| m.iter().any(|m| m["Name"] == metric))
                    })
                })
    })
}

#[tokio::test]
async fn sign_ins_write_emf_metrics_and_every_log_line_names_its_request_function_and_cold_start() {
    let account = register_over_http("metrics", "Metrics").await;
    let stack = std::env::var("FERRITE_STACK").expect("`make test` exports the stack");
    let sign_in = |password: &'static str| {
        let email = account.email.clone();
        async move {
            let answer = post(
                "/v1/auth/login",
                &serde_json::json!({"email": email, "password": password}),
                None,
            )
            .await;
            let status = answer.status().as_u16();
            let id = answer.headers()["x-request-id"]
                .to_str()
                .expect("ascii")
                .to_owned();
            (status, id)
        }
    };
    let (ok, ok_id) = sign_in(PASSWORD).await;
    assert_eq!(ok, 200);
    let (failed, failed_id) = sign_in("not the password at all").await;
    assert_eq!(failed, 401);

    // Lambda writes an invocation's output within it: the function's timeout bounds the wait
    // for both requests' "request handled" lines and the metrics flushed after them.
    let complete = |lines: &[serde_json::Value]| {
        [&ok_id, &failed_id].iter().all(|gateway_id| {
            lines
                .iter()
                .find(|l| {
                    l["apigwRequestId"] == gateway_id.as_str() && l["message"] == "request handled"
                })
                .and_then(|l| l["requestId"].as_str())
                .is_some_and(|request_id| {
                    emf(lines, request_id, "SignIn").is_some()
                        && emf(lines, request_id, "Request").is_some()
                })
        })
    };
    let (lines, _) = eventually(
        "the sign-ins' log lines and metrics",
        ferrite_tests::function_timeout("AuthLoginFunction"),
        || async {
            let lines = log_lines();
            complete(&lines).then_some(lines)
        },
    )
    .await;
    let handled = |gateway_id: &str| {
        lines
            .iter()
            .find(|l| l["apigwRequestId"] == gateway_id && l["message"] == "request handled")
            .unwrap_or_else(|| panic!("no log line of request {gateway_id}"))
            .clone()
    };
    for (gateway_id, outcome, class) in [(&ok_id, "ok", "2xx"), (&failed_id, "failed", "4xx")] {
        let line = handled(gateway_id);
        for key in [
            "timestamp",
            "level",
            "requestId",
            "traceId",
            "function",
            "coldStart",
        ] {
            assert!(line.get(key).is_some(), "{key} missing from {line}");
        }
        assert!(line["coldStart"].is_boolean(), "{line}");
        assert!(
            !line["function"].as_str().unwrap_or_default().is_empty(),
            "{line}"
        );
        let request_id = line["requestId"].as_str().expect("Lambda's request id");
        // Every line of the invocation carries it.
        assert!(
            lines
                .iter()
                .filter(|l| l["apigwRequestId"] == gateway_id.as_str())
                .all(|l| l["requestId"] == request_id)
        );
        let doc = emf(&lines, request_id, "SignIn").expect("a SignIn document");
        let set = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(set["Namespace"], format!("Ferrite/{stack}"));
        assert_eq!(set["Dimensions"], serde_json::json!([["outcome"]]));
        assert_eq!(doc["outcome"], outcome);
        assert_eq!(doc["SignIn"], 1);
        assert_eq!(
            doc["function"], line["function"],
            "a property, not a dimension"
        );
        let request = lines
            .iter()
            .find(|d| {
                d["requestId"] == request_id
                    && d.get("Request").is_some()
                    && d["statusClass"] == class
            })
            .unwrap_or_else(|| panic!("no Request document with statusClass {class}"));
        assert_eq!(request["Request"], 1);
    }
}

#[tokio::test]
async fn a_clients_request_id_is_logged_beside_ours_and_the_helmet_headers_come_through_the_gateway()
 {
    let client_id = format!("web-{}/42", ulid::Ulid::new());
    let answer = ferrite_tests::http()
        .get(format!("{}/v1/health", ferrite_tests::api_url()))
        .header("x-request-id", &client_id)
        .send()
        .await
        .expect("request");
    assert_eq!(answer.status(), 200);
    let ours = answer.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_ne!(
        ours, client_id,
        "the response names our id, not the client's"
    );
    for (name, value) in shared::http::SECURITY_HEADERS {
        assert_eq!(answer.headers()[*name], *value, "{name}");
    }
    let unusable = ferrite_tests::http()
        .get(format!("{}/v1/health", ferrite_tests::api_url()))
        .header("x-request-id", "has spaces in it")
        .send()
        .await
        .expect("request");
    let unusable_ours = unusable.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let (lines, _) = eventually(
        "the requests' log lines",
        ferrite_tests::function_timeout("HealthFunction"),
        || async {
            let lines = log_lines();
            let done = [&ours, &unusable_ours].iter().all(|id| {
                lines.iter().any(|l| {
                    l["apigwRequestId"] == id.as_str() && l["message"] == "request handled"
                })
            });
            done.then_some(lines)
        },
    )
    .await;
    let line = lines
        .iter()
        .find(|l| l["apigwRequestId"] == ours.as_str() && l["message"] == "request handled")
        .expect("the request's line");
    assert_eq!(line["clientRequestId"], client_id.as_str());
    let line = lines
        .iter()
        .find(|l| {
            l["apigwRequestId"] == unusable_ours.as_str() && l["message"] == "request handled"
        })
        .expect("the other request's line");
    assert!(line.get("clientRequestId").is_none(), "{line}");
}
