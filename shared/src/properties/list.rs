//! `GET /properties`: the registry by its fields, each filter served by a key or an index —
//! never a scan, never a filter expression over an unbounded set. A page of properties carries
//! their owners, read in one BatchGetItem.

use std::collections::{BTreeSet, HashMap};

use crate::accounts::items::UserItem;
use crate::error::ApiError;
use crate::ids::UserId;
use crate::state::State;
use crate::store::{Index, Key, KeyQuery, Page, PageRequest, SortKey, Store};
use crate::validate::Invalid;

use super::{
    FileNumber, FileNumberClaim, PropertyItem, PropertyKind, PropertyView, city_key, country,
    file_number_key, owner_partition, place_partition, property_key,
};

/// What the filters of `GET /properties` can name: one of these combinations.
pub const SERVED_FILTERS: &str =
    "`ownerId`; `country`; `country` + `city`; `country` + `city` + `kind`; or `fileNumber`";

/// A served combination of filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyFilter {
    /// An owner's properties (index `gsi1`).
    Owner(UserId),
    /// Properties in a country, optionally a city of it, optionally of one kind (index `gsi2`,
    /// a prefix of its sort key).
    Place {
        country: String,
        city: Option<String>,
        kind: Option<PropertyKind>,
    },
    /// The property with this file number (its claim), if any.
    FileNumber(FileNumber),
}

/// The query parameters of `GET /properties`, as given.
#[derive(Debug, Clone, Copy, Default)]
pub struct FilterParams<'a> {
    pub owner_id: Option<&'a str>,
    pub country: Option<&'a str>,
    pub city: Option<&'a str>,
    pub kind: Option<PropertyKind>,
    pub file_number: Option<&'a str>,
}

fn unserved(detail: &str) -> ApiError {
    ApiError::invalid_parameter("filter", format!("{detail}: filter by {SERVED_FILTERS}"))
}

impl PropertyFilter {
    /// The one served combination `params` name; 400 saying which ones are served otherwise.
    pub fn from_params(params: FilterParams<'_>) -> Result<Self, ApiError> {
        match params {
            FilterParams {
                owner_id: Some(owner),
                country: None,
                city: None,
                kind: None,
                file_number: None,
            } => UserId::parse(owner)
                .map(Self::Owner)
                .map_err(|_| ApiError::invalid_parameter("ownerId", "must be a user id")),
            FilterParams {
                owner_id: None,
                country: Some(code),
                city,
                kind,
                file_number: None,
            } => {
                if kind.is_some() && city.is_none() {
                    return Err(unserved("`kind` goes with `country` and `city`"));
                }
                let city = city
                    .map(|c| crate::validate::visible_line(c, super::CITY_MAX_CHARS).map(city_key))
                    .transpose()
                    .map_err(|Invalid(message)| ApiError::invalid_parameter("city", message))?;
                Ok(Self::Place {
                    country: country(code).map_err(|Invalid(message)| {
                        ApiError::invalid_parameter("country", message)
                    })?,
                    city,
                    kind,
                })
            }
            FilterParams {
                owner_id: None,
                country: None,
                city: None,
                kind: None,
                file_number: Some(number),
            } => FileNumber::parse(number)
                .map(Self::FileNumber)
                .map_err(|Invalid(message)| ApiError::invalid_parameter("fileNumber", message)),
            FilterParams {
                owner_id: None,
                country: None,
                city: None,
                kind: None,
                file_number: None,
            } => Err(unserved("a filter is needed")),
            _ => Err(unserved("this combination is not served")),
        }
    }
}

/// The owners of `properties`, by id, in one BatchGetItem.
async fn owners(
    store: &Store,
    properties: &[PropertyItem],
) -> Result<HashMap<UserId, String>, ApiError> {
    let ids: BTreeSet<UserId> = properties.iter().map(|p| p.owner_id).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let keys: Vec<Key> = ids.iter().map(|id| Key::user(*id)).collect();
    let mut names = HashMap::new();
    for item in store.batch_get(&keys).await?.into_iter().flatten() {
        let user: UserItem = Store::parse(item)?;
        names.insert(user.id, user.name);
    }
    Ok(names)
}

/// `GET /properties`: a page of the properties `filter` names, in key order (an owner's: oldest
/// first; a place's: by city, kind, then age), each with its owner. Calls: one Query and one BatchGetItem; for `fileNumber`, GetItem (the claim),
/// GetItem (the property) and one BatchGetItem.
pub async fn list(
    state: &State,
    filter: &PropertyFilter,
    page: &PageRequest,
) -> Result<Page<PropertyView>, ApiError> {
    let store = &state.store;
    let found: Page<PropertyItem> = match filter {
        PropertyFilter::Owner(owner) => {
            store
                .query_page(&KeyQuery::index(Index::Gsi1, owner_partition(*owner)), page)
                .await?
        }
        PropertyFilter::Place {
            country,
            city,
            kind,
        } => {
            let prefix = match (city, kind) {
                (Some(city), Some(kind)) => Some(format!("{city}#{}#", kind.as_str())),
                (Some(city), None) => Some(format!("{city}#")),
                _ => None,
            };
            let mut query = KeyQuery::index(Index::Gsi2, place_partition(country));
            if let Some(prefix) = prefix {
                query = query.sort(SortKey::BeginsWith(prefix));
            }
            store.query_page(&query, page).await?
        }
        PropertyFilter::FileNumber(number) => {
            let claim: Option<FileNumberClaim> = store.get(&file_number_key(number)).await?;
            let property = match claim {
                Some(claim) => store.get(&property_key(claim.property_id)).await?,
                None => None,
            };
            Page {
                items: property.into_iter().collect(),
                next_cursor: None,
            }
        }
    };
    let names = owners(store, &found.items).await?;
    Ok(Page {
        items: found
            .items
            .iter()
            .map(|p| PropertyView::of(p, names.get(&p.owner_id).map_or("", String::as_str)))
            .collect(),
        next_cursor: found.next_cursor,
    })
}
