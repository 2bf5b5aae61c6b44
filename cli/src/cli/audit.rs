//! `ferry audit`: the chain of custody of a bundle, for an auditor ([`ferry::audit`]). It reports; it
//! does not judge: any readable bundle exits 0, whatever its signatures say (`ferry verify` and
//! `ferry run --policy` judge).

use super::{CliResult, open_bundle, usage};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `ferry audit`.
#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    /// The bundle to audit.
    pub bundle: PathBuf,
    /// A PEM public key to check signatures and attestations against (repeatable).
    #[arg(long = "key")]
    pub keys: Vec<PathBuf>,
    /// The Sigstore trusted root for keyless signatures (default: the public-good root built in).
    #[arg(long)]
    pub trusted_root: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn audit(args: &AuditArgs) -> CliResult {
    let b = open_bundle(&args.bundle)?;
    let keys = args
        .keys
        .iter()
        .map(|k| ferry::trust::load_public_key(k))
        .collect::<Result<Vec<_>, _>>()
        .map_err(usage)?;
    let root = match &args.trusted_root {
        Some(path) => ferry::trust::TrustRoot::from_file(path),
        None => ferry::trust::TrustRoot::public_good(),
    }
    .map_err(usage)?;
    let anchors = ferry::trust::Anchors { keys, identities: Vec::new(), root: Some(root) };
    let labels: Vec<String> = args.keys.iter().map(|p| p.display().to_string()).collect();
    let report = ferry::audit::audit(&b, &anchors, &labels);
    if args.json {
        let text = serde_json::to_string_pretty(&report).map_err(usage)?;
        super::print_stdout(&format!("{text}\n"))?;
    } else {
        super::print_stdout(&report.to_string())?;
    }
    Ok(ExitCode::SUCCESS)
}
