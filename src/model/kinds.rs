//! The kind registry: one table describing every GitOps kind flotilla knows.
//!
//! Everything that needs to know about a GitOps kind — the embedded server's preinstalled CRDs, the
//! console's views, aliases, columns, cells and detail essentials, the reconciler's watches — reads it
//! from [`KINDS`]; adding a kind means adding one entry here. Code that means one particular kind names
//! it ([`GIT_REPOSITORY`], [`KUSTOMIZATION`], …) instead of looking it up by string.

pub mod cells;

pub use cells::CellColumn;
use serde_json::Value;

/// Whether objects of a kind live in a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Objects live in a namespace.
    Namespaced,
    /// Objects are cluster-wide.
    Cluster,
}

/// Which GitOps tool a kind belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Flux CD toolkit kinds.
    Flux,
    /// Argo CD kinds.
    ArgoCd,
}

/// A printer column, as in a CRD's `additionalPrinterColumns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrinterColumn {
    /// Column header.
    pub name: &'static str,
    /// OpenAPI type of the cell: `string`, `date`, `integer`, `boolean`.
    pub type_: &'static str,
    /// JSONPath (kubectl flavour) selecting the cell's value.
    pub json_path: &'static str,
    /// 0 = always shown; >0 = only with `-o wide`.
    pub priority: u32,
}

/// A detail-view field: its label and the JSON path it is read from.
pub type Essential = (&'static str, &'static [&'static str]);

/// One GitOps kind.
#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    /// The Kind, e.g. `Kustomization`.
    pub kind: &'static str,
    /// The API group, e.g. `kustomize.toolkit.fluxcd.io`.
    pub group: &'static str,
    /// Served versions, newest (preferred, storage) first.
    pub versions: &'static [&'static str],
    /// Resource plural, e.g. `kustomizations`.
    pub plural: &'static str,
    /// Lowercase singular, e.g. `kustomization`.
    pub singular: &'static str,
    /// Short names registered in the CRD (what `kubectl get ks` uses).
    pub short_names: &'static [&'static str],
    /// Extra console aliases beyond plural, singular and short names (`:gr`, `:hrepo`, ...).
    pub aliases: &'static [&'static str],
    /// Namespaced or cluster-scoped.
    pub scope: Scope,
    /// Flux or Argo CD.
    pub family: Family,
    /// Printer columns after NAME, in order.
    pub columns: &'static [PrinterColumn],
    /// The name in the merged views' KIND column (short enough for it).
    pub short: &'static str,
    /// The console table's per-kind columns (in a one-kind view), in order.
    pub cells: &'static [CellColumn],
    /// Spec (and status) fields worth showing in the detail view.
    pub essentials: &'static [Essential],
    /// Reads the REVISION cell.
    pub revision: fn(&Value) -> Option<String>,
    /// A status timestamp that also counts as a reconcile (empty: only the Ready transition).
    pub last_run: &'static [&'static str],
    /// Whether `spec.dependsOn` orders this kind (Kustomization, HelmRelease).
    pub depends_on: bool,
}

/// Kinds are equal by group and Kind (the registry has one entry per pair; the fn pointers are not
/// compared, their addresses are not meaningful).
impl PartialEq for KindInfo {
    fn eq(&self, other: &KindInfo) -> bool {
        self.group == other.group && self.kind == other.kind
    }
}

impl Eq for KindInfo {}

impl KindInfo {
    /// The preferred (storage) version.
    pub fn preferred_version(&self) -> &'static str {
        self.versions[0]
    }

    /// `group/version` of the preferred version.
    pub fn api_version(&self) -> String {
        format!("{}/{}", self.group, self.preferred_version())
    }

    /// The CRD name, `<plural>.<group>`.
    pub fn crd_name(&self) -> String {
        format!("{}.{}", self.plural, self.group)
    }

    /// Every name a user may type for this kind (kind, plural, singular, short names, aliases), lowercase.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        [self.plural, self.singular]
            .into_iter()
            .chain(self.short_names.iter().copied())
            .chain(self.aliases.iter().copied())
    }

    /// Whether `name` (case-insensitive; may be `plural.group`) designates this kind.
    pub fn matches(&self, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        if lower == self.kind.to_ascii_lowercase() || lower == self.crd_name() {
            return true;
        }
        self.names().any(|n| n == lower)
    }
}

const READY: PrinterColumn = PrinterColumn {
    name: "Ready",
    type_: "string",
    json_path: r#".status.conditions[?(@.type=="Ready")].status"#,
    priority: 0,
};
const STATUS: PrinterColumn = PrinterColumn {
    name: "Status",
    type_: "string",
    json_path: r#".status.conditions[?(@.type=="Ready")].message"#,
    priority: 0,
};
const AGE: PrinterColumn = PrinterColumn {
    name: "Age",
    type_: "date",
    json_path: ".metadata.creationTimestamp",
    priority: 0,
};
const fn col(name: &'static str, json_path: &'static str) -> PrinterColumn {
    PrinterColumn {
        name,
        type_: "string",
        json_path,
        priority: 0,
    }
}
const fn wide(name: &'static str, json_path: &'static str) -> PrinterColumn {
    PrinterColumn {
        name,
        type_: "string",
        json_path,
        priority: 1,
    }
}

const FLUX_V1: &[&str] = &["v1", "v1beta2"];
const SOURCE: &str = "source.toolkit.fluxcd.io";
const NOTIFICATION: &str = "notification.toolkit.fluxcd.io";
const IMAGE: &str = "image.toolkit.fluxcd.io";
const ARGO: &str = "argoproj.io";

/// Every GitOps kind flotilla watches, Flux first (sources, appliers, image, notification), then Argo CD.
pub const KINDS: &[KindInfo] = &[
    KindInfo {
        kind: "GitRepository",
        short: "GitRepository",
        cells: &[cells::URL, cells::GIT_REF],
        essentials: &[
            ("url", &["spec", "url"]),
            ("ref", &["spec", "ref"]),
            ("interval", &["spec", "interval"]),
            ("secretRef", &["spec", "secretRef", "name"]),
            ("suspend", &["spec", "suspend"]),
            ("artifact", &["status", "artifact", "revision"]),
        ],
        revision: cells::artifact_revision,
        last_run: &["status", "artifact", "lastUpdateTime"],
        depends_on: false,
        group: SOURCE,
        versions: FLUX_V1,
        plural: "gitrepositories",
        singular: "gitrepository",
        short_names: &["gitrepo"],
        aliases: &["gr", "git"],
        scope: Scope::Namespaced,
        family: Family::Flux,
        columns: &[col("URL", ".spec.url"), AGE, READY, STATUS],
    },
    KindInfo {
        kind: "OCIRepository",
        short: "OCIRepo",
        cells: &[cells::URL, cells::OCI_REF],
        essentials: &[
            ("url", &["spec", "url"]),
            ("ref", &["spec", "ref"]),
            ("interval", &["spec", "interval"]),
            ("suspend", &["spec", "suspend"]),
            ("artifact", &["status", "artifact", "revision"]),
        ],
        revision: cells::artifact_revision,
        last_run: &["status", "artifact", "lastUpdateTime"],
        depends_on: false,
        group: SOURCE,
        versions: FLUX_V1,
        plural: "ocirepositories",
        singular: "ocirepository",
        short_names: &["ocirepo"],
        aliases: &["oci"],
        scope: Scope::Namespaced,
        family: Family::Flux,
        columns: &[col("URL", ".spec.url"), READY, STATUS, AGE],
    },
    KindInfo {
        kind: "HelmRepository",
        short: "HelmRepo",
        cells: &[cells::URL],
        essentials: &[
            ("url", &["spec", "url"]),
            ("type", &["spec", "type"]),
            ("interval", &["spec", "interval"]),
            ("suspend", &["spec", "suspend"]),
        ],
        revision: cells::artifact_revision,
        last_run: &["status", "artifact", "lastUpdateTime"],
        depends_on: false,
        group: SOURCE,
        versions: FLUX_V1,
        plural: "helmrepositories",
        singular: "helmrepository",
        short_names: &["helmrepo"],
        aliases: &["hrepo"],
        scope: Scope::Namespaced,
        family: Family::Flux,
        columns: &[col("URL", ".spec.url"), AGE, READY, STATUS],
    },
    KindInfo {
        kind: "HelmChart",
        short: "HelmChart",
        cells: &[cells::CHART, cells::CHART_VERSION, cells::CHART_SOURCE],
        essentials: &[
            ("chart", &["spec", "chart"]),
            ("version", &["spec", "version"]),
            ("source", &["spec", "sourceRef"]),
            ("interval", &["spec", "interval"]),
            ("artifact", &["status", "artifact", "revision"]),
        ],
        revision: cells::artifact_revision,
        last_run: &["status", "artifact", "lastUpdateTime"],
        depends_on: false,
        group: SOURCE,
        versions: FLUX_V1,
        plural: "helmcharts",
        singular: "helmchart",
        short_names: &["hc"],
        aliases: &[],
        scope: Scope::Namespaced,
        family: Family::Flux,
        columns: &[
            col("Chart", ".spec.chart"),
            col("Version", ".spec.version"),
            col("Source Kind", ".spec.sourceRef.kind"),
            col("Source Name", ".spec.sourceRef.name"),
            AGE,
            READY,
            STATUS,
        ],
    },
    KindInfo {
        kind: "Bucket",
        short: "Bucket",
        cells: &[cells::ENDPOINT, cells::BUCKET],
        essentials: &[
            ("endpoint", &["spec", "endpoint"]),
            ("bucketName", &["spec", "bucketName"]),
            ("provider", &["spec", "provider"]),
            ("interval", &["spec", "interval"]),
        ],
        revision: cells::artifact_revision,
        last_run: &["status", "artifact", "lastUpdateTime"],
        depends_on: false,
        group: SOURCE,
        versions: FLUX_V1,
        plural: "buckets",
        singular: "bucket",
        short_names: &[],
        aliases: &[],
        scope: Scope::Namespaced,
        family: Family::Flux,
        columns: &[col("Endpoint", ".spec.endpoint"), AGE, READY, STATUS],
    },
    KindInfo {
        kind: "Kustomization",
        short: "Kustomization",
        cells: &[cells::SOURCE_REF, cells::PATH],
        essentials: &[
            ("source", &["spec", "sourceRef"]),
            ("path", &["spec", "path"]),
            ("interval", &["spec", "interval"]),
            ("prune", &["spec", "prune"]),
            ("targetNamespace", &["spec", "targetNamespace"]),
            ("dependsOn", &["spec", "dependsOn"]),
            ("wait", &["spec", "wait"]),
            ("timeout", &["spec", "timeout"]),
            ("suspend", &["spec", "suspend"]),
            ("lastAppliedRevision", &["status", "lastAppliedRevision"]),
            (
                "lastAttemptedRevision",
                &["status", "lastAttemptedRevision"],
            ),
        ],
        revision: cells::applied_revision,
        last_run: &[],
        depends_on: true,
        group: "kustomize.toolkit.fluxcd.io",
        versions: FLUX_V1,
        plural: "kustomizations",
        singular: "kustomization",
        short_names: &["ks"],
        aliases: &["kustomize"],
        scope: Scope::Namespaced,
        family: Family::Flux,
        columns: &[AGE, READY, STATUS],
    },
    KindInfo {
        kind: "HelmRelease",
        short: "HelmRelease",
        cells: &[cells::RELEASE_CHART, cells::RELEASE_VERSION],
        essentials: &[
            ("chart", &["spec", "chart", "spec", "chart"]),
            ("version", &["spec", "chart", "spec", "version"]),
            ("source", &["spec", "chart", "spec", "sourceRef"]),
            ("chartRef", &["spec", "chartRef"]),
            ("releaseName", &["spec", "releaseName"]),
            ("targetNamespace", &["spec", "targetNamespace"]),
            ("interval", &["spec", "interval"]),
            ("dependsOn", &["spec", "dependsOn"]),
            ("suspend", &["spec", "suspend"]),
            (
                "lastAttemptedRevision",
                &["status", "lastAttemptedRevision"],
            ),
            ("failures", &["status", "failures"]),
        ],
        revision: cells::release_revision,
        last_run: &[],
        depends_on: true,
        group: "helm.toolkit.fluxcd.io",
        versions: &["v2", "v2beta2"],
        plural: "helmreleases",
        singular: "helmrelease",
        short_names: &["hr"],
        aliases: &["helm"],
        scope: Scope::Namespaced,
        family: Family::Flux,
        columns: &[AGE, READY, STATUS],
    },
    KindInfo {
        kind: "ImageRepository",
        short: "ImageRepo",
        cells: &[cells::IMAGE, cells::TAGS],
        essentials: &[
            ("image", &["spec", "image"]),
            ("interval", &["spec", "interval"]),
            ("lastScan", &["status", "lastScanResult"]),
        ],
        revision: cells::scan_revision,
        last_run: &["status", "lastScanResult", "scanTime"],
        depends_on: false,
        group: IMAGE,
        versions: FLUX_V1,
        plural: "imagerepositories",
        singular: "imagerepository",
        short_names: &["imgrepo", "imagerepo"],
        aliases: &["ir"],
        scope: Scope::Namespaced,
        family: Family::Flux,
        columns: &[
            col("Image", ".spec.image"),
            col("Tags", ".status.lastScanResult.tagCount"),
            READY,
            STATUS,
            wide("Last scan", ".status.lastScanResult.scanTime"),
            AGE,
        ],
    },
    KindInfo {
        kind: "ImagePolicy",
        short: "ImagePolicy",
        cells: &[cells::LATEST_IMAGE],
        essentials: &[
            ("imageRepositoryRef", &["spec", "imageRepositoryRef"]),
            ("policy", &["spec", "policy"]),
            ("latestRef", &["status", "latestRef"]),
            ("latestImage", &["status", "latestImage"]),
        ],
        revision: cells::latest_tag,
        last_run: &[],
        depends_on: false,
        group: IMAGE,
        versions: FLUX_V1,
        plural: "imagepolicies",
        singular: "imagepolicy",
        short_names: &["imgpol", "imagepol"],
        aliases: &["ip"],
        scope: Scope::Namespaced,
        family: Family::Flux,
        columns: &[
            col("Image", ".status.latestRef.name"),
            col("Tag", ".status.latestRef.tag"),
            READY,
            STATUS,
            AGE,
        ],
    },
    KindInfo {
        kind: "ImageUpdateAutomation",
        short: "ImageUpdAuto",
        cells: &[cells::SOURCE_REF],
        essentials: &[
            ("source", &["spec", "sourceRef"]),
            ("push", &["spec", "git", "push"]),
            ("update", &["spec", "update"]),
            ("interval", &["spec", "interval"]),
            ("lastPushCommit", &["status", "lastPushCommit"]),
        ],
        revision: cells::observed_source_revision,
        last_run: &["status", "lastAutomationRunTime"],
        depends_on: false,
        group: IMAGE,
        versions: FLUX_V1,
        plural: "imageupdateautomations",
        singular: "imageupdateautomation",
        short_names: &["iua", "imgupd", "imgauto"],
        aliases: &[],
        scope: Scope::Namespaced,
        family: Family::Flux,
        columns: &[
            READY,
            STATUS,
            wide("Last run", ".status.lastAutomationRunTime"),
            AGE,
        ],
    },
    KindInfo {
        kind: "Alert",
        short: "Alert",
        cells: &[],
        essentials: &[
            ("providerRef", &["spec", "providerRef"]),
            ("eventSeverity", &["spec", "eventSeverity"]),
            ("eventSources", &["spec", "eventSources"]),
        ],
        revision: cells::no_revision,
        last_run: &[],
        depends_on: false,
        group: NOTIFICATION,
        versions: &["v1beta3", "v1beta2"],
        plural: "alerts",
        singular: "alert",
        short_names: &[],
        aliases: &[],
        scope: Scope::Namespaced,
        family: Family::Flux,
        columns: &[AGE],
    },
    KindInfo {
        kind: "Provider",
        short: "Provider",
        cells: &[],
        essentials: &[
            ("type", &["spec", "type"]),
            ("channel", &["spec", "channel"]),
            ("address", &["spec", "address"]),
        ],
        revision: cells::no_revision,
        last_run: &[],
        depends_on: false,
        group: NOTIFICATION,
        versions: &["v1beta3", "v1beta2"],
        plural: "providers",
        singular: "provider",
        short_names: &[],
        aliases: &[],
        scope: Scope::Namespaced,
        family: Family::Flux,
        columns: &[AGE],
    },
    KindInfo {
        kind: "Receiver",
        short: "Receiver",
        cells: &[],
        essentials: &[
            ("type", &["spec", "type"]),
            ("resources", &["spec", "resources"]),
            ("webhookPath", &["status", "webhookPath"]),
        ],
        revision: cells::no_revision,
        last_run: &[],
        depends_on: false,
        group: NOTIFICATION,
        versions: FLUX_V1,
        plural: "receivers",
        singular: "receiver",
        short_names: &[],
        aliases: &[],
        scope: Scope::Namespaced,
        family: Family::Flux,
        columns: &[AGE, READY, STATUS],
    },
    KindInfo {
        kind: "Application",
        short: "Application",
        cells: &[
            cells::SYNC,
            cells::HEALTH,
            cells::PROJECT,
            cells::DESTINATION,
        ],
        essentials: &[
            ("project", &["spec", "project"]),
            ("source", &["spec", "source"]),
            ("sources", &["spec", "sources"]),
            ("destination", &["spec", "destination"]),
            ("syncPolicy", &["spec", "syncPolicy"]),
            ("sync", &["status", "sync", "status"]),
            ("health", &["status", "health", "status"]),
            ("operation", &["status", "operationState", "phase"]),
            ("operationMessage", &["status", "operationState", "message"]),
        ],
        revision: cells::sync_revision,
        last_run: &["status", "reconciledAt"],
        depends_on: false,
        group: ARGO,
        versions: &["v1alpha1"],
        plural: "applications",
        singular: "application",
        short_names: &["app", "apps"],
        aliases: &[],
        scope: Scope::Namespaced,
        family: Family::ArgoCd,
        columns: &[
            col("Sync Status", ".status.sync.status"),
            col("Health Status", ".status.health.status"),
            wide("Revision", ".status.sync.revision"),
            wide("Project", ".spec.project"),
        ],
    },
    KindInfo {
        kind: "ApplicationSet",
        short: "AppSet",
        cells: &[],
        essentials: &[
            ("generators", &["spec", "generators"]),
            ("template", &["spec", "template", "metadata", "name"]),
            ("syncPolicy", &["spec", "syncPolicy"]),
        ],
        revision: cells::no_revision,
        last_run: &[],
        depends_on: false,
        group: ARGO,
        versions: &["v1alpha1"],
        plural: "applicationsets",
        singular: "applicationset",
        short_names: &["appset", "appsets"],
        aliases: &[],
        scope: Scope::Namespaced,
        family: Family::ArgoCd,
        columns: &[],
    },
    KindInfo {
        kind: "AppProject",
        short: "AppProject",
        cells: &[],
        essentials: &[
            ("sourceRepos", &["spec", "sourceRepos"]),
            ("destinations", &["spec", "destinations"]),
        ],
        revision: cells::no_revision,
        last_run: &[],
        depends_on: false,
        group: ARGO,
        versions: &["v1alpha1"],
        plural: "appprojects",
        singular: "appproject",
        short_names: &["appproj", "appprojs"],
        aliases: &[],
        scope: Scope::Namespaced,
        family: Family::ArgoCd,
        columns: &[],
    },
    // Flux 2.7's source composition; appended so the named indexes above stay put.
    KindInfo {
        kind: "ExternalArtifact",
        short: "ExtArtifact",
        cells: &[cells::SOURCE_REF],
        essentials: &[
            ("source", &["spec", "sourceRef"]),
            ("artifact", &["status", "artifact", "revision"]),
        ],
        revision: cells::artifact_revision,
        last_run: &["status", "artifact", "lastUpdateTime"],
        depends_on: false,
        group: SOURCE,
        versions: &["v1"],
        plural: "externalartifacts",
        singular: "externalartifact",
        short_names: &[],
        aliases: &["ea"],
        scope: Scope::Namespaced,
        family: Family::Flux,
        columns: &[col("Source", ".spec.sourceRef.name"), AGE, READY, STATUS],
    },
    KindInfo {
        kind: "ArtifactGenerator",
        short: "ArtifactGen",
        cells: &[],
        essentials: &[
            ("sources", &["spec", "sources"]),
            ("artifacts", &["spec", "artifacts"]),
            ("inventory", &["status", "inventory"]),
        ],
        revision: |_| None,
        last_run: &[],
        depends_on: false,
        group: "source.extensions.fluxcd.io",
        versions: &["v1beta1"],
        plural: "artifactgenerators",
        singular: "artifactgenerator",
        short_names: &["ag"],
        aliases: &[],
        scope: Scope::Namespaced,
        family: Family::Flux,
        columns: &[AGE, READY, STATUS],
    },
];

// Named entries of [`KINDS`], in its order (a test checks each name against its entry).
/// Flux `GitRepository`.
pub const GIT_REPOSITORY: &KindInfo = &KINDS[0];
/// Flux `OCIRepository`.
pub const OCI_REPOSITORY: &KindInfo = &KINDS[1];
/// Flux `HelmRepository`.
pub const HELM_REPOSITORY: &KindInfo = &KINDS[2];
/// Flux `HelmChart`.
pub const HELM_CHART: &KindInfo = &KINDS[3];
/// Flux `Bucket`.
pub const BUCKET: &KindInfo = &KINDS[4];
/// Flux `Kustomization`.
pub const KUSTOMIZATION: &KindInfo = &KINDS[5];
/// Flux `HelmRelease`.
pub const HELM_RELEASE: &KindInfo = &KINDS[6];
/// Flux `ImageRepository`.
pub const IMAGE_REPOSITORY: &KindInfo = &KINDS[7];
/// Flux `ImagePolicy`.
pub const IMAGE_POLICY: &KindInfo = &KINDS[8];
/// Flux `ImageUpdateAutomation`.
pub const IMAGE_UPDATE_AUTOMATION: &KindInfo = &KINDS[9];
/// Flux `Alert`.
pub const ALERT: &KindInfo = &KINDS[10];
/// Flux `Provider`.
pub const PROVIDER: &KindInfo = &KINDS[11];
/// Flux `Receiver`.
pub const RECEIVER: &KindInfo = &KINDS[12];
/// Argo CD `Application`.
pub const APPLICATION: &KindInfo = &KINDS[13];
/// Argo CD `ApplicationSet`.
pub const APPLICATION_SET: &KindInfo = &KINDS[14];
/// Argo CD `AppProject`.
pub const APP_PROJECT: &KindInfo = &KINDS[15];
/// Flux `ExternalArtifact`.
pub const EXTERNAL_ARTIFACT: &KindInfo = &KINDS[16];
/// Flux `ArtifactGenerator` (source-watcher).
pub const ARTIFACT_GENERATOR: &KindInfo = &KINDS[17];

/// Looks a kind up by any of its names (kind, plural, singular, short name, alias; case-insensitive).
pub fn lookup(name: &str) -> Option<&'static KindInfo> {
    KINDS.iter().find(|k| k.matches(name))
}

/// The KIND-column name of a Kind (`ImageUpdateAutomation` → `ImageUpdAuto`); unknown kinds as given.
pub fn short_name(kind: &str) -> &str {
    KINDS
        .iter()
        .find(|k| k.kind == kind)
        .map_or(kind, |k| k.short)
}

/// Looks a kind up by API group and Kind.
pub fn by_group_kind(group: &str, kind: &str) -> Option<&'static KindInfo> {
    KINDS.iter().find(|k| k.group == group && k.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_name_designates_exactly_one_kind() {
        let mut seen = HashSet::new();
        for k in KINDS {
            let own: HashSet<String> = k
                .names()
                .chain([k.kind])
                .map(|n| n.to_ascii_lowercase())
                .collect();
            for n in own {
                assert!(seen.insert(n.clone()), "name {n} is used by two kinds");
                assert_eq!(lookup(&n).map(|x| x.kind), Some(k.kind));
            }
        }
    }

    #[test]
    fn lookup_accepts_kind_plural_and_aliases() {
        assert_eq!(lookup("ks").unwrap().kind, "Kustomization");
        assert_eq!(lookup("Kustomization").unwrap().kind, "Kustomization");
        assert_eq!(lookup("gr").unwrap().kind, "GitRepository");
        assert_eq!(lookup("hr").unwrap().group, "helm.toolkit.fluxcd.io");
        assert_eq!(
            lookup("imagepolicies.image.toolkit.fluxcd.io")
                .unwrap()
                .kind,
            "ImagePolicy"
        );
        assert!(lookup("deployment").is_none());
    }

    #[test]
    fn named_entries_are_the_kinds_they_name() {
        let named = [
            (GIT_REPOSITORY, "GitRepository"),
            (OCI_REPOSITORY, "OCIRepository"),
            (HELM_REPOSITORY, "HelmRepository"),
            (HELM_CHART, "HelmChart"),
            (BUCKET, "Bucket"),
            (KUSTOMIZATION, "Kustomization"),
            (HELM_RELEASE, "HelmRelease"),
            (IMAGE_REPOSITORY, "ImageRepository"),
            (IMAGE_POLICY, "ImagePolicy"),
            (IMAGE_UPDATE_AUTOMATION, "ImageUpdateAutomation"),
            (ALERT, "Alert"),
            (PROVIDER, "Provider"),
            (RECEIVER, "Receiver"),
            (APPLICATION, "Application"),
            (APPLICATION_SET, "ApplicationSet"),
            (APP_PROJECT, "AppProject"),
            (EXTERNAL_ARTIFACT, "ExternalArtifact"),
            (ARTIFACT_GENERATOR, "ArtifactGenerator"),
        ];
        assert_eq!(named.len(), KINDS.len(), "every kind has a name");
        for (info, kind) in named {
            assert_eq!(info.kind, kind);
        }
        assert_eq!(APPLICATION.group, "argoproj.io");
        assert!(KUSTOMIZATION.depends_on && HELM_RELEASE.depends_on);
        assert!(KINDS.iter().filter(|k| k.depends_on).count() == 2);
    }

    #[test]
    fn short_names_fit_the_kind_column() {
        for k in KINDS {
            assert!(k.short.len() <= 14, "{}", k.short);
        }
    }

    #[test]
    fn versions_are_listed_newest_first() {
        let ks = lookup("ks").unwrap();
        assert_eq!(ks.versions, &["v1", "v1beta2"]);
        assert_eq!(ks.api_version(), "kustomize.toolkit.fluxcd.io/v1");
        assert_eq!(lookup("hr").unwrap().preferred_version(), "v2");
    }
}
