//! Fuzzes the restore intent parser: any bytes must give a document or a typed error, never a
//! panic, and an accepted document must survive a render/parse round trip.
#![no_main]

use cnpg_backup_core::restore::intent::{INTENT_MAX_BYTES, parse_intent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_intent(data) {
        Ok(intent) => {
            let json = intent.to_json();
            // Pretty printing adds indentation; only documents that still fit are compared.
            if json.len() <= INTENT_MAX_BYTES {
                let again = parse_intent(json.as_bytes());
                assert_eq!(again.as_ref().ok(), Some(&intent), "round trip changed the intent");
            }
        }
        Err(e) => {
            // Rendering the message must not panic either.
            let _ = e.to_string();
        }
    }
});
