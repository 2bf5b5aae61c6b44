//! `cargo xtask release`: the release archive a customer installs, `ferry-<version>-<target>.tar.zst`.
//!
//! ```text
//! ferry-0.1.0-x86_64-unknown-linux-gnu/
//!   bin/ferry                                   the CLI
//!   lib/libonnxruntime.so                       the pinned ONNX Runtime (found there by `ferry`)
//!   share/licenses/onnxruntime/LICENSE          its license and third-party notices
//!   share/licenses/onnxruntime/ThirdPartyNotices.txt
//!   README                                      what is inside and how to check it
//!   sbom.cdx.json                               CycloneDX 1.5: the Rust dependency tree and the library
//!   SHA256SUMS                                  `sha256sum -c` format, every file above
//!   ferry.sig                                   with --key: an OpenSSF Model Signing signature over
//!                                               every file above (as `ferry sign` signs a bundle)
//! ```
//!
//! Reproducible: the tar is Ferry's deterministic ustar (sorted members, uid/gid 0, mtime 0, fixed
//! modes), compressed by zstd at a fixed level on one thread, and the signature is deterministic ECDSA
//! (RFC 6979). The same inputs give the same bytes; `--check` builds it twice and compares.

use anyhow::{Context as _, Result, anyhow, bail};
use clap::Parser;
use ferry_bundle::tar;
use ferry_packager::provenance::{
    Bom, BomDependency, BomMetadata, Component, Hash, LicenseChoice, Property, Tools, serial_number,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(name = "xtask")]
enum Task {
    /// Build the release archive from an already built `ferry` binary.
    Release(ReleaseArgs),
}

#[derive(clap::Args, Debug)]
struct ReleaseArgs {
    /// The `ferry` executable to ship (scripts/release builds target/release/ferry).
    #[arg(long, default_value = "target/release/ferry")]
    binary: PathBuf,
    /// The directory `scripts/fetch-onnxruntime` filled: libonnxruntime.so, LICENSE,
    /// ThirdPartyNotices.txt.
    #[arg(long)]
    ort_dir: Option<PathBuf>,
    /// Where to write the archive.
    #[arg(long, default_value = "target/dist")]
    out: PathBuf,
    /// The target triple the binary was built for (the archive's name and the SBOM's platform).
    #[arg(long)]
    target: Option<String>,
    /// Sign the archive's files with this ECDSA P-256 key (PEM; FERRY_KEY_PASSWORD when encrypted).
    #[arg(long)]
    key: Option<PathBuf>,
    /// zstd level.
    #[arg(long, default_value_t = 19)]
    level: i32,
    /// Build the archive twice and fail unless both are byte-identical.
    #[arg(long)]
    check: bool,
}

fn main() -> std::process::ExitCode {
    let Task::Release(args) = Task::parse();
    match release(&args) {
        Ok(path) => {
            println!("{}", path.display());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xtask release: error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn release(args: &ReleaseArgs) -> Result<PathBuf> {
    let root = workspace_root();
    let target = match &args.target {
        Some(t) => t.clone(),
        None => host_target()?,
    };
    let ort_dir = args.ort_dir.clone().unwrap_or_else(|| root.join(".ort").join(ORT_VERSION));
    let files = gather(&root, &args.binary, &ort_dir, &target, args.key.as_deref())?;
    let version = cli_version(&root)?;
    let name = format!("ferry-{version}-{target}");
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let path = args.out.join(format!("{name}.tar.zst"));
    let mut file = ferry_atomic::AtomicFile::create(&path, ferry_atomic::Options::default())
        .with_context(|| format!("writing {}", path.display()))?;
    archive(&name, &files, args.level, std::io::BufWriter::new(file.file_mut()))?
        .into_inner()
        .map_err(|e| anyhow!("writing {}: {}", path.display(), e.error()))?;
    if args.check {
        let again = gather(&root, &args.binary, &ort_dir, &target, args.key.as_deref())?;
        let first = archive(&name, &files, args.level, Digesting::default())?.0.finalize();
        let second = archive(&name, &again, args.level, Digesting::default())?.0.finalize();
        if first != second {
            bail!("two builds of {name}.tar.zst differ: the archive is not reproducible");
        }
    }
    file.commit().with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The ONNX Runtime release the archive ships; `ferry` refuses any other build where it looks for this one.
const ORT_VERSION: &str = "1.31.1";

/// One file of the archive, by its path under the top directory.
struct File {
    path: String,
    bytes: Vec<u8>,
    executable: bool,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Every file of the archive, the checksums and the signature included.
fn gather(root: &Path, binary: &Path, ort_dir: &Path, target: &str, key: Option<&Path>) -> Result<Vec<File>> {
    let lib = read(&ort_dir.join("libonnxruntime.so")).context("run scripts/fetch-onnxruntime first")?;
    let lib_sha = hex::encode(ferry_digest::sha256(&lib));
    let file = |path: &str, bytes: Vec<u8>| File { path: path.to_owned(), bytes, executable: false };
    let mut files = vec![
        File { path: "bin/ferry".into(), bytes: read(binary)?, executable: true },
        file("lib/libonnxruntime.so", lib),
        file("share/licenses/onnxruntime/LICENSE", read(&ort_dir.join("LICENSE"))?),
        file(
            "share/licenses/onnxruntime/ThirdPartyNotices.txt",
            read(&ort_dir.join("ThirdPartyNotices.txt"))?,
        ),
        file("README", README.as_bytes().to_vec()),
    ];
    let bom = sbom(root, target, &lib_sha)?;
    files.push(file("sbom.cdx.json", serde_json::to_vec_pretty(&bom)?));
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let sums: String = files
        .iter()
        .map(|f| format!("{}  {}\n", hex::encode(ferry_digest::sha256(&f.bytes)), f.path))
        .collect();
    files.push(file("SHA256SUMS", sums.into_bytes()));
    if let Some(key) = key {
        let pem = std::fs::read_to_string(key).with_context(|| format!("reading {}", key.display()))?;
        let password = std::env::var("FERRY_KEY_PASSWORD").ok();
        let key = ferry_sign::SigningKey::from_pem(&pem, password.as_deref().map(str::as_bytes))
            .map_err(|e| anyhow!("{}: {e}", key.display()))?;
        let view: Vec<(String, [u8; 32])> =
            files.iter().map(|f| (f.path.clone(), ferry_digest::sha256(&f.bytes))).collect();
        let sig = ferry_sign::oms::sign(&view, &key).map_err(|e| anyhow!("signing: {e}"))?;
        files.push(file("ferry.sig", sig));
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

const README: &str = "\
Ferry: deterministic, signed, portable model bundles.

  bin/ferry                 the command-line tool; run it from here or put bin/ on PATH
  lib/libonnxruntime.so     the ONNX Runtime it is pinned to, found beside bin/ without configuration
  share/licenses/           ONNX Runtime's license and third-party notices
  sbom.cdx.json             CycloneDX SBOM: every Rust package in bin/ferry, and the ONNX Runtime library
  SHA256SUMS                check with: sha256sum -c SHA256SUMS
  ferry.sig                 when present, an OpenSSF Model Signing signature over every other file:
                            model_signing verify key --signature ferry.sig --public_key KEY.pub .

`bin/ferry doctor` shows which ONNX Runtime library it loads and why.
";

/// Writes the archive to `out`: deterministic ustar, streamed through zstd on one thread at `level`.
fn archive<W: std::io::Write>(name: &str, files: &[File], level: i32, out: W) -> Result<W> {
    use std::io::Write as _;
    let mut z = zstd::stream::Encoder::new(out, level)?;
    let mut dirs = BTreeSet::from([String::new()]);
    for f in files {
        let mut at = 0;
        while let Some(slash) = f.path[at..].find('/') {
            dirs.insert(f.path[..at + slash].to_owned());
            at += slash + 1;
        }
    }
    let mut members: Vec<(&str, Option<&File>)> = dirs.iter().map(|d| (d.as_str(), None)).collect();
    members.extend(files.iter().map(|f| (f.path.as_str(), Some(f))));
    members.sort_by(|a, b| a.0.cmp(b.0));
    for (path, file) in members {
        let full = if path.is_empty() { name.to_owned() } else { format!("{name}/{path}") };
        match file {
            None => z.write_all(&tar::header(&format!("{full}/"), 0, tar::Kind::Dir)?)?,
            Some(f) => {
                let size = f.bytes.len() as u64;
                let header = if f.executable {
                    tar::executable_header(&full, size)?
                } else {
                    tar::header(&full, size, tar::Kind::File)?
                };
                z.write_all(&header)?;
                z.write_all(&f.bytes)?;
                z.write_all(&vec![0; usize::try_from(tar::padding(size))?])?;
            }
        }
    }
    z.write_all(&[0; 2 * tar::BLOCK as usize])?;
    Ok(z.finish()?)
}

/// Counts and hashes what is written: two builds are compared without holding either.
#[derive(Default)]
struct Digesting(ferry_digest::Sha256);

impl std::io::Write for Digesting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The version of the `ferry` CLI package.
fn cli_version(root: &Path) -> Result<String> {
    let meta = metadata(root, None)?;
    meta.packages
        .iter()
        .find(|p| p.name.as_str() == "ferry-cli")
        .map(|p| p.version.to_string())
        .ok_or_else(|| anyhow!("no ferry-cli package in the workspace"))
}

fn metadata(root: &Path, target: Option<&str>) -> Result<cargo_metadata::Metadata> {
    let mut cmd = cargo_metadata::MetadataCommand::new();
    cmd.manifest_path(root.join("Cargo.toml"));
    let mut other = vec!["--locked".to_owned()];
    if let Some(t) = target {
        other.extend(["--filter-platform".to_owned(), t.to_owned()]);
    }
    cmd.other_options(other);
    cmd.exec().context("cargo metadata")
}

fn host_target() -> Result<String> {
    let out = std::process::Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .ok_or_else(|| anyhow!("rustc -vV printed no host"))
}

/// The CycloneDX SBOM of what the archive ships: every package `bin/ferry` links (normal dependencies
/// of `ferry-cli` for `target`, as Cargo resolves them with the lock file), each with its purl, license
/// expression and, for registry packages, the SHA-256 the lock file records; and the ONNX Runtime
/// library by its digest.
fn sbom(root: &Path, target: &str, lib_sha: &str) -> Result<Bom> {
    let meta = metadata(root, Some(target))?;
    let checksums = lock_checksums(&root.join("Cargo.lock"))?;
    let resolve = meta.resolve.as_ref().ok_or_else(|| anyhow!("cargo metadata gave no dependency graph"))?;
    let by_id: BTreeMap<_, _> = meta.packages.iter().map(|p| (&p.id, p)).collect();
    let nodes: BTreeMap<_, _> = resolve.nodes.iter().map(|n| (&n.id, n)).collect();
    let cli = meta
        .packages
        .iter()
        .find(|p| p.name.as_str() == "ferry-cli")
        .ok_or_else(|| anyhow!("no ferry-cli package in the workspace"))?;
    let bom_ref = |p: &cargo_metadata::Package| format!("pkg:cargo/{}@{}", p.name, p.version);

    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([&cli.id]);
    let mut components = Vec::new();
    let mut dependencies = Vec::new();
    while let Some(id) = queue.pop_front() {
        if !seen.insert(id) {
            continue;
        }
        let (Some(pkg), Some(node)) = (by_id.get(id), nodes.get(id)) else { continue };
        let mut depends_on = BTreeSet::new();
        for dep in &node.deps {
            if dep.dep_kinds.iter().any(|k| k.kind == cargo_metadata::DependencyKind::Normal)
                && let Some(d) = by_id.get(&dep.pkg)
            {
                depends_on.insert(bom_ref(d));
                queue.push_back(&dep.pkg);
            }
        }
        dependencies
            .push(BomDependency { reference: bom_ref(pkg), depends_on: depends_on.into_iter().collect() });
        if pkg.id == cli.id {
            continue;
        }
        let registry = pkg.source.as_ref().is_some_and(|s| s.is_crates_io());
        components.push(Component {
            kind: "library".into(),
            bom_ref: Some(bom_ref(pkg)),
            name: pkg.name.to_string(),
            version: Some(pkg.version.to_string()),
            hashes: checksums
                .get(&(pkg.name.to_string(), pkg.version.to_string()))
                .filter(|_| registry)
                .map(|c| vec![Hash { alg: "SHA-256".into(), content: c.clone() }])
                .unwrap_or_default(),
            purl: Some(bom_ref(pkg)),
            licenses: pkg
                .license
                .iter()
                .map(|l| LicenseChoice { license: None, expression: Some(l.clone()) })
                .collect(),
            ..Component::default()
        });
    }
    components.sort_by(|a, b| a.bom_ref.cmp(&b.bom_ref));
    dependencies.sort_by(|a, b| a.reference.cmp(&b.reference));
    let ort_ref =
        format!("pkg:pypi/onnxruntime@{ORT_VERSION}#onnxruntime/capi/libonnxruntime.so.{ORT_VERSION}");
    components.push(Component {
        kind: "library".into(),
        bom_ref: Some(ort_ref.clone()),
        name: "libonnxruntime.so".into(),
        version: Some(ORT_VERSION.into()),
        description: Some(
            "ONNX Runtime, from the official onnxruntime wheel on PyPI (lib/libonnxruntime.so)".into(),
        ),
        hashes: vec![Hash { alg: "SHA-256".into(), content: lib_sha.to_owned() }],
        purl: Some(format!("pkg:pypi/onnxruntime@{ORT_VERSION}")),
        licenses: vec![LicenseChoice { license: None, expression: Some("MIT".into()) }],
        ..Component::default()
    });
    if let Some(d) = dependencies.iter_mut().find(|d| d.reference == bom_ref(cli)) {
        d.depends_on.push(ort_ref);
    }
    let lock = read(&root.join("Cargo.lock"))?;
    let seed = format!("{}:{target}:{lib_sha}", hex::encode(ferry_digest::sha256(&lock)));
    Ok(Bom {
        bom_format: "CycloneDX".into(),
        spec_version: "1.5".into(),
        serial_number: serial_number(&seed),
        version: 1,
        metadata: BomMetadata {
            tools: Tools {
                components: vec![Component {
                    kind: "application".into(),
                    name: "ferry xtask release".into(),
                    version: Some(cli.version.to_string()),
                    ..Component::default()
                }],
            },
            component: Some(Component {
                kind: "application".into(),
                bom_ref: Some(bom_ref(cli)),
                name: "ferry".into(),
                version: Some(cli.version.to_string()),
                licenses: cli
                    .license
                    .iter()
                    .map(|l| LicenseChoice { license: None, expression: Some(l.clone()) })
                    .collect(),
                properties: vec![Property { name: "ferry:target".into(), value: target.to_owned() }],
                ..Component::default()
            }),
        },
        components,
        dependencies,
    })
}

/// `(name, version) → checksum` of every registry package in the lock file.
fn lock_checksums(path: &Path) -> Result<BTreeMap<(String, String), String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let lock: toml::Value = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let mut out = BTreeMap::new();
    for p in lock.get("package").and_then(toml::Value::as_array).into_iter().flatten() {
        let field = |k: &str| p.get(k).and_then(toml::Value::as_str).map(str::to_owned);
        if let (Some(n), Some(v), Some(c)) = (field("name"), field("version"), field("checksum")) {
            out.insert((n, v), c);
        }
    }
    Ok(out)
}
