//! `ferry_oip::decode_rest`: an OIP v2 REST inference request body (JSON, or JSON plus binary
//! tensor data when the first byte says so), decoded against a contract with a float batch input and a
//! string input. Any input gives a request or a typed refusal: no panic, no allocation beyond what the
//! contract allows. A decoded request holds only declared inputs whose data fills their shapes.
#![no_main]

use ferry_contract::Contract;
use ferry_spec::TensorSpec;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn contract() -> &'static Contract {
    static C: OnceLock<Contract> = OnceLock::new();
    C.get_or_init(|| {
        let spec = |v: serde_json::Value| -> TensorSpec { serde_json::from_value(v).unwrap() };
        let inputs = [
            spec(serde_json::json!({"name": "features", "dtype": "float32", "shape": ["batch", 3]})),
            spec(serde_json::json!({"name": "text", "dtype": "string", "shape": ["batch"]})),
        ];
        let outputs = [spec(serde_json::json!({"name": "p", "dtype": "float32", "shape": ["batch", 1]}))];
        Contract::new(&inputs, &outputs).with_max_elements(1 << 16)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else { return };
    // Odd first byte: the next two bytes are the Inference-Header-Content-Length.
    let (header, body) = if mode & 1 == 1 && body.len() >= 2 {
        (Some(u16::from_le_bytes([body[0], body[1]]).to_string()), &body[2..])
    } else {
        (None, body)
    };
    if let Ok(request) = ferry_oip::decode_rest(contract(), header.as_deref(), body) {
        for (name, t) in &request.inputs {
            assert!(name == "features" || name == "text");
            assert_eq!(ferry_tensor::numel(&t.shape), Some(t.len()));
        }
    }
});
