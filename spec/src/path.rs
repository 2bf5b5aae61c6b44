use std::collections::BTreeMap;

/// The longest path component Ferry accepts, in bytes: the limit of ext4, XFS, Btrfs, APFS and NTFS
/// (`NAME_MAX`), so every file of a bundle can be unpacked everywhere.
pub const MAX_COMPONENT_BYTES: usize = 255;

/// The files Ferry generates into a bundle's reserved `.ferry/` directory; the only files of a file view
/// there (`spec/FORMAT.md` §4). Other names under `.ferry/` (`manifest.json`, `referrers/`) are reserved
/// for what `ferry unpack` writes beside the file view.
pub const GENERATED_FILES: [&str; 2] = [".ferry/provenance.json", ".ferry/sbom.cdx.json"];

/// Path components the OpenSSF `model_signing` tool leaves out of a signature (its default
/// `ignore_paths`). A file view may not hold them anywhere: a signature could not cover them.
pub const SIGNATURE_IGNORED_COMPONENTS: [&str; 4] = [".git", ".gitattributes", ".github", ".gitignore"];

/// Where a signature goes in an unpacked bundle (and where `model_signing` looks for it); it is never a
/// file of the view.
pub const SIGNATURE_PATH: &str = "model.sig";

/// Why a path inside a bundle was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path is empty")]
    Empty,
    #[error("path `{0}` is absolute; bundle paths are relative to the bundle root")]
    Absolute(String),
    #[error("path `{0}` contains `..`, `.` or an empty component")]
    Traversal(String),
    #[error("path `{0}` contains a backslash, NUL or control character")]
    BadCharacter(String),
    #[error("path `{0}` is longer than 4096 bytes")]
    TooLong(String),
    #[error("path `{path}` has a component of {len} bytes; at most 255 are allowed")]
    ComponentTooLong { path: String, len: usize },
    #[error("path `{0}` is listed twice")]
    Duplicate(String),
    #[error(
        "paths `{first}` and `{second}` differ only in letter case; they would be one file on a \
         case-insensitive file system (macOS, Windows)"
    )]
    CaseCollision { first: String, second: String },
    #[error("`{file}` is a file and also a directory of `{path}`")]
    FileIsDirectory { file: String, path: String },
    #[error(
        "path `{0}`: the `.ferry/` directory of a bundle holds only `.ferry/provenance.json` and \
         `.ferry/sbom.cdx.json`"
    )]
    Reserved(String),
    #[error(
        "path `{path}`: OpenSSF model signing ignores `{ignored}`, so no signature could cover this file"
    )]
    SignatureIgnored { path: String, ignored: String },
}

/// A path for an error message: at most 200 bytes of it (a path may be 4 KiB).
fn shown(path: &str) -> String {
    if path.len() <= 200 {
        return path.to_owned();
    }
    let mut end = 200;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &path[..end])
}

/// Where an ONNX external-data `location` lives in a bundle or source: ONNX resolves it relative to the
/// directory of the model file `model` (itself a bundle-relative path). The result still has to pass
/// [`check_relative_path`]: a location may hold `..`.
///
/// ```
/// assert_eq!(ferry_spec::external_data_path("model.onnx", "w.bin"), "w.bin");
/// assert_eq!(ferry_spec::external_data_path("onnx/model.onnx", "w.bin"), "onnx/w.bin");
/// ```
pub fn external_data_path(model: &str, location: &str) -> String {
    match model.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{location}"),
        None => location.to_owned(),
    }
}

/// The inverse of [`external_data_path`]: the location the model names a bundle path by, or `None`
/// when the path is not inside the model's directory.
///
/// ```
/// assert_eq!(ferry_spec::external_data_location("onnx/model.onnx", "onnx/w.bin"), Some("w.bin"));
/// assert_eq!(ferry_spec::external_data_location("model.onnx", "w.bin"), Some("w.bin"));
/// assert_eq!(ferry_spec::external_data_location("onnx/model.onnx", "other/w.bin"), None);
/// ```
pub fn external_data_location<'a>(model: &str, path: &'a str) -> Option<&'a str> {
    match model.rsplit_once('/') {
        Some((dir, _)) => path.strip_prefix(dir).and_then(|rest| rest.strip_prefix('/')),
        None => Some(path),
    }
}

/// Checks that `path` is a safe, normalised relative path: `/`-separated, no leading `/`, no `.` or `..`
/// or empty component, no component longer than [`MAX_COMPONENT_BYTES`], no backslash or control
/// characters. Every path stored in a bundle, and every path an unpacker writes, passes this check.
///
/// ```
/// assert!(ferry_spec::check_relative_path("golden/a.npz").is_ok());
/// assert!(ferry_spec::check_relative_path("../etc/passwd").is_err());
/// assert!(ferry_spec::check_relative_path("/etc/passwd").is_err());
/// ```
pub fn check_relative_path(path: &str) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.len() > 4096 {
        return Err(PathError::TooLong(path.chars().take(64).collect()));
    }
    if path.starts_with('/') {
        return Err(PathError::Absolute(path.to_owned()));
    }
    if path.chars().any(|c| c == '\\' || c.is_control()) {
        return Err(PathError::BadCharacter(path.escape_debug().to_string()));
    }
    if path.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(PathError::Traversal(path.to_owned()));
    }
    if let Some(long) = path.split('/').find(|c| c.len() > MAX_COMPONENT_BYTES) {
        return Err(PathError::ComponentTooLong { path: shown(path), len: long.len() });
    }
    // A Windows drive prefix would be absolute on extraction there.
    if path.len() >= 2 && path.as_bytes()[1] == b':' {
        return Err(PathError::Absolute(path.to_owned()));
    }
    Ok(())
}

/// Checks the paths of a bundle's file view as a set: the one set of path rules that the packager
/// (loading a source) and the reader (opening a bundle) both enforce, so `verify`, `unpack` and `sign`
/// agree on every bundle (`spec/FORMAT.md` §1, "File view").
///
/// - every path passes [`check_relative_path`] (so no component is over 255 bytes);
/// - no path is listed twice, and no two differ only in ASCII letter case (`Model.onnx`, `model.onnx`):
///   unpacked on a case-insensitive file system they would be one file;
/// - no file is also a directory of another (`zz` and `zz/x`), comparing case-insensitively as well;
/// - no path that OpenSSF model signing leaves out of a signature: `model.sig` at the root, or a
///   component `.git`, `.gitattributes`, `.github` or `.gitignore` anywhere (any letter case);
/// - under the reserved `.ferry/` directory (any letter case), only [`GENERATED_FILES`].
///
/// The first violation in path order is reported, naming the paths.
///
/// ```
/// use ferry_spec::check_file_view;
/// assert!(check_file_view(["ferry.toml", "model.onnx", ".ferry/provenance.json"]).is_ok());
/// assert!(check_file_view(["zz", "zz/x"]).is_err());
/// assert!(check_file_view(["a/.github/workflows/ci.yml"]).is_err());
/// assert!(check_file_view([".ferry/manifest.json"]).is_err());
/// ```
pub fn check_file_view<'a>(paths: impl IntoIterator<Item = &'a str>) -> Result<(), PathError> {
    let mut paths: Vec<&str> = paths.into_iter().collect();
    paths.sort_unstable();
    // Lower-cased path -> the path as given.
    let mut folded: BTreeMap<String, &str> = BTreeMap::new();
    for &path in &paths {
        check_relative_path(path)?;
        let mut components = path.split('/');
        let first = components.next().unwrap_or_default();
        if first.eq_ignore_ascii_case(".ferry") && !GENERATED_FILES.contains(&path) {
            return Err(PathError::Reserved(path.to_owned()));
        }
        if path.eq_ignore_ascii_case(SIGNATURE_PATH) {
            return Err(PathError::SignatureIgnored {
                path: path.to_owned(),
                ignored: SIGNATURE_PATH.into(),
            });
        }
        if let Some(c) = path
            .split('/')
            .find(|c| SIGNATURE_IGNORED_COMPONENTS.iter().any(|ignored| c.eq_ignore_ascii_case(ignored)))
        {
            return Err(PathError::SignatureIgnored { path: path.to_owned(), ignored: c.to_owned() });
        }
        if let Some(first) = folded.insert(path.to_ascii_lowercase(), path) {
            return Err(if first == path {
                PathError::Duplicate(path.to_owned())
            } else {
                PathError::CaseCollision { first: first.to_owned(), second: path.to_owned() }
            });
        }
    }
    for (lower, path) in &folded {
        for (i, b) in lower.bytes().enumerate() {
            if b == b'/'
                && let Some(file) = folded.get(&lower[..i])
            {
                return Err(PathError::FileIsDirectory {
                    file: (*file).to_owned(),
                    path: (*path).to_owned(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn components_are_at_most_255_bytes() {
        let ok = format!("d/{}", "a".repeat(255));
        assert!(check_relative_path(&ok).is_ok());
        let long = format!("d/{}/x", "a".repeat(300));
        assert_eq!(
            check_relative_path(&long).unwrap_err(),
            PathError::ComponentTooLong { path: format!("d/{}…", "a".repeat(198)), len: 300 }
        );
        // Bytes, not characters: 128 two-byte characters are 256 bytes.
        assert!(check_relative_path(&"é".repeat(128)).is_err());
    }

    #[test]
    fn file_view_rules() {
        let ok =
            ["ferry.toml", "model.onnx", "vocab/a.txt", ".ferry/provenance.json", ".ferry/sbom.cdx.json"];
        assert!(check_file_view(ok).is_ok());
        assert!(check_file_view(["model.sig.txt", "docs/model.sig", "gitignore", "a/.gitkeep"]).is_ok());
        let err = |paths: &[&str]| check_file_view(paths.iter().copied()).unwrap_err().to_string();
        assert_eq!(err(&["zz", "zz/x"]), "`zz` is a file and also a directory of `zz/x`");
        assert_eq!(err(&["ZZ", "zz/x"]), "`ZZ` is a file and also a directory of `zz/x`");
        assert_eq!(err(&["a", "a"]), "path `a` is listed twice");
        assert!(
            err(&["Model.onnx", "model.onnx"])
                .starts_with("paths `Model.onnx` and `model.onnx` differ only in letter case")
        );
        assert!(err(&["model.sig"]).contains("ignores `model.sig`"));
        assert!(err(&["MODEL.SIG"]).contains("ignores `model.sig`"));
        assert!(err(&[".github/workflows/x.yml"]).contains("ignores `.github`"));
        assert!(err(&["a/b/.git/config"]).contains("ignores `.git`"));
        assert!(err(&["x/.GitIgnore"]).contains("ignores `.GitIgnore`"));
        assert!(err(&["w/.gitattributes"]).contains("ignores `.gitattributes`"));
        for reserved in
            [".ferry/manifest.json", ".ferry/referrers/x", ".ferry", ".Ferry/provenance.json", ".ferry/x"]
        {
            assert!(err(&[reserved]).contains("holds only `.ferry/provenance.json`"), "{reserved}");
        }
        assert!(err(&["a", &"b".repeat(300)]).contains("at most 255"));
    }
}
