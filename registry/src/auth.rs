//! Credentials: read from the Docker config file (`auths`, `credHelpers`, `credsStore`), and the
//! registry's `WWW-Authenticate` challenge (basic, or a bearer token from the realm it names).

use crate::RegistryError;
use base64ct::Encoding as _;
use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

/// The largest Docker config file or credential-helper answer read.
const MAX_CONFIG: u64 = 1 << 20;

/// What to present to a registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A user name and password (or a personal access token used as one).
    Basic { username: String, password: String },
    /// An identity token (an OAuth2 refresh token), exchanged at the realm for an access token.
    IdentityToken(String),
    /// A bearer token given as is (`registrytoken`).
    Bearer(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets never reach a log or an error message.
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
            Credential::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

impl Credential {
    pub(crate) fn basic_header(username: &str, password: &str) -> String {
        format!("Basic {}", base64ct::Base64::encode_string(format!("{username}:{password}").as_bytes()))
    }
}

/// The Docker config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".docker/config.json"))
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(serde::Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

/// The keys a Docker config may file `registry` under (Docker Hub has several).
fn config_keys(registry: &str) -> Vec<String> {
    if registry == crate::reference::DOCKER_HUB {
        return ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"]
            .map(str::to_owned)
            .to_vec();
    }
    vec![registry.to_owned()]
}

/// `https://host/v1/` and `host` name the same registry in a config's `auths`.
fn normalize_key(key: &str) -> &str {
    let k = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

/// The credential the Docker config at `path` holds for `registry`, if any: a credential helper named
/// for it (`credHelpers`) or for all (`credsStore`) is asked first, then `auths`. A missing file means
/// anonymous access.
pub fn from_docker_config(path: &Path, registry: &str) -> Result<Option<Credential>, RegistryError> {
    let bad = |message: String| RegistryError::Config {
        path: path.to_path_buf(),
        message: format!("Docker config: {message}"),
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(bad(e.to_string())),
    };
    let mut text = Vec::new();
    file.take(MAX_CONFIG + 1).read_to_end(&mut text).map_err(|e| bad(e.to_string()))?;
    if text.len() as u64 > MAX_CONFIG {
        return Err(bad(format!("larger than {MAX_CONFIG} bytes")));
    }
    let config: DockerConfig =
        serde_json::from_slice(&text).map_err(|e| bad(format!("not a Docker config: {e}")))?;
    let keys = config_keys(registry);
    let helper = keys
        .iter()
        .find_map(|k| config.cred_helpers.get(k))
        .or(config.creds_store.as_ref())
        .filter(|h| !h.is_empty());
    if let Some(helper) = helper
        && let Some(c) = ask_helper(helper, &keys[0])?
    {
        return Ok(Some(c));
    }
    let entry = config
        .auths
        .iter()
        .find(|(k, _)| keys.iter().any(|want| normalize_key(k) == normalize_key(want)))
        .map(|(_, e)| e);
    let Some(entry) = entry else { return Ok(None) };
    if let Some(token) = entry.registrytoken.as_ref().filter(|t| !t.is_empty()) {
        return Ok(Some(Credential::Bearer(token.clone())));
    }
    if let Some(token) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
        return Ok(Some(Credential::IdentityToken(token.clone())));
    }
    if let Some(auth) = entry.auth.as_ref().filter(|a| !a.is_empty()) {
        let decoded = base64ct::Base64::decode_vec(auth.trim())
            .map_err(|_| bad(format!("`auths.{registry}.auth` is not base64")))?;
        let text =
            String::from_utf8(decoded).map_err(|_| bad(format!("`auths.{registry}.auth` is not UTF-8")))?;
        let (username, password) = text
            .split_once(':')
            .ok_or_else(|| bad(format!("`auths.{registry}.auth` is not `user:password` in base64")))?;
        return Ok(Some(Credential::Basic { username: username.to_owned(), password: password.to_owned() }));
    }
    match (&entry.username, &entry.password) {
        (Some(u), Some(p)) => Ok(Some(Credential::Basic { username: u.clone(), password: p.clone() })),
        _ => Ok(None),
    }
}

/// Runs `docker-credential-<helper> get` with the server on standard input, as Docker does.
fn ask_helper(helper: &str, server: &str) -> Result<Option<Credential>, RegistryError> {
    let fail = |message: String| RegistryError::Helper { helper: helper.to_owned(), message };
    if !helper.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
        return Err(fail("a helper name is letters, digits, `-`, `_` or `.`".into()));
    }
    let program = format!("docker-credential-{helper}");
    let mut child = std::process::Command::new(&program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| fail(format!("cannot run `{program}`: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(server.as_bytes()).map_err(|e| fail(e.to_string()))?;
    }
    let mut out = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        stdout.take(MAX_CONFIG + 1).read_to_end(&mut out).map_err(|e| fail(e.to_string()))?;
    }
    let status = child.wait().map_err(|e| fail(e.to_string()))?;
    if !status.success() {
        // Helpers exit non-zero with "credentials not found": anonymous, or the config's `auths`.
        return Ok(None);
    }
    if out.len() as u64 > MAX_CONFIG {
        return Err(fail(format!("answered more than {MAX_CONFIG} bytes")));
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Answer {
        username: String,
        secret: String,
    }
    let a: Answer = serde_json::from_slice(&out).map_err(|e| fail(format!("unreadable answer: {e}")))?;
    Ok(Some(if a.username == "<token>" {
        Credential::IdentityToken(a.secret)
    } else {
        Credential::Basic { username: a.username, password: a.secret }
    }))
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
}

/// Parses `Basic realm="…"` or `Bearer realm="…",service="…",scope="…"`; `None` for anything else.
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut map = BTreeMap::new();
    let mut rest = params.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next().map(|(_, c)| c)),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end?..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        map.insert(key, value);
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge::Bearer {
        realm: map.remove("realm")?,
        service: map.remove("service"),
        scope: map.remove("scope"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_header_parses_or_is_refused_without_panicking(header in "\\PC{0,200}") {
            let _ = parse_challenge(&header);
        }

        #[test]
        fn quoted_values_come_back_whole(realm in "[ -!#-\\[\\]-~]{1,40}", scope in "[ -!#-\\[\\]-~]{0,40}") {
            let header = format!(r#"Bearer realm="{realm}",scope="{scope}""#);
            let parsed = parse_challenge(&header);
            prop_assert_eq!(parsed, Some(Challenge::Bearer { realm, service: None, scope: Some(scope) }));
        }
    }

    #[test]
    fn challenges_parse_with_commas_inside_quotes() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("reg".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(parse_challenge(r#"Basic realm="x""#), Some(Challenge::Basic));
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge(r#"Bearer service="no realm""#), None);
        assert_eq!(parse_challenge(r#"Bearer realm="unterminated"#), None);
    }
}
