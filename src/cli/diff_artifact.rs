//! `flotilla diff artifact oci://REPO:TAG --path DIR`: whether a local directory differs from an
//! artifact in a registry (like `flux diff artifact`), file by file: the remote layer is pulled
//! with its digests verified and compared with the layer `flotilla push artifact` would build.

use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use super::connect::Format;
use super::push::{build_layer, cli_client};
use crate::controllers::image::registry::oci::OciUrl;
use crate::controllers::source::oci_repository::{
    FLUX_CONTENT_MEDIA_TYPE, MAX_LAYER_BYTES, select_layer,
};

/// Largest total of file bytes read from one layer.
const MAX_CONTENT_BYTES: u64 = 1 << 30;

/// The regular files of a `tar.gz` by normalised path.
pub fn layer_files(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut files = BTreeMap::new();
    let mut total: u64 = 0;
    for entry in archive.entries().context("reading the layer")? {
        let entry = entry.context("reading the layer")?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().context("reading an entry name")?;
        let name = path
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("/");
        let mut body = Vec::new();
        entry
            .take(MAX_CONTENT_BYTES - total + 1)
            .read_to_end(&mut body)
            .with_context(|| format!("reading {name}"))?;
        total += body.len() as u64;
        if total > MAX_CONTENT_BYTES {
            bail!("the layer expands beyond {MAX_CONTENT_BYTES} bytes");
        }
        files.insert(name, body);
    }
    Ok(files)
}

/// Paths only local (`+`), only remote (`-`) or different (`~`), sorted by path.
pub fn compare(
    local: &BTreeMap<String, Vec<u8>>,
    remote: &BTreeMap<String, Vec<u8>>,
) -> Vec<(char, String)> {
    let mut out: Vec<(char, String)> = Vec::new();
    for (p, body) in local {
        match remote.get(p) {
            None => out.push(('+', p.clone())),
            Some(r) if r != body => out.push(('~', p.clone())),
            Some(_) => {}
        }
    }
    for p in remote.keys() {
        if !local.contains_key(p) {
            out.push(('-', p.clone()));
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

/// Runs the comparison: exit 0 same content, 1 differences, (error: 2 from the caller).
pub async fn diff_artifact(
    url: &str,
    dir: &Path,
    creds: Option<&str>,
    insecure: bool,
    ignore_paths: &[String],
    output: Format,
) -> Result<ExitCode> {
    let parsed = OciUrl::parse(url)?;
    let reference = parsed
        .digest
        .clone()
        .or_else(|| parsed.tag.clone())
        .unwrap_or_else(|| "latest".to_string());
    let mut client = cli_client(&parsed, creds, insecure)?;
    let mut manifest = client.manifest(&reference).await?;
    if manifest.is_index() {
        let d = manifest
            .platform_digest()
            .context("the image index lists no manifests")?;
        manifest = client.manifest(&d).await?;
    }
    let layers = manifest.layers();
    let media = layers
        .iter()
        .any(|l| l.media_type == FLUX_CONTENT_MEDIA_TYPE)
        .then_some(FLUX_CONTENT_MEDIA_TYPE);
    let layer = select_layer(&layers, media).map_err(anyhow::Error::msg)?;
    let remote = client.blob(&layer.digest, MAX_LAYER_BYTES).await?;
    let (d, ignore) = (dir.to_path_buf(), ignore_paths.to_vec());
    let local = tokio::task::spawn_blocking(move || build_layer(&d, &ignore)).await??;
    let changes = if local == remote {
        Vec::new()
    } else {
        compare(&layer_files(&local)?, &layer_files(&remote)?)
    };
    match output {
        Format::Text => {
            if changes.is_empty() {
                println!("✔ no changes detected");
            } else {
                for (mark, path) in &changes {
                    println!("{mark} {path}");
                }
                println!("✗ the remote artifact contents differs from the local one");
            }
        }
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "url": url,
                "changed": !changes.is_empty(),
                "files": changes.iter().map(|(m, p)| serde_json::json!({
                    "change": match m { '+' => "local only", '-' => "remote only", _ => "modified" },
                    "path": p,
                })).collect::<Vec<_>>(),
            }))?
        ),
    }
    Ok(if changes.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_marks_added_removed_and_modified_files() {
        let m = |items: &[(&str, &str)]| {
            items
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect::<BTreeMap<_, _>>()
        };
        let local = m(&[("a.yaml", "1"), ("b.yaml", "2"), ("new.yaml", "x")]);
        let remote = m(&[("a.yaml", "1"), ("b.yaml", "3"), ("old.yaml", "y")]);
        assert_eq!(
            compare(&local, &remote),
            vec![
                ('~', "b.yaml".to_string()),
                ('+', "new.yaml".to_string()),
                ('-', "old.yaml".to_string())
            ]
        );
    }

    #[test]
    fn a_built_layer_reads_back_file_by_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/cm.yaml"), "kind: ConfigMap\n").unwrap();
        std::fs::write(dir.path().join("README.md"), "docs").unwrap();
        let layer = build_layer(dir.path(), &["*.md".to_string()]).unwrap();
        assert_eq!(
            layer,
            build_layer(dir.path(), &["*.md".to_string()]).unwrap()
        );
        let files = layer_files(&layer).unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), ["sub/cm.yaml"]);
    }
}
