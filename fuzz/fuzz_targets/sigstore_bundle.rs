//! `ferry_sign::parse`: a signature (sigstore bundle JSON holding a DSSE envelope with an in-toto OMS
//! statement) read without a key, as `ferry inspect`/`audit` and the trust checks read referrers and
//! `model.sig`; then `check_view` against a small file view and `verify_statement` with a fixed key
//! (structure before cryptography, so the parsing paths run).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn key() -> &'static ferry_sign::VerifyingKey {
    static KEY: OnceLock<ferry_sign::VerifyingKey> = OnceLock::new();
    KEY.get_or_init(|| {
        ferry_sign::VerifyingKey::from_pem(include_str!("../../sign/tests/fixtures/python-signer.pub"))
            .expect("the fixture public key reads")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(sig) = ferry_sign::parse(data) {
        let view: Vec<(String, [u8; 32])> =
            vec![("model.onnx".to_owned(), [0u8; 32]), ("ferry.toml".to_owned(), sig.subject_digest)];
        let _ = ferry_sign::check_view(&sig, &view);
    }
    let _ = ferry_sign::verify(data, &[], key());
    let _ = ferry_sign::verify_statement(data, key());
});
