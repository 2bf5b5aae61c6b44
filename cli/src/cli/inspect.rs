//! `ferry inspect`. Every string read from the bundle is shown through
//! [`ferry_spec::display::Escaped`]: a bundle is untrusted,
//! and its control characters must not reach the terminal.

use ferry_bundle::Bundle;
use ferry_spec::GoldenSide;
use ferry_spec::display::Escaped as E;
use serde_json::json;
use std::fmt::Write as _;

pub fn print(b: &Bundle, as_json: bool) -> anyhow::Result<()> {
    let m = b.manifest();
    if as_json {
        let referrers: Vec<_> = b
            .referrers()
            .iter()
            .map(|r| json!({"digest": r.digest, "artifact_type": r.artifact_type, "media_type": r.media_type, "annotations": r.annotations}))
            .collect();
        let v = json!({"manifest_digest": b.manifest_digest(), "size": b.size(), "manifest": m, "referrers": referrers});
        super::print_stdout(&format!("{}\n", serde_json::to_string_pretty(&v)?)).map_err(|f| f.error)?;
        return Ok(());
    }
    let mut o = String::new();
    let _ = writeln!(o, "{} {}", E(&m.model.name), E(&m.model.version));
    if !m.model.description.is_empty() {
        let _ = writeln!(o, "  {}", E(&m.model.description));
    }
    let _ = writeln!(
        o,
        "  license        {}",
        if m.model.license.is_empty() { E("(none)") } else { E(&m.model.license) }
    );
    let _ = writeln!(o, "  digest         {}", E(b.manifest_digest()));
    let _ = writeln!(o, "  size           {} bytes", b.size());
    let _ = writeln!(o, "  format         {}", m.format_version);
    let _ = writeln!(o, "  entrypoint     {}", E(&m.entrypoint));
    let _ = writeln!(o, "\npins");
    let _ = writeln!(o, "  ferry          {}", E(&m.pins.ferry_version));
    let _ = writeln!(o, "  onnxruntime    {}", E(&m.pins.onnxruntime));
    let _ = writeln!(o, "  onnx ir        {}", m.pins.onnx.ir_version);
    let opsets: Vec<String> = m
        .pins
        .onnx
        .opsets
        .iter()
        .map(|(d, v)| format!("{}={v}", E(if d.is_empty() { "ai.onnx" } else { d })))
        .collect();
    let _ = writeln!(o, "  opsets         {}", opsets.join(", "));
    if !m.pins.onnx.producer_name.is_empty() {
        let _ = writeln!(
            o,
            "  producer       {} {}",
            E(&m.pins.onnx.producer_name),
            E(&m.pins.onnx.producer_version)
        );
    }
    let _ = writeln!(o, "\ncontract");
    for (side, specs) in [("in ", &m.inputs), ("out", &m.outputs)] {
        for t in specs.iter() {
            let _ = writeln!(o, "  {side} {:<20} {:<8} {}", E(&t.name), t.dtype.name(), E(&t.shape_string()));
            for f in &t.features {
                let mut c = Vec::new();
                if let Some(lo) = f.min {
                    c.push(format!("min {lo}"));
                }
                if let Some(hi) = f.max {
                    c.push(format!("max {hi}"));
                }
                if let Some(a) = &f.allowed {
                    c.push(format!("one of {a:?}"));
                }
                if f.nullable {
                    c.push("nullable".into());
                }
                let _ = writeln!(o, "        {:<32} {}", E(&f.name), c.join(", "));
            }
        }
    }
    if let Some(c) = &m.config {
        let _ = writeln!(
            o,
            "\nconfig\n  schema {}{}",
            E(&c.schema),
            c.defaults.as_ref().map(|d| format!(", defaults {}", E(d))).unwrap_or_default()
        );
    }
    if let Some(t) = &m.transform {
        transforms(&mut o, t);
    }
    if !m.golden.is_empty() {
        let _ = writeln!(o, "\ngolden sets");
        for g in &m.golden {
            let (i, e) = (g.side(GoldenSide::Inputs), g.side(GoldenSide::Outputs));
            if i.combined {
                let _ = writeln!(o, "  {:<16} {} (inputs -> outputs)", E(&g.name), E(i.path));
            } else {
                let _ = writeln!(o, "  {:<16} {} -> {}", E(&g.name), E(i.path), E(e.path));
            }
        }
    }
    if let Some(r) = &m.reference {
        reference(&mut o, b, r);
    }
    let _ = writeln!(o, "\nfiles");
    for f in &m.files {
        let z = match f.compression {
            ferry_spec::Compression::None => "",
            ferry_spec::Compression::Zstd => " zstd",
        };
        let short = f.sha256.get(..16).unwrap_or(&f.sha256);
        let _ = writeln!(o, "  {:<40} {:>12} sha256:{}{z}", E(&f.path), f.size, E(short));
    }
    let _ = writeln!(o, "\nsignatures and attestations");
    if b.referrers().is_empty() {
        let _ = writeln!(o, "  (none)");
    }
    for r in b.referrers() {
        let kind = r.annotations.get(ferry_trust::KIND_ANNOTATION).map(String::as_str).unwrap_or("referrer");
        let _ = writeln!(o, "  {} {} {}", E(kind), E(&r.artifact_type), E(&r.digest));
    }
    super::print_stdout(&o).map_err(|f| f.error)?;
    Ok(())
}

/// The `reference` section: the profile's sample and what it covers, each column with its method.
fn reference(o: &mut String, b: &Bundle, r: &ferry_spec::ReferenceManifest) {
    let _ = writeln!(o, "\nreference profile {}", E(&r.profile));
    let profile = b
        .file(&r.profile)
        .map_err(|e| e.to_string())
        .and_then(|bytes| ferry_drift::Profile::from_json(&bytes).map_err(|e| e.to_string()));
    let p = match profile {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(o, "  unreadable: {}", E(&e));
            return;
        }
    };
    let short = p.sample.digest.get(..23).unwrap_or(&p.sample.digest);
    let shipped = r.sample.as_ref().map(|s| format!(", shipped as {}", E(s))).unwrap_or_default();
    let _ = writeln!(o, "  sample {}… ({} rows{shipped})", E(short), p.sample.rows);
    for (side, columns) in [("feature", &p.features), ("prediction", &p.predictions)] {
        for c in columns {
            let kind = c.kind.name();
            let _ =
                writeln!(o, "  {side:<10} {:<32} {kind:<11} {} {}", E(&c.name), c.method.name(), c.threshold);
        }
    }
}

/// The `transforms` section: each stage's component, then each component once (digest, size, WIT
/// package, exports and imports), the schemas, the source, limits, sandbox opt-ins and build pins.
fn transforms(o: &mut String, t: &ferry_spec::TransformManifest) {
    let s = &t.section;
    let _ = writeln!(o, "\ntransforms");
    for (stage, path) in [("prepare", &s.prepare), ("decide", &s.decide)] {
        if let Some(p) = path {
            let _ = writeln!(o, "  {stage:<14} {}", E(p));
        }
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "(none)".to_owned()
        } else {
            v.iter().map(|x| E(x).to_string()).collect::<Vec<_>>().join(", ")
        }
    };
    for c in &t.components {
        let short = c.sha256.get(..16).unwrap_or(&c.sha256);
        let _ = writeln!(o, "  component      {}", E(&c.path));
        let _ = writeln!(o, "    digest       sha256:{}  {} bytes", E(short), c.size);
        let _ = writeln!(o, "    wit          {}", E(&c.wit));
        let _ = writeln!(o, "    exports      {}", list(&c.exports));
        let wasi: Vec<String> = c.imports.iter().filter(|i| i.starts_with("wasi:")).cloned().collect();
        let other: Vec<String> = c.imports.iter().filter(|i| !i.starts_with("wasi:")).cloned().collect();
        let _ = writeln!(o, "    imports      {}", list(&other));
        let _ = writeln!(o, "    wasi         {}", list(&wasi));
    }
    for (key, path) in [("records", &s.records), ("results", &s.results), ("source", &s.source)] {
        if let Some(p) = path {
            let _ = writeln!(o, "  {key:<14} {}", E(p));
        }
    }
    let or_default = |v: Option<String>| v.unwrap_or_else(|| "default".to_owned());
    let l = &s.limits;
    let _ = writeln!(
        o,
        "  limits         deadline {}, memory {}, concurrency {}",
        or_default(l.deadline_ms.map(|v| format!("{v} ms"))),
        or_default(l.memory_mib.map(|v| format!("{v} MiB"))),
        or_default(l.concurrency.map(|v| v.to_string())),
    );
    let mut opt_ins = Vec::new();
    if s.sandbox.host_clock {
        opt_ins.push("host clock");
    }
    if s.sandbox.host_random {
        opt_ins.push("host random");
    }
    let sandbox = if opt_ins.is_empty() {
        "no opt-ins (fixed clock, seeded random)".to_owned()
    } else {
        format!("opts in to {}", opt_ins.join(", "))
    };
    let _ = writeln!(o, "  sandbox        {sandbox}");
    match &t.build {
        None => {
            let _ = writeln!(o, "  build          (not recorded)");
        }
        Some(b) => {
            let toolchain =
                if b.toolchain.is_empty() { String::new() } else { format!(", {}", E(&b.toolchain)) };
            let n = b.packages.len();
            let more = if n > 0 { " (--json lists them)" } else { "" };
            let _ = writeln!(
                o,
                "  build          {}{toolchain}, {n} locked package{}{more}",
                E(&b.kind),
                if n == 1 { "" } else { "s" }
            );
        }
    }
}
