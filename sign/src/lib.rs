//! OpenSSF Model Signing (OMS) v1.0 signatures with ECDSA P-256 keys.
//!
//! This crate is format and cryptography only: it signs and verifies a *file view*, a list of (relative
//! POSIX path, SHA-256 digest) pairs, and knows nothing about `.ferry` bundles or the file system.
//!
//! A signature is a sigstore bundle (`application/vnd.dev.sigstore.bundle.v0.3+json`) holding a DSSE
//! envelope over an in-toto v1 statement with predicate `https://model_signing/signature/v1.0`, the
//! format of the reference Python tool `model_signing` 1.1.x: a directory whose files match a Ferry
//! signature verifies with `model_signing verify key`, and Ferry verifies what `model_signing sign key`
//! writes. See [`oms`] for the exact format decisions and where each was confirmed.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (private_pem, public_pem) = ferry_sign::keygen(None)?;
//! let key = ferry_sign::SigningKey::from_pem(private_pem.as_str(), None)?;
//! let files = vec![("model.onnx".to_string(), [7u8; 32])];
//! let bundle = ferry_sign::sign(&files, &key)?;
//! let public = ferry_sign::VerifyingKey::from_pem(public_pem.as_str())?;
//! let verified = ferry_sign::verify(&bundle, &files, &public)?;
//! assert_eq!(verified.signature.resources.len(), 1);
//! # Ok(())
//! # }
//! ```

pub mod bundle;
pub mod dsse;
mod error;
pub mod intoto;
mod keys;
pub mod oms;

pub use error::{KeyError, SignError, VerifyError};
pub use intoto::{sign_statement, verify_statement};
pub use keys::{PublicKeyPem, SigningKey, SigningKeyPem, VerifyingKey, keygen};
pub use oms::{
    ParsedSignature, Resource, Serialization, SignOptions, VerifiedSignature, check_view, parse, sign,
    sign_with, statement_payload, verify,
};
