//! `flotilla push artifact`: publish a directory to an OCI registry the way `flux push artifact`
//! does — one reproducible `tar.gz` layer (`application/vnd.cncf.flux.content.v1.tar+gzip`), the
//! Flux config media type, and the `org.opencontainers.image.{source,revision,created}`
//! annotations an OCIRepository copies into its artifact metadata.

use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use super::connect::{Format, block_on};
use crate::controllers::image::registry::oci::{OCI_MANIFEST, OciUrl, sha256_digest};
use crate::controllers::image::registry::{
    Credentials, RegistryClient, RegistryOptions, credentials_from_docker_config,
};
use crate::controllers::source::artifact::write_archive;
use crate::controllers::source::exclusions::Exclusions;
use crate::controllers::source::oci_repository::{FLUX_CONFIG_MEDIA_TYPE, FLUX_CONTENT_MEDIA_TYPE};

/// Arguments of `flotilla push`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to push.
    #[command(subcommand)]
    pub what: What,
}

/// What `flotilla push` publishes.
#[derive(Debug, clap::Subcommand)]
pub enum What {
    /// Push a directory as an OCI artifact (like `flux push artifact`).
    Artifact(ArtifactArgs),
}

/// Arguments of `flotilla push artifact`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  flotilla push artifact oci://localhost:5000/apps/podinfo:v1.0.0 --path ./deploy \\
      --source https://github.com/org/repo --revision main@sha1:$(git rev-parse HEAD)
  flotilla push artifact oci://ghcr.io/org/manifests:latest --path . --creds flux:$TOKEN \\
      --source \"$(git config --get remote.origin.url)\" --revision \"$(git branch --show-current)@sha1:$(git rev-parse HEAD)\" \\
      --ignore-paths '*.md,tests/' --annotations team=platform
  flotilla push artifact oci://registry.local:5000/app:dev --path ./app --insecure-registry --reproducible -o json

The layer is a reproducible tar.gz of DIR (same tree, same digest); .sourceignore files and
--ignore-paths (gitignore patterns) leave files out. Credentials: --creds, else the Docker config
($DOCKER_CONFIG/config.json or ~/.docker/config.json). The manifest digest is printed; an
OCIRepository pulling the tag reports revision '<tag>@<digest>'.")]
pub struct ArtifactArgs {
    /// The destination, `oci://HOST/REPO:TAG`.
    pub url: String,
    /// The directory to publish.
    #[arg(long, value_name = "DIR")]
    pub path: PathBuf,
    /// Where the content comes from (annotation `org.opencontainers.image.source`).
    #[arg(long, value_name = "URL")]
    pub source: String,
    /// The source revision (annotation `org.opencontainers.image.revision`), e.g. `main@sha1:<hex>`.
    #[arg(long, value_name = "REV")]
    pub revision: String,
    /// Extra manifest annotations, `key=value` (repeat or separate with commas).
    #[arg(short = 'a', long, value_name = "KEY=VALUE", value_delimiter = ',')]
    pub annotations: Vec<String>,
    /// Registry credentials, `user:password`.
    #[arg(
        long,
        value_name = "USER:PASSWORD",
        env = "FLOTILLA_OCI_CREDS",
        hide_env_values = true
    )]
    pub creds: Option<String>,
    /// Talk plain HTTP to the registry.
    #[arg(long)]
    pub insecure_registry: bool,
    /// Gitignore patterns of paths to leave out (comma separated or repeated).
    #[arg(long, value_name = "PATTERNS", value_delimiter = ',')]
    pub ignore_paths: Vec<String>,
    /// Set `org.opencontainers.image.created` to the epoch so the same content always yields
    /// the same manifest digest.
    #[arg(long)]
    pub reproducible: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Format,
}

/// Runs `flotilla push`: exit 0 pushed, 2 error.
pub fn run(args: Args) -> ExitCode {
    match args.what {
        What::Artifact(a) => block_on("push artifact", push_artifact(a)),
    }
}

/// Registry credentials from `--creds` or the Docker config.
pub fn registry_credentials(creds: Option<&str>, registry: &str) -> Result<Option<Credentials>> {
    if let Some(c) = creds {
        let (username, password) = c
            .split_once(':')
            .context("--creds must be 'user:password'")?;
        return Ok(Some(Credentials {
            username: username.to_string(),
            password: password.to_string(),
        }));
    }
    let path = match std::env::var_os("DOCKER_CONFIG") {
        Some(d) => PathBuf::from(d).join("config.json"),
        None => match std::env::var_os("HOME") {
            Some(h) => PathBuf::from(h).join(".docker/config.json"),
            None => return Ok(None),
        },
    };
    match std::fs::read(&path) {
        Ok(bytes) => credentials_from_docker_config(&bytes, registry)
            .with_context(|| format!("reading {}", path.display())),
        Err(_) => Ok(None),
    }
}

/// The reproducible `tar.gz` of `dir` minus `.sourceignore` rules and `ignore_paths`.
pub fn build_layer(dir: &Path, ignore_paths: &[String]) -> Result<Vec<u8>> {
    if !dir.is_dir() {
        bail!("--path {}: not a directory", dir.display());
    }
    let ignore = (!ignore_paths.is_empty()).then(|| ignore_paths.join("\n"));
    let exclusions = Exclusions::load(dir, ignore.as_deref())
        .with_context(|| format!("reading ignore rules under {}", dir.display()))?;
    let (_, bytes) = write_archive(dir, &exclusions, Vec::new())
        .with_context(|| format!("archiving {}", dir.display()))?;
    Ok(bytes)
}

/// A registry client for `url` with the CLI's credentials.
pub fn cli_client(url: &OciUrl, creds: Option<&str>, insecure: bool) -> Result<RegistryClient> {
    let credentials = registry_credentials(creds, &url.image.registry)?;
    Ok(RegistryClient::new(
        url.image.clone(),
        RegistryOptions {
            insecure,
            credentials,
            timeout: Duration::from_secs(300),
        },
    )?)
}

async fn push_artifact(args: ArtifactArgs) -> Result<ExitCode> {
    let url = OciUrl::parse(&args.url)?;
    if url.digest.is_some() {
        bail!("{}: push to a tag, not a digest", args.url);
    }
    let tag = url.tag.clone().unwrap_or_else(|| "latest".to_string());
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "org.opencontainers.image.created".to_string(),
        if args.reproducible {
            "1970-01-01T00:00:00Z".to_string()
        } else {
            jiff::Timestamp::from_second(jiff::Timestamp::now().as_second())
                .map(|t| t.to_string())
                .unwrap_or_default()
        },
    );
    annotations.insert(
        "org.opencontainers.image.source".to_string(),
        args.source.clone(),
    );
    annotations.insert(
        "org.opencontainers.image.revision".to_string(),
        args.revision.clone(),
    );
    for a in &args.annotations {
        let (k, v) = a
            .split_once('=')
            .with_context(|| format!("--annotations '{a}': expected key=value"))?;
        annotations.insert(k.trim().to_string(), v.to_string());
    }
    let (dir, ignore) = (args.path.clone(), args.ignore_paths.clone());
    let layer = tokio::task::spawn_blocking(move || build_layer(&dir, &ignore)).await??;
    let config = b"{}".to_vec();
    let mut client = cli_client(&url, args.creds.as_deref(), args.insecure_registry)?;
    eprintln!(
        "► pushing artifact to {}/{}:{tag}",
        url.image.registry, url.image.repository
    );
    let config_digest = client.push_blob(&config).await?;
    let layer_digest = client.push_blob(&layer).await?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": FLUX_CONFIG_MEDIA_TYPE,
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": [{
            "mediaType": FLUX_CONTENT_MEDIA_TYPE,
            "digest": layer_digest,
            "size": layer.len(),
        }],
        "annotations": annotations,
    });
    let bytes = serde_json::to_vec(&manifest)?;
    let digest = client.push_manifest(&tag, OCI_MANIFEST, &bytes).await?;
    debug_assert_eq!(digest, sha256_digest(&bytes));
    let repo = format!("{}/{}", url.image.registry, url.image.repository);
    match args.output {
        Format::Text => println!("✔ artifact successfully pushed to {repo}@{digest}"),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "repository": repo,
                "tag": tag,
                "digest": digest,
                "url": format!("oci://{repo}:{tag}"),
            }))?
        ),
    }
    Ok(ExitCode::SUCCESS)
}
