use super::{
    Auth, HttpMethod, ObjectBuilder, PostId, PostStatus, PostSummary, PostView, PublicProfile,
    Route, Tag, Type, UserId, body, header, if_match, json, list_etag_header, of, page, paged,
    path_id, query, version_header,
};

/// Posts and feeds.
#[allow(clippy::too_many_lines)] // one row per route, read top to bottom
pub(super) fn posts() -> Vec<Route> {
    use HttpMethod::{Delete, Get, Patch, Post};
    vec![
        Route {
            method: Get,
            path: "/v1/users/me/posts",
            id: "listMyPosts",
            tag: "posts",
            summary: "All my posts, drafts included, newest first",
            auth: Auth::Required,
            store: true,
            body: None,
            params: paged(vec![query(
                "status",
                of::<PostStatus>(),
                "Only posts in this state.",
            )]),
            ok: vec![(
                200,
                "A page of posts",
                Some(page::<PostSummary>("PostPage")),
            )],
            errors: &[400],
        },
        Route {
            method: Get,
            path: "/v1/users/{id}/posts",
            id: "listUserPosts",
            tag: "posts",
            summary: "An author's published posts, newest first",
            auth: Auth::None,
            store: true,
            body: None,
            params: paged(vec![path_id::<UserId>(), list_etag_header()]),
            ok: vec![
                (
                    200,
                    "A page of posts (`ETag`, cacheable)",
                    Some(page::<PostSummary>("PostPage")),
                ),
                (304, "Not modified", None),
            ],
            errors: &[400, 404],
        },
        Route {
            method: Get,
            path: "/v1/users/{id}/profile",
            id: "getUserProfile",
            tag: "posts",
            summary: "A user's public profile: name, member since, published posts",
            auth: Auth::None,
            store: true,
            body: None,
            params: vec![path_id::<UserId>(), list_etag_header()],
            ok: vec![
                (
                    200,
                    "The profile (`ETag`, cacheable)",
                    json::<PublicProfile>(),
                ),
                (304, "Not modified", None),
            ],
            errors: &[404],
        },
        Route {
            method: Post,
            path: "/v1/posts",
            id: "createPost",
            tag: "posts",
            summary: "Write a post (a draft unless `status` is `published`)",
            auth: Auth::Required,
            store: true,
            body: body::<posts_create::CreatePost>(),
            params: vec![header(
                "Idempotency-Key",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(128))
                    .pattern(Some("^[!-~]+$")),
                "Replays the first answer for 24 h; the same key with another body is a 422.",
            )],
            ok: vec![(
                201,
                "Created (`Location`, `ETag`, `RateLimit`: posts left this hour)",
                json::<PostView>(),
            )],
            errors: &[409, 429],
        },
        Route {
            method: Get,
            path: "/v1/posts",
            id: "listPosts",
            tag: "posts",
            summary: "The published feed, or one tag's, newest first",
            auth: Auth::None,
            store: true,
            body: None,
            params: paged(vec![
                query("tag", of::<Tag>(), "Only this tag's posts."),
                list_etag_header(),
            ]),
            ok: vec![
                (
                    200,
                    "A page of posts (`ETag`, cacheable)",
                    Some(page::<PostSummary>("PostPage")),
                ),
                (304, "Not modified", None),
            ],
            errors: &[400],
        },
        Route {
            method: Get,
            path: "/v1/posts/{id}",
            id: "getPost",
            tag: "posts",
            summary: "A post: published to anyone; drafts and hidden posts to the author, moderators and admins",
            auth: Auth::Optional,
            store: true,
            body: None,
            params: vec![
                path_id::<PostId>(),
                version_header("If-None-Match", "The `ETag` held; unchanged → 304."),
            ],
            ok: vec![
                (200, "The post (`ETag` = version)", json::<PostView>()),
                (304, "Not modified", None),
            ],
            errors: &[404],
        },
        Route {
            method: Patch,
            path: "/v1/posts/{id}",
            id: "updatePost",
            tag: "posts",
            summary: "Edit or publish (author); hide or unhide (moderator, admin)",
            auth: Auth::Required,
            store: true,
            body: body::<posts_patch::PatchPost>(),
            params: vec![path_id::<PostId>(), if_match()],
            ok: vec![(200, "The updated post", json::<PostView>())],
            errors: &[403, 404, 409, 412],
        },
        Route {
            method: Delete,
            path: "/v1/posts/{id}",
            id: "deletePost",
            tag: "posts",
            summary: "Delete a post (author, moderator, admin)",
            auth: Auth::Required,
            store: true,
            body: None,
            params: vec![path_id::<PostId>()],
            ok: vec![(204, "Deleted", None)],
            errors: &[403, 404],
        },
    ]
}
