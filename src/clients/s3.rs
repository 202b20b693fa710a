//! The few S3 calls the backup store is asked for (create a bucket, list,
//! get and delete objects), path-style against one endpoint and signed with
//! SigV4 by the AWS SDK's signer. versitygw refuses a request without the
//! `x-amz-content-sha256` header, so every request carries the payload hash.
//! The secret key only signs: it is never sent or put into an error.

use crate::base::config::Secret;
use crate::base::error::{Category, HostError, HostResult};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use reqwest::Method;
use serde::Deserialize;
use std::time::{Duration, SystemTime};

/// versitygw's default region; it refuses a signature for another.
const REGION: &str = "us-east-1";

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct S3Object {
    pub key: String,
    pub size: u64,
}

#[derive(Clone)]
pub struct S3Client {
    http: reqwest::Client,
    /// `http://host:port`, no trailing slash.
    base: String,
    bucket: String,
    access_key: String,
    secret_key: Secret,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListBucketResult {
    #[serde(default)]
    contents: Vec<ListedObject>,
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_continuation_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedObject {
    key: String,
    #[serde(default)]
    size: u64,
}

impl S3Client {
    pub fn new(
        http: reqwest::Client,
        base: &str,
        bucket: &str,
        access_key: &str,
        secret_key: &Secret,
    ) -> S3Client {
        S3Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            bucket: bucket.to_string(),
            access_key: access_key.to_string(),
            secret_key: secret_key.clone(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Send one signed request; the reply's status and body.
    async fn send(
        &self,
        method: Method,
        key: Option<&str>,
        query: &[(&str, &str)],
        body: Vec<u8>,
    ) -> HostResult<(u16, Vec<u8>)> {
        let mut url = reqwest::Url::parse(&format!("{}/{}", self.base, self.bucket))
            .map_err(|e| HostError::validation(format!("bad store URL {}: {e}", self.base)))?;
        if let Some(k) = key {
            url.path_segments_mut()
                .map_err(|_| HostError::validation(format!("bad store URL {}", self.base)))?
                .extend(k.split('/'));
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let identity: Identity = Credentials::new(
            &self.access_key,
            self.secret_key.expose(),
            None,
            None,
            "elysiactl",
        )
        .into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| HostError::unknown(format!("cannot sign an S3 request: {e}")))?
            .into();
        let signable = SignableRequest::new(
            method.as_str(),
            url.as_str(),
            std::iter::empty(),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| HostError::unknown(format!("cannot sign an S3 request: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| HostError::unknown(format!("cannot sign an S3 request: {e}")))?
            .into_parts();
        let mut req = self
            .http
            .request(method.clone(), url.as_str())
            .timeout(Duration::from_secs(60));
        for (name, value) in instructions.headers() {
            req = req.header(name, value);
        }
        let what = format!("{method} {}", url.path());
        let resp = req.body(body).send().await.map_err(|e| {
            HostError::network(format!(
                "the backup store at {} did not answer {what}: {e}",
                self.base
            ))
            .with_hint("is it running? `elysiactl start` runs it when [backup] enabled = true; `elysiactl install backup-store` builds it")
        })?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| {
            HostError::network(format!("reading the store's answer to {what}: {e}"))
        })?;
        Ok((status, bytes.to_vec()))
    }

    fn refused(&self, what: &str, status: u16, body: &[u8]) -> HostError {
        let text = String::from_utf8_lossy(body);
        let code = between(&text, "<Code>", "</Code>").unwrap_or_default();
        let message = between(&text, "<Message>", "</Message>").unwrap_or_default();
        let category = if status == 403 {
            Category::Validation
        } else {
            Category::Unknown
        };
        let hint = if status == 403 {
            "backup.access_key / backup.secret_key do not match what the store runs with: restart the stack (`elysiactl stop && elysiactl start`)"
        } else {
            "the store's answer is above; its log is in the tool's log folder (backup-store.log)"
        };
        HostError::new(
            category,
            format!("the backup store refused {what}: {status} {code} {message}"),
        )
        .with_hint(hint)
    }

    /// Create the bucket; one that exists already (ours) is fine.
    pub async fn ensure_bucket(&self) -> HostResult<bool> {
        let (status, body) = self.send(Method::PUT, None, &[], Vec::new()).await?;
        match status {
            200..=299 => Ok(true),
            409 => Ok(false),
            _ => Err(self.refused(&format!("creating bucket {}", self.bucket), status, &body)),
        }
    }

    /// One small listing of the bucket: Ok when the store answers and takes
    /// these keys and the bucket exists.
    pub async fn probe(&self) -> HostResult<()> {
        let q = [("list-type", "2"), ("max-keys", "1")];
        let (status, body) = self.send(Method::GET, None, &q, Vec::new()).await?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(self.refused(&format!("listing bucket {}", self.bucket), status, &body))
        }
    }

    /// Every object whose key starts with `prefix`, in key order.
    pub async fn list(&self, prefix: &str) -> HostResult<Vec<S3Object>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut q = vec![("list-type", "2"), ("prefix", prefix)];
            if let Some(t) = &token {
                q.push(("continuation-token", t.as_str()));
            }
            let (status, body) = self.send(Method::GET, None, &q, Vec::new()).await?;
            if !(200..300).contains(&status) {
                return Err(self.refused(&format!("listing {prefix:?}"), status, &body));
            }
            let page: ListBucketResult =
                quick_xml::de::from_reader(body.as_slice()).map_err(|e| {
                    HostError::new(
                        Category::Encoding,
                        format!("the backup store's listing is not S3's XML: {e}"),
                    )
                })?;
            out.extend(page.contents.into_iter().map(|o| S3Object {
                key: o.key,
                size: o.size,
            }));
            match page.next_continuation_token {
                Some(t) if page.is_truncated => token = Some(t),
                _ => break,
            }
        }
        Ok(out)
    }

    /// An object's bytes, or None when there is no such key.
    pub async fn get(&self, key: &str) -> HostResult<Option<Vec<u8>>> {
        let (status, body) = self.send(Method::GET, Some(key), &[], Vec::new()).await?;
        match status {
            200..=299 => Ok(Some(body)),
            404 => Ok(None),
            _ => Err(self.refused(&format!("reading {key}"), status, &body)),
        }
    }

    pub async fn put(&self, key: &str, body: Vec<u8>) -> HostResult<()> {
        let (status, reply) = self.send(Method::PUT, Some(key), &[], body).await?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(self.refused(&format!("writing {key}"), status, &reply))
        }
    }

    pub async fn delete(&self, key: &str) -> HostResult<()> {
        let (status, body) = self
            .send(Method::DELETE, Some(key), &[], Vec::new())
            .await?;
        if (200..300).contains(&status) || status == 404 {
            Ok(())
        } else {
            Err(self.refused(&format!("deleting {key}"), status, &body))
        }
    }
}

fn between(text: &str, open: &str, close: &str) -> Option<String> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(text[start..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_decodes_keys_sizes_and_the_next_page() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>x/</Prefix>
<Contents><Key>x/a</Key><Size>12</Size></Contents><Contents><Key>x/b</Key><Size>0</Size></Contents>
<IsTruncated>true</IsTruncated><NextContinuationToken>tok</NextContinuationToken></ListBucketResult>"#;
        let page: ListBucketResult = quick_xml::de::from_str(xml).unwrap();
        assert_eq!(page.contents.len(), 2);
        assert_eq!(
            (page.contents[0].key.as_str(), page.contents[0].size),
            ("x/a", 12)
        );
        assert!(page.is_truncated);
        assert_eq!(page.next_continuation_token.as_deref(), Some("tok"));
        let empty: ListBucketResult = quick_xml::de::from_str(
            "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>",
        )
        .unwrap();
        assert!(empty.contents.is_empty());
    }
}
