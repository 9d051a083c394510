//! `github` and `gitlab`: a commit status on the revision the event is about. The status id is
//! `<kind>/<name>/<first UID segment of the Provider>` (lower case), success/failure from the
//! severity; a status identical to the newest one with that id is not posted again; events
//! without a revision are skipped (errors included: there is no commit to mark).

use serde_json::{Value, json};

use super::{Provider, Sent};
use crate::controllers::notification::{NotificationError, mask_url};
use crate::runtime::FluxEvent;

/// GitHub limits descriptions to 140 characters.
const MAX_DESCRIPTION: usize = 140;

/// The commit status id for `event` on the provider with `provider_uid`.
pub fn status_id(provider_uid: &str, event: &FluxEvent) -> String {
    let o = &event.involved_object;
    let f = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("");
    let uid = provider_uid.split('-').next().unwrap_or("");
    format!("{}/{}/{uid}", f("kind"), f("name")).to_lowercase()
}

/// The commit hash of the event's `revision` (`main@sha1:<hash>`, `sha1:<hash>`, legacy
/// `main/<hash>`).
pub fn commit_sha(event: &FluxEvent) -> Option<String> {
    let rev = event.metadata.get("revision").and_then(Value::as_str)?;
    let hash = match rev.rsplit_once(':') {
        Some((_, h)) => h,
        None => rev.rsplit_once('/').map(|(_, h)| h).unwrap_or(rev),
    };
    (!hash.is_empty() && hash.chars().all(|c| c.is_ascii_hexdigit())).then(|| hash.to_string())
}

/// `ReconciliationSucceeded` → `Reconciliation succeeded`, cut to GitHub's limit.
fn description(event: &FluxEvent) -> String {
    let mut words = Vec::new();
    let mut cur = String::new();
    for c in event.reason.chars() {
        if c.is_uppercase() && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    let mut out = String::new();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            out.push(' ');
            out.push_str(&w.to_lowercase());
        } else {
            out.push_str(w);
        }
    }
    out.chars().take(MAX_DESCRIPTION).collect()
}

/// `(scheme://host[:port], owner/repo)` of a repository URL.
fn repo_parts(p: &Provider) -> Result<(reqwest::Url, String), NotificationError> {
    let url = reqwest::Url::parse(&p.address).map_err(|e| NotificationError::Invalid {
        object: format!("Provider {}", p.id),
        message: format!("address {} is not a URL: {e}", mask_url(&p.address)),
    })?;
    let path = url
        .path()
        .trim_matches('/')
        .trim_end_matches(".git")
        .to_string();
    if path.split('/').filter(|s| !s.is_empty()).count() < 2 {
        return Err(NotificationError::Invalid {
            object: format!("Provider {}", p.id),
            message: format!(
                "address {} is not a repository URL (https://host/owner/repo)",
                mask_url(&p.address)
            ),
        });
    }
    Ok((url, path))
}

fn base(url: &reqwest::Url) -> String {
    let mut b = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        b.push_str(&format!(":{port}"));
    }
    b
}

fn skip_without_revision(event: &FluxEvent) -> Option<Sent> {
    if commit_sha(event).is_none() {
        return Some(Sent::Skipped(format!(
            "{} event without a commit revision",
            event.severity
        )));
    }
    None
}

async fn get_json(p: &Provider, url: &str, auth: (&str, String)) -> Option<Value> {
    let resp = p
        .http
        .get(url)
        .header(auth.0, auth.1)
        .header("Accept", "application/json")
        .header("User-Agent", "flotilla-notification-controller")
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.json_value().await
}

trait JsonValue {
    async fn json_value(self) -> Option<Value>;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Option<Value> {
        let bytes = self.bytes().await.ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// GitHub: `POST /repos/{owner}/{repo}/statuses/{sha}` (API at api.github.com, or
/// `<host>/api/v3` for GitHub Enterprise).
pub(super) async fn github(p: &Provider, event: &FluxEvent) -> Result<Sent, NotificationError> {
    if let Some(s) = skip_without_revision(event) {
        return Ok(s);
    }
    let sha = commit_sha(event).unwrap_or_default();
    let (url, repo) = repo_parts(p)?;
    let api = if url.host_str() == Some("github.com") {
        "https://api.github.com".to_string()
    } else {
        format!("{}/api/v3", base(&url))
    };
    let id = status_id(&p.uid, event);
    let state = if event.severity == "error" {
        "failure"
    } else {
        "success"
    };
    let desc = description(event);
    let token = p.token.clone().unwrap_or_default();
    let list = format!("{api}/repos/{repo}/commits/{sha}/statuses");
    if let Some(Value::Array(existing)) =
        get_json(p, &list, ("Authorization", format!("Bearer {token}"))).await
        && let Some(last) = existing.iter().find(|s| s["context"] == id.as_str())
        && last["state"] == state
        && last["description"] == desc.as_str()
    {
        return Ok(Sent::Skipped("commit status unchanged".into()));
    }
    let body = json!({"state": state, "context": id, "description": desc});
    p.post(
        &format!("{api}/repos/{repo}/statuses/{sha}"),
        serde_json::to_vec(&body).unwrap_or_default(),
        &[
            ("Authorization", format!("Bearer {token}")),
            ("Accept", "application/vnd.github+json".into()),
            ("User-Agent", "flotilla-notification-controller".into()),
        ],
    )
    .await
}

/// GitLab: `POST /api/v4/projects/{url-encoded path}/statuses/{sha}` with `PRIVATE-TOKEN`.
pub(super) async fn gitlab(p: &Provider, event: &FluxEvent) -> Result<Sent, NotificationError> {
    if let Some(s) = skip_without_revision(event) {
        return Ok(s);
    }
    let sha = commit_sha(event).unwrap_or_default();
    let (url, repo) = repo_parts(p)?;
    let project = repo.replace('/', "%2F");
    let api = format!("{}/api/v4/projects/{project}", base(&url));
    let id = status_id(&p.uid, event);
    let state = if event.severity == "error" {
        "failed"
    } else {
        "success"
    };
    let desc = description(event);
    let token = p.token.clone().unwrap_or_default();
    let list = format!("{api}/repository/commits/{sha}/statuses");
    if let Some(Value::Array(existing)) = get_json(p, &list, ("PRIVATE-TOKEN", token.clone())).await
        && let Some(last) = existing.iter().find(|s| s["name"] == id.as_str())
        && last["status"] == state
        && last["description"] == desc.as_str()
    {
        return Ok(Sent::Skipped("commit status unchanged".into()));
    }
    let body = json!({"state": state, "name": id, "description": desc});
    p.post(
        &format!("{api}/statuses/{sha}"),
        serde_json::to_vec(&body).unwrap_or_default(),
        &[("PRIVATE-TOKEN", token)],
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn ev(rev: Option<&str>) -> FluxEvent {
        let mut metadata = Map::new();
        if let Some(r) = rev {
            metadata.insert("revision".into(), json!(r));
        }
        FluxEvent {
            involved_object: json!({"kind": "Kustomization", "name": "Apps", "namespace": "n"}),
            severity: "info".into(),
            timestamp: "t".into(),
            message: "m".into(),
            reason: "ReconciliationSucceeded".into(),
            metadata,
            reporting_controller: "kustomize-controller".into(),
            reporting_instance: "flotilla".into(),
        }
    }

    #[test]
    fn revisions_ids_and_descriptions() {
        assert_eq!(
            commit_sha(&ev(Some("main@sha1:abc123"))).as_deref(),
            Some("abc123")
        );
        assert_eq!(
            commit_sha(&ev(Some("sha1:abc123"))).as_deref(),
            Some("abc123")
        );
        assert_eq!(
            commit_sha(&ev(Some("main/abc123"))).as_deref(),
            Some("abc123")
        );
        assert_eq!(commit_sha(&ev(Some("v1.0.0@sha256:zz"))), None);
        assert_eq!(commit_sha(&ev(None)), None);
        assert_eq!(
            status_id("0c9c2e41-d2f9-4f9b-9c41-2f4b1e8e2d1a", &ev(None)),
            "kustomization/apps/0c9c2e41"
        );
        assert_eq!(description(&ev(None)), "Reconciliation succeeded");
    }
}
