//! Helm's release storage on a cluster: one Secret per revision (`sh.helm.release.v1.<name>.v<N>`,
//! type `helm.sh/release.v1`, labels `owner=helm`, `name`, `status`, `version`) in the storage
//! namespace, read and written through the project's kube client, so the real helm CLI and
//! helm-controller see the same records.

use crate::helm::release::{self, Release, ReleaseError, Status};
use crate::runtime::rest;
use http::Method;
use kube::Client;
use serde_json::Value;

/// Errors reading or writing release records.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The API server refused or could not be reached.
    #[error("release storage {what}: {source}")]
    Api {
        /// The operation and object.
        what: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// A record does not decode.
    #[error(transparent)]
    Record(#[from] ReleaseError),
}

/// The release Secrets of one storage namespace.
#[derive(Clone)]
pub struct Storage {
    client: Client,
    namespace: String,
}

impl Storage {
    /// Storage in `namespace` (helm's `--namespace`, Flux's `storageNamespace`).
    pub fn new(client: Client, namespace: &str) -> Storage {
        Storage {
            client,
            namespace: namespace.to_string(),
        }
    }

    /// The storage namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn collection(&self) -> String {
        format!(
            "/api/v1/namespaces/{}/secrets",
            rest::escape(&self.namespace)
        )
    }

    fn path(&self, name: &str, version: u64) -> String {
        format!(
            "{}/{}",
            self.collection(),
            rest::escape(&release::secret_name(name, version))
        )
    }

    async fn list_selector(&self, selector: &str) -> Result<Vec<Release>, StorageError> {
        let path = format!(
            "{}{}",
            self.collection(),
            rest::query(&[("labelSelector", selector)])
        );
        let list = rest::send(&self.client, Method::GET, &path, None, Vec::new())
            .await
            .map_err(|source| StorageError::Api {
                what: format!("list Secrets in {} ({selector})", self.namespace),
                source,
            })?;
        let mut out = Vec::new();
        for item in list
            .get("items")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            // Only helm's record type: another Secret labelled owner=helm is not a release.
            if item.get("type").and_then(Value::as_str) != Some(release::SECRET_TYPE) {
                continue;
            }
            out.push(release::from_secret(item)?);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name).then(a.version.cmp(&b.version)));
        Ok(out)
    }

    /// Every release revision in the namespace (`helm list -a` reads these), by name then version.
    pub async fn list(&self) -> Result<Vec<Release>, StorageError> {
        self.list_selector("owner=helm").await
    }

    /// All revisions of `name`, oldest first.
    pub async fn history(&self, name: &str) -> Result<Vec<Release>, StorageError> {
        self.list_selector(&format!("owner=helm,name={name}")).await
    }

    /// One revision (None when absent).
    pub async fn get(&self, name: &str, version: u64) -> Result<Option<Release>, StorageError> {
        match rest::send(
            &self.client,
            Method::GET,
            &self.path(name, version),
            None,
            Vec::new(),
        )
        .await
        {
            Ok(secret) => Ok(Some(release::from_secret(&secret)?)),
            Err(e) if rest::is_not_found(&e) => Ok(None),
            Err(source) => Err(StorageError::Api {
                what: format!("get {}", release::secret_name(name, version)),
                source,
            }),
        }
    }

    /// The latest revision (highest version), None for an unknown release.
    pub async fn last(&self, name: &str) -> Result<Option<Release>, StorageError> {
        Ok(self.history(name).await?.pop())
    }

    /// The latest deployed revision.
    pub async fn deployed(&self, name: &str) -> Result<Option<Release>, StorageError> {
        Ok(self
            .history(name)
            .await?
            .into_iter()
            .rev()
            .find(|r| r.info.status == Status::Deployed))
    }

    /// Creates the Secret of a new revision (fails if it exists, as helm's driver does).
    pub async fn create(&self, rel: &Release) -> Result<(), StorageError> {
        let secret = release::to_secret(rel, &self.namespace)?;
        let body = serde_json::to_vec(&secret).map_err(|e| ReleaseError::Json {
            what: rel.secret_name(),
            msg: e.to_string(),
        })?;
        rest::send(
            &self.client,
            Method::POST,
            &self.collection(),
            Some(rest::JSON),
            body,
        )
        .await
        .map_err(|source| StorageError::Api {
            what: format!("create {}", rel.secret_name()),
            source,
        })?;
        Ok(())
    }

    /// Replaces the Secret of an existing revision (status changes).
    pub async fn update(&self, rel: &Release) -> Result<(), StorageError> {
        let secret = release::to_secret(rel, &self.namespace)?;
        let body = serde_json::to_vec(&secret).map_err(|e| ReleaseError::Json {
            what: rel.secret_name(),
            msg: e.to_string(),
        })?;
        rest::send(
            &self.client,
            Method::PUT,
            &self.path(&rel.name, rel.version),
            Some(rest::JSON),
            body,
        )
        .await
        .map_err(|source| StorageError::Api {
            what: format!("update {}", rel.secret_name()),
            source,
        })?;
        Ok(())
    }

    /// Deletes one revision's Secret (absent counts as deleted).
    pub async fn delete(&self, name: &str, version: u64) -> Result<(), StorageError> {
        match rest::send(
            &self.client,
            Method::DELETE,
            &self.path(name, version),
            None,
            Vec::new(),
        )
        .await
        {
            Ok(_) => Ok(()),
            Err(e) if rest::is_not_found(&e) => Ok(()),
            Err(source) => Err(StorageError::Api {
                what: format!("delete {}", release::secret_name(name, version)),
                source,
            }),
        }
    }

    /// Helm's `--history-max`: deletes the oldest revisions so at most `max` remain (0 = keep
    /// all), never the latest deployed one. Returns the deleted versions.
    pub async fn prune_history(&self, name: &str, max: usize) -> Result<Vec<u64>, StorageError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let history = self.history(name).await?;
        let victims = history_victims(&history, max);
        for v in &victims {
            self.delete(name, *v).await?;
        }
        Ok(victims)
    }
}

/// The versions to delete so that at most `max` revisions remain (oldest first), keeping the
/// latest deployed revision as helm does.
pub fn history_victims(history: &[Release], max: usize) -> Vec<u64> {
    if max == 0 || history.len() <= max {
        return Vec::new();
    }
    let keep_deployed = history
        .iter()
        .rev()
        .find(|r| r.info.status == Status::Deployed)
        .map(|r| r.version);
    let mut versions: Vec<u64> = history.iter().map(|r| r.version).collect();
    versions.sort_unstable();
    let mut excess = history.len() - max;
    let mut out = Vec::new();
    for v in versions {
        if excess == 0 {
            break;
        }
        if Some(v) == keep_deployed {
            continue;
        }
        out.push(v);
        excess -= 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(version: u64, status: Status) -> Release {
        let mut r = Release {
            name: "web".into(),
            version,
            ..Release::default()
        };
        r.info.status = status;
        r
    }

    #[test]
    fn history_pruning_keeps_the_newest_and_the_deployed_revision() {
        let h = vec![
            rel(1, Status::Deployed),
            rel(2, Status::Failed),
            rel(3, Status::Failed),
            rel(4, Status::Failed),
        ];
        assert_eq!(history_victims(&h, 2), vec![2, 3]);
        assert_eq!(history_victims(&h, 4), Vec::<u64>::new());
        assert_eq!(history_victims(&h, 0), Vec::<u64>::new());
        let h = vec![
            rel(1, Status::Superseded),
            rel(2, Status::Superseded),
            rel(3, Status::Deployed),
        ];
        assert_eq!(history_victims(&h, 1), vec![1, 2]);
    }
}
