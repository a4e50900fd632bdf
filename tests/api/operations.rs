//! What an operator relies on, checked in the stacks and samconfig.toml (no stack needed): a
//! later change cannot drop an alarm, a log group, a pipe's dead-letter queue, the canary or a
//! secret's home without one of these failing.

use std::collections::BTreeSet;

use serde_json::{Value, json};

/// The tree of stacks as one template (`infra::tree`), as JSON in CloudFormation's long form
/// (`!Ref X` → `{"Ref": "X"}`, `!GetAtt A.B` → `{"Fn::GetAtt": ["A", "B"]}`).
fn template() -> Value {
    plain(&infra::tree::template().expect("the stacks").to_value())
}

fn plain(value: &serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => json!(b),
        Y::Number(n) => serde_json::to_value(n).unwrap_or(Value::Null),
        Y::String(s) => json!(s),
        Y::Sequence(items) => items.iter().map(plain).collect(),
        Y::Mapping(map) => map
            .iter()
            .map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), plain(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let key = if name == "Ref" {
                "Ref".to_owned()
            } else {
                format!("Fn::{name}")
            };
            json!({ key: plain(&tagged.value) })
        }
    }
}

fn resources(template: &Value, kind: &str) -> Vec<(String, Value)> {
    template["Resources"]
        .as_object()
        .expect("resources")
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(id, r)| (id.clone(), r.clone()))
        .collect()
}

fn reference(id: &str) -> Value {
    json!({ "Ref": id })
}

/// Every logical id `value` names with `Ref` or `Fn::GetAtt` (and in `Fn::Sub` strings).
fn named(value: &Value, into: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("Ref", Value::String(id)) => {
                        into.insert(id.clone());
                    }
                    ("Fn::GetAtt", Value::String(target)) => {
                        into.insert(target.split('.').next().unwrap_or_default().to_owned());
                    }
                    ("Fn::GetAtt", Value::Array(parts)) => {
                        into.insert(parts[0].as_str().unwrap_or_default().to_owned());
                    }
                    _ => named(inner, into),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| named(i, into)),
        Value::String(text) => {
            for part in text.split("${").skip(1) {
                if let Some(id) = part.split(['}', '.']).next() {
                    into.insert(id.to_owned());
                }
            }
        }
        _ => {}
    }
}

fn names(value: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    named(value, &mut out);
    out
}

#[test]
fn every_alarm_notifies_the_stacks_topic_and_the_dashboard_shows_every_alarm() {
    let template = template();
    let alarms = resources(&template, "AWS::CloudWatch::Alarm");
    let ids: BTreeSet<&str> = alarms.iter().map(|(id, _)| id.as_str()).collect();
    for expected in [
        "ApiServerErrorAlarm",
        "ApiLatencyAlarm",
        "FunctionThrottleAlarm",
        "AuditQueueAgeAlarm",
        "EmailQueueAgeAlarm",
        "PurgeQueueAgeAlarm",
        "AuditDeadLetterAlarm",
        "EmailDeadLetterAlarm",
        "PurgeDeadLetterAlarm",
        "PipeDeadLetterAlarm",
        "PipeFailureAlarm",
        "EventDeliveryAlarm",
        "EventDeadLetterAlarm",
        "TableThrottleAlarm",
        "EmailBounceAlarm",
        "EmailComplaintAlarm",
        "RefreshReuseAlarm",
    ] {
        assert!(ids.contains(expected), "no {expected}");
    }
    for (id, alarm) in &alarms {
        assert_eq!(
            alarm["Properties"]["AlarmActions"],
            json!([reference("AlarmTopic")]),
            "{id} notifies the stack's topic"
        );
    }
    assert_eq!(
        resources(&template, "AWS::SNS::Topic").len(),
        1,
        "one alarm topic, made by the stack"
    );
    let subscription = &template["Resources"]["AlarmSubscription"];
    assert_eq!(subscription["Condition"], "HasAlarmEmail");
    assert_eq!(
        subscription["Properties"]["Endpoint"],
        reference("AlarmEmail")
    );
    // Every dead-letter queue and every worker's queue is watched.
    let queues = resources(&template, "AWS::SQS::Queue");
    let watched: BTreeSet<String> = alarms
        .iter()
        .flat_map(|(_, alarm)| names(&alarm["Properties"]["Dimensions"]))
        .collect();
    for (id, _) in &queues {
        assert!(watched.contains(id), "no alarm watches {id}");
    }
    let dashboards = resources(&template, "AWS::CloudWatch::Dashboard");
    assert_eq!(dashboards.len(), 1);
    let body = &dashboards[0].1["Properties"]["DashboardBody"];
    let shown = names(body);
    for id in &ids {
        // Each function's canary alarm watches that function's errors and Failure metric: the
        // dashboard shows those metrics for every function (a search), not fifty alarms.
        if id.ends_with("CanaryAlarm") {
            continue;
        }
        assert!(shown.contains(*id), "the dashboard does not show {id}");
    }
    let pattern = body["Fn::Sub"][0].as_str().unwrap_or_default();
    assert!(
        pattern.contains(r#"FunctionName} MetricName=\"Failure\""#),
        "the dashboard searches every function's Failure metric"
    );
    // CloudWatch takes the body only as JSON: it is, once its `${…}` are substituted.
    let text = body["Fn::Sub"][0].as_str().expect("a Fn::Sub body");
    let substituted: String = text
        .split("${")
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part.to_owned()
            } else {
                format!("X{}", part.split_once('}').map_or("", |(_, rest)| rest))
            }
        })
        .collect();
    let dashboard: Value = serde_json::from_str(&substituted).expect("the dashboard is JSON");
    assert!(
        dashboard["widgets"]
            .as_array()
            .is_some_and(|w| w.len() >= 8)
    );
}

#[test]
fn every_function_logs_to_a_stack_log_group_with_retention_and_the_api_keeps_an_access_log() {
    let template = template();
    let logging = &template["Globals"]["Function"]["LoggingConfig"];
    assert_eq!(logging["LogFormat"], "JSON");
    assert_eq!(logging["SystemLogLevel"], "INFO", "REPORT lines are kept");
    assert_eq!(logging["LogGroup"], reference("FunctionLogGroup"));
    for (id, function) in resources(&template, "AWS::Serverless::Function") {
        assert!(
            function["Properties"].get("LoggingConfig").is_none(),
            "{id} overrides the stack's logging"
        );
    }
    for (id, group) in resources(&template, "AWS::Logs::LogGroup") {
        assert_eq!(
            group["Properties"]["RetentionInDays"],
            reference("LogRetentionDays"),
            "{id} expires"
        );
    }
    let access = &template["Resources"]["HttpApiStage"]["Properties"]["AccessLogSettings"];
    assert_eq!(
        access["DestinationArn"],
        json!({"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]})
    );
    let format: Value = serde_json::from_str(access["Format"].as_str().expect("a format"))
        .expect("the access log is JSON");
    assert_eq!(format["requestId"], "$context.requestId");
    assert_eq!(format["status"], "$context.status");
    let format_text = access["Format"].as_str().unwrap_or_default();
    assert!(
        !format_text.contains("header") && !format_text.contains("querystring"),
        "the access log holds no headers or query strings (tokens)"
    );
}

#[test]
fn every_pipe_gives_up_into_a_dead_letter_queue_after_bounded_retries_and_logs_its_failures() {
    let template = template();
    let pipes = resources(&template, "AWS::Pipes::Pipe");
    assert_eq!(pipes.len(), 1, "one reader of the table's stream");
    for (id, pipe) in &pipes {
        let source = &pipe["Properties"]["SourceParameters"]["DynamoDBStreamParameters"];
        let retries = source["MaximumRetryAttempts"]
            .as_i64()
            .expect("a retry limit");
        assert!((0..=10).contains(&retries), "{id}: {retries} retries");
        let age = source["MaximumRecordAgeInSeconds"]
            .as_i64()
            .expect("an age limit");
        assert!((60..=86_400).contains(&age), "{id}: records of {age} s");
        let dlq = &source["DeadLetterConfig"]["Arn"];
        assert_eq!(
            dlq,
            &json!({"Fn::GetAtt": ["PipeDeadLetterQueue", "Arn"]}),
            "{id}"
        );
        let logs = &pipe["Properties"]["LogConfiguration"];
        assert_eq!(logs["Level"], "ERROR", "{id}");
        // Its role may write to both.
        let role = pipe["Properties"]["RoleArn"]["Fn::GetAtt"][0]
            .as_str()
            .expect("a role");
        let policies = names(&template["Resources"][role]["Properties"]["Policies"]);
        assert!(policies.contains("PipeDeadLetterQueue"), "{role}");
        assert!(policies.contains("PipeLogGroup"), "{role}");
    }
    let email = &template["Resources"]["WorkerEmailFunction"]["Properties"];
    assert_eq!(
        email["Events"]["Queue"]["Properties"]["ScalingConfig"]["MaximumConcurrency"], 2,
        "the email worker is capped below SES's send rate"
    );
}

#[test]
fn releases_go_out_as_a_canary_rolled_back_by_the_alarms_and_prod_refuses_local_values() {
    let template = template();
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["AutoPublishAlias"], "live");
    let preference = &globals["DeploymentPreference"];
    assert_eq!(
        preference["Type"],
        json!({"Fn::If": ["IsProd", "Canary10Percent5Minutes", "AllAtOnce"]})
    );
    // Each function is rolled back by its own alarm, never one of the API's (infra/tests/
    // test_aws_rules.py checks what the alarms watch, on the SAM-expanded template).
    assert!(
        preference.get("Alarms").is_none(),
        "no stack-wide rollback alarm"
    );
    for (id, function) in resources(&template, "AWS::Serverless::Function") {
        let stem = id.trim_end_matches("Function");
        assert_eq!(
            function["Properties"]["DeploymentPreference"]["Alarms"],
            json!([reference(&format!("{stem}CanaryAlarm"))]),
            "{id}"
        );
    }
    assert!(
        globals.get("Tracing").is_none(),
        "tracing is off, for the reason docs/operating.md gives"
    );
    let table = &template["Resources"]["Table"];
    assert_eq!(table["Properties"]["DeletionProtectionEnabled"], true);
    assert_eq!(table["DeletionPolicy"], "Retain");
    let rule = &template["Rules"]["ProductionValues"];
    assert_eq!(
        rule["RuleCondition"],
        json!({"Fn::Equals": [reference("Stage"), "prod"]})
    );
    let asserted = names(&rule["Assertions"]);
    for parameter in ["AppBaseUrl", "EmailSender", "CorsAllowedOrigins"] {
        assert!(asserted.contains(parameter), "prod checks {parameter}");
    }
}

#[test]
fn secrets_live_in_secrets_manager_read_on_first_use_by_exactly_the_functions_that_need_them() {
    let template = template();
    for (name, parameter) in template["Parameters"].as_object().expect("parameters") {
        assert!(
            parameter.get("NoEcho").is_none(),
            "{name}: a secret parameter would be a plain environment variable"
        );
    }
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert!(globals.get("CURSOR_SECRET").is_none());
    let cursor = &template["Resources"]["CursorKeySecret"];
    assert_eq!(cursor["Type"], "AWS::SecretsManager::Secret");
    assert!(cursor["Properties"]["GenerateSecretString"].is_object());
    for (id, function) in resources(&template, "AWS::Serverless::Function") {
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("a binary");
        let main = std::fs::read_to_string(
            infra::workspace_root().join(format!("functions/{binary}/src/main.rs")),
        )
        .expect("main.rs");
        let env = &function["Properties"]["Environment"]["Variables"];
        let policies = names(&function["Properties"]["Policies"]);
        for (reads, variable, secret) in [
            (
                main.contains("with_cursor_key"),
                "CURSOR_SECRET_ID",
                "CursorKeySecret",
            ),
            (
                main.contains("with_signing_key"),
                "SIGNING_KEY_SECRET_ID",
                "SigningKeySecretName",
            ),
        ] {
            assert_eq!(
                env.get(variable).is_some(),
                reads,
                "{id}: {variable} is given exactly to the functions that read it"
            );
            assert_eq!(
                policies.contains(secret),
                reads,
                "{id}: may read {secret} exactly when it does"
            );
        }
    }
}

#[test]
fn the_email_sender_has_its_identity_a_configuration_set_with_bounces_and_a_display_name() {
    let template = template();
    let identity = &template["Resources"]["EmailIdentity"];
    assert_eq!(identity["Type"], "AWS::SES::EmailIdentity");
    // The sender's domain (SES verifies it by DNS, and signs its mail with Easy DKIM).
    assert_eq!(
        identity["Properties"]["EmailIdentity"],
        json!({"Fn::Select": [1, {"Fn::Split": ["@", reference("EmailSender")]}]})
    );
    let destination = &template["Resources"]["EmailEventsToCloudWatch"]["Properties"];
    let events = destination["EventDestination"]["MatchingEventTypes"]
        .as_array()
        .expect("event types");
    assert!(events.contains(&json!("bounce")) && events.contains(&json!("complaint")));
    let worker = &template["Resources"]["WorkerEmailFunction"]["Properties"];
    let env = &worker["Environment"]["Variables"];
    assert_eq!(
        env["EMAIL_CONFIGURATION_SET"],
        reference("EmailConfigurationSet")
    );
    assert_eq!(env["EMAIL_SENDER"], reference("EmailSender"));
    assert_eq!(env["EMAIL_SENDER_NAME"], reference("EmailSenderName"));
    // The IAM condition compares the address alone.
    let statements = worker["Policies"][0]["Statement"]
        .as_array()
        .expect("statements");
    let send = statements
        .iter()
        .find(|s| s["Action"] == "ses:SendEmail")
        .expect("ses:SendEmail");
    assert_eq!(
        send["Condition"]["StringEquals"]["ses:FromAddress"],
        reference("EmailSender")
    );
}

#[test]
fn samconfig_has_a_dev_and_a_prod_environment_and_no_secret() {
    let text =
        std::fs::read_to_string(infra::workspace_root().join("samconfig.toml")).expect("samconfig");
    for env in ["dev", "prod"] {
        let header = format!("[{env}.deploy.parameters]");
        let section = text
            .split(&header)
            .nth(1)
            .unwrap_or_else(|| panic!("no {header}"));
        let section = section.split("\n[").next().unwrap_or_default();
        assert!(section.contains(&format!("Stage={env}")), "{env}: Stage");
        assert!(
            section.contains("confirm_changeset = false"),
            "{env}: no prompt"
        );
        assert!(section.contains("region = "), "{env}: one region");
    }
    for secret in [
        "JwtPublicKeys",
        "CursorSecret",
        "SigningKeyId",
        "password",
        "secret =",
    ] {
        assert!(!text.contains(secret), "samconfig.toml holds {secret}");
    }
}
