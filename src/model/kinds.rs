//! The kind registry: one table describing every GitOps kind flotilla knows.
//!
//! Everything that needs to know about a GitOps kind — the embedded server's preinstalled CRDs, the
//! console's views and aliases, the reconciler's watches — reads it from [`KINDS`].

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

/// One GitOps kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

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
];

/// Looks a kind up by any of its names (kind, plural, singular, short name, alias; case-insensitive).
pub fn lookup(name: &str) -> Option<&'static KindInfo> {
    KINDS.iter().find(|k| k.matches(name))
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
    fn versions_are_listed_newest_first() {
        let ks = lookup("ks").unwrap();
        assert_eq!(ks.versions, &["v1", "v1beta2"]);
        assert_eq!(ks.api_version(), "kustomize.toolkit.fluxcd.io/v1");
        assert_eq!(lookup("hr").unwrap().preferred_version(), "v2");
    }
}
