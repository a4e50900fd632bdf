//! S3 requests a browser makes on its own, signed here with the function's credentials: an
//! upload by POST form (a `SigV4` POST policy) and a download by link (query-string `SigV4`). No
//! S3 client: signing is local (aws-sigv4, which every AWS call here already links), so a
//! function that only hands out links makes no call to S3 at all.
//!
//! A POST policy pins everything the upload may be: the bucket, the exact key, the exact
//! `Content-Type`, its size (`content-length-range`) and the signing fields themselves; S3
//! refuses any field no condition names ("Extra input fields"). Both expire: the policy at
//! `expiration`, the link after `X-Amz-Expires` — and, signed with a role's temporary
//! credentials (`x-amz-security-token`), when those do. Sources: Amazon S3 API Reference,
//! "Creating a POST policy", "Authenticating Requests: Using Query Parameters (AWS Signature
//! Version 4)". The local endpoint checks both as S3 does (`infra/local_s3.py`).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::clock::Civil;

/// `SigV4`'s URI encoding: every byte but the unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Why a request could not be signed (no credentials: a misconfigured function).
#[derive(Debug, thiserror::Error)]
#[error("cannot presign an S3 request: {0}")]
pub struct PresignError(String);

/// Where a bucket is reached: AWS's virtual-hosted endpoint, or an endpoint override
/// (`AWS_ENDPOINT_URL`, the local stack) path-style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketAddress {
    region: String,
    endpoint: Option<String>,
}

impl BucketAddress {
    pub fn new(region: &str, endpoint: Option<&str>) -> Self {
        Self {
            region: region.to_owned(),
            endpoint: endpoint.map(|e| e.trim_end_matches('/').to_owned()),
        }
    }

    /// The URL of `bucket` itself (where a POST form is sent).
    pub fn bucket_url(&self, bucket: &str) -> String {
        match &self.endpoint {
            Some(endpoint) => format!("{endpoint}/{bucket}"),
            None => format!("https://{bucket}.s3.{}.amazonaws.com", self.region),
        }
    }

    /// The URL of `key` in `bucket` (ids only: nothing to encode).
    pub fn object_url(&self, bucket: &str, key: &str) -> String {
        format!("{}/{key}", self.bucket_url(bucket))
    }
}

/// What an upload may be.
#[derive(Debug, Clone)]
pub struct PostPolicy<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub content_type: &'a str,
    /// At most this many bytes (and at least one).
    pub max_bytes: u64,
    pub valid_for: Duration,
}

/// A browser's upload: POST a `multipart/form-data` form to `url` with every field of
/// `fields`, then the file as the last field, `file`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresignedPost {
    /// Where the form goes (the bucket).
    #[schema(
        example = "https://ferrite-documents-0f8d2c1e-7a4b-11ef-9b2e-0a1b2c3d4e5f.s3.eu-west-1.amazonaws.com"
    )]
    pub url: String,
    /// The form's fields, in any order, before the file: `key`, `Content-Type`, the policy and
    /// its signature.
    pub fields: BTreeMap<String, String>,
    /// When S3 stops taking the upload (RFC 3339).
    pub expires_at: String,
}

fn amz_date(at: SystemTime) -> (String, String) {
    let c = Civil::of(at);
    let day = format!("{:04}{:02}{:02}", c.year, c.month, c.day);
    let stamp = format!("{day}T{:02}{:02}{:02}Z", c.hour, c.minute, c.second);
    (day, stamp)
}

async fn credentials(sdk: &aws_types::SdkConfig) -> Result<Credentials, PresignError> {
    let provider = sdk
        .credentials_provider()
        .ok_or_else(|| PresignError("no credentials provider".into()))?;
    provider
        .provide_credentials()
        .await
        .map_err(|e| PresignError(e.to_string()))
}

/// Signs `policy` for an upload by browser, valid from `now`.
pub async fn presigned_post(
    sdk: &aws_types::SdkConfig,
    address: &BucketAddress,
    policy: &PostPolicy<'_>,
    now: SystemTime,
) -> Result<PresignedPost, PresignError> {
    let credentials = credentials(sdk).await?;
    let (day, stamp) = amz_date(now);
    let credential = format!(
        "{}/{day}/{}/s3/aws4_request",
        credentials.access_key_id(),
        address.region
    );
    let expires = now + policy.valid_for;
    let expires_at = crate::clock::rfc3339(expires);
    let mut fields = BTreeMap::from([
        ("key".to_owned(), policy.key.to_owned()),
        ("Content-Type".to_owned(), policy.content_type.to_owned()),
        ("x-amz-algorithm".to_owned(), "AWS4-HMAC-SHA256".to_owned()),
        ("x-amz-credential".to_owned(), credential),
        ("x-amz-date".to_owned(), stamp),
    ]);
    if let Some(token) = credentials.session_token() {
        fields.insert("x-amz-security-token".to_owned(), token.to_owned());
    }
    let mut conditions = vec![
        serde_json::json!({ "bucket": policy.bucket }),
        serde_json::json!(["content-length-range", 1, policy.max_bytes]),
    ];
    conditions.extend(
        fields
            .iter()
            .map(|(name, value)| serde_json::json!({ name: value })),
    );
    let document = serde_json::json!({ "expiration": expires_at, "conditions": conditions });
    let encoded = base64::engine::general_purpose::STANDARD.encode(document.to_string());
    let key = v4::generate_signing_key(credentials.secret_access_key(), now, &address.region, "s3");
    let signature = v4::calculate_signature(key, encoded.as_bytes());
    fields.insert("policy".to_owned(), encoded);
    fields.insert("x-amz-signature".to_owned(), signature);
    Ok(PresignedPost {
        url: address.bucket_url(policy.bucket),
        fields,
        expires_at,
    })
}

/// What a download link fetches.
#[derive(Debug, Clone)]
pub struct GetLink<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    /// `Content-Disposition` S3 answers with (`attachment; filename=…`).
    pub disposition: &'a str,
    /// `Content-Type` S3 answers with, whatever the object's own metadata says.
    pub content_type: &'a str,
    pub valid_for: Duration,
}

/// A link that downloads `link.key` until `link.valid_for` after `now`.
pub async fn presigned_get(
    sdk: &aws_types::SdkConfig,
    address: &BucketAddress,
    link: &GetLink<'_>,
    now: SystemTime,
) -> Result<String, PresignError> {
    let GetLink {
        bucket,
        key,
        disposition,
        content_type,
        valid_for,
    } = *link;
    let credentials = credentials(sdk).await?;
    let query = format!(
        "response-content-disposition={}&response-content-type={}",
        utf8_percent_encode(disposition, UNRESERVED),
        utf8_percent_encode(content_type, UNRESERVED)
    );
    let url = format!("{}?{query}", address.object_url(bucket, key));
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(valid_for);
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&address.region)
        .name("s3")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| PresignError(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        "GET",
        &url,
        std::iter::empty(),
        SignableBody::UnsignedPayload,
    )
    .map_err(|e| PresignError(e.to_string()))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| PresignError(e.to_string()))?
        .into_parts();
    let mut request = http::Request::get(&url)
        .body(())
        .map_err(|e| PresignError(e.to_string()))?;
    instructions.apply_to_request_http1x(&mut request);
    Ok(request.uri().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdk(token: Option<&str>) -> aws_types::SdkConfig {
        aws_types::SdkConfig::builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                    "AKIDEXAMPLE",
                    "secret",
                    token.map(str::to_owned),
                    None,
                    "test",
                )),
            )
            .build()
    }

    fn at() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000)
    }

    #[tokio::test]
    async fn a_post_policy_pins_bucket_key_type_size_and_its_own_fields() {
        let address = BucketAddress::new("eu-west-1", None);
        let post = presigned_post(
            &sdk(Some("token")),
            &address,
            &PostPolicy {
                bucket: "b",
                key: "incoming/01J",
                content_type: "application/pdf",
                max_bytes: 1000,
                valid_for: Duration::from_secs(600),
            },
            at(),
        )
        .await
        .expect("signed");
        assert_eq!(post.url, "https://b.s3.eu-west-1.amazonaws.com");
        let policy: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::STANDARD
                .decode(&post.fields["policy"])
                .expect("base64"),
        )
        .expect("json");
        let conditions = policy["conditions"].to_string();
        for expected in [
            r#"{"bucket":"b"}"#,
            r#"["content-length-range",1,1000]"#,
            r#"{"key":"incoming/01J"}"#,
            r#"{"Content-Type":"application/pdf"}"#,
            r#"{"x-amz-security-token":"token"}"#,
            r#"{"x-amz-algorithm":"AWS4-HMAC-SHA256"}"#,
        ] {
            assert!(conditions.contains(expected), "{expected} in {conditions}");
        }
        assert_eq!(policy["expiration"], post.expires_at);
        assert!(
            post.fields["x-amz-credential"].ends_with("/eu-west-1/s3/aws4_request"),
            "{:?}",
            post.fields
        );
        assert_eq!(post.fields["x-amz-signature"].len(), 64);
    }

    #[tokio::test]
    async fn a_link_expires_and_asks_s3_for_an_attachment() {
        let address = BucketAddress::new("us-east-1", Some("http://127.0.0.1:4566/"));
        let link = presigned_get(
            &sdk(None),
            &address,
            &GetLink {
                bucket: "b",
                key: "documents/01J",
                disposition: "attachment; filename=\"deed.pdf\"",
                content_type: "application/pdf",
                valid_for: Duration::from_secs(60),
            },
            at(),
        )
        .await
        .expect("signed");
        assert!(
            link.starts_with("http://127.0.0.1:4566/b/documents/01J?"),
            "{link}"
        );
        for part in [
            "X-Amz-Expires=60",
            "X-Amz-Signature=",
            "response-content-disposition=attachment%3B%20filename%3D%22deed.pdf%22",
            "response-content-type=application%2Fpdf",
        ] {
            assert!(link.contains(part), "{part} in {link}");
        }
    }
}
