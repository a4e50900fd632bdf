use super::{
    AuditEntry, Auth, HttpMethod, Role, Route, UserId, UserStatus, UserView, body, date_time,
    if_match, json, of, page, paged, path_id, query, string,
};

/// Users and the audit trail (admin role).
#[allow(clippy::too_many_lines)] // one row per route, read top to bottom
pub(super) fn admin() -> Vec<Route> {
    use HttpMethod::{Delete, Get, Patch};
    vec![
        Route {
            method: Get,
            path: "/v1/users",
            id: "listUsers",
            tag: "admin",
            summary: "Users, newest first (admin)",
            auth: Auth::Required,
            store: true,
            body: None,
            params: paged(vec![
                query(
                    "status",
                    of::<UserStatus>(),
                    "Only users in this state (`active` or `disabled`).",
                ),
                query("role", of::<Role>(), "Only users with this role."),
            ]),
            ok: vec![(200, "A page of users", Some(page::<UserView>("UserPage")))],
            errors: &[400, 403],
        },
        Route {
            method: Get,
            path: "/v1/users/{id}",
            id: "getUser",
            tag: "admin",
            summary: "A user (admin)",
            auth: Auth::Required,
            store: true,
            body: None,
            params: vec![path_id::<UserId>()],
            ok: vec![(200, "The user (`ETag` = version)", json::<UserView>())],
            errors: &[403, 404],
        },
        Route {
            method: Patch,
            path: "/v1/users/{id}",
            id: "updateUser",
            tag: "admin",
            summary: "Change a user's roles or status (admin; disabling ends their sessions)",
            auth: Auth::Required,
            store: true,
            body: body::<users_patch::UserPatch>(),
            params: vec![path_id::<UserId>(), if_match()],
            ok: vec![(200, "The updated user", json::<UserView>())],
            errors: &[403, 404, 409, 412],
        },
        Route {
            method: Delete,
            path: "/v1/users/{id}",
            id: "deleteUser",
            tag: "admin",
            summary: "Delete a user and their posts (admin)",
            auth: Auth::Required,
            store: true,
            body: None,
            params: vec![path_id::<UserId>()],
            ok: vec![(204, "Deleted", None)],
            errors: &[403, 404, 409],
        },
        Route {
            method: Get,
            path: "/v1/audit",
            id: "listAudit",
            tag: "admin",
            summary: "The audit trail (admin): by entity, by actor, or by time range",
            auth: Auth::Required,
            store: true,
            body: None,
            params: paged(vec![
                query(
                    "entityType",
                    string(32),
                    "With `entityId`: one entity's history.",
                ),
                query("entityId", string(64), "With `entityType`."),
                query("actorId", of::<UserId>(), "What one user did."),
                query(
                    "from",
                    date_time(),
                    "With `to`: every change in a time range (at most 31 days).",
                ),
                query("to", date_time(), "With `from`."),
            ]),
            ok: vec![(
                200,
                "A page of audit entries, newest first",
                Some(page::<AuditEntry>("AuditPage")),
            )],
            errors: &[400, 403],
        },
    ]
}
