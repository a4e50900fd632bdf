//! In-process calls: a [`Call`] becomes the API Gateway v2 event of its route, and the handler
//! runs as the function the template routes it to. Also what a test reads back: the outbox.

use std::future::Future;

use shared::State;

use crate::app::TestApp;

/// A response of an in-process call.
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: serde_json::Value,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `code` of a problem+json body.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    /// How the session of a sign-in's answer signed in: its access token's `amr` (the payload
    /// read, not verified: the API verified it).
    pub fn amr(&self) -> serde_json::Value {
        let token = self.body["accessToken"].as_str().expect("an access token");
        let payload = token.split('.').nth(1).expect("a JWT");
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .expect("base64url");
        serde_json::from_slice::<serde_json::Value>(&bytes).expect("JSON claims")["amr"].clone()
    }
}

/// Builds the API Gateway HTTP API (payload v2) event of a request, as the gateway would.
#[derive(Debug, Clone)]
pub struct Call {
    method: String,
    path: String,
    route: String,
    path_parameters: serde_json::Map<String, serde_json::Value>,
    query: Vec<(String, String)>,
    headers: serde_json::Map<String, serde_json::Value>,
    body: Option<String>,
    source_ip: String,
}

impl Call {
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The template's path of the route (`/v1/users/{id}`).
    pub fn route(&self) -> &str {
        &self.route
    }

    /// `route` is the template's path (`/v1/users/{id}`); parameters fill it.
    pub fn new(method: &str, route: &str) -> Self {
        Self {
            method: method.to_owned(),
            path: route.to_owned(),
            route: route.to_owned(),
            path_parameters: serde_json::Map::new(),
            query: Vec::new(),
            headers: serde_json::Map::new(),
            body: None,
            source_ip: "203.0.113.7".to_owned(),
        }
    }

    #[must_use]
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.path = self.path.replace(&format!("{{{name}}}"), value);
        self.path_parameters.insert(name.to_owned(), value.into());
        self
    }

    #[must_use]
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(name.to_ascii_lowercase(), value.into());
        self
    }

    #[must_use]
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    #[must_use]
    pub fn json(mut self, body: &serde_json::Value) -> Self {
        self.body = Some(body.to_string());
        self.header("content-type", "application/json")
    }

    #[must_use]
    pub fn raw_body(mut self, body: &str) -> Self {
        self.body = Some(body.to_owned());
        self
    }

    #[must_use]
    pub fn from_ip(mut self, ip: &str) -> Self {
        ip.clone_into(&mut self.source_ip);
        self
    }

    /// The payload v2 event as `lambda_http` hands it to a handler.
    pub fn request(&self) -> lambda_http::Request {
        let route_key = format!("{} {}", self.method, self.route);
        // Percent-encoded, as a client sends it and API Gateway hands it on.
        let raw_query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.query)
            .finish();
        // API Gateway joins the values of a repeated parameter with commas.
        let mut query = serde_json::Map::new();
        for (k, v) in &self.query {
            let joined = match query.get(k).and_then(serde_json::Value::as_str) {
                Some(before) => format!("{before},{v}"),
                None => v.clone(),
            };
            query.insert(k.clone(), joined.into());
        }
        // API Gateway reports the User-Agent header in the request context too.
        let user_agent = self
            .headers
            .get("user-agent")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("ferrite-tests")
            .to_owned();
        let mut event = serde_json::json!({
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": self.path,
            "rawQueryString": raw_query,
            "headers": self.headers,
            "requestContext": {
                "accountId": "123456789012", "apiId": "test", "domainName": "test.local",
                "domainPrefix": "test", "stage": "$default", "routeKey": route_key,
                "requestId": ulid::Ulid::new().to_string(),
                "time": "24/Nov/2026:05:44:53 +0000", "timeEpoch": 1_795_499_093_000_u64,
                "http": { "method": self.method, "path": self.path, "protocol": "HTTP/1.1",
                          "sourceIp": self.source_ip, "userAgent": user_agent }
            },
            "isBase64Encoded": false
        });
        if !self.path_parameters.is_empty() {
            event["pathParameters"] = self.path_parameters.clone().into();
        }
        if !query.is_empty() {
            event["queryStringParameters"] = query.into();
        }
        if let Some(body) = &self.body {
            event["body"] = body.clone().into();
        }
        lambda_http::request::from_str(&event.to_string()).expect("a valid payload v2 event")
    }
}

impl TestApp {
    /// Runs `handler` in-process on `call`, exactly as the Lambda loop would, as the function
    /// the template routes the call to (signing with that function's role).
    pub async fn call<F, Fut>(&self, handler: F, call: Call) -> TestResponse
    where
        F: Fn(&'static State, lambda_http::Request) -> Fut,
        Fut: Future<Output = Result<lambda_http::Response<lambda_http::Body>, shared::ApiError>>,
    {
        let state = self.state_for(&call);
        // On the heap: a handler's future is large in a debug build, and a test that routes to
        // many (the authorization matrix) holds the largest of them on its stack.
        let response = Box::pin(shared::http::dispatch(state, handler, call.request())).await;
        let (parts, body) = response.into_parts();
        let bytes: &[u8] = body.as_ref();
        let json = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        let body = if bytes.is_empty() {
            serde_json::Value::Null
        } else if json {
            serde_json::from_slice(bytes).expect("a JSON body, as its content type says")
        } else {
            // HTML or a script (the docs): kept as text.
            serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned())
        };
        TestResponse {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }

    /// Runs `handler` on every one of `calls` at once, each as its own request handled by the
    /// function the template routes it to (the handlers interleave at every DynamoDB call, as
    /// parallel Lambda instances would): their statuses, sorted.
    pub async fn statuses_at_once<F, Fut>(&self, handler: F, calls: Vec<Call>) -> Vec<u16>
    where
        F: Fn(&'static State, lambda_http::Request) -> Fut + Copy + Send + 'static,
        Fut: Future<Output = Result<lambda_http::Response<lambda_http::Body>, shared::ApiError>>
            + Send,
    {
        let mut tasks = tokio::task::JoinSet::new();
        for call in calls {
            let state = self.state_for(&call);
            tasks.spawn(async move {
                shared::http::dispatch(state, handler, call.request())
                    .await
                    .status()
                    .as_u16()
            });
        }
        let mut statuses = Vec::new();
        while let Some(status) = tasks.join_next().await {
            statuses.push(status.expect("task"));
        }
        statuses.sort_unstable();
        statuses
    }

    /// `GET /v1/posts` — the whole feed, or `tag`'s — from `cursor`, as anyone.
    pub async fn feed(&self, tag: Option<&str>, limit: u16, cursor: Option<&str>) -> TestResponse {
        let mut call = Call::new("GET", "/v1/posts").query("limit", &limit.to_string());
        if let Some(tag) = tag {
            call = call.query("tag", tag);
        }
        if let Some(cursor) = cursor {
            call = call.query("cursor", cursor);
        }
        self.call(posts_list::handle, call).await
    }

    /// Every outbox event in this test's table, oldest first.
    pub async fn outbox(&self) -> Vec<shared::events::Event> {
        let items = self
            .client()
            .scan()
            .table_name(&self.table)
            .filter_expression("begins_with(pk, :p)")
            .expression_attribute_values(
                ":p",
                aws_sdk_dynamodb::types::AttributeValue::S("OUTBOX#".into()),
            )
            .send()
            .await
            .expect("scan")
            .items
            .unwrap_or_default();
        let mut events: Vec<shared::events::Event> = items
            .into_iter()
            .map(|item| {
                serde_dynamo::from_item::<_, shared::events::OutboxItem>(item)
                    .expect("outbox item")
                    .event
            })
            .collect();
        events.sort_by_key(|e| e.id.to_string());
        events
    }

    /// The token of the link the newest event of `kind` asks its email to carry, minted as the
    /// email worker mints it when it sends (the token is nowhere on the pipeline).
    pub async fn link_token(&self, kind: &str) -> String {
        let event = self
            .last_event(kind)
            .await
            .unwrap_or_else(|| panic!("no {kind} event"));
        let link = event
            .email
            .and_then(|email| email.link)
            .unwrap_or_else(|| panic!("the {kind} email asks for no link"));
        shared::accounts::mint_link(self.state_of("WorkerEmailFunction"), &link)
            .await
            .expect("the email worker mints the link")
            .unwrap_or_else(|| panic!("the {kind} link was void"))
    }

    /// The newest outbox event of `kind`.
    pub async fn last_event(&self, kind: &str) -> Option<shared::events::Event> {
        self.outbox()
            .await
            .into_iter()
            .rev()
            .find(|e| e.kind == kind)
    }
}
