//! What a component is, read without compiling it: for the packager's pins and the verifier's checks.

use wasmparser::{ComponentTypeRef, Encoding, Parser, Payload, Validator, WasmFeatures};

/// A component's outer face: what it exports and what it imports, by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ComponentInfo {
    /// Names the component exports (`prepare`, `decide`, `ferry:transform/types@0.1.0`), sorted.
    pub exports: Vec<String>,
    /// Names the component imports (`wasi:cli/environment@0.2.6`, `tensor`, ...), sorted.
    pub imports: Vec<String>,
    /// Those of [`ComponentInfo::imports`] that are types, sorted: a world that `use`s
    /// `ferry:transform/types` imports the types it names (`tensor`, `refusal`) beside the interface.
    pub type_imports: Vec<String>,
}

impl ComponentInfo {
    /// The imports no transform sandbox provides: all but WASI 0.2 interfaces, interfaces of
    /// `ferry:transform@0.1.x` (types only) and types.
    pub fn foreign_imports(&self) -> Vec<&str> {
        self.imports
            .iter()
            .map(String::as_str)
            .filter(|i| {
                !allowed_import(i) && self.type_imports.binary_search_by(|t| t.as_str().cmp(i)).is_err()
            })
            .collect()
    }
}

/// Whether an import names an interface a transform sandbox provides: a WASI 0.2 interface or one of
/// `ferry:transform@0.1.x`.
pub fn allowed_import(name: &str) -> bool {
    if is_wasi_p2(name) {
        return true;
    }
    name.strip_prefix("ferry:transform/")
        .and_then(|rest| rest.split_once('@'))
        .is_some_and(|(iface, version)| !iface.is_empty() && version.starts_with("0.1."))
}

/// Whether an import names a WASI 0.2 interface (`wasi:<package>/<interface>@0.2.<n>`).
pub fn is_wasi_p2(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("wasi:") else { return false };
    let Some((path, version)) = rest.split_once('@') else { return false };
    path.contains('/') && version.starts_with("0.2.")
}

/// Validates `bytes` as a WebAssembly component and reads its top-level imports and exports. The error
/// says what is wrong and at which byte offset.
pub fn describe(bytes: &[u8]) -> Result<ComponentInfo, String> {
    let info = read_faces(bytes)?;
    Validator::new_with_features(WasmFeatures::all()).validate_all(bytes).map_err(|e| e.to_string())?;
    Ok(info)
}

/// The top-level imports and exports, without validating the rest.
pub(crate) fn read_faces(bytes: &[u8]) -> Result<ComponentInfo, String> {
    let mut info = ComponentInfo::default();
    // Nested modules and components each start with a version payload and close with an end one; only
    // the outermost component's sections are its face.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| e.to_string())? {
            Payload::Version { encoding, range, .. } => {
                if depth == 0 && encoding != Encoding::Component {
                    return Err(format!(
                        "a core WebAssembly module, not a component (byte offset {}); make one with `wasm-tools component new`",
                        range.start
                    ));
                }
                depth += 1;
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    let import = import.map_err(|e| e.to_string())?;
                    if matches!(import.ty, ComponentTypeRef::Type(_)) {
                        info.type_imports.push(import.name.name.to_owned());
                    }
                    info.imports.push(import.name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader {
                    info.exports.push(export.map_err(|e| e.to_string())?.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    info.imports.sort();
    info.type_imports.sort();
    info.exports.sort();
    Ok(info)
}
