//! IAM, locally: every function is held to its policy in template.yaml, as in AWS.

use std::io::Write as _;
use std::sync::{Arc, Mutex};

use ferrite_tests::{Call, TestApp, api_url, http};
use serde_json::json;

use ferrite_tests::PASSWORD;

/// Log lines written while a test runs (a `tracing` writer into memory).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The tree of stacks (template.yaml and stacks/) with one action taken out of one function's
/// policy, copied into a folder of its own; the path of its root template.
pub(crate) fn template_without(function: &str, action: &str) -> std::path::PathBuf {
    let root = infra::workspace_root();
    let dir = root.join(format!(
        ".local/test-templates/without-{function}-{}",
        action.replace(':', "-")
    ));
    let line = format!("                - {action}\n");
    let mut changed = false;
    for file in infra::tree::files(&infra::template_path()).expect("the stacks") {
        let mut text = std::fs::read_to_string(&file).expect("a template of the tree");
        if let Some(start) = text.find(&format!("\n  {function}:\n")) {
            let at = start
                + text[start..]
                    .find(&line)
                    .unwrap_or_else(|| panic!("{function} is granted {action}"));
            text.replace_range(at..at + line.len(), "");
            changed = true;
        }
        let copy = dir.join(file.strip_prefix(&root).expect("inside the repository"));
        std::fs::create_dir_all(copy.parent().expect("a folder")).expect("dir");
        let mut out = std::fs::File::create(&copy).expect("file");
        out.write_all(text.as_bytes()).expect("write");
    }
    assert!(changed, "{function} is in a stack of the tree");
    dir.join("template.yaml")
}

#[tokio::test]
async fn a_permission_taken_out_of_the_template_fails_its_endpoint_with_the_denial_in_the_log() {
    let app = TestApp::spawn().await;
    let registered = app
        .call(
            auth_register::handle,
            Call::new("POST", "/v1/auth/register").json(
                &json!({"email": "ada@example.com", "name": "Ada Lovelace", "password": PASSWORD}),
            ),
        )
        .await;
    let token = registered.body["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let change = || {
        app.call(
            users_me_password::handle,
            Call::new("PUT", "/v1/users/me/password").bearer(&token).json(
                &json!({"currentPassword": "not the password", "newPassword": "quiet lanterns over the harbour"}),
            ),
        )
    };
    // With the template as it is, a wrong current password is the caller's mistake.
    assert_eq!(change().await.status, 422);

    // Confirming the current password counts the attempt with an UpdateItem.
    app.with_template(&template_without(
        "UsersMePasswordFunction",
        "dynamodb:UpdateItem",
    ))
    .await;
    let log = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(log.clone())
        .with_ansi(false)
        .finish();
    let refused = {
        let _guard = tracing::subscriber::set_default(subscriber);
        change().await
    };
    assert_eq!(refused.status, 500);
    assert_eq!(refused.code(), "INTERNAL_ERROR");
    assert!(
        !refused.body.to_string().contains("AccessDenied"),
        "a 500's body stays generic"
    );
    let log = log.text();
    assert!(
        log.contains("AccessDeniedException")
            && log.contains(
                "UsersMePasswordFunction is not authorized to perform: dynamodb:UpdateItem"
            ),
        "the log names the denial: {log}"
    );
}

#[tokio::test]
async fn through_the_whole_stack_each_function_pipe_and_poller_signs_as_its_own_role() {
    let email = format!(
        "roles-{}@example.com",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let registered = http()
        .post(format!("{}/v1/auth/register", api_url()))
        .json(&json!({"email": email, "name": "Roles", "password": PASSWORD}))
        .send()
        .await
        .expect("request");
    assert_eq!(registered.status(), 201);
    let login = http()
        .post(format!("{}/v1/auth/login", api_url()))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("request");
    assert_eq!(login.status(), 200);
    let stack = std::env::var("FERRITE_STACK").expect("`make test` exports the stack's name");
    let decided = |principal: &'static str, action: &'static str| {
        // The stack's own key for the role (tests register the same roles for their tables
        // under other keys); a rule has no role, its key is its own.
        let role = if principal.ends_with("Rule") {
            principal.to_owned()
        } else {
            format!("{principal}Role")
        };
        let key = infra::iam::access_key_id(&stack, &role);
        async move {
            let url = format!(
                "{}/_ferrite/iam/decisions?accessKeyId={key}&action={action}&decision=Allow",
                ferrite_tests::endpoint()
            );
            let data = ferrite_tests::get_json(&url, None).await?;
            (data["tally"].as_array()?.first()?["count"].as_u64()? > 0).then_some(())
        }
    };
    for (principal, action) in [
        ("AuthRegisterFunction", "dynamodb:PutItem"),
        ("AuthRegisterFunction", "secretsmanager:GetSecretValue"),
        ("AuthLoginFunction", "dynamodb:GetItem"),
    ] {
        assert!(
            decided(principal, action).await.is_some(),
            "{principal} was allowed {action} with its own key"
        );
    }
    // The event pipeline: the pipe reads the stream and puts on the bus with its role, the rule
    // sends to its queue as EventBridge for that rule (let in by the queue's policy), the
    // workers' event source mappings poll with the workers' roles.
    for (principal, action) in [
        ("OutboxPipe", "dynamodb:GetRecords"),
        ("OutboxPipe", "events:PutEvents"),
        ("AuditRule", "sqs:SendMessage"),
        ("WorkerAuditFunction", "sqs:ReceiveMessage"),
        ("WorkerAuditFunction", "dynamodb:PutItem"),
    ] {
        ferrite_tests::eventually(
            &format!("{principal} allowed {action}"),
            ferrite_tests::delivery_bound("AuditQueue"),
            || decided(principal, action),
        )
        .await;
    }
}

#[tokio::test]
async fn a_rule_delivers_only_to_the_queue_whose_policy_names_it() {
    // EventBridge sends as `events.amazonaws.com` for the rule: the audit rule's events are let
    // into the audit queue by its policy, and into no other queue.
    let stack = std::env::var("FERRITE_STACK").expect("`make test` exports the stack's name");
    let key = infra::iam::access_key_id(&stack, "AuditRule");
    let sdk =
        infra::local_sdk_config_as(&ferrite_tests::endpoint(), &key, infra::iam::LOCAL_SECRET)
            .await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let email_queue = std::env::var("EMAIL_QUEUE_URL").expect("`make test` exports the queue URLs");
    let refused = sqs
        .send_message()
        .queue_url(&email_queue)
        .message_body("{}")
        .send()
        .await
        .expect_err("the email queue's policy names the email rule only");
    let text = format!("{:?}", refused.into_service_error());
    assert!(text.contains("AccessDenied"), "{text}");
    assert!(
        text.contains("no resource-based policy allows events.amazonaws.com"),
        "{text}"
    );
}

#[tokio::test]
async fn a_function_without_its_kms_action_cannot_open_second_factors() {
    let start = ferrite_tests::mfa::step_clock(5);
    let app = TestApp::spawn_with_clock(start).await;
    let (token, _) = app.user("sealed@example.com", None).await;
    let (secret, _) = ferrite_tests::mfa::enrol(&app, &token).await;
    let login = app
        .call(
            auth_login::handle,
            Call::new("POST", "/v1/auth/login")
                .json(&json!({"email": "sealed@example.com", "password": PASSWORD})),
        )
        .await;
    let challenge = login.body["challenge"]
        .as_str()
        .expect("challenge")
        .to_owned();
    app.with_template(&template_without("AuthMfaVerifyFunction", "kms:Decrypt"))
        .await;
    let log = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(log.clone())
        .with_ansi(false)
        .finish();
    let code = ferrite_tests::mfa::code_at(&secret, ferrite_tests::mfa::later(start, 30).now());
    let refused = {
        let _guard = tracing::subscriber::set_default(subscriber);
        ferrite_tests::mfa::verify(&app, &challenge, "code", &code).await
    };
    assert_eq!((refused.status, refused.code()), (500, "INTERNAL_ERROR"));
    let log = log.text();
    assert!(
        log.contains("AuthMfaVerifyFunction is not authorized to perform: kms:Decrypt"),
        "the log names the denial: {log}"
    );
}
