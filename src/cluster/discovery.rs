//! Which GitOps kinds a cluster serves, and at which version: legacy discovery (`Discovery::run()`,
//! never the aggregated variant, which silently returns nothing on servers without v2) restricted to
//! the GitOps groups.

use crate::model::kinds::{KINDS, KindInfo};
use std::collections::BTreeMap;

/// What discovery found, per group: each served version (server order) with the plurals it serves
/// that support list and watch.
pub type ServedGroups = BTreeMap<String, Vec<(String, Vec<String>)>>;

/// The API groups of every registry kind (what discovery is restricted to).
pub fn gitops_groups() -> Vec<&'static str> {
    let mut groups: Vec<&'static str> = KINDS.iter().map(|k| k.group).collect();
    groups.sort_unstable();
    groups.dedup();
    groups
}

/// For every registry kind the cluster serves, the newest version from the registry's list that the
/// cluster serves (kinds served only at versions flotilla does not know are left out).
pub fn pick_versions(served: &ServedGroups) -> Vec<(&'static KindInfo, String)> {
    KINDS
        .iter()
        .filter_map(|info| {
            let versions = served.get(info.group)?;
            info.versions.iter().find_map(|wanted| {
                versions
                    .iter()
                    .find(|(v, plurals)| v == wanted && plurals.iter().any(|p| p == info.plural))
                    .map(|(v, _)| (info, v.clone()))
            })
        })
        .collect()
}

/// Runs legacy discovery for the GitOps groups and flattens it into [`ServedGroups`].
pub(crate) async fn discover(client: kube::Client) -> Result<ServedGroups, kube::Error> {
    let groups = gitops_groups();
    let d = kube::discovery::Discovery::new(client)
        .filter(&groups)
        .run()
        .await?;
    let mut out = ServedGroups::new();
    for g in d.groups() {
        let versions = g
            .versions()
            .map(|v| {
                let plurals = g
                    .versioned_resources(v)
                    .into_iter()
                    .filter(|(_, caps)| {
                        caps.supports_operation(kube::discovery::verbs::LIST)
                            && caps.supports_operation(kube::discovery::verbs::WATCH)
                    })
                    .map(|(ar, _)| ar.plural)
                    .collect();
                (v.to_string(), plurals)
            })
            .collect();
        out.insert(g.name().to_string(), versions);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Entry<'a> = (&'a str, &'a [(&'a str, &'a [&'a str])]);

    fn served(entries: &[Entry<'_>]) -> ServedGroups {
        entries
            .iter()
            .map(|(g, vs)| {
                (
                    g.to_string(),
                    vs.iter()
                        .map(|(v, ps)| (v.to_string(), ps.iter().map(|p| p.to_string()).collect()))
                        .collect(),
                )
            })
            .collect()
    }

    fn names(picked: &[(&'static KindInfo, String)]) -> Vec<String> {
        picked
            .iter()
            .map(|(k, v)| format!("{}@{v}", k.kind))
            .collect()
    }

    #[test]
    fn newest_registry_version_wins() {
        let s = served(&[
            (
                "kustomize.toolkit.fluxcd.io",
                &[
                    ("v1", &["kustomizations"]),
                    ("v1beta2", &["kustomizations"]),
                ],
            ),
            (
                "source.toolkit.fluxcd.io",
                &[("v1beta2", &["gitrepositories", "buckets"])],
            ),
            ("argoproj.io", &[("v1alpha1", &["applications"])]),
        ]);
        assert_eq!(
            names(&pick_versions(&s)),
            vec![
                "GitRepository@v1beta2",
                "Bucket@v1beta2",
                "Kustomization@v1",
                "Application@v1alpha1"
            ]
        );
    }

    #[test]
    fn unknown_versions_and_missing_plurals_are_skipped() {
        let s = served(&[
            (
                "kustomize.toolkit.fluxcd.io",
                &[("v1beta1", &["kustomizations"])],
            ),
            ("source.toolkit.fluxcd.io", &[("v1", &["somethingelse"])]),
            ("unrelated.example", &[("v1", &["kustomizations"])]),
        ]);
        assert!(pick_versions(&s).is_empty());
        assert!(pick_versions(&ServedGroups::new()).is_empty());
    }

    #[test]
    fn groups_are_unique() {
        let g = gitops_groups();
        assert!(g.contains(&"argoproj.io") && g.contains(&"source.toolkit.fluxcd.io"));
        let mut d = g.clone();
        d.dedup();
        assert_eq!(g, d);
    }
}
