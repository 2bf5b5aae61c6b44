//! The distribution API calls Ferry makes, over a blocking HTTP client: every response read is bounded
//! before it is buffered, and credentials are sent only to the registry and the token realm it names.

use crate::auth::{Challenge, Credential, parse_challenge};
use crate::{Reference, RegistryError};
use reqwest::StatusCode;
use reqwest::blocking::{Body, RequestBuilder, Response};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

/// The largest manifest (or index) Ferry reads: the distribution spec's 4 MiB.
pub const MAX_MANIFEST: u64 = 4 << 20;
/// The largest error body or token answer read.
const MAX_SMALL: u64 = 64 << 10;

/// Plain HTTP or HTTPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Https,
    Http,
}

/// What the client may do in the repository: the token scope it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Pull,
    Push,
}

/// A connection to one repository of one registry.
pub struct Client {
    http: reqwest::blocking::Client,
    base: String,
    repository: String,
    scope: String,
    credential: Option<Credential>,
    /// The `Authorization` header the registry accepted (or asked for), once known.
    authorization: Mutex<Option<String>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base", &self.base).field("repository", &self.repository).finish()
    }
}

impl Client {
    pub fn new(
        reference: &Reference,
        transport: Transport,
        access: Access,
        credential: Option<Credential>,
        extra_roots: Vec<reqwest::Certificate>,
    ) -> Result<Client, RegistryError> {
        let http = reqwest::blocking::Client::builder()
            .tls_certs_merge(extra_roots)
            .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
            // Blobs are hashed as they arrive: a transfer encoding must not change their bytes, and a
            // compressed answer must not inflate past the bounds below.
            .no_gzip()
            .no_deflate()
            .connect_timeout(Duration::from_secs(30))
            // No limit on a whole request: a blob may be gigabytes.
            .timeout(None)
            .build()
            .map_err(|e| RegistryError::Http {
                url: reference.api_host().to_owned(),
                source: e.without_url(),
            })?;
        let scheme = match transport {
            Transport::Https => "https",
            Transport::Http => "http",
        };
        let action = match access {
            Access::Pull => "pull",
            Access::Push => "pull,push",
        };
        Ok(Client {
            http,
            base: format!("{scheme}://{}", reference.api_host()),
            repository: reference.repository.clone(),
            scope: format!("repository:{}:{action}", reference.repository),
            credential,
            authorization: Mutex::new(None),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{path}", self.base, self.repository)
    }

    fn current_authorization(&self) -> Option<String> {
        self.authorization.lock().ok().and_then(|a| a.clone())
    }

    /// Sends the request `build` makes, answering one authentication challenge: a `401` with a
    /// `WWW-Authenticate` header gets credentials (basic, or a token from the realm) and is retried.
    fn send(
        &self,
        url: &str,
        build: &dyn Fn(&reqwest::blocking::Client) -> RequestBuilder,
    ) -> Result<Response, RegistryError> {
        let attempt = |auth: Option<String>| {
            let mut req = build(&self.http);
            // Credentials go only to the registry's own origin (an upload URL may point elsewhere).
            if let Some(a) = auth.filter(|_| same_origin(url, &self.base)) {
                req = req.header(AUTHORIZATION, a);
            }
            req.send().map_err(|e| RegistryError::Http { url: url.to_owned(), source: e.without_url() })
        };
        let response = attempt(self.current_authorization())?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|h| h.to_str().ok())
            .and_then(parse_challenge)
            .ok_or_else(|| RegistryError::Unauthorized {
                url: url.to_owned(),
                detail: "the registry answered 401 without a challenge Ferry understands".into(),
            })?;
        let auth = self.answer(url, &challenge)?;
        if let Ok(mut slot) = self.authorization.lock() {
            *slot = Some(auth.clone());
        }
        let retried = attempt(Some(auth))?;
        if retried.status() == StatusCode::UNAUTHORIZED {
            return Err(RegistryError::Unauthorized {
                url: url.to_owned(),
                detail: match &self.credential {
                    None => "no credentials for this registry in the Docker config file".into(),
                    Some(_) => "the registry refused the credentials from the Docker config file".into(),
                },
            });
        }
        Ok(retried)
    }

    /// The `Authorization` header that answers `challenge`.
    fn answer(&self, url: &str, challenge: &Challenge) -> Result<String, RegistryError> {
        let unauthorized = |detail: String| RegistryError::Unauthorized { url: url.to_owned(), detail };
        match challenge {
            Challenge::Basic => match &self.credential {
                Some(Credential::Basic { username, password }) => Ok(Credential::basic_header(username, password)),
                _ => Err(unauthorized("the registry asks for a user name and password; log in with `docker login` (Ferry reads its config file)".into())),
            },
            Challenge::Bearer { realm, service, scope } => {
                if let Some(Credential::Bearer(token)) = &self.credential {
                    return Ok(format!("Bearer {token}"));
                }
                if !(realm.starts_with("https://") || (realm.starts_with("http://") && self.base.starts_with("http://"))) {
                    return Err(unauthorized(format!(
                        "the token realm `{}` is not HTTPS; credentials are not sent over plain HTTP to a registry reached over HTTPS",
                        realm.escape_debug()
                    )));
                }
                let scope = scope.clone().unwrap_or_else(|| self.scope.clone());
                let mut query: Vec<(&str, &str)> = vec![("scope", scope.as_str())];
                if let Some(s) = service {
                    query.push(("service", s.as_str()));
                }
                let request = match &self.credential {
                    Some(Credential::IdentityToken(refresh)) => {
                        let mut form = query.clone();
                        form.push(("grant_type", "refresh_token"));
                        form.push(("refresh_token", refresh.as_str()));
                        form.push(("client_id", "ferry"));
                        self.http.post(realm.as_str()).form(&form)
                    }
                    Some(Credential::Basic { username, password }) => {
                        self.http.get(realm.as_str()).query(&query).basic_auth(username, Some(password))
                    }
                    _ => self.http.get(realm.as_str()).query(&query),
                };
                let response = request.send().map_err(|e| RegistryError::Http { url: realm.clone(), source: e.without_url() })?;
                if !response.status().is_success() {
                    let hint = match &self.credential {
                        None => "; there are no credentials for this registry in the Docker config file (`docker login` writes them)",
                        Some(_) => "; it refused the credentials from the Docker config file",
                    };
                    return Err(unauthorized(format!("the token service {} answered {}{hint}", realm.escape_debug(), response.status())));
                }
                let body = read_bounded(response, MAX_SMALL, realm)?;
                #[derive(serde::Deserialize)]
                struct Token {
                    #[serde(default)]
                    token: Option<String>,
                    #[serde(default)]
                    access_token: Option<String>,
                }
                let t: Token = serde_json::from_slice(&body).map_err(|e| RegistryError::Protocol {
                    url: realm.clone(),
                    message: format!("the token answer is not JSON with a `token`: {e}"),
                })?;
                let token = t.token.or(t.access_token).filter(|t| !t.is_empty()).ok_or_else(|| {
                    RegistryError::Protocol { url: realm.clone(), message: "the token answer holds no token".into() }
                })?;
                if !token.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(RegistryError::Protocol { url: realm.clone(), message: "the token is not printable ASCII".into() });
                }
                Ok(format!("Bearer {token}"))
            }
        }
    }

    /// Whether the repository holds the blob `digest`.
    pub fn blob_exists(&self, digest: &str) -> Result<bool, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        let response = self.send(&url, &|c| c.head(&url))?;
        match response.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(status_error(&url, response)),
        }
    }

    /// Uploads a blob in one `PUT` (POST for a session, then PUT with the digest, which the registry
    /// checks). `body` is called for the bytes, once per attempt.
    pub fn upload_blob(&self, digest: &str, size: u64, body: &dyn Fn() -> Body) -> Result<(), RegistryError> {
        let start = self.url("blobs/uploads/");
        let response = self.send(&start, &|c| c.post(&start).header(CONTENT_LENGTH, 0))?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(status_error(&start, response));
        }
        let location = response.headers().get(LOCATION).and_then(|l| l.to_str().ok()).ok_or_else(|| {
            RegistryError::Protocol {
                url: start.clone(),
                message: "an upload session without a Location".into(),
            }
        })?;
        let mut put = if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            return Err(RegistryError::Protocol {
                url: start,
                message: format!("an upload Location Ferry cannot follow: `{}`", location.escape_debug()),
            });
        };
        put.push(if put.contains('?') { '&' } else { '?' });
        put.push_str("digest=");
        put.push_str(digest);
        let response = self.send(&put, &|c| {
            c.put(&put)
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_LENGTH, size)
                .body(body())
        })?;
        if response.status() != StatusCode::CREATED {
            return Err(status_error(&put, response));
        }
        Ok(())
    }

    /// A blob's bytes as a stream (redirects followed); the caller checks size and digest as it reads.
    pub fn blob(&self, digest: &str, size: u64) -> Result<Response, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        let response = self.send(&url, &|c| c.get(&url))?;
        if !response.status().is_success() {
            return Err(status_error(&url, response));
        }
        if let Some(len) = response.content_length().filter(|&l| l != size) {
            return Err(RegistryError::Protocol {
                url,
                message: format!("the blob is {len} bytes, its descriptor declares {size}"),
            });
        }
        Ok(response)
    }

    /// A small blob read whole (a config, a signature), at most `limit` bytes and checked against
    /// `digest`.
    pub fn small_blob(&self, digest: &str, size: u64, limit: u64) -> Result<Vec<u8>, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        if size > limit {
            return Err(RegistryError::Protocol {
                url,
                message: format!("the blob declares {size} bytes, more than the {limit} bytes Ferry reads"),
            });
        }
        let bytes = read_bounded(self.blob(digest, size)?, size, &url)?;
        check_digest(&url, &bytes, digest)?;
        if bytes.len() as u64 != size {
            return Err(RegistryError::Protocol {
                url,
                message: format!("the blob is {} bytes, its descriptor declares {size}", bytes.len()),
            });
        }
        Ok(bytes)
    }

    /// The manifest at `reference` (a tag or digest), at most [`MAX_MANIFEST`] bytes, with its media
    /// type; `None` when there is none. A digest reference is checked against the bytes.
    pub fn manifest(
        &self,
        reference: &str,
        accept: &str,
    ) -> Result<Option<(Vec<u8>, String)>, RegistryError> {
        let url = self.url(&format!("manifests/{reference}"));
        let response = self.send(&url, &|c| c.get(&url).header(ACCEPT, accept))?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(status_error(&url, response));
        }
        let media_type = content_type(&response);
        let bytes = read_bounded(response, MAX_MANIFEST, &url)?;
        if reference.starts_with(ferry_digest::SHA256_PREFIX) {
            check_digest(&url, &bytes, reference)?;
        }
        Ok(Some((bytes, media_type)))
    }

    /// Stores a manifest under `reference` (a tag or its digest).
    pub fn put_manifest(&self, reference: &str, bytes: &[u8], media_type: &str) -> Result<(), RegistryError> {
        let url = self.url(&format!("manifests/{reference}"));
        let response =
            self.send(&url, &|c| c.put(&url).header(CONTENT_TYPE, media_type).body(bytes.to_vec()))?;
        if response.status() != StatusCode::CREATED {
            return Err(status_error(&url, response));
        }
        Ok(())
    }

    /// The referrers API's index for `digest`, or `None` when the registry has no such API (a `404`,
    /// as the distribution spec says; also an answer that is not an image index, which is what
    /// registries without the API give from catch-all routes).
    pub fn referrers(&self, digest: &str) -> Result<Option<Vec<u8>>, RegistryError> {
        let url = self.url(&format!("referrers/{digest}"));
        let index = ferry_spec::media::OCI_INDEX;
        let response = self.send(&url, &|c| c.get(&url).header(ACCEPT, index))?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(status_error(&url, response));
        }
        if content_type(&response) != index {
            return Ok(None);
        }
        read_bounded(response, MAX_MANIFEST, &url).map(Some)
    }
}

fn same_origin(url: &str, base: &str) -> bool {
    url.strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
}

fn content_type(response: &Response) -> String {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .map(|t| t.split(';').next().unwrap_or(t).trim().to_owned())
        .unwrap_or_default()
}

/// Reads a whole answer of at most `limit` bytes; a longer one (declared or sent) is refused before
/// more than `limit + 1` bytes are held.
pub(crate) fn read_bounded(response: Response, limit: u64, url: &str) -> Result<Vec<u8>, RegistryError> {
    if let Some(len) = response.content_length().filter(|&l| l > limit) {
        return Err(RegistryError::Protocol {
            url: url.to_owned(),
            message: format!("the answer is {len} bytes, more than the {limit} bytes Ferry reads"),
        });
    }
    let mut bytes = Vec::new();
    response.take(limit + 1).read_to_end(&mut bytes).map_err(|e| RegistryError::Protocol {
        url: url.to_owned(),
        message: format!("reading the answer: {e}"),
    })?;
    if bytes.len() as u64 > limit {
        return Err(RegistryError::Protocol {
            url: url.to_owned(),
            message: format!("the answer is longer than the {limit} bytes Ferry reads"),
        });
    }
    Ok(bytes)
}

fn check_digest(url: &str, bytes: &[u8], digest: &str) -> Result<(), RegistryError> {
    let actual = ferry_bundle::oci::digest_of(bytes);
    if actual != digest {
        return Err(RegistryError::Digest { url: url.to_owned(), expected: digest.to_owned(), actual });
    }
    Ok(())
}

/// An unexpected status, with the registry's own error code and message when it gave them.
fn status_error(url: &str, response: Response) -> RegistryError {
    let status = response.status().as_u16();
    let body = read_bounded(response, MAX_SMALL, url).unwrap_or_default();
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let detail = serde_json::from_slice::<Errors>(&body)
        .ok()
        .and_then(|e| e.errors.into_iter().next())
        .map(|e| {
            let text: String = format!("{}: {}", e.code, e.message).chars().take(300).collect();
            format!(" ({})", text.escape_debug())
        })
        .unwrap_or_default();
    RegistryError::Status { url: url.to_owned(), status, detail }
}
