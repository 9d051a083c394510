//! Every condition type, reason and message template the HelmRelease reconciler writes, in one
//! table (the tests compare against these). Taken from helm-controller's API reference
//! (`helm.toolkit.fluxcd.io/v2`) and documentation.

/// Condition: the last release action's outcome.
pub const RELEASED: &str = "Released";
/// Condition: the outcome of the last `helm test`.
pub const TEST_SUCCESS: &str = "TestSuccess";
/// Condition: the last remediation (rollback/uninstall) outcome.
pub const REMEDIATED: &str = "Remediated";

/// Reason: install succeeded.
pub const INSTALL_SUCCEEDED: &str = "InstallSucceeded";
/// Reason: install failed.
pub const INSTALL_FAILED: &str = "InstallFailed";
/// Reason: upgrade succeeded.
pub const UPGRADE_SUCCEEDED: &str = "UpgradeSucceeded";
/// Reason: upgrade failed.
pub const UPGRADE_FAILED: &str = "UpgradeFailed";
/// Reason: tests succeeded.
pub const TEST_SUCCEEDED: &str = "TestSucceeded";
/// Reason: tests failed.
pub const TEST_FAILED: &str = "TestFailed";
/// Reason: rollback succeeded.
pub const ROLLBACK_SUCCEEDED: &str = "RollbackSucceeded";
/// Reason: rollback failed.
pub const ROLLBACK_FAILED: &str = "RollbackFailed";
/// Reason: uninstall succeeded.
pub const UNINSTALL_SUCCEEDED: &str = "UninstallSucceeded";
/// Reason: uninstall failed.
pub const UNINSTALL_FAILED: &str = "UninstallFailed";
/// Reason: the chart could not be fetched or loaded.
pub const ARTIFACT_FAILED: &str = "ArtifactFailed";
/// Reason: the release could not be prepared (values, storage, client).
pub const INIT_FAILED: &str = "InitFailed";
/// Reason: a dependency is not Ready.
pub const DEPENDENCY_NOT_READY: &str = "DependencyNotReady";
/// Reason: a generic reconciliation failure.
pub const RECONCILIATION_FAILED: &str = "ReconciliationFailed";
/// Reason: the chart source is not ready yet.
pub const SOURCE_NOT_READY: &str = "SourceNotReady";
/// Reason: retries are exhausted (Stalled).
pub const RETRIES_EXCEEDED: &str = "RetriesExceeded";
/// Reason/event: the cluster state drifted from the release.
pub const DRIFT_DETECTED: &str = "DriftDetected";
/// Reason: the release's storage could not be read.
pub const GET_LAST_RELEASE_FAILED: &str = "GetLastReleaseFailed";

/// `ns/name.vN` — helm-controller's full release name in messages.
pub fn full_release_name(namespace: &str, name: &str, version: u64) -> String {
    format!("{namespace}/{name}.v{version}")
}

/// `chart@version`.
pub fn versioned_chart(chart: &str, version: &str) -> String {
    format!("{chart}@{version}")
}

/// "Helm install succeeded for release ns/name.v1 with chart podinfo@6.5.0".
pub fn install_succeeded(release: &str, chart: &str) -> String {
    format!("Helm install succeeded for release {release} with chart {chart}")
}

/// "Helm install failed for release ns/name with chart podinfo@6.5.0: <err>".
pub fn install_failed(ns_name: &str, chart: &str, err: &str) -> String {
    format!("Helm install failed for release {ns_name} with chart {chart}: {err}")
}

/// "Helm upgrade succeeded for release ns/name.v2 with chart podinfo@6.5.1".
pub fn upgrade_succeeded(release: &str, chart: &str) -> String {
    format!("Helm upgrade succeeded for release {release} with chart {chart}")
}

/// "Helm upgrade failed for release ns/name with chart podinfo@6.5.1: <err>".
pub fn upgrade_failed(ns_name: &str, chart: &str, err: &str) -> String {
    format!("Helm upgrade failed for release {ns_name} with chart {chart}: {err}")
}

/// "Helm rollback to previous release ns/name.v1 with chart podinfo@6.5.0 succeeded".
pub fn rollback_succeeded(release: &str, chart: &str) -> String {
    format!("Helm rollback to previous release {release} with chart {chart} succeeded")
}

/// "Helm rollback to previous release ns/name.v1 with chart podinfo@6.5.0 failed: <err>".
pub fn rollback_failed(release: &str, chart: &str, err: &str) -> String {
    format!("Helm rollback to previous release {release} with chart {chart} failed: {err}")
}

/// "Helm uninstall succeeded for release ns/name.v1 with chart podinfo@6.5.0".
pub fn uninstall_succeeded(release: &str, chart: &str) -> String {
    format!("Helm uninstall succeeded for release {release} with chart {chart}")
}

/// "Helm uninstall failed for release ns/name.v1 with chart podinfo@6.5.0: <err>".
pub fn uninstall_failed(release: &str, chart: &str, err: &str) -> String {
    format!("Helm uninstall failed for release {release} with chart {chart}: {err}")
}

/// "Helm test succeeded for release ns/name.v1 with chart podinfo@6.5.0: 1 test hook completed successfully".
pub fn test_succeeded(release: &str, chart: &str, hooks: usize) -> String {
    let what = match hooks {
        0 => "no test hooks".to_string(),
        1 => "1 test hook completed successfully".to_string(),
        n => format!("{n} test hooks completed successfully"),
    };
    format!("Helm test succeeded for release {release} with chart {chart}: {what}")
}

/// "Helm test failed for release ns/name.v1 with chart podinfo@6.5.0: <err>".
pub fn test_failed(release: &str, chart: &str, err: &str) -> String {
    format!("Helm test failed for release {release} with chart {chart}: {err}")
}

/// "Failed to install after 1 attempt(s)" / "Failed to upgrade after 2 attempt(s)".
pub fn retries_exceeded(action: &str, attempts: u64) -> String {
    format!("Failed to {action} after {attempts} attempt(s)")
}

/// "Running 'install' action with timeout of 5m0s".
pub fn running_action(action: &str, timeout: &str) -> String {
    format!("Running '{action}' action with timeout of {timeout}")
}

/// Reconciling message at the start of a run.
pub const FULFILLING_PREREQUISITES: &str = "Fulfilling prerequisites";

/// "dependency 'ns/name' is not ready".
pub fn dependency_not_ready(namespace: &str, name: &str) -> String {
    format!("dependency '{namespace}/{name}' is not ready")
}

/// "HelmChart 'ns/name' is not ready".
pub fn chart_not_ready(kind: &str, namespace: &str, name: &str) -> String {
    format!("{kind} '{namespace}/{name}' is not ready")
}

/// "could not find ConfigMap 'ns/name'".
pub fn values_source_not_found(kind: &str, namespace: &str, name: &str) -> String {
    format!("could not find {kind} '{namespace}/{name}'")
}

/// "missing key 'values.yaml' in ConfigMap 'ns/name'".
pub fn values_key_missing(key: &str, kind: &str, namespace: &str, name: &str) -> String {
    format!("missing key '{key}' in {kind} '{namespace}/{name}'")
}

/// Drift message: "Cluster state of release ns/name.v1 has drifted from the desired state:\n<changes>".
pub fn drift_detected(release: &str, changes: &[String]) -> String {
    format!(
        "Cluster state of release {release} has drifted from the desired state:\n{}",
        changes.join("\n")
    )
}

/// Drift correction event message.
pub fn drift_corrected(release: &str, changes: &[String]) -> String {
    format!(
        "Cluster state of release {release} has been corrected:\n{}",
        changes.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_like_helm_controllers() {
        let rel = full_release_name("default", "podinfo", 1);
        let chart = versioned_chart("podinfo", "6.5.0");
        assert_eq!(
            install_succeeded(&rel, &chart),
            "Helm install succeeded for release default/podinfo.v1 with chart podinfo@6.5.0"
        );
        assert_eq!(
            retries_exceeded("upgrade", 2),
            "Failed to upgrade after 2 attempt(s)"
        );
        assert_eq!(
            test_succeeded(&rel, &chart, 0),
            "Helm test succeeded for release default/podinfo.v1 with chart podinfo@6.5.0: no test hooks"
        );
    }
}
