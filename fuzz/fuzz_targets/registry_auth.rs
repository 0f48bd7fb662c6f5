//! Registry responses the client parses: `WWW-Authenticate` challenges and the token
//! endpoint's JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let c = lk_registry::parse_challenge(&text);
    assert_eq!(c.scheme, c.scheme.to_ascii_lowercase());
    let _ = lk_registry::token_from_response(data);
});
