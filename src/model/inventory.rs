//! Flux inventory ids (`<namespace>_<name>_<group>_<kind>`, cli-utils `ObjMetadata` form): the one
//! parser and formatter the reconciler (writing `status.inventory`) and the views (reading it) share.

/// Kinds whose names may contain `:`, encoded as `__` in ids.
const RBAC_KINDS: [&str; 4] = ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"];
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

fn is_rbac(group: &str, kind: &str) -> bool {
    group == RBAC_GROUP && RBAC_KINDS.contains(&kind)
}

/// The parts of an inventory id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdParts {
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// Name (RBAC names decoded: `__` → `:`).
    pub name: String,
    /// API group, empty for the core group.
    pub group: String,
    /// Kind.
    pub kind: String,
}

/// The id of an object, e.g. `default_podinfo_apps_Deployment`.
pub fn format_id(namespace: &str, name: &str, group: &str, kind: &str) -> String {
    let name = if is_rbac(group, kind) {
        name.replace(':', "__")
    } else {
        name.to_string()
    };
    format!("{namespace}_{name}_{group}_{kind}")
}

/// Parses an id: the first `_` ends the namespace, the last `_` starts the kind, the one before it
/// starts the group. `None` when malformed.
pub fn parse_id(id: &str) -> Option<IdParts> {
    let (namespace, rest) = id.split_once('_')?;
    let (rest, kind) = rest.rsplit_once('_')?;
    let (name, group) = rest.rsplit_once('_')?;
    if name.is_empty() || kind.is_empty() {
        return None;
    }
    let name = if is_rbac(group, kind) {
        name.replace("__", ":")
    } else {
        name.to_string()
    };
    Some(IdParts {
        namespace: namespace.to_string(),
        name,
        group: group.to_string(),
        kind: kind.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_with_rbac_colons_and_core_groups() {
        let id = format_id(
            "",
            "system:viewer",
            "rbac.authorization.k8s.io",
            "ClusterRole",
        );
        assert_eq!(id, "_system__viewer_rbac.authorization.k8s.io_ClusterRole");
        let p = parse_id(&id).expect("parses");
        assert_eq!(
            (p.namespace.as_str(), p.name.as_str()),
            ("", "system:viewer")
        );
        // As in cli-utils, the `_` before the kind's group wins: a name never contains `_`.
        let cm = parse_id("apps_my_config_ConfigMap").expect("parses");
        assert_eq!((cm.name.as_str(), cm.group.as_str()), ("my", "config"));
        assert_eq!(
            parse_id("default_web__ConfigMap").map(|p| p.group),
            Some(String::new())
        );
        assert_eq!(
            parse_id("default_a__b_apps_Deployment").map(|p| p.name),
            Some("a__b".into()),
            "only RBAC names decode __"
        );
        for bad in [
            "",
            "nounderscore",
            "a_b",
            "ns__apps_Deployment",
            "ns_name_group_",
        ] {
            assert!(parse_id(bad).is_none(), "{bad}");
        }
    }
}
