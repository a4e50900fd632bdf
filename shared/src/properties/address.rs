//! Postal addresses: as stored and shown ([`Address`]), and as a request gives them
//! ([`NewAddress`], each line checked as it is read, the country among the assigned codes).

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use crate::validate::{Invalid, RequestValue, line_schema, request_value, visible_line};

/// The most characters of an address line, a city or a region.
pub const ADDRESS_LINE_MAX_CHARS: usize = 200;
pub const CITY_MAX_CHARS: usize = 100;
pub const POSTAL_CODE_MAX_CHARS: usize = 16;

/// ISO 3166-1 alpha-2 codes, officially assigned (2024).
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI \
BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ \
GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN \
KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS \
MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT \
PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF \
TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM \
ZW";

/// A country: its ISO 3166-1 alpha-2 code, upper-case.
pub fn country(raw: &str) -> Result<String, Invalid> {
    let code = raw.trim().to_ascii_uppercase();
    if code.len() == 2 && COUNTRIES.split_whitespace().any(|c| c == code) {
        Ok(code)
    } else {
        Err(Invalid(
            "must be an ISO 3166-1 alpha-2 country code, such as DE",
        ))
    }
}

/// A postal address; each line follows the text policy of names (visible characters, no
/// control or bidirectional overrides).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    #[schema(max_length = 200)]
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub line2: Option<String>,
    #[schema(max_length = 100)]
    pub city: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 100)]
    pub region: Option<String>,
    #[schema(max_length = 16)]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "DE", min_length = 2, max_length = 2)]
    pub country: String,
}

impl Address {
    /// The address on one line, as an email quotes it: `1 Harbour Row, Bristol, GB`.
    pub fn one_line(&self) -> String {
        [
            Some(&self.line1),
            self.line2.as_ref(),
            Some(&self.city),
            Some(&self.country),
        ]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// One line of an address (trimmed, the text policy of names: [`visible_line`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressLine(String);

/// A city or a region (the same policy, shorter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place(String);

/// A postal code (the same policy, shorter still).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostalCode(String);

/// A country: its ISO 3166-1 alpha-2 code, upper-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Country(String);

impl RequestValue for AddressLine {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        visible_line(&raw, ADDRESS_LINE_MAX_CHARS).map(|l| Self(l.to_owned()))
    }
    fn schema() -> Schema {
        line_schema(ADDRESS_LINE_MAX_CHARS, "A line of an address.").into()
    }
}

impl RequestValue for Place {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        visible_line(&raw, CITY_MAX_CHARS).map(|l| Self(l.to_owned()))
    }
    fn schema() -> Schema {
        line_schema(CITY_MAX_CHARS, "A city or a region.").into()
    }
}

impl RequestValue for PostalCode {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        visible_line(&raw, POSTAL_CODE_MAX_CHARS).map(|l| Self(l.to_owned()))
    }
    fn schema() -> Schema {
        line_schema(POSTAL_CODE_MAX_CHARS, "A postal code.").into()
    }
}

impl RequestValue for Country {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        country(&raw).map(Self)
    }
    fn schema() -> Schema {
        // The assigned codes, as the answers spell them (input may be in any case).
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("ISO 3166-1 alpha-2, an assigned code."))
            .enum_values(Some(COUNTRIES.split_whitespace()))
            .examples(["DE"])
            .into()
    }
}

request_value!(AddressLine, Place, PostalCode, Country);

/// A postal address as a request gives it, each line checked as it is read.
#[derive(Debug, Clone, PartialEq, Eq, eserde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAddress {
    pub line1: AddressLine,
    #[serde(default)]
    pub line2: Option<AddressLine>,
    pub city: Place,
    #[serde(default)]
    pub region: Option<Place>,
    pub postal_code: PostalCode,
    pub country: Country,
}

impl From<NewAddress> for Address {
    fn from(address: NewAddress) -> Self {
        Self {
            line1: address.line1.0,
            line2: address.line2.map(|l| l.0),
            city: address.city.0,
            region: address.region.map(|r| r.0),
            postal_code: address.postal_code.0,
            country: address.country.0,
        }
    }
}
