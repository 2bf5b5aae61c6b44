//! `ferry push` and `ferry pull`, and `oci://` references wherever a bundle is read (`verify`, `run`):
//! pulled first into a content-addressed cache under the user's cache directory.

use super::{CliResult, Failure, print_stdout, refused, usage};
use ferry_registry::{Options, Reference, RegistryError, Remote};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The prefix that makes a bundle argument a registry reference.
pub const OCI_PREFIX: &str = "oci://";

#[derive(clap::Args, Debug)]
pub struct RegistryArgs {
    /// Plain HTTP (the default only for a registry on this machine: localhost, 127.0.0.0/8, [::1]).
    #[arg(long, conflicts_with = "https")]
    plain_http: bool,
    /// HTTPS even for a registry on this machine.
    #[arg(long)]
    https: bool,
    /// PEM certificates to trust besides the system's, for a registry with a private CA.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// The Docker config file with the registry's credentials (default: $DOCKER_CONFIG/config.json or
    /// ~/.docker/config.json).
    #[arg(long, value_name = "FILE")]
    docker_config: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

impl RegistryArgs {
    fn options(&self) -> Options {
        let transport = if self.plain_http {
            Some(ferry_registry::Transport::Http)
        } else if self.https {
            Some(ferry_registry::Transport::Https)
        } else {
            None
        };
        Options {
            transport,
            docker_config: self.docker_config.clone(),
            ca_file: self.ca_file.clone(),
            ..Options::default()
        }
    }
}

/// A registry error as a command failure: exit 1 for content refused, 2 for the rest, with `context`.
fn failure(e: RegistryError, context: String) -> Failure {
    let f = if e.is_refusal() { refused(e) } else { usage(e) };
    Failure { code: f.code, error: f.error.context(context) }
}

fn parse(reference: &str) -> Result<Reference, Failure> {
    reference.parse().map_err(usage)
}

pub fn push(bundle: &Path, reference: &str, args: &RegistryArgs) -> CliResult {
    let r = parse(reference)?;
    let report = ferry_registry::push(bundle, &r, &args.options())
        .map_err(|e| failure(e, format!("pushing {} to {r}", bundle.display())))?;
    if args.json {
        let text = serde_json::to_string_pretty(&report).map_err(usage)?;
        print_stdout(&format!("{text}\n"))?;
    } else {
        let mode = match report.referrers_mode {
            ferry_registry::ReferrersMode::Api => "through the referrers API",
            ferry_registry::ReferrersMode::TagSchema => {
                "in the referrers tag (the registry has no referrers API)"
            }
        };
        print_stdout(&format!(
            "pushed {}\n{} blob{} uploaded ({} bytes), {} already in the repository; {} referrer{} {mode}\n",
            report.reference,
            report.uploaded,
            plural(report.uploaded),
            report.uploaded_bytes,
            report.present,
            report.referrers,
            plural(report.referrers),
        ))?;
        if !report.byte_identical_on_pull {
            print_stdout(
                "note: this bundle's members are not in Ferry's order; a pull gives the same bundle in Ferry's order, not this very file\n",
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn pull(reference: &str, out: &Path, args: &RegistryArgs) -> CliResult {
    let r = parse(reference)?;
    let report = ferry_registry::pull(&r, out, &args.options())
        .map_err(|e| failure(e, format!("pulling {r} into {}", out.display())))?;
    if args.json {
        let text = serde_json::to_string_pretty(&report).map_err(usage)?;
        print_stdout(&format!("{text}\n"))?;
    } else {
        let mut text = format!(
            "pulled {} -> {} ({} bytes)\n{} blob{} downloaded ({} bytes); {} referrer{}\n",
            report.reference,
            out.display(),
            report.size,
            report.downloaded,
            plural(report.downloaded),
            report.downloaded_bytes,
            report.referrers,
            plural(report.referrers),
        );
        for s in &report.skipped {
            text.push_str(&format!("skipped referrer {s}\n"));
        }
        print_stdout(&text)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The local file for a bundle argument: the path itself, or for `oci://REF` the bundle pulled into
/// the cache (`<cache>/bundles/<manifest hex>.ferry`). A cached copy with the same manifest and
/// referrers is used as is; otherwise it is rewritten, its blobs reused where they match, so only what
/// changed is downloaded. The caller verifies the file as it would any other bundle.
pub fn local_bundle(arg: &Path) -> Result<PathBuf, Failure> {
    let Some(reference) = arg.to_str().and_then(|s| s.strip_prefix(OCI_PREFIX)) else {
        return Ok(arg.to_path_buf());
    };
    let r = parse(reference)?;
    let cache = ferry_cache::Location::User.private_dir("bundles").ok_or_else(|| {
        usage(anyhow::anyhow!(
            "no private cache directory to pull {r} into (set HOME or XDG_CACHE_HOME); or `ferry pull` it to a file"
        ))
    })?;
    let remote =
        Remote::resolve(&r, &Options::default()).map_err(|e| failure(e, format!("resolving {r}")))?;
    let hex = ferry_bundle::oci::sha256_hex(remote.manifest_digest()).unwrap_or_default();
    let path = cache.path().join(format!("{hex}.ferry"));
    let cached = ferry_bundle::Bundle::open(&path).ok();
    let up_to_date = cached.as_ref().is_some_and(|b| {
        b.manifest_digest() == remote.manifest_digest()
            && b.referrers().iter().map(|r| r.digest.as_str()).eq(remote.referrer_digests())
    });
    if !up_to_date {
        remote.write(&path, cached.as_ref()).map_err(|e| failure(e, format!("pulling {r}")))?;
    }
    eprintln!("{r} is {} ({})", remote.manifest_digest(), path.display());
    Ok(path)
}
