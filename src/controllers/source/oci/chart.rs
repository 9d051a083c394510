//! Helm charts from an OCI HelmRepository, as source-controller's OCI chart repository resolves
//! them: the chart is `<repository url>/<chart name>`, an exact version is used as the tag (`+`
//! written as `_`, as `helm push` does), a range is resolved against the tag list (highest
//! match), and the layer `application/vnd.cncf.helm.chart.content.v1.tar+gzip` is downloaded with
//! its digest verified.

use serde_json::Value;

use crate::controllers::image::registry::oci::OciUrl;
use crate::controllers::image::registry::{
    Credentials, RegistryClient, RegistryOptions, credentials_from_secret_data,
};
use crate::controllers::source::helm_index::secret_bytes;
use crate::model::semver::{Constraints, parse_loose};
use crate::runtime::status_io::read_secret_data;

/// The media type `helm push` gives the chart layer.
pub const HELM_CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/// Why an OCI chart could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OciChartError {
    /// The repository or its credentials are unusable (`AuthenticationFailed`/URL problems).
    #[error("{0}")]
    Setup(String),
    /// No version matches, or the tag list cannot be read (a reference error).
    #[error("{0}")]
    Reference(String),
    /// The manifest or layer could not be downloaded or failed verification (a pull error).
    #[error("{0}")]
    Pull(String),
}

/// A chart in an OCI registry, connected with the HelmRepository's credentials.
pub struct OciChart {
    client: RegistryClient,
    url: String,
}

/// Credentials from the HelmRepository's `secretRef`: a dockerconfigjson Secret, or
/// `username`/`password` keys.
async fn credentials(
    kube: &kube::Client,
    ns: &str,
    secret: &str,
    registry: &str,
) -> Result<Option<Credentials>, OciChartError> {
    let data = read_secret_data(kube, ns, secret).await.map_err(|m| {
        OciChartError::Setup(format!(
            "failed to get authentication secret '{ns}/{secret}': {m}"
        ))
    })?;
    if data.get(".dockerconfigjson").is_some() {
        return credentials_from_secret_data(&data, registry).map_err(|e| {
            OciChartError::Setup(format!("invalid '{ns}/{secret}' secret data: {e}"))
        });
    }
    let text = |k: &str| secret_bytes(&data, k).and_then(|b| String::from_utf8(b).ok());
    match (text("username"), text("password")) {
        (Some(username), Some(password)) => Ok(Some(Credentials { username, password })),
        (None, None) => Ok(None),
        _ => Err(OciChartError::Setup(format!(
            "invalid '{ns}/{secret}' secret data: 'username' and 'password' must both be set"
        ))),
    }
}

/// Whether `version` names one version (used as the tag directly) rather than a range.
fn is_exact(version: &str) -> bool {
    let v = version.strip_prefix('v').unwrap_or(version);
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && parse_loose(version).is_ok()
}

/// The highest tag whose version (`_` read as `+`) is within `range`.
pub fn highest_matching_tag(tags: &[String], range: &str) -> Result<String, String> {
    let constraints =
        Constraints::parse(range).map_err(|e| format!("improper constraint: {range}: {e}"))?;
    let mut best: Option<(String, String)> = None;
    for tag in tags {
        let text = tag.replace('_', "+");
        let Ok(v) = parse_loose(&text) else { continue };
        if !constraints.matches(&v) {
            continue;
        }
        let better = match &best {
            None => true,
            Some((_, b)) => parse_loose(b)
                .map(|b| v.precedence(&b) == std::cmp::Ordering::Greater)
                .unwrap_or(true),
        };
        if better {
            best = Some((tag.clone(), text));
        }
    }
    best.map(|(t, _)| t).ok_or_else(|| {
        format!("could not locate a version matching provided version string {range}")
    })
}

impl OciChart {
    /// Connects to `<repo spec.url>/<chart>` with the repository's `secretRef`, `insecure` and
    /// `timeout`.
    pub async fn connect(
        kube: &kube::Client,
        ns: &str,
        repo: &Value,
        chart: &str,
    ) -> Result<OciChart, OciChartError> {
        let text = |p: &str| repo.pointer(p).and_then(Value::as_str).map(str::to_string);
        let base = text("/spec/url").unwrap_or_default();
        let url = format!("{}/{chart}", base.trim_end_matches('/'));
        let parsed = OciUrl::parse(&url)
            .map_err(|e| OciChartError::Setup(format!("invalid chart URL '{url}': {e}")))?;
        let credentials = match text("/spec/secretRef/name") {
            Some(secret) => credentials(kube, ns, &secret, &parsed.image.registry).await?,
            None => None,
        };
        let timeout = text("/spec/timeout")
            .and_then(|t| crate::model::time::parse_duration(&t).ok())
            .unwrap_or(std::time::Duration::from_secs(60));
        let client = RegistryClient::new(
            parsed.image,
            RegistryOptions {
                insecure: repo.pointer("/spec/insecure").and_then(Value::as_bool) == Some(true),
                credentials,
                timeout,
            },
        )
        .map_err(|e| OciChartError::Setup(e.to_string()))?;
        Ok(OciChart { client, url })
    }

    /// The chart version `version` (exact, or a range resolved against the tags) stands for.
    pub async fn resolve(&mut self, version: &str) -> Result<String, OciChartError> {
        if is_exact(version) {
            return Ok(version.to_string());
        }
        let tags = self.client.list_tags().await.map_err(|e| {
            OciChartError::Reference(format!("could not get tags for '{}': {e}", self.url))
        })?;
        let tag = highest_matching_tag(&tags, version).map_err(OciChartError::Reference)?;
        Ok(tag.replace('_', "+"))
    }

    /// Downloads the chart archive of `version`, digests verified.
    pub async fn download(&mut self, version: &str, limit: u64) -> Result<Vec<u8>, OciChartError> {
        let tag = version.replace('+', "_");
        let pull = |e: String| OciChartError::Pull(format!("{}:{tag}: {e}", self.url));
        let manifest = self
            .client
            .manifest(&tag)
            .await
            .map_err(|e| pull(e.to_string()))?;
        let layer = manifest
            .layers()
            .into_iter()
            .find(|l| l.media_type == HELM_CHART_LAYER)
            .ok_or_else(|| pull(format!("no layer of media type '{HELM_CHART_LAYER}'")))?;
        if layer.size > limit {
            return Err(pull(format!(
                "the chart layer is {} bytes, more than the limit of {limit}",
                layer.size
            )));
        }
        self.client
            .blob(&layer.digest, limit)
            .await
            .map_err(|e| pull(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_versions_are_tags_and_ranges_pick_the_highest_tag() {
        assert!(is_exact("1.2.3"));
        assert!(is_exact("v1.2.3-rc.1+build.5"));
        assert!(!is_exact(">=1.0.0"));
        assert!(!is_exact("1.x"));
        assert!(!is_exact("*"));
        let tags: Vec<String> = ["0.9.0", "1.0.0", "1.2.0_build.1", "2.0.0", "latest"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            highest_matching_tag(&tags, "<2.0.0").unwrap(),
            "1.2.0_build.1"
        );
        assert_eq!(highest_matching_tag(&tags, "*").unwrap(), "2.0.0");
        assert!(highest_matching_tag(&tags, ">=3").is_err());
    }
}
