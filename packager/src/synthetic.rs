//! A synthetic bundle source with large weights, for benchmarks: one float32 initializer of the given
//! size in ONNX external data (`weights.bin`, incompressible bytes), used by `y = Add(x, w)`.

use std::io::Write as _;
use std::path::Path;

/// Writes a valid bundle source with `bytes` of weights into `dir` (which must exist).
pub fn source(dir: &Path, bytes: u64) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::with_capacity(1 << 22, std::fs::File::create(dir.join("weights.bin"))?);
    // xorshift: incompressible and fast to generate.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        for c in buf.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n])?;
        left -= n as u64;
    }
    f.flush()?;
    std::fs::write(
        dir.join("model.onnx"),
        ferry_onnx::encode::model_with_external_initializer("weights.bin", bytes),
    )?;
    let n = bytes / 4;
    std::fs::write(
        dir.join("ferry.toml"),
        format!(
            "[model]\nname = \"bench\"\nversion = \"1.0.0\"\nonnx = \"model.onnx\"\n\n\
             [[inputs]]\nname = \"x\"\ndtype = \"float32\"\nshape = [{n}]\n\n\
             [[outputs]]\nname = \"y\"\ndtype = \"float32\"\nshape = [{n}]\n"
        ),
    )
}

/// The baseline the benchmarks compare with: one streaming SHA-256 pass over a file, with the same
/// SHA-256 implementation Ferry uses ([`ferry_bundle::digest`]).
pub fn sha256_file(path: &Path) -> std::io::Result<[u8; 32]> {
    use std::io::Read as _;
    let mut f = std::fs::File::open(path)?;
    let mut h = ferry_bundle::digest::Sha256::new();
    let mut buf = vec![0u8; 4 << 20];
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
    }
    Ok(h.finalize())
}

/// The median of a non-empty sample (sorted in place).
pub fn median(v: &mut [std::time::Duration]) -> std::time::Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}
