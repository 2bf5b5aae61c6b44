//! Bundles through OCI registries.
//!
//! A `.ferry` file is already an OCI image layout (`spec/FORMAT.md`), so a registry holds a bundle as
//! it is: its file blobs, the Ferry manifest as the config, the bundle manifest under a tag, and each
//! signature or attestation as a referrer manifest whose `subject` is the bundle manifest. [`push`]
//! uploads only the blobs the repository lacks (a second version that shares its weights uploads only
//! what changed) and keeps the referrers findable: through the registry's referrers API when it has
//! one, else in the `sha256-<hex>` tag the distribution spec's fallback names, kept in the bundle's
//! order. [`pull`] fetches them back, hashing every byte as it arrives, and lays them out in the one
//! order Ferry writes ([`ferry_bundle::blob_order`]), so the pulled file is the pushed one, byte for
//! byte, signatures included.
//!
//! The client is a small blocking one over `reqwest` rather than `oci-client`: that crate buffers
//! manifests and referrer listings whole with no bound, while every answer here is bounded before it
//! is held (manifests at the spec's 4 MiB), and byte-exact manifests and the tag fallback are most of
//! what Ferry needs.
//!
//! ```no_run
//! use ferry_registry::{Options, Reference, pull, push};
//! let r: Reference = "localhost:5000/models/credit:1.0.0".parse()?;
//! let pushed = push(std::path::Path::new("credit.ferry"), &r, &Options::default())?;
//! println!("{} blobs uploaded, {} already there", pushed.uploaded, pushed.present);
//! let pulled = pull(&r, std::path::Path::new("copy.ferry"), &Options::default())?;
//! assert_eq!(pulled.manifest_digest, pushed.manifest_digest);
//! # Ok::<(), ferry_registry::RegistryError>(())
//! ```

mod auth;
mod client;
mod reference;

pub use auth::{Credential, docker_config_path, from_docker_config};
pub use client::{Access, Client, MAX_MANIFEST, Transport};
pub use reference::{DOCKER_HUB, Reference, check_tag};

use ferry_bundle::oci::{self, Descriptor, ImageManifest, Index};
use ferry_bundle::{Bundle, BundleError};
use ferry_spec::media;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The largest Ferry manifest (config blob) a pull reads into memory.
pub const MAX_CONFIG: u64 = 64 << 20;
/// The largest referrer layer (a signature or an attestation) a pull accepts.
pub const MAX_REFERRER_LAYER: u64 = 16 << 20;
/// The most referrers a pull takes.
pub const MAX_REFERRERS: usize = 256;

/// Why a push or a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("`{reference}` is not a valid reference: {reason}")]
    Reference { reference: String, reason: String },
    #[error("{url}: the request failed")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url}: the registry answered {status}{detail}")]
    Status { url: String, status: u16, detail: String },
    #[error("{url}: {message}")]
    Protocol { url: String, message: String },
    #[error("{url}: the registry sent content of digest {actual}, not the {expected} asked for")]
    Digest { url: String, expected: String, actual: String },
    #[error("{url}: not authorized: {detail}")]
    Unauthorized { url: String, detail: String },
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("credential helper `{helper}`: {message}")]
    Helper { helper: String, message: String },
    #[error("{reference} is not a Ferry bundle: {reason}")]
    NotABundle { reference: String, reason: String },
    #[error("{0}")]
    Bundle(#[from] BundleError),
}

impl RegistryError {
    /// Whether this is a refusal of what the registry holds (content that is not the bundle it claims
    /// to be), as opposed to a usage, network or I/O error: `ferry` exits 1 for these, 2 for the rest.
    pub fn is_refusal(&self) -> bool {
        match self {
            RegistryError::Digest { .. } | RegistryError::NotABundle { .. } => true,
            RegistryError::Bundle(e) => !matches!(e, BundleError::Io { .. } | BundleError::Source { .. }),
            _ => false,
        }
    }
}

/// How to reach the registry.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Plain HTTP or HTTPS; by default HTTPS, except plain HTTP for a registry on this machine
    /// ([`Reference::is_loopback`]), as Docker and ORAS do.
    pub transport: Option<Transport>,
    /// The Docker config file to read credentials from; by default `$DOCKER_CONFIG/config.json` or
    /// `~/.docker/config.json`.
    pub docker_config: Option<PathBuf>,
    /// PEM certificates to trust for HTTPS besides the system's (a private registry's CA).
    pub ca_file: Option<PathBuf>,
    /// Where the verified-digest cache is ([`ferry_cache::VerifiedDigests`]): a push of a bundle that
    /// was fully checked before and has not changed since (by file identity) does not hash it again.
    /// The user's cache by default; [`ferry_cache::Location::Off`] hashes every push.
    pub cache: ferry_cache::Location,
}

/// The largest CA file read.
const MAX_CA_FILE: u64 = 4 << 20;

impl Options {
    fn client(&self, reference: &Reference, access: Access) -> Result<Client, RegistryError> {
        let transport = self.transport.unwrap_or(if reference.is_loopback() {
            Transport::Http
        } else {
            Transport::Https
        });
        let config = self.docker_config.clone().or_else(docker_config_path);
        let credential = match config {
            Some(path) => from_docker_config(&path, &reference.registry)?,
            None => None,
        };
        let mut roots = Vec::new();
        if let Some(path) = &self.ca_file {
            let bad = |message: String| RegistryError::Config { path: path.clone(), message };
            let pem = ferry_spec::file::read(path, MAX_CA_FILE).map_err(|e| bad(e.reason()))?;
            roots = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| bad(format!("not PEM certificates: {e}")))?;
            if roots.is_empty() {
                return Err(bad("holds no PEM certificate".into()));
            }
        }
        Client::new(reference, transport, access, credential, roots)
    }
}

/// How a registry keeps a manifest's referrers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReferrersMode {
    /// The OCI 1.1 referrers API.
    Api,
    /// The `sha256-<hex>` tag holding an image index of them (the distribution spec's fallback).
    TagSchema,
}

/// What [`push`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PushReport {
    /// Where the bundle is now: the repository, the tag and the manifest digest.
    pub reference: String,
    pub manifest_digest: String,
    /// Blobs uploaded, and their bytes.
    pub uploaded: usize,
    pub uploaded_bytes: u64,
    /// Blobs the repository already held (not sent again).
    pub present: usize,
    pub referrers: usize,
    pub referrers_mode: ReferrersMode,
    /// Whether the digest check was answered by the verified-digest cache (this very file, unchanged,
    /// was fully hashed before) rather than by hashing every blob.
    pub digests_cached: bool,
    /// Whether the bundle's members are in Ferry's order, so a pull gives back this very file (a bundle
    /// Ferry wrote always is; one rearranged by another tool pulls back in Ferry's order).
    pub byte_identical_on_pull: bool,
}

/// What [`pull`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PullReport {
    pub reference: String,
    pub manifest_digest: String,
    pub size: u64,
    /// Blobs downloaded, and blobs taken from a local bundle instead.
    pub downloaded: usize,
    pub downloaded_bytes: u64,
    pub reused: usize,
    pub referrers: usize,
    pub referrers_mode: ReferrersMode,
    /// Referrers of the bundle that are not Ferry's (another tool's SBOM or signature, in a shape a
    /// bundle cannot hold), left in the registry; with why.
    pub skipped: Vec<String>,
}

/// Streams a blob of an opened bundle as a request body.
struct BlobReader {
    bundle: Arc<Bundle>,
    digest: String,
    pos: usize,
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let blob = self.bundle.blob(&self.digest).map_err(std::io::Error::other)?;
        let rest = blob.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

fn manifest_descriptor(digest: &str, size: u64, artifact_type: Option<String>) -> Descriptor {
    Descriptor {
        media_type: media::OCI_MANIFEST.to_owned(),
        digest: digest.to_owned(),
        size,
        artifact_type,
        annotations: Default::default(),
    }
}

/// The bundle's referrer manifests, parsed, in index order.
fn referrer_manifests(bundle: &Bundle) -> Result<Vec<(Descriptor, ImageManifest)>, RegistryError> {
    let mut out = Vec::new();
    for r in bundle.referrers() {
        let raw = bundle.blob(&r.digest)?;
        let m: ImageManifest = serde_json::from_slice(raw).map_err(|e| BundleError::Json {
            member: r.digest.clone(),
            what: "an OCI image manifest".into(),
            message: e.to_string(),
        })?;
        out.push((manifest_descriptor(&r.digest, raw.len() as u64, Some(r.artifact_type.clone())), m));
    }
    Ok(out)
}

/// Pushes the bundle at `path` to `reference` (its tag, or the model version when it names none):
/// blobs the repository lacks, the bundle manifest under the tag, and its signatures and attestations
/// as referrers. Every blob is hashed first (unless the verified-digest cache knows this very file, as
/// the runtime does), so a damaged bundle is refused before anything is sent.
pub fn push(path: &Path, reference: &Reference, options: &Options) -> Result<PushReport, RegistryError> {
    let bundle = Bundle::open(path)?;
    let digests_cached = match (ferry_cache::VerifiedDigests::open(&options.cache), bundle.file_handle()) {
        (Some(cache), Some(file)) => {
            cache.check_or_recall(ferry_cache::BUNDLE_KIND, path, file, bundle.manifest_digest(), || {
                bundle.verify_digests()
            })?
        }
        _ => {
            bundle.verify_digests()?;
            false
        }
    };
    let bundle = Arc::new(bundle);
    let tag = match &reference.tag {
        Some(t) => t.clone(),
        None => {
            let version = &bundle.manifest().model.version;
            check_tag(version).map_err(|reason| RegistryError::Reference {
                reference: reference.to_string(),
                reason: format!("it names no tag, and the model version cannot be one: {reason}"),
            })?;
            version.clone()
        }
    };
    let manifest_digest = bundle.manifest_digest().to_owned();
    if let Some(d) = &reference.digest
        && *d != manifest_digest
    {
        return Err(RegistryError::Reference {
            reference: reference.to_string(),
            reason: format!("it names digest {d}, but the bundle's manifest is {manifest_digest}"),
        });
    }
    let manifest_raw = bundle.blob(&manifest_digest)?.to_vec();
    let bundle_desc = manifest_descriptor(&manifest_digest, manifest_raw.len() as u64, None);
    let referrers = referrer_manifests(&bundle)?;
    let order = ferry_bundle::blob_order(&bundle_desc, bundle.image_manifest(), &referrers);
    let byte_identical_on_pull =
        order.iter().map(|d| d.digest.as_str()).eq(bundle.stored_blob_order().iter().map(String::as_str));

    let client = options.client(reference, Access::Push)?;
    let manifests: Vec<&str> = std::iter::once(manifest_digest.as_str())
        .chain(referrers.iter().map(|(d, _)| d.digest.as_str()))
        .collect();
    let (mut uploaded, mut uploaded_bytes, mut present) = (0, 0, 0);
    for desc in order.iter().filter(|d| !manifests.contains(&d.digest.as_str())) {
        if client.blob_exists(&desc.digest)? {
            present += 1;
            continue;
        }
        let (b, digest, size) = (bundle.clone(), desc.digest.clone(), desc.size);
        client.upload_blob(&desc.digest, desc.size, &|| {
            reqwest::blocking::Body::sized(
                BlobReader { bundle: b.clone(), digest: digest.clone(), pos: 0 },
                size,
            )
        })?;
        uploaded += 1;
        uploaded_bytes += desc.size;
    }
    client.put_manifest(&tag, &manifest_raw, media::OCI_MANIFEST)?;
    for (desc, _) in &referrers {
        client.put_manifest(&desc.digest, bundle.blob(&desc.digest)?, media::OCI_MANIFEST)?;
    }
    let referrers_mode = if client.referrers(&manifest_digest)?.is_some() {
        ReferrersMode::Api
    } else {
        if !referrers.is_empty() {
            update_fallback_tag(&client, &manifest_digest, &referrers)?;
        }
        ReferrersMode::TagSchema
    };
    Ok(PushReport {
        reference: format!("{}/{}:{tag}@{manifest_digest}", reference.registry, reference.repository),
        manifest_digest,
        uploaded,
        uploaded_bytes,
        present,
        referrers: referrers.len(),
        referrers_mode,
        digests_cached,
        byte_identical_on_pull,
    })
}

/// The fallback tag of a manifest: `sha256-<hex>`.
fn fallback_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

/// Adds `referrers` to the `sha256-<hex>` index of the bundle manifest, after what it already lists
/// (other tools' referrers are kept).
fn update_fallback_tag(
    client: &Client,
    subject: &str,
    referrers: &[(Descriptor, ImageManifest)],
) -> Result<(), RegistryError> {
    let tag = fallback_tag(subject);
    let mut index = match client.manifest(&tag, media::OCI_INDEX)? {
        Some((bytes, _)) => serde_json::from_slice::<Index>(&bytes).map_err(|e| RegistryError::Protocol {
            url: tag.clone(),
            message: format!("the referrers tag holds no image index: {e}"),
        })?,
        None => {
            Index { schema_version: 2, media_type: Some(media::OCI_INDEX.to_owned()), manifests: Vec::new() }
        }
    };
    let before = index.manifests.len();
    for (desc, _) in referrers {
        if !index.manifests.iter().any(|d| d.digest == desc.digest) {
            index.manifests.push(desc.clone());
        }
    }
    if index.manifests.len() == before {
        return Ok(());
    }
    let bytes = ferry_spec::to_canonical_json(&index).map_err(|e| BundleError::Encode(e.to_string()))?;
    client.put_manifest(&tag, &bytes, media::OCI_INDEX)
}

/// A bundle in a registry, resolved: its manifest, configuration and Ferry referrers, not yet its file
/// blobs. [`Remote::write`] fetches those.
#[derive(Debug)]
pub struct Remote {
    client: Client,
    reference: Reference,
    bundle_desc: Descriptor,
    manifest_raw: Vec<u8>,
    image: ImageManifest,
    config: Vec<u8>,
    version: String,
    referrers: Vec<(Descriptor, ImageManifest, Vec<u8>)>,
    referrers_mode: ReferrersMode,
    skipped: Vec<String>,
}

impl Remote {
    /// Fetches and checks the manifest `reference` names (a tag or a digest), its Ferry manifest and
    /// its referrers.
    pub fn resolve(reference: &Reference, options: &Options) -> Result<Remote, RegistryError> {
        let Some(at) = reference.manifest_ref() else {
            return Err(RegistryError::Reference {
                reference: reference.to_string(),
                reason: "name a tag (`:1.0.0`) or a digest (`@sha256:…`)".into(),
            });
        };
        let client = options.client(reference, Access::Pull)?;
        let not_bundle =
            |reason: String| RegistryError::NotABundle { reference: reference.to_string(), reason };
        let (manifest_raw, _) =
            client.manifest(at, media::OCI_MANIFEST)?.ok_or_else(|| RegistryError::Status {
                url: format!("{reference}"),
                status: 404,
                detail: " (no such manifest)".into(),
            })?;
        let digest = oci::digest_of(&manifest_raw);
        let image: ImageManifest = serde_json::from_slice(&manifest_raw)
            .map_err(|e| not_bundle(format!("its manifest is not an OCI image manifest: {e}")))?;
        if image.media_type != media::OCI_MANIFEST
            || image.artifact_type.as_deref() != Some(media::ARTIFACT_TYPE)
            || image.subject.is_some()
        {
            return Err(not_bundle(format!(
                "its manifest has artifactType {:?}, not `{}`",
                image.artifact_type.as_deref().unwrap_or("(none)"),
                media::ARTIFACT_TYPE
            )));
        }
        if image.config.media_type != media::FERRY_MANIFEST {
            return Err(not_bundle(format!("its config has media type `{}`", image.config.media_type)));
        }
        let config = client.small_blob(&image.config.digest, image.config.size, MAX_CONFIG)?;
        let version = serde_json::from_slice::<serde_json::Value>(&config)
            .ok()
            .and_then(|v| v.get("model")?.get("version")?.as_str().map(str::to_owned))
            .ok_or_else(|| not_bundle("its Ferry manifest names no model version".into()))?;
        let bundle_desc = manifest_descriptor(&digest, manifest_raw.len() as u64, None);

        let (listing, referrers_mode) = match client.referrers(&digest)? {
            Some(bytes) => (Some(bytes), ReferrersMode::Api),
            None => (
                client.manifest(&fallback_tag(&digest), media::OCI_INDEX)?.map(|(b, _)| b),
                ReferrersMode::TagSchema,
            ),
        };
        let listed: Vec<Descriptor> = match listing {
            Some(bytes) => {
                serde_json::from_slice::<Index>(&bytes)
                    .map_err(|e| RegistryError::Protocol {
                        url: format!("referrers of {digest}"),
                        message: format!("not an image index: {e}"),
                    })?
                    .manifests
            }
            None => Vec::new(),
        };
        let mut referrers = Vec::new();
        let mut skipped = Vec::new();
        for desc in listed {
            if referrers.len() == MAX_REFERRERS {
                skipped.push(format!("{}: more than {MAX_REFERRERS} referrers", desc.digest));
                continue;
            }
            if desc.media_type != media::OCI_MANIFEST
                || oci::sha256_hex(&desc.digest).is_none()
                || referrers.iter().any(|(d, _, _): &(Descriptor, _, _)| d.digest == desc.digest)
            {
                skipped.push(format!("{}: not an OCI image manifest", desc.digest));
                continue;
            }
            let Some((raw, _)) = client.manifest(&desc.digest, media::OCI_MANIFEST)? else {
                skipped.push(format!("{}: listed but not in the registry", desc.digest));
                continue;
            };
            let Ok(m) = serde_json::from_slice::<ImageManifest>(&raw) else {
                skipped.push(format!("{}: not an OCI image manifest", desc.digest));
                continue;
            };
            let empty = oci::digest_of(oci::EMPTY_JSON);
            let fits = m.subject.as_ref().is_some_and(|s| s.digest == digest)
                && m.config.media_type == oci::EMPTY_MEDIA_TYPE
                && m.config.digest == empty
                && m.layers.len() == 1
                && m.layers.iter().all(|l| l.size <= MAX_REFERRER_LAYER);
            if !fits {
                skipped.push(format!("{}: not in the shape of a Ferry referrer (empty config, one layer of at most {MAX_REFERRER_LAYER} bytes)", desc.digest));
                continue;
            }
            let d = manifest_descriptor(&desc.digest, raw.len() as u64, m.artifact_type.clone());
            referrers.push((d, m, raw));
        }
        Ok(Remote {
            client,
            reference: reference.clone(),
            bundle_desc,
            manifest_raw,
            image,
            config,
            version,
            referrers,
            referrers_mode,
            skipped,
        })
    }

    /// The bundle manifest's digest: the bundle's identity.
    pub fn manifest_digest(&self) -> &str {
        &self.bundle_desc.digest
    }

    /// The digests of the referrers a pull will keep, in order.
    pub fn referrer_digests(&self) -> Vec<&str> {
        self.referrers.iter().map(|(d, _, _)| d.digest.as_str()).collect()
    }

    /// Writes the bundle to `out`, taking each blob from `reuse` when that bundle holds it (checked
    /// like a download) and from the registry otherwise. The file is checked as [`Bundle::open`] does
    /// before it gets its name; nothing is left at `out` on failure.
    pub fn write(&self, out: &Path, reuse: Option<&Bundle>) -> Result<(Bundle, PullReport), RegistryError> {
        let pairs: Vec<(Descriptor, ImageManifest)> =
            self.referrers.iter().map(|(d, m, _)| (d.clone(), m.clone())).collect();
        let order = ferry_bundle::blob_order(&self.bundle_desc, &self.image, &pairs);
        let mut writer = ferry_bundle::LayoutWriter::create(out)?;
        let (mut downloaded, mut downloaded_bytes, mut reused) = (0, 0u64, 0);
        for desc in &order {
            let what = format!("{}@{}", self.reference, desc.digest);
            let in_memory: Option<&[u8]> = if desc.digest == self.bundle_desc.digest {
                Some(&self.manifest_raw)
            } else if desc.digest == self.image.config.digest {
                Some(&self.config)
            } else {
                self.referrers
                    .iter()
                    .find(|(d, _, _)| d.digest == desc.digest)
                    .map(|(_, _, raw)| raw.as_slice())
            };
            if let Some(mut bytes) = in_memory {
                writer.blob(desc, &mut bytes, &what)?;
                continue;
            }
            if let Some(mut local) =
                reuse.and_then(|b| b.blob(&desc.digest).ok()).filter(|b| b.len() as u64 == desc.size)
            {
                writer.blob(desc, &mut local, &what)?;
                reused += 1;
                continue;
            }
            if desc.digest == oci::digest_of(oci::EMPTY_JSON) && desc.size == oci::EMPTY_JSON.len() as u64 {
                writer.blob(desc, &mut &oci::EMPTY_JSON[..], &what)?;
                continue;
            }
            let mut body = self.client.blob(&desc.digest, desc.size)?;
            writer.blob(desc, &mut body, &what)?;
            downloaded += 1;
            downloaded_bytes += desc.size;
        }
        let index = ferry_bundle::canonical_index(&self.bundle_desc, &self.version, &pairs);
        let bundle = writer.finish(&index)?;
        let report = PullReport {
            reference: format!(
                "{}/{}@{}",
                self.reference.registry, self.reference.repository, self.bundle_desc.digest
            ),
            manifest_digest: self.bundle_desc.digest.clone(),
            size: bundle.size(),
            downloaded,
            downloaded_bytes,
            reused,
            referrers: self.referrers.len(),
            referrers_mode: self.referrers_mode,
            skipped: self.skipped.clone(),
        };
        Ok((bundle, report))
    }
}

/// Pulls the bundle `reference` names into `out`: [`Remote::resolve`], then [`Remote::write`].
pub fn pull(reference: &Reference, out: &Path, options: &Options) -> Result<PullReport, RegistryError> {
    Remote::resolve(reference, options)?.write(out, None).map(|(_, report)| report)
}
