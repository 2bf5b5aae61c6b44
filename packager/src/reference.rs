//! `[reference]` (FORMAT.md §3.9): the training-data sample read at load, and its profile built at
//! pack time, features from the sample and predictions from the model run on it (through a
//! [`Runner`] the caller provides: the packager itself never loads ONNX Runtime).

use crate::{LoadedSource, PackError};
use ferry_contract::sample::{SampleKind, read_table};
use ferry_drift::{FeatureTable, SampleInfo, build_profile};
use ferry_spec::{ReferenceManifest, TensorSpec};
use ferry_tensor::TensorMap;
use std::path::PathBuf;

/// The most bytes of a reference sample.
pub const SAMPLE_LIMIT: u64 = 1 << 30;

/// The reference sample of a loaded source.
#[derive(Debug, Clone)]
pub struct ReferenceSample {
    /// Where it was read from (for errors).
    pub path: PathBuf,
    /// Its path in the file view when it is shipped (`ship_sample`).
    pub shipped: Option<String>,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// CSV, JSON lines or Parquet.
    pub kind: SampleKind,
}

/// The source's model, as the packager hands it to a [`Runner`].
#[derive(Debug)]
pub struct SourceModel<'a> {
    /// The ONNX file's bytes.
    pub onnx: Vec<u8>,
    /// Its external-data files, by the location the graph names.
    pub external: Vec<(String, Vec<u8>)>,
    /// The declared inputs.
    pub inputs: &'a [TensorSpec],
    /// The declared outputs.
    pub outputs: &'a [TensorSpec],
}

/// Runs the source's model on a batch of inputs (the reference sample's rows the contract accepts)
/// and returns its outputs: `ferry::pack` passes one over ferry-runtime.
pub type Runner<'a> = dyn Fn(&SourceModel<'_>, &TensorMap) -> Result<TensorMap, String> + 'a;

/// The profile's bytes and the manifest's `reference`, for a source with a reference sample.
pub(crate) fn profile(
    loaded: &LoadedSource,
    sample: &ReferenceSample,
    runner: Option<&Runner<'_>>,
) -> Result<(Vec<u8>, ReferenceManifest), PackError> {
    let s = &loaded.source;
    let section = s.reference.clone().unwrap_or_else(|| ferry_spec::ReferenceSection {
        data: None,
        ship_sample: false,
        bins: None,
        top_k: None,
        features: Default::default(),
        predictions: Default::default(),
    });
    let err = |message: String| PackError::Reference { path: sample.path.clone(), message };
    let columns = ferry_contract::sample::FeatureColumn::all(&s.inputs);
    let table =
        read_table(sample.kind, &sample.bytes, &|found| columns.iter().map(|f| f.column_in(found)).collect())
            .map_err(err)?;
    if table.rows.is_empty() {
        return Err(err("the reference sample has no records".into()));
    }
    let features = FeatureTable::new(&s.inputs, &table);
    let Some(runner) = runner else {
        return Err(err(
            "profiling the model's outputs on the reference sample runs the model: pack with `ferry pack` \
             (or `ferry::pack`), which loads ONNX Runtime"
                .into(),
        ));
    };
    let model = source_model(loaded)?;
    let mut score = |batch: &TensorMap| runner(&model, batch);
    let info = SampleInfo {
        digest: ferry_drift::sample_digest(&sample.bytes),
        rows: table.rows.len() as u64,
        path: sample.shipped.clone(),
    };
    let profile = build_profile(&s.inputs, &s.outputs, &section, &features, info, &mut score)
        .map_err(|e| err(e.to_string()))?;
    let bytes = profile.to_json().map_err(|e| err(e.to_string()))?;
    Ok((
        bytes,
        ReferenceManifest {
            profile: ferry_spec::reference::PROFILE_PATH.into(),
            sample: sample.shipped.clone(),
        },
    ))
}

fn source_model(loaded: &LoadedSource) -> Result<SourceModel<'_>, PackError> {
    let s = &loaded.source;
    let read = |rel: &str| {
        crate::source_file::read(&loaded.dir, rel, crate::source::ONNX_LIMIT)
            .map_err(|r| crate::source::refused(r, &loaded.dir.join(rel), None, rel))
    };
    let onnx = read(&s.model.onnx)?;
    let mut external = Vec::new();
    for loc in &loaded.model.external_data {
        let rel = ferry_spec::external_data_path(&s.model.onnx, loc);
        external.push((loc.clone(), read(&rel)?));
    }
    Ok(SourceModel { onnx, external, inputs: &s.inputs, outputs: &s.outputs })
}
