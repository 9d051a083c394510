//! Compact CustomResourceDefinitions generated from the kind registry.
//!
//! Each CRD accepts any object (`x-kubernetes-preserve-unknown-fields`), has a status subresource and
//! the registry's printer columns. The embedded server preinstalls them; `kubectl apply` accepts them.

use super::kinds::{KINDS, KindInfo, Scope};
use serde_json::{Value, json};

/// The compact CRD of one kind, as a JSON object ready to apply.
pub fn compact_crd(kind: &KindInfo) -> Value {
    let columns: Vec<Value> = kind
        .columns
        .iter()
        .map(|c| {
            let mut v = json!({"name": c.name, "type": c.type_, "jsonPath": c.json_path});
            if c.priority > 0 {
                v["priority"] = json!(c.priority);
            }
            v
        })
        .collect();
    let versions: Vec<Value> = kind
        .versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            json!({
                "name": v,
                "served": true,
                "storage": i == 0,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": true,
                }},
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
            })
        })
        .collect();
    let mut names = json!({
        "kind": kind.kind,
        "listKind": format!("{}List", kind.kind),
        "plural": kind.plural,
        "singular": kind.singular,
    });
    if !kind.short_names.is_empty() {
        names["shortNames"] = json!(kind.short_names);
    }
    let categories = match kind.family {
        super::kinds::Family::Flux => json!(["fluxcd"]),
        super::kinds::Family::ArgoCd => json!(["argoproj"]),
    };
    names["categories"] = categories;
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": kind.crd_name(),
            "labels": {"app.kubernetes.io/part-of": "flotilla"},
        },
        "spec": {
            "group": kind.group,
            "names": names,
            "scope": match kind.scope { Scope::Namespaced => "Namespaced", Scope::Cluster => "Cluster" },
            "versions": versions,
        }
    })
}

/// The compact CRDs of every registered kind.
pub fn compact_crds() -> Vec<Value> {
    KINDS.iter().map(compact_crd).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kinds::lookup;

    #[test]
    fn crd_has_one_storage_version_and_printer_columns() {
        let crd = compact_crd(lookup("ks").unwrap());
        assert_eq!(
            crd["metadata"]["name"],
            "kustomizations.kustomize.toolkit.fluxcd.io"
        );
        let versions = crd["spec"]["versions"].as_array().unwrap();
        assert_eq!(versions.len(), 2);
        assert_eq!(versions.iter().filter(|v| v["storage"] == true).count(), 1);
        assert_eq!(versions[0]["name"], "v1");
        assert_eq!(crd["spec"]["names"]["shortNames"], json!(["ks"]));
        let cols = versions[0]["additionalPrinterColumns"].as_array().unwrap();
        assert!(cols.iter().any(|c| c["name"] == "Ready"));
        assert_eq!(
            versions[0]["schema"]["openAPIV3Schema"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
    }

    #[test]
    fn every_kind_gets_a_crd() {
        assert_eq!(compact_crds().len(), KINDS.len());
    }
}
