use shared::ids::DocumentId;
use shared::properties::documents::{DocumentDetail, DocumentView, NewDocument, NewDocumentAnswer};

use super::{Auth, HttpMethod, LeaseId, PropertyId, Route, body, json, page, paged, path_id};

/// Documents of properties and leases: uploaded to S3 and downloaded from it by presigned
/// requests, never through the API.
#[allow(clippy::too_many_lines)] // one row per route, read top to bottom
pub(super) fn documents() -> Vec<Route> {
    use HttpMethod::{Delete, Get, Post};
    vec![
        Route {
            method: Post,
            path: "/v1/properties/{id}/documents",
            id: "propertiesDocumentsCreate",
            tag: "documents",
            summary: "Add a document to a property (owner, admin): it is recorded `pending` with a presigned POST; the browser uploads the file straight to S3 with it (the form's fields, then the file as `file`), the documents worker checks it (size, type by its first bytes) and marks it `ready` or `rejected` within seconds; counts against the property's quota",
            auth: Auth::Required,
            store: true,
            body: body::<NewDocument>(),
            params: vec![path_id::<PropertyId>()],
            ok: vec![(
                201,
                "The document (`pending`, `Location`) and its upload form, valid for ten minutes",
                json::<NewDocumentAnswer>(),
            )],
            errors: &[403, 404, 409, 413, 422],
        },
        Route {
            method: Post,
            path: "/v1/leases/{id}/documents",
            id: "leasesDocumentsCreate",
            tag: "documents",
            summary: "Add a document to a lease (the property's owner, admin, the tenant while the lease runs: a signed contract), uploaded as for a property's; it counts against the property's quota",
            auth: Auth::Required,
            store: true,
            body: body::<NewDocument>(),
            params: vec![path_id::<LeaseId>()],
            ok: vec![(
                201,
                "The document (`pending`, `Location`) and its upload form, valid for ten minutes",
                json::<NewDocumentAnswer>(),
            )],
            errors: &[403, 404, 409, 413, 422],
        },
        Route {
            method: Get,
            path: "/v1/documents/{id}",
            id: "documentsGet",
            tag: "documents",
            summary: "A document; once `ready`, a download link valid for a minute that S3 answers with `Content-Disposition: attachment` (a property's: owner, admin; a lease's: also its tenant, after the lease ended too; anyone else: 404)",
            auth: Auth::Required,
            store: true,
            body: None,
            params: vec![path_id::<DocumentId>()],
            ok: vec![(
                200,
                "The document, with `download` when ready",
                json::<DocumentDetail>(),
            )],
            errors: &[404],
        },
        Route {
            method: Delete,
            path: "/v1/documents/{id}",
            id: "documentsDelete",
            tag: "documents",
            summary: "Delete a document (who may add it; a lease's tenant only while the lease runs): its share of the property's quota is given back and its file removed in the background (`document.deleted`)",
            auth: Auth::Required,
            store: true,
            body: None,
            params: vec![path_id::<DocumentId>()],
            ok: vec![(204, "Deleted", None)],
            errors: &[403, 404],
        },
        Route {
            method: Get,
            path: "/v1/properties/{id}/documents",
            id: "propertiesDocumentsList",
            tag: "documents",
            summary: "A property's own documents (not its leases'), newest first, each with its status (owner, admin; others: 403)",
            auth: Auth::Required,
            store: true,
            body: None,
            params: paged(vec![path_id::<PropertyId>()]),
            ok: vec![(
                200,
                "A page of documents",
                Some(page::<DocumentView>("DocumentPage")),
            )],
            errors: &[400, 403, 404],
        },
        Route {
            method: Get,
            path: "/v1/leases/{id}/documents",
            id: "leasesDocumentsList",
            tag: "documents",
            summary: "A lease's documents, newest first (the property's owner, admin, the tenant — after the lease ended too; anyone else: 404)",
            auth: Auth::Required,
            store: true,
            body: None,
            params: paged(vec![path_id::<LeaseId>()]),
            ok: vec![(
                200,
                "A page of documents",
                Some(page::<DocumentView>("DocumentPage")),
            )],
            errors: &[400, 404],
        },
    ]
}
