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

/// The "request handled" line of the request the gateway named `gateway_id`.
fn handled_line<'a>(
    lines: &'a [serde_json::Value],
    gateway_id: &str,
) -> Option<&'a serde_json::Value> {
    lines
        .iter()
        .find(|l| l["apigwRequestId"] == gateway_id && l["message"] == "request handled")
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
            handled_line(lines, gateway_id)
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
        handled_line(&lines, gateway_id)
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
        // Lambda's log-level filter keeps a line by its `level` and needs an RFC 3339
        // `timestamp`; without them it counts the document as INFO and drops it at WARN or ERROR.
        assert_eq!(doc["level"], "INFO", "{doc}");
        assert!(
            doc["timestamp"]
                .as_str()
                .is_some_and(|t| t.len() >= 20 && t.as_bytes()[10] == b'T' && t.ends_with('Z')),
            "{doc}"
        );
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
            let done = [&ours, &unusable_ours]
                .iter()
                .all(|id| handled_line(&lines, id).is_some());
            done.then_some(lines)
        },
    )
    .await;
    let line = handled_line(&lines, &ours).expect("the request's line");
    assert_eq!(line["clientRequestId"], client_id.as_str());
    let line = handled_line(&lines, &unusable_ours).expect("the other request's line");
    assert!(line.get("clientRequestId").is_none(), "{line}");
}

/// The alarm a function's deployment group watches for `metric` with `dimension` = the
/// function, as CloudFormation receives the template (SAM-expanded): its metric stat, if any.
fn canary_metric(function: &str, metric: &str, dimension: &str) -> Option<serde_json::Value> {
    let root = infra::workspace_root();
    let expanded =
        infra::tree::expanded(&root, &infra::template_path()).expect("the SAM expansion");
    let json = |v: &serde_yaml_ng::Value| serde_json::to_value(v).expect("json");
    let alias = expanded
        .resources_of("AWS::Lambda::Alias")
        .find(|a| json(a.properties)["FunctionName"]["Ref"] == function)?;
    let group = json(alias.definition)["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
        ["DeploymentGroupName"]["Ref"]
        .as_str()?
        .to_owned();
    let group = expanded.resources().find(|r| r.logical_id == group)?;
    let alarms = json(group.properties)["AlarmConfiguration"]["Alarms"].clone();
    alarms.as_array()?.iter().find_map(|entry| {
        let alarm = expanded
            .resources()
            .find(|r| Some(r.logical_id) == entry["Name"]["Ref"].as_str())?;
        json(alarm.properties)["Metrics"]
            .as_array()?
            .iter()
            .map(|m| m["MetricStat"]["Metric"].clone())
            .find(|m| {
                m["MetricName"] == metric
                    && m["Dimensions"]
                        == serde_json::json!([{"Name": dimension, "Value": {"Ref": function}}])
            })
    })
}

#[tokio::test]
async fn a_function_answering_5xx_moves_the_metric_its_own_canary_alarm_watches() {
    use shared::telemetry::metric::{FAILURE, FUNCTION_NAME};
    // What the template's canary watches for the readiness function (rolled back when it moves).
    let watched = canary_metric("HealthReadyFunction", FAILURE, FUNCTION_NAME)
        .expect("HealthReadyFunction's deployment group watches its Failure metric");
    assert_eq!(
        watched["Namespace"],
        serde_json::json!({"Fn::Sub": "Ferrite/${AWS::StackName}"})
    );

    // Make the running function fail for one request: its role is refused GetItem for a moment
    // (an explicit Deny added to its policies at the endpoint's IAM), then put back as it was.
    // Nothing else calls this route over HTTP while the tests run.
    let stack = std::env::var("FERRITE_STACK").expect("`make test` exports the stack");
    let key = infra::iam::access_key_id(&stack, "HealthReadyFunctionRole");
    let principals = format!("{}/_ferrite/iam/principals", ferrite_tests::endpoint());
    let http = ferrite_tests::http();
    let original: serde_json::Value = http
        .get(format!("{principals}?accessKeyId={key}"))
        .send()
        .await
        .expect("the endpoint")
        .error_for_status()
        .expect("the readiness function's role is registered")
        .json()
        .await
        .expect("json");
    let mut denied = original.clone();
    denied["statements"]
        .as_array_mut()
        .expect("statements")
        .push(serde_json::json!({"Effect": "Deny", "Action": "dynamodb:GetItem", "Resource": "*"}));
    let register = |principal: serde_json::Value| {
        let (http, principals) = (http.clone(), principals.clone());
        async move {
            http.post(&principals)
                .json(&serde_json::json!({"principals": [principal]}))
                .send()
                .await
                .expect("the endpoint")
                .error_for_status()
                .expect("registered");
        }
    };
    register(denied).await;
    let answer = http
        .get(format!("{}/v1/health/ready", ferrite_tests::api_url()))
        .send()
        .await;
    register(original).await;
    let answer = answer.expect("an answer");
    assert_eq!(answer.status(), 503, "the table refused: not ready");
    let gateway_id = answer.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();

    // The invocation's Failure document, written within the invocation.
    let (doc, _) = eventually(
        "the failed request's Failure metric",
        ferrite_tests::function_timeout("HealthReadyFunction"),
        || async {
            let lines = log_lines();
            let request_id = handled_line(&lines, &gateway_id)?["requestId"]
                .as_str()?
                .to_owned();
            emf(&lines, &request_id, FAILURE).cloned()
        },
    )
    .await;
    let set = &doc["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(set["Namespace"], format!("Ferrite/{stack}"));
    assert_eq!(set["Dimensions"], serde_json::json!([[FUNCTION_NAME]]));
    assert_eq!(doc[FAILURE], 1);
    // The dimension is the function's own name (AWS_LAMBDA_FUNCTION_NAME: in AWS what `!Ref` of
    // the function gives, the value the alarm names).
    assert!(
        !doc[FUNCTION_NAME].as_str().unwrap_or_default().is_empty(),
        "{doc}"
    );
    assert_eq!(doc[FUNCTION_NAME], doc["function"], "{doc}");
}
