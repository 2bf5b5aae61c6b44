//! Image references: `registry[:port]/repository[:tag][@sha256:…]`, with Docker's rules for a name
//! that names no registry (Docker Hub, `library/` for a single component).

use crate::RegistryError;
use std::fmt;

/// Docker Hub: what a reference without a registry host means, and where its API is.
pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// The longest reference Ferry parses; the distribution spec bounds a repository name at 255 bytes.
const MAX_REFERENCE: usize = 1024;

/// A parsed reference to a manifest in a registry.
///
/// ```
/// use ferry_registry::Reference;
/// let r: Reference = "localhost:5000/models/credit:1.2.0".parse().unwrap();
/// assert_eq!((r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()), ("localhost:5000", "models/credit", Some("1.2.0")));
/// let hub: Reference = "credit:1.0".parse().unwrap();
/// assert_eq!((hub.registry.as_str(), hub.repository.as_str()), ("docker.io", "library/credit"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The registry host, with its port when it has one (`docker.io` for Docker Hub).
    pub registry: String,
    /// The repository path within the registry.
    pub repository: String,
    pub tag: Option<String>,
    /// A `sha256:` manifest digest.
    pub digest: Option<String>,
}

impl Reference {
    /// The host the registry API is served from (Docker Hub's differs from its name).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB { DOCKER_HUB_API } else { &self.registry }
    }

    /// Whether the registry is on this machine (`localhost`, `127.0.0.0/8`, `[::1]`): such traffic
    /// never leaves it, so plain HTTP is used there as Docker does.
    pub fn is_loopback(&self) -> bool {
        let host = match self.registry.rsplit_once(':') {
            Some((h, port))
                if !h.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':') =>
            {
                h
            }
            _ => self.registry.as_str(),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host == "localhost"
            || host == "::1"
            || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// What a manifest request names: the digest when there is one, else the tag.
    pub fn manifest_ref(&self) -> Option<&str> {
        self.digest.as_deref().or(self.tag.as_deref())
    }

    /// The same repository at another tag or digest.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference { tag: Some(tag.to_owned()), digest: None, ..self.clone() }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = RegistryError;

    fn from_str(text: &str) -> Result<Reference, RegistryError> {
        let bad =
            |reason: &str| RegistryError::Reference { reference: text.to_owned(), reason: reason.to_owned() };
        if text.len() > MAX_REFERENCE {
            return Err(bad(&format!("longer than {MAX_REFERENCE} bytes")));
        }
        let rest = text.strip_prefix("oci://").unwrap_or(text);
        let (rest, digest) = match rest.split_once('@') {
            Some((name, digest)) => {
                if ferry_bundle::oci::sha256_hex(digest).is_none() {
                    return Err(bad("a digest must be `sha256:` and 64 lowercase hex digits"));
                }
                (name, Some(digest.to_owned()))
            }
            None => (rest, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(rest[last_slash + i + 1..].to_owned())),
            None => (rest, None),
        };
        if let Some(t) = &tag {
            check_tag(t).map_err(|r| bad(&r))?;
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.')
                    || first.contains(':')
                    || first == "localhost"
                    || first.starts_with('[') =>
            {
                (first.to_owned(), path.to_owned())
            }
            Some(_) => (DOCKER_HUB.to_owned(), name.to_owned()),
            None => (DOCKER_HUB.to_owned(), format!("library/{name}")),
        };
        check_host(&registry).map_err(|r| bad(&r))?;
        check_repository(&repository).map_err(|r| bad(&r))?;
        Ok(Reference { registry, repository, tag, digest })
    }
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}` (the distribution spec).
pub fn check_tag(tag: &str) -> Result<(), String> {
    let ok_first = tag.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    let ok_rest = tag.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !ok_first || !ok_rest || tag.len() > 128 {
        return Err(format!(
            "tag `{}` must be 1 to 128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`",
            tag.escape_debug()
        ));
    }
    Ok(())
}

fn check_host(host: &str) -> Result<(), String> {
    let ok = !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if ok { Ok(()) } else { Err(format!("`{}` is not a registry host", host.escape_debug())) }
}

/// Path components of lowercase letters and digits joined by `.`, `_`, `__` or runs of `-`, at most
/// 255 bytes in all (the distribution spec's grammar).
fn check_repository(repo: &str) -> Result<(), String> {
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
        if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
            return false;
        }
        let mut i = 0;
        while i < b.len() {
            if alnum(b[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && !alnum(b[i]) {
                i += 1;
            }
            let sep = &c[start..i];
            if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
                return false;
            }
        }
        true
    };
    if repo.is_empty() || repo.len() > 255 || !repo.split('/').all(component_ok) {
        return Err(format!(
            "repository `{}` must be `/`-separated lowercase letters and digits joined by `.`, `_`, `__` or `-`, at most 255 bytes",
            repo.escape_debug()
        ));
    }
    Ok(())
}
