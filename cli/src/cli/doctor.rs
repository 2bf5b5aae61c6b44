//! `ferry doctor`: which ONNX Runtime this `ferry` would load, from where, and why every other place was
//! passed over; and where its caches are.

use super::{CliResult, print_stdout};
use ferry_runtime::{LibrarySource, OrtLibrary, Probe, ProbeOutcome, Runtime, RuntimeOptions};
use serde_json::{Value, json};
use std::path::Path;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Exit 0 when a library was found and loads; 1 when none can be used (the text says why).
pub fn doctor(a: &DoctorArgs) -> CliResult {
    let cache = ferry_cache::Location::User;
    let digests = ferry_cache::VerifiedDigests::open(&cache);
    // Loaded first, as `ferry run` would, so that what it reports (a remembered digest check included)
    // is what a run sees; the probes after it may then answer from the cache it filled.
    let loaded = Runtime::new(RuntimeOptions::default()).map(|rt| rt.library().clone());
    // The CLI never names a library itself: its first place is ORT_DYLIB_PATH.
    let probes: Vec<Probe> = ferry_runtime::probe_libraries(None, digests.as_ref())
        .into_iter()
        .filter(|p| p.source != LibrarySource::Explicit)
        .collect();
    let caches = [("verified digests", "verified"), ("compiled transforms", "transforms")]
        .map(|(what, name)| (what, cache.resolve(name)));
    let text = if a.json {
        let mut v = json!({
            "ferry_version": env!("CARGO_PKG_VERSION"),
            "onnxruntime": {
                "pinned_version": ferry_runtime::ORT_VERSION,
                "pinned_sha256": ferry_runtime::ORT_LIBRARY_SHA256,
                "searched": probes.iter().map(|p| probe_json(p, loaded.as_ref().ok())).collect::<Vec<_>>(),
                "loaded": match &loaded {
                    Ok(lib) => library_json(lib),
                    Err(e) => json!({ "error": e.to_string() }),
                },
            },
            "caches": caches.iter().map(|(what, dir)| {
                let (files, bytes) = dir.as_deref().map(usage_of).unwrap_or_default();
                json!({ "what": what, "dir": dir, "files": files, "bytes": bytes })
            }).collect::<Vec<_>>(),
        });
        if digests.is_none()
            && let Some(o) = v.as_object_mut()
        {
            o.insert("digest_cache_unavailable".into(), Value::Bool(true));
        }
        format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default())
    } else {
        let mut out = format!(
            "ferry {}\n\nONNX Runtime: this ferry pins {} (sha256 {}); places searched, in order:\n",
            env!("CARGO_PKG_VERSION"),
            ferry_runtime::ORT_VERSION,
            ferry_runtime::ORT_LIBRARY_SHA256.unwrap_or("none for this architecture")
        );
        let width = probes.iter().map(|p| p.source.describe().len()).max().unwrap_or(0);
        for p in &probes {
            out.push_str(&format!(
                "  {:<width$}  {}\n",
                p.source.describe(),
                probe_text(p, loaded.as_ref().ok())
            ));
        }
        match &loaded {
            Ok(lib) => out.push_str(&format!(
                "loaded: {} from {} ({}{})\n",
                lib.version.as_ref().map_or_else(
                    || "ONNX Runtime of unknown version".into(),
                    |v| format!("ONNX Runtime {v}")
                ),
                lib.path.display(),
                lib.source.describe(),
                if lib.digest_cached { "; digest check remembered from an earlier full hash" } else { "" },
            )),
            Err(e) => out.push_str(&format!("no usable ONNX Runtime: {e}\n")),
        }
        out.push_str("\ncaches:\n");
        for (what, dir) in &caches {
            match dir {
                Some(dir) => {
                    let (files, bytes) = usage_of(dir);
                    out.push_str(&format!("  {what}: {} ({files} files, {bytes} bytes)\n", dir.display()));
                }
                None => out.push_str(&format!("  {what}: none (neither XDG_CACHE_HOME nor HOME is set)\n")),
            }
        }
        if digests.is_none() {
            out.push_str(
                "  the verified-digest cache is not in use (no cache directory, or it is not private to this user): \
                 every open hashes every blob\n",
            );
        }
        out
    };
    print_stdout(&text)?;
    Ok(if loaded.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn is_loaded(p: &Probe, loaded: Option<&OrtLibrary>) -> bool {
    loaded.is_some_and(|l| p.path.as_deref() == Some(l.path.as_path()) && p.source == l.source)
}

fn probe_text(p: &Probe, loaded: Option<&OrtLibrary>) -> String {
    match &p.outcome {
        ProbeOutcome::Absent(why) => format!("skipped: {why}"),
        ProbeOutcome::Refused(why) => {
            format!(
                "refused: {}: {why}",
                p.path.as_deref().map_or_else(String::new, |p| p.display().to_string())
            )
        }
        ProbeOutcome::Usable(lib) => {
            let what = match (&lib.sha256, &lib.version) {
                (Some(_), _) => "the pinned build (digest checked)".to_owned(),
                (None, Some(v)) => format!("ONNX Runtime {v}, used as is"),
                (None, None) => "a library of unknown version, used as is".to_owned(),
            };
            let verdict =
                if is_loaded(p, loaded) { "CHOSEN" } else { "usable, but an earlier place comes first" };
            format!("{verdict}: {}: {what}", lib.path.display())
        }
    }
}

fn probe_json(p: &Probe, loaded: Option<&OrtLibrary>) -> Value {
    let (outcome, detail) = match &p.outcome {
        ProbeOutcome::Absent(why) => ("absent", json!(why)),
        ProbeOutcome::Refused(why) => ("refused", json!(why)),
        ProbeOutcome::Usable(lib) => ("usable", library_json(lib)),
    };
    json!({
        "place": p.source.describe(),
        "path": p.path,
        "outcome": outcome,
        "detail": detail,
        "chosen": is_loaded(p, loaded),
    })
}

fn library_json(lib: &OrtLibrary) -> Value {
    json!({
        "path": lib.path,
        "place": lib.source.describe(),
        "version": lib.version.as_ref().map(ToString::to_string),
        "sha256": lib.sha256,
        "digest_cached": lib.digest_cached,
    })
}

/// Files and bytes directly in a cache directory (caches are flat).
fn usage_of(dir: &Path) -> (u64, u64) {
    let Ok(read) = std::fs::read_dir(dir) else { return (0, 0) };
    read.filter_map(|e| e.ok()?.metadata().ok())
        .filter(std::fs::Metadata::is_file)
        .fold((0, 0), |(n, b), m| (n + 1, b + m.len()))
}
