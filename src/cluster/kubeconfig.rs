//! Kubeconfig loading and context selection, merged the way kubectl merges several files.

use super::error::ClusterError;
use kube::config::Kubeconfig;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Where the kubeconfig comes from, in kubectl's order of precedence.
#[derive(Debug, Clone)]
pub enum KubeconfigSource {
    /// `--kubeconfig F`: exactly this file, which must exist.
    Explicit(PathBuf),
    /// `KUBECONFIG`: a list of files (colon-separated on Unix); missing files are skipped like kubectl.
    List(Vec<PathBuf>),
    /// `~/.kube/config`.
    Default(PathBuf),
}

impl KubeconfigSource {
    /// Picks the source the way kubectl does: `--kubeconfig`, else `KUBECONFIG`, else `~/.kube/config`.
    pub fn resolve(
        explicit: Option<&Path>,
        env_kubeconfig: Option<&OsStr>,
        home: Option<&Path>,
    ) -> Result<KubeconfigSource, ClusterError> {
        if let Some(p) = explicit {
            return Ok(KubeconfigSource::Explicit(p.to_path_buf()));
        }
        if let Some(value) = env_kubeconfig {
            let paths: Vec<PathBuf> = std::env::split_paths(value)
                .filter(|p| !p.as_os_str().is_empty())
                .collect();
            if !paths.is_empty() {
                return Ok(KubeconfigSource::List(paths));
            }
        }
        match home {
            Some(h) => Ok(KubeconfigSource::Default(h.join(".kube").join("config"))),
            None => Err(ClusterError::NoKubeconfig {
                looked_at: "--kubeconfig, KUBECONFIG and $HOME (unset)".into(),
            }),
        }
    }

    /// Resolves from the process environment (`KUBECONFIG`, `HOME`).
    pub fn from_env(explicit: Option<&Path>) -> Result<KubeconfigSource, ClusterError> {
        let env = std::env::var_os("KUBECONFIG");
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Self::resolve(explicit, env.as_deref(), home.as_deref())
    }
}

/// The merged kubeconfig and the files it came from.
#[derive(Debug, Clone)]
pub struct Contexts {
    kubeconfig: Kubeconfig,
    files: Vec<PathBuf>,
}

impl Contexts {
    /// Loads and merges the files of `source` (first file wins per cluster/user/context name; the
    /// current-context comes from the first file that sets one).
    pub fn load(source: &KubeconfigSource) -> Result<Contexts, ClusterError> {
        match source {
            KubeconfigSource::Explicit(p) => Self::load_files(std::slice::from_ref(p), false),
            KubeconfigSource::List(ps) => Self::load_files(ps, true),
            KubeconfigSource::Default(p) => Self::load_files(std::slice::from_ref(p), false),
        }
    }

    /// Loads and merges `paths` in order; `skip_missing` ignores files that do not exist (KUBECONFIG
    /// semantics), but at least one must exist.
    pub fn load_files(paths: &[PathBuf], skip_missing: bool) -> Result<Contexts, ClusterError> {
        let mut merged: Option<Kubeconfig> = None;
        let mut files = Vec::new();
        for path in paths {
            if skip_missing && !path.exists() {
                continue;
            }
            let err = |message: String| ClusterError::Kubeconfig {
                path: path.clone(),
                message,
            };
            if !path.exists() {
                return Err(err("file does not exist".into()));
            }
            let kc = Kubeconfig::read_from(path).map_err(|e| err(super::error::error_chain(&e)))?;
            merged = Some(match merged {
                None => kc,
                Some(m) => m
                    .merge(kc)
                    .map_err(|e| err(format!("cannot merge with earlier files: {e}")))?,
            });
            files.push(path.clone());
        }
        match merged {
            Some(kubeconfig) => Ok(Contexts { kubeconfig, files }),
            None => Err(ClusterError::NoKubeconfig {
                looked_at: paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Wraps an already-built kubeconfig (tests, demo mode).
    pub fn from_kubeconfig(kubeconfig: Kubeconfig) -> Contexts {
        Contexts {
            kubeconfig,
            files: Vec::new(),
        }
    }

    /// Parses kubeconfig YAML text (tests, demo mode).
    pub fn from_yaml(text: &str) -> Result<Contexts, ClusterError> {
        Kubeconfig::from_yaml(text)
            .map(Self::from_kubeconfig)
            .map_err(|e| ClusterError::Kubeconfig {
                path: PathBuf::from("<inline>"),
                message: super::error::error_chain(&e),
            })
    }

    /// Every context name, in merged order (first file's contexts first).
    pub fn names(&self) -> Vec<String> {
        self.kubeconfig
            .contexts
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }

    /// The current-context, if set.
    pub fn current(&self) -> Option<&str> {
        self.kubeconfig
            .current_context
            .as_deref()
            .filter(|c| !c.is_empty())
    }

    /// The files the contexts were read from, in merge order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The merged kubeconfig.
    pub fn kubeconfig(&self) -> &Kubeconfig {
        &self.kubeconfig
    }

    /// The contexts to watch: the `named` ones (in the order given, duplicates dropped), or every
    /// context when none is named (`--all-contexts` is the default).
    pub fn select(&self, named: &[String]) -> Result<Vec<String>, ClusterError> {
        let all = self.names();
        if named.is_empty() {
            return Ok(all);
        }
        let mut out: Vec<String> = Vec::new();
        for name in named {
            if !all.contains(name) {
                return Err(ClusterError::UnknownContext {
                    name: name.clone(),
                    known: if all.is_empty() {
                        "none".into()
                    } else {
                        all.join(", ")
                    },
                });
            }
            if !out.contains(name) {
                out.push(name.clone());
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    const A: &str = "apiVersion: v1\nkind: Config\ncurrent-context: a\nclusters:\n- name: a\n  cluster: {server: 'http://127.0.0.1:1'}\n- name: shared\n  cluster: {server: 'http://first'}\nusers:\n- name: a\n  user: {token: t}\ncontexts:\n- name: a\n  context: {cluster: a, user: a}\n- name: shared\n  context: {cluster: shared, user: a}\n";
    const B: &str = "apiVersion: v1\nkind: Config\ncurrent-context: b\nclusters:\n- name: b\n  cluster: {server: 'http://127.0.0.1:2'}\n- name: shared\n  cluster: {server: 'http://second'}\nusers:\n- name: b\n  user: {token: t}\ncontexts:\n- name: b\n  context: {cluster: b, user: b}\n- name: shared\n  context: {cluster: b, user: b}\n";

    #[test]
    fn resolve_follows_kubectl_precedence() {
        let explicit = KubeconfigSource::resolve(
            Some(Path::new("/x")),
            Some(OsStr::new("/a:/b")),
            Some(Path::new("/h")),
        )
        .unwrap();
        assert!(matches!(explicit, KubeconfigSource::Explicit(p) if p == Path::new("/x")));
        let list =
            KubeconfigSource::resolve(None, Some(OsStr::new("/a::/b")), Some(Path::new("/h")))
                .unwrap();
        assert!(
            matches!(list, KubeconfigSource::List(ps) if ps == vec![PathBuf::from("/a"), PathBuf::from("/b")])
        );
        let default =
            KubeconfigSource::resolve(None, Some(OsStr::new("")), Some(Path::new("/h"))).unwrap();
        assert!(
            matches!(default, KubeconfigSource::Default(p) if p == Path::new("/h/.kube/config"))
        );
        assert!(KubeconfigSource::resolve(None, None, None).is_err());
    }

    #[test]
    fn merge_first_file_wins_and_missing_list_entries_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a", A);
        let b = write(dir.path(), "b", B);
        let missing = dir.path().join("nope");
        let ctx = Contexts::load(&KubeconfigSource::List(vec![
            missing.clone(),
            a.clone(),
            b.clone(),
        ]))
        .unwrap();
        assert_eq!(ctx.names(), vec!["a", "shared", "b"]);
        assert_eq!(ctx.current(), Some("a"));
        assert_eq!(ctx.files(), &[a.clone(), b.clone()]);
        let shared = ctx
            .kubeconfig()
            .clusters
            .iter()
            .find(|c| c.name == "shared")
            .unwrap();
        assert_eq!(
            shared.cluster.as_ref().unwrap().server.as_deref(),
            Some("http://first")
        );
        // An explicit file that does not exist is an error naming it.
        let e = Contexts::load(&KubeconfigSource::Explicit(missing.clone())).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }

    #[test]
    fn malformed_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        for (i, text) in [
            "contexts: 5\n",
            "{{{{",
            "- [a\n",
            "contexts:\n- name: [1,2]\n",
            &"[".repeat(10_000),
        ]
        .iter()
        .enumerate()
        {
            let p = write(dir.path(), &format!("bad{i}"), text);
            let e = Contexts::load(&KubeconfigSource::Explicit(p)).unwrap_err();
            assert!(e.to_string().contains(&format!("bad{i}")), "{e}");
        }
        let p = write(dir.path(), "nonutf8", "");
        std::fs::write(&p, [0xff, 0x00, 0xc3]).unwrap();
        assert!(Contexts::load(&KubeconfigSource::Explicit(p)).is_err());
    }

    #[test]
    fn select_named_or_all() {
        let ctx = Contexts::from_yaml(A).unwrap();
        assert_eq!(ctx.select(&[]).unwrap(), vec!["a", "shared"]);
        assert_eq!(
            ctx.select(&["shared".into(), "a".into(), "shared".into()])
                .unwrap(),
            vec!["shared", "a"]
        );
        let e = ctx.select(&["zzz".into()]).unwrap_err();
        assert!(e.to_string().contains("zzz") && e.to_string().contains("a, shared"));
    }
}
