//! The little of the S3 API a Bucket needs: AWS Signature Version 4 in the `Authorization` header
//! (what minio-go, and so source-controller, sends; some S3-compatible servers do not accept
//! presigned query signatures with IAM checks on), path-style URLs, and the ListObjectsV2 answer.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Static credentials (`accesskey`/`secretkey`).
#[derive(Clone)]
pub struct Keys {
    /// The access key id.
    pub access: String,
    /// The secret key (never printed).
    pub secret: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys({}, ***)", self.access)
    }
}

/// SHA-256 of the empty payload (every request here is a GET or has no signed body).
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    // Infallible: HMAC accepts keys of any length.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// RFC 3986 percent-encoding of everything but unreserved characters (and `/` when `keep_slash`).
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// What a signature covers: method, host, encoded absolute path, decoded query, payload hash.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `PUT`, …
    pub method: &'a str,
    /// The `Host` header (`host[:port]`).
    pub host: &'a str,
    /// The already-encoded absolute path.
    pub path: &'a str,
    /// The decoded query parameters.
    pub query: &'a [(&'a str, &'a str)],
    /// Hex SHA-256 of the body ([`EMPTY_SHA256`] for none).
    pub payload_sha256: &'a str,
}

/// The headers of a signed request: `x-amz-date`, `x-amz-content-sha256` and `Authorization`.
pub fn sign(
    req: &Request<'_>,
    region: &str,
    keys: &Keys,
    now: jiff::Timestamp,
) -> Vec<(String, String)> {
    let Request {
        method,
        host,
        path,
        query,
        payload_sha256,
    } = *req;
    let amz_date = now.strftime("%Y%m%dT%H%M%SZ").to_string();
    let date = &amz_date[..8];
    let mut q: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    q.sort();
    let canonical_query = q
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let signed_headers = "host;x-amz-content-sha256;x-amz-date";
    let canonical = format!(
        "{method}\n{path}\n{canonical_query}\nhost:{host}\nx-amz-content-sha256:{payload_sha256}\nx-amz-date:{amz_date}\n\n{signed_headers}\n{payload_sha256}"
    );
    let scope = format!("{date}/{region}/s3/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let k_date = hmac(format!("AWS4{}", keys.secret).as_bytes(), date);
    let k_region = hmac(&k_date, region);
    let k_service = hmac(&k_region, "s3");
    let k_signing = hmac(&k_service, "aws4_request");
    let signature = hex(&hmac(&k_signing, &to_sign));
    vec![
        ("x-amz-date".into(), amz_date.clone()),
        ("x-amz-content-sha256".into(), payload_sha256.to_string()),
        (
            "Authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
                keys.access
            ),
        ),
    ]
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The key.
    pub key: String,
    /// The ETag without quotes.
    pub etag: String,
    /// Size in bytes.
    pub size: u64,
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#34;", "\"")
        .replace("&amp;", "&")
}

fn tag<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let (_, rest) = body.split_once(&open)?;
    let (v, _) = rest.split_once(&close)?;
    Some(v)
}

/// Parses a ListObjectsV2 answer: the objects and the continuation token of the next page.
pub fn parse_list(body: &str) -> Result<(Vec<Listed>, Option<String>), String> {
    if !body.contains("<ListBucketResult") {
        return Err("not a ListBucketResult document".into());
    }
    let mut out = Vec::new();
    for part in body.split("<Contents>").skip(1) {
        let part = part.split("</Contents>").next().unwrap_or("");
        let key = tag(part, "Key").ok_or("an object without <Key>")?;
        out.push(Listed {
            key: unescape(key),
            etag: unescape(tag(part, "ETag").unwrap_or(""))
                .trim_matches('"')
                .to_string(),
            size: tag(part, "Size")
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0),
        });
    }
    let truncated = tag(body, "IsTruncated").is_some_and(|t| t.trim() == "true");
    let next = tag(body, "NextContinuationToken")
        .map(unescape)
        .filter(|t| truncated && !t.is_empty());
    Ok((out, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_header_has_the_sigv4_shape_and_hides_the_secret() {
        // The signature value itself is checked by a real S3 server (moto, with IAM on) in
        // tests/bucket_sources.rs, which also rejects a wrong secret.
        let keys = Keys {
            access: "AKIAIOSFODNN7EXAMPLE".into(),
            secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        };
        let now: jiff::Timestamp = "2013-05-24T00:00:00Z".parse().unwrap();
        let req = Request {
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            path: "/test.txt",
            query: &[],
            payload_sha256: EMPTY_SHA256,
        };
        let h = sign(&req, "us-east-1", &keys, now);
        assert_eq!(
            h[0],
            ("x-amz-date".to_string(), "20130524T000000Z".to_string())
        );
        let auth = &h[2].1;
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="),
            "{auth}"
        );
        assert!(!auth.contains(&keys.secret));
        assert!(!format!("{keys:?}").contains(&keys.secret));
    }

    #[test]
    fn encodes_like_sigv4() {
        assert_eq!(uri_encode("a b/c~d", true), "a%20b/c~d");
        assert_eq!(uri_encode("a/b", false), "a%2Fb");
    }

    #[test]
    fn parses_listings_with_pages_and_escapes() {
        let body = r#"<?xml version="1.0"?><ListBucketResult><IsTruncated>true</IsTruncated>
<Contents><Key>apps/a&amp;b.yaml</Key><ETag>&quot;abc&quot;</ETag><Size>12</Size></Contents>
<Contents><Key>apps/c.yaml</Key><ETag>"def"</ETag><Size>3</Size></Contents>
<NextContinuationToken>tok/1</NextContinuationToken></ListBucketResult>"#;
        let (objs, next) = parse_list(body).unwrap();
        assert_eq!(objs[0].key, "apps/a&b.yaml");
        assert_eq!(objs[0].etag, "abc");
        assert_eq!(objs[1].size, 3);
        assert_eq!(next.as_deref(), Some("tok/1"));
        assert!(parse_list("<Error/>").is_err());
    }
}
