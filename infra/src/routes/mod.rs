//! The route table of the HTTP API, read from the stacks — every `AWS::ApiGatewayV2::Route`, and
//! the function its `AWS::ApiGatewayV2::Integration` invokes — and API Gateway's route selection
//! over it.
//!
//! Selection follows API Gateway HTTP APIs: the most specific route wins (literal segments over
//! `{param}` over greedy `{proxy+}`, left to right), a route for the exact method beats `ANY`,
//! and `$default` catches what nothing else matches.
//!
//! `read` reads the routes and functions from the (flattened) stacks; this module holds the
//! route table's types and API Gateway's selection over it.

use std::collections::BTreeMap;

mod read;

pub use read::{Function, functions, routes, websocket_api};

/// One route of the HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `None` for `ANY`.
    pub method: Option<String>,
    /// `/v1/users/{id}`, or `$default`.
    pub path: String,
    /// The function's logical id in the template.
    pub function: String,
    /// The cargo binary that implements it (`Metadata.BuildProperties.Binary`): the function
    /// name on the local Invoke API.
    pub binary: String,
    /// The function's timeout (seconds).
    pub timeout_secs: u64,
    /// The `SourceArn` patterns (`*` for any text) from which the function's resource policy —
    /// its `AWS::Lambda::Permission`s for `apigateway.amazonaws.com` — lets API Gateway invoke
    /// it. API Gateway answers 500 for a route whose ARN none of them matches.
    pub invocable_from: Vec<String>,
    /// The route's execute-api ARN up to the method: `arn:aws:execute-api:<region>:<account>:<api>/$default/`.
    pub arn_prefix: String,
}

impl Route {
    /// Whether API Gateway may invoke the route's function for `method path` (the ARN it
    /// invokes from: `<arn_prefix><METHOD><path>`).
    pub fn invocable(&self, method: &str, path: &str) -> bool {
        let arn = format!("{}{method}{path}", self.arn_prefix);
        self.invocable_from
            .iter()
            .any(|pattern| wildcard_match(pattern, &arn))
    }

    /// API Gateway's route key: `GET /v1/health`, `ANY /{proxy+}`, `$default`.
    pub fn key(&self) -> String {
        if self.path == "$default" {
            return self.path.clone();
        }
        format!("{} {}", self.method.as_deref().unwrap_or("ANY"), self.path)
    }
}

/// The WebSocket API of the template: what the local gateway serves on its WebSocket port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketApi {
    pub logical_id: String,
    /// What its `Ref` is locally (the id in its ARNs and in the `@connections` resources).
    pub api_id: String,
    /// Its stage's name: the path of the connection URL and of `@connections`.
    pub stage: String,
    /// `$request.body.action`: which field of a message picks its route.
    pub route_selection: String,
    pub routes: Vec<WebSocketRoute>,
}

impl WebSocketApi {
    /// The route `key` (`$connect`, `$default`, an action).
    pub fn route(&self, key: &str) -> Option<&WebSocketRoute> {
        self.routes.iter().find(|r| r.key == key)
    }
}

/// One route of the WebSocket API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketRoute {
    /// `$connect`, `$disconnect`, `$default` or an action.
    pub key: String,
    pub function: String,
    pub binary: String,
    pub timeout_secs: u64,
    /// As for [`Route::invocable_from`].
    pub invocable_from: Vec<String>,
    /// The ARN API Gateway invokes from: `arn:aws:execute-api:<region>:<account>:<api>/<stage>/<key>`.
    pub arn: String,
}

impl WebSocketRoute {
    /// Whether the function's resource policy lets API Gateway invoke it for this route.
    pub fn invocable(&self) -> bool {
        self.invocable_from
            .iter()
            .any(|pattern| wildcard_match(pattern, &self.arn))
    }
}

/// `text` matches `pattern`, in which `*` stands for any run of characters (`/` included), as in
/// an ARN condition of a resource policy.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// A matched route with its path parameters (percent-decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match<'r> {
    pub route: &'r Route,
    pub path_parameters: BTreeMap<String, String>,
}

/// Specificity of a segment: literal > `{param}` > `{greedy+}`.
fn segment_rank(segment: &str) -> u8 {
    if segment.starts_with('{') && segment.ends_with("+}") {
        0
    } else if segment.starts_with('{') && segment.ends_with('}') {
        1
    } else {
        2
    }
}

fn match_path(pattern: &str, path: &str) -> Option<(Vec<u8>, BTreeMap<String, String>)> {
    let pattern_segments: Vec<&str> = pattern.split('/').skip(1).collect();
    let path_segments: Vec<&str> = path.split('/').skip(1).collect();
    let mut params = BTreeMap::new();
    let mut ranks = Vec::new();
    for (i, segment) in pattern_segments.iter().enumerate() {
        let rank = segment_rank(segment);
        ranks.push(rank);
        match rank {
            0 => {
                let rest = &path_segments.get(i..)?;
                if rest.is_empty() || rest.iter().all(|s| s.is_empty()) {
                    return None;
                }
                let name = &segment[1..segment.len() - 2];
                params.insert(name.to_owned(), decode(&rest.join("/")));
                return Some((ranks, params));
            }
            1 => {
                let value = path_segments.get(i).filter(|s| !s.is_empty())?;
                params.insert(segment[1..segment.len() - 1].to_owned(), decode(value));
            }
            _ => {
                if path_segments.get(i) != Some(segment) {
                    return None;
                }
            }
        }
    }
    (pattern_segments.len() == path_segments.len()).then_some((ranks, params))
}

fn decode(value: &str) -> String {
    percent_encoding::percent_decode_str(value)
        .decode_utf8_lossy()
        .into_owned()
}

/// API Gateway's route selection for `method` and `path` (the raw path, without query).
pub fn select<'r>(routes: &'r [Route], method: &str, path: &str) -> Option<Match<'r>> {
    let mut best: Option<((Vec<u8>, u8), Match<'r>)> = None;
    for route in routes {
        if route.path == "$default" {
            continue;
        }
        let method_rank = match &route.method {
            Some(m) if m.eq_ignore_ascii_case(method) => 1,
            Some(_) => continue,
            None => 0,
        };
        let Some((ranks, path_parameters)) = match_path(&route.path, path) else {
            continue;
        };
        let score = (ranks, method_rank);
        if best.as_ref().is_none_or(|(current, _)| score > *current) {
            best = Some((
                score,
                Match {
                    route,
                    path_parameters,
                },
            ));
        }
    }
    best.map(|(_, m)| m).or_else(|| {
        routes
            .iter()
            .find(|r| r.path == "$default")
            .map(|route| Match {
                route,
                path_parameters: BTreeMap::new(),
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Option<&str>, path: &str, function: &str) -> Route {
        Route {
            method: method.map(str::to_owned),
            path: path.to_owned(),
            function: function.to_owned(),
            binary: function.to_lowercase(),
            timeout_secs: 3,
            invocable_from: vec!["*".to_owned()],
            arn_prefix: "arn:aws:execute-api:us-east-1:123456789012:api/$default/".to_owned(),
        }
    }

    fn table() -> Vec<Route> {
        vec![
            route(Some("GET"), "/v1/users/me", "Me"),
            route(Some("GET"), "/v1/users/{id}", "GetUser"),
            route(None, "/v1/users/{id}", "AnyUser"),
            route(Some("GET"), "/v1/users/{id}/posts", "UserPosts"),
            route(None, "/v1/files/{proxy+}", "Files"),
            route(Some("GET"), "/v1/health", "Health"),
        ]
    }

    fn selected(
        routes: &[Route],
        method: &str,
        path: &str,
    ) -> Option<(String, BTreeMap<String, String>)> {
        select(routes, method, path).map(|m| (m.route.function.clone(), m.path_parameters))
    }

    #[test]
    fn literal_segments_win_over_parameters() {
        let routes = table();
        assert_eq!(
            selected(&routes, "GET", "/v1/users/me")
                .map(|s| s.0)
                .as_deref(),
            Some("Me")
        );
        let (function, params) = selected(&routes, "GET", "/v1/users/42").expect("match");
        assert_eq!(function, "GetUser");
        assert_eq!(params["id"], "42");
    }

    #[test]
    fn an_exact_method_wins_over_any() {
        let routes = table();
        assert_eq!(
            selected(&routes, "DELETE", "/v1/users/42")
                .map(|s| s.0)
                .as_deref(),
            Some("AnyUser")
        );
        assert_eq!(
            selected(&routes, "GET", "/v1/users/42")
                .map(|s| s.0)
                .as_deref(),
            Some("GetUser")
        );
    }

    #[test]
    fn greedy_parameters_take_the_rest_of_the_path() {
        let routes = table();
        let (function, params) = selected(&routes, "PUT", "/v1/files/a/b%20c.txt").expect("match");
        assert_eq!(function, "Files");
        assert_eq!(params["proxy"], "a/b c.txt");
        assert_eq!(selected(&routes, "PUT", "/v1/files"), None);
        assert_eq!(selected(&routes, "PUT", "/v1/files/"), None);
    }

    #[test]
    fn unknown_paths_and_methods_do_not_match_unless_there_is_a_default_route() {
        let mut routes = table();
        assert_eq!(selected(&routes, "GET", "/v1/nope"), None);
        assert_eq!(selected(&routes, "POST", "/v1/health"), None);
        assert_eq!(selected(&routes, "GET", "/v1/users/42/posts/extra"), None);
        routes.push(route(None, "$default", "Fallback"));
        assert_eq!(
            selected(&routes, "GET", "/v1/nope").map(|s| s.0).as_deref(),
            Some("Fallback")
        );
        assert_eq!(routes.last().map(Route::key).as_deref(), Some("$default"));
    }

    #[test]
    fn a_wildcard_stands_for_any_run_of_characters() {
        for (pattern, text, matches) in [
            (
                "arn:x:api/*/GET/v1/posts/*",
                "arn:x:api/$default/GET/v1/posts/42",
                true,
            ),
            (
                "arn:x:api/*/GET/v1/posts/*",
                "arn:x:api/$default/GET/v1/posts/42/extra",
                true,
            ),
            (
                "arn:x:api/*/GET/v1/posts/*",
                "arn:x:api/$default/GET/v1/posts",
                false,
            ),
            (
                "arn:x:api/*/GET/v1/posts",
                "arn:x:api/$default/GET/v1/posts/42",
                false,
            ),
            (
                "arn:x:api/*/GET/v1/posts",
                "arn:x:api/$default/GET/v1/posts",
                true,
            ),
            (
                "arn:x:api/*/POST/v1/posts",
                "arn:x:api/$default/GET/v1/posts",
                false,
            ),
            ("*", "anything", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "acb", false),
        ] {
            assert_eq!(wildcard_match(pattern, text), matches, "{pattern} ~ {text}");
        }
    }
}
