//! Hostile input: always a 4xx, never a 5xx, never a role.

use ferrite_tests::PASSWORD;
use ferrite_tests::{Call, TestApp};
use serde_json::json;

use super::invoke;

#[tokio::test]
async fn hostile_input_gets_a_4xx_never_a_5xx_and_never_a_role() {
    let app = TestApp::spawn().await;
    let (token, _) = app.user("input@example.com", None).await;
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let mut cases: Vec<(&str, Call)> = vec![
        (
            "mass assignment at registration",
            Call::new("POST", "/v1/auth/register").json(&json!({
                "email": "mass@example.com", "name": "M", "password": PASSWORD, "roles": ["ADMIN"]
            })),
        ),
        (
            "mass assignment on the profile",
            Call::new("PATCH", "/v1/users/me")
                .bearer(&token)
                .json(&json!({"roles": ["ADMIN"], "status": "active"})),
        ),
        (
            "mass assignment on a post",
            Call::new("POST", "/v1/posts").bearer(&token).json(
                &json!({"title": "T", "body": "B", "authorId": "01J00000000000000000000000"}),
            ),
        ),
        (
            "5,000 levels of nesting",
            Call::new("POST", "/v1/posts")
                .bearer(&token)
                .header("content-type", "application/json")
                .raw_body(&format!(r#"{{"title":{deep},"body":"b"}}"#)),
        ),
        (
            "a JSON array body",
            Call::new("POST", "/v1/posts")
                .bearer(&token)
                .header("content-type", "application/json")
                .raw_body(r#"["title","body"]"#),
        ),
        (
            "text/plain body",
            Call::new("POST", "/v1/posts")
                .bearer(&token)
                .header("content-type", "text/plain")
                .raw_body(r#"{"title":"T","body":"B"}"#),
        ),
        (
            "JSON in another charset",
            Call::new("POST", "/v1/posts")
                .bearer(&token)
                .header("content-type", "application/json; charset=latin1")
                .raw_body(r#"{"title":"T","body":"B"}"#),
        ),
        (
            "a 16 KiB tag filter",
            Call::new("GET", "/v1/posts").query("tag", &"t".repeat(16 * 1024)),
        ),
        (
            "a 16 KiB cursor",
            Call::new("GET", "/v1/posts").query("cursor", &"A".repeat(16 * 1024)),
        ),
        (
            "a negative limit",
            Call::new("GET", "/v1/posts").query("limit", "-1"),
        ),
        (
            "a limit beyond u64",
            Call::new("GET", "/v1/posts").query("limit", "99999999999999999999999"),
        ),
        (
            "a non-ULID post id",
            Call::new("GET", "/v1/posts/{id}").param("id", "../../etc/passwd"),
        ),
        (
            "a non-ULID user id",
            Call::new("GET", "/v1/users/{id}/posts").param("id", "USER#x"),
        ),
    ];
    for (what, email, name) in [
        ("an email with a NUL", "a\u{0}b@example.com", "Null"),
        (
            "an email with a newline",
            "a@example.com\nbcc: b@example.com",
            "Inject",
        ),
        (
            "an email with an RTL override",
            "\u{202e}moc.elpmaxe@a",
            "Rtl",
        ),
        (
            "a 400-character email",
            &format!("{}@example.com", "a".repeat(388)),
            "Long",
        ),
        (
            "a name with control characters",
            "ctl@example.com",
            "A\u{7}\u{1b}[31mB",
        ),
        ("a name of only spaces", "spaces@example.com", "    "),
        ("a 500-character name", "long@example.com", &"n".repeat(500)),
        (
            "a name of zero-width joiners",
            "zwj@example.com",
            "\u{200d}\u{200d}",
        ),
    ] {
        cases.push((
            what,
            Call::new("POST", "/v1/auth/register")
                .json(&json!({"email": email, "name": name, "password": PASSWORD})),
        ));
    }
    let mut wrong = Vec::new();
    for (what, call) in cases {
        let route = call.route().to_owned();
        let response = if route == "/v1/auth/register" {
            app.call(auth_register::handle, call).await
        } else {
            invoke(&app, call).await
        };
        let problem = response.header("content-type") == Some("application/problem+json");
        if !(400..500).contains(&response.status) || !problem {
            wrong.push(format!("{what}: {} {}", response.status, response.body));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    // Unicode that is legitimate is accepted and kept exactly.
    let ok = app
        .call(
            auth_register::handle,
            Call::new("POST", "/v1/auth/register").json(&json!({
                "email": "zoë@example.com", "name": "Zoë Ñúñez 山田", "password": PASSWORD
            })),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    assert_eq!(ok.body["user"]["name"], "Zoë Ñúñez 山田");
    let me = invoke(&app, Call::new("GET", "/v1/users/me").bearer(&token)).await;
    assert_eq!(me.body["roles"], json!(["USER"]), "no role was assigned");
}
