//! `ferry keygen`, `ferry sign`, `ferry attest`.

use super::{CliResult, open_bundle, usage};
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The environment variable holding the passphrase of an encrypted private key.
pub const PASSWORD_ENV: &str = "FERRY_KEY_PASSWORD";

fn passphrase() -> Option<Vec<u8>> {
    std::env::var_os(PASSWORD_ENV).map(|p| p.into_encoded_bytes()).filter(|p| !p.is_empty())
}

/// Writes `data` to `path` atomically and durably ([`ferry_atomic`]), refusing to replace an existing
/// file (the check and the naming are one step), with exactly `mode` on Unix.
fn write_new(path: &Path, data: &[u8], mode: u32) -> anyhow::Result<()> {
    if path.exists() {
        anyhow::bail!("{} already exists; refusing to overwrite a key", path.display());
    }
    #[cfg(unix)]
    let permissions = Some(std::os::unix::fs::PermissionsExt::from_mode(mode));
    #[cfg(not(unix))]
    let permissions = {
        let _ = mode;
        None
    };
    let options = ferry_atomic::Options { sync: true, no_clobber: true, permissions };
    ferry_atomic::write(path, data, options).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!("{} already exists; refusing to overwrite a key", path.display())
        } else {
            anyhow::Error::new(e).context(path.display().to_string())
        }
    })
}

pub fn keygen(private: &Path, public: &Path) -> CliResult {
    let pass = passphrase();
    let (sk, pk) = ferry_sign::keygen(pass.as_deref()).map_err(usage)?;
    write_new(public, pk.as_str().as_bytes(), 0o644).map_err(usage)?;
    if let Err(e) = write_new(private, sk.as_str().as_bytes(), 0o600) {
        let _ = std::fs::remove_file(public);
        return Err(usage(e));
    }
    let key = ferry_sign::VerifyingKey::from_pem(pk.as_str()).map_err(usage)?;
    println!(
        "wrote {} ({}) and {}\nkey hint {}",
        private.display(),
        if pass.is_some() { "encrypted" } else { "unencrypted; set FERRY_KEY_PASSWORD to encrypt" },
        public.display(),
        key.hint()
    );
    Ok(ExitCode::SUCCESS)
}

/// The environment variable holding an OIDC identity token for keyless signing (the name Sigstore's
/// clients use).
pub const ID_TOKEN_ENV: &str = "SIGSTORE_ID_TOKEN";

/// Who signs: a key file, or a Sigstore identity.
#[derive(clap::Args, Debug)]
#[group(skip)]
pub struct SignerArgs {
    /// PEM private key (FERRY_KEY_PASSWORD for an encrypted one).
    #[arg(long, conflicts_with = "keyless", required_unless_present = "keyless")]
    pub key: Option<PathBuf>,
    /// Sign keylessly through the Sigstore public-good instance (Fulcio and Rekor; needs the network).
    /// The identity comes from --identity-token, SIGSTORE_ID_TOKEN or the CI's ambient OIDC credentials.
    #[arg(long)]
    pub keyless: bool,
    /// An OIDC identity token (JWT) for --keyless.
    #[arg(long, requires = "keyless")]
    pub identity_token: Option<String>,
}

impl SignerArgs {
    fn token(&self) -> Option<String> {
        self.identity_token
            .clone()
            .or_else(|| std::env::var(ID_TOKEN_ENV).ok())
            .filter(|t| !t.trim().is_empty())
    }
}

pub fn sign(bundle: &Path, signer: &SignerArgs, output: Option<&Path>) -> CliResult {
    let b = open_bundle(bundle)?;
    let out = output.unwrap_or(bundle);
    match &signer.key {
        Some(key) => {
            let key = ferry_trust::load_signing_key(key, passphrase().as_deref()).map_err(usage)?;
            let digest = ferry_trust::sign(&b, &key, out).map_err(usage)?;
            println!("signed {} with key {}\nsignature {digest}", out.display(), key.verifying_key().hint());
        }
        None => {
            let digest = ferry_trust::sign_keyless(&b, signer.token().as_deref(), out).map_err(usage)?;
            println!("signed {} keylessly through Sigstore\nsignature {digest}", out.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn attest(bundle: &Path, signer: &SignerArgs, report: &Path, output: Option<&Path>) -> CliResult {
    let b = open_bundle(bundle)?;
    let text = ferry_spec::file::read(report, ferry_spec::file::SMALL_FILE_LIMIT).map_err(usage)?;
    let value: serde_json::Value = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a JSON report", report.display()))
        .map_err(usage)?;
    let out = output.unwrap_or(bundle);
    match &signer.key {
        Some(key) => {
            let key = ferry_trust::load_signing_key(key, passphrase().as_deref()).map_err(usage)?;
            let digest = ferry_trust::attest(&b, &key, value, out).map_err(usage)?;
            println!(
                "attested {} with key {}\nattestation {digest}",
                out.display(),
                key.verifying_key().hint()
            );
        }
        None => {
            let digest =
                ferry_trust::attest_keyless(&b, value, signer.token().as_deref(), out).map_err(usage)?;
            println!("attested {} keylessly through Sigstore\nattestation {digest}", out.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
