//! HelmChart from an OCI HelmRepository: the version resolved against the registry
//! ([`crate::controllers::source::oci::chart`]), the early exit when the stored artifact already
//! has it, then the archive pulled, loaded and (with `valuesFiles`) repackaged like an index chart.

use serde_json::Value;

use super::{Build, BuildReason, HelmChartReconciler, HelmChartSpec, build_error, chart_yaml};
use crate::controllers::source::controller::FETCH_FAILED;
use crate::controllers::source::helm_index::MAX_CHART_SIZE;
use crate::controllers::source::oci::chart::{OciChart, OciChartError};
use crate::model::conditions::ConditionStatus;
use crate::runtime::{Failure, Run};

impl HelmChartReconciler {
    /// Pulls the chart `spec.chart` at `spec.version` from the OCI HelmRepository `repo`.
    pub(super) async fn pull_from_oci(
        &self,
        run: &mut Run,
        spec: &HelmChartSpec,
        repo: &Value,
    ) -> Result<(Build, Option<Vec<u8>>), Failure> {
        let ns = run.namespace().to_string();
        let mut chart = match OciChart::connect(&self.client, &ns, repo, &spec.chart).await {
            Ok(c) => c,
            Err(OciChartError::Setup(m)) => {
                return Err(Failure::transient("AuthenticationFailed", m)
                    .with_condition(FETCH_FAILED, ConditionStatus::True));
            }
            Err(e) => return Err(build_error(run, BuildReason::Pull, e)),
        };
        let version = chart.resolve(&spec.version).await.map_err(|e| {
            let why = match e {
                OciChartError::Reference(_) => BuildReason::Reference,
                _ => BuildReason::Pull,
            };
            build_error(
                run,
                why,
                format!("failed to get chart version for remote reference: {e}"),
            )
        })?;
        let name = spec.chart.clone();
        if self.up_to_date(run, &name, &version, &spec.values_files) {
            let packaged = !spec.values_files.is_empty();
            return Ok((
                Build {
                    name,
                    version,
                    packaged,
                    values_files: spec.values_files.clone(),
                },
                None,
            ));
        }
        self.announce(run, &name, &version).await;
        let pull = |run: &mut Run, m: String| {
            build_error(
                run,
                BuildReason::Pull,
                format!("failed to download chart for remote reference: {m}"),
            )
        };
        let archive = match chart.download(&version, MAX_CHART_SIZE).await {
            Ok(a) => a,
            Err(e) => return Err(pull(run, e.to_string())),
        };
        let files = match crate::helm::archive::unpack(&format!("{name}-{version}.tgz"), &archive) {
            Ok(f) => f,
            Err(e) => return Err(pull(run, format!("failed to load chart '{name}': {e}"))),
        };
        let meta = match chart_yaml(&files) {
            Ok(m) => m,
            Err(e) => return Err(pull(run, format!("failed to load chart '{name}': {e}"))),
        };
        let chart_name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(&name)
            .to_string();
        if spec.values_files.is_empty() {
            return Ok((
                Build {
                    name,
                    version,
                    packaged: false,
                    values_files: Vec::new(),
                },
                Some(archive),
            ));
        }
        let (bytes, found) = self.repackage(run, spec, files, &chart_name, None, |_| None)?;
        Ok((
            Build {
                name,
                version,
                packaged: true,
                values_files: found,
            },
            Some(bytes),
        ))
    }
}
