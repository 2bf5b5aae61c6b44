//! `ferry golden`: one multi-tensor golden file from the tensor files a user has. Reading, merging and
//! the deterministic, atomic write are `ferry_tensor`'s ([`ferry_tensor::gather`],
//! [`ferry_tensor::write_file`], [`ferry_tensor::write_golden_file`]); this parses and prints.

use super::{CliResult, plural, usage};
use anyhow::anyhow;
use ferry_spec::display::Escaped as E;
use ferry_tensor::{Format, TensorMap, TensorSource};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
#[command(after_help = "\
SOURCE is FILE (every tensor of the file, by the name it gives it; an .npy's is the file's stem) or
FILE=NAME (the file's only tensor, named NAME). Names must not repeat.

Examples:
  ferry golden -o golden/smoke.inputs.npz x.npy=features ids.npy=input_ids
  ferry golden -o golden/smoke.json --inputs golden/smoke.inputs.npz --outputs probs.npy=probability
    (then in ferry.toml: [[golden]] name = \"smoke\", file = \"golden/smoke.json\")")]
pub struct GoldenArgs {
    /// The file to write (format from its extension: .npz, .safetensors, .json, or .npy for one tensor);
    /// with --inputs and --outputs, a golden file of both sides (.json).
    #[arg(short, long)]
    output: PathBuf,
    /// Tensor files whose tensors make the file, as FILE or FILE=NAME.
    #[arg(value_name = "SOURCE", required_unless_present = "inputs", conflicts_with_all = ["inputs", "outputs"])]
    sources: Vec<String>,
    /// The inputs of a golden file of both sides, {"inputs": {...}, "outputs": {...}}, as FILE or FILE=NAME.
    #[arg(long, value_name = "SOURCE", num_args = 1.., requires = "outputs")]
    inputs: Vec<String>,
    /// The expected outputs of a golden file of both sides, as FILE or FILE=NAME.
    #[arg(long, value_name = "SOURCE", num_args = 1.., requires = "inputs")]
    outputs: Vec<String>,
}

/// `FILE=NAME` when the part before the last `=` names a tensor file by its extension (so a path that
/// itself holds `=` still reads as a path), else `FILE`.
fn source(arg: &str) -> Result<TensorSource<'_>, anyhow::Error> {
    if let Some((file, name)) = arg.rsplit_once('=')
        && Format::from_path(Path::new(file)).is_some()
    {
        if name.is_empty() {
            return Err(anyhow!("`{arg}`: FILE=NAME needs a NAME after `=`"));
        }
        return Ok(TensorSource { path: Path::new(file), rename: Some(name) });
    }
    Ok(TensorSource { path: Path::new(arg), rename: None })
}

fn gather(args: &[String]) -> Result<TensorMap, anyhow::Error> {
    let sources = args.iter().map(|a| source(a)).collect::<Result<Vec<_>, _>>()?;
    Ok(ferry_tensor::gather(&sources)?)
}

fn names(tensors: &TensorMap) -> String {
    let n = tensors.len();
    let names: Vec<String> = tensors.keys().map(|k| E(k).to_string()).collect();
    format!("{n} tensor{} ({})", plural(n), names.join(", "))
}

pub fn run(a: &GoldenArgs) -> CliResult {
    let out = &a.output;
    if a.inputs.is_empty() {
        let tensors = gather(&a.sources).map_err(usage)?;
        ferry_tensor::write_file(out, &tensors).map_err(usage)?;
        println!("wrote {}: {}", out.display(), names(&tensors));
    } else {
        let inputs = gather(&a.inputs).map_err(usage)?;
        let outputs = gather(&a.outputs).map_err(usage)?;
        ferry_tensor::write_golden_file(out, &inputs, &outputs).map_err(usage)?;
        println!(
            "wrote golden file {}: inputs {}; outputs {}",
            out.display(),
            names(&inputs),
            names(&outputs)
        );
        let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        println!(
            "next: in ferry.toml, a [[golden]] table with file = \"<path of {} in the source directory>\"",
            E(&name)
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sources_split_at_the_last_equals_after_a_tensor_file() {
        let s = source("x.npy=features").unwrap();
        assert_eq!((s.path, s.rename), (Path::new("x.npy"), Some("features")));
        let s = source("dir/a=b.NPZ=input.1").unwrap();
        assert_eq!((s.path, s.rename), (Path::new("dir/a=b.NPZ"), Some("input.1")));
        // No tensor extension before the `=`: the whole argument is a path.
        let s = source("run=3/out.npz").unwrap();
        assert_eq!((s.path, s.rename), (Path::new("run=3/out.npz"), None));
        let s = source("golden.json").unwrap();
        assert_eq!((s.path, s.rename), (Path::new("golden.json"), None));
        assert!(source("x.npy=").unwrap_err().to_string().contains("needs a NAME"));
    }
}
