//! gateway.toml parsing on arbitrary text, without the process environment: never panics,
//! and every diagnostic points at a line that exists in the input (or 0).
#![no_main]

use std::path::Path;

use gateway::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let lines = source.split('\n').count();
    if let Err(diagnostics) =
        Config::from_toml_str(source, Path::new("/fuzz/gateway.toml"), &|_| None)
    {
        assert!(
            !diagnostics.0.is_empty(),
            "an Err carries at least one diagnostic"
        );
        for d in &diagnostics.0 {
            assert!(
                d.line <= lines,
                "diagnostic at line {} of a {lines}-line input: {d}",
                d.line
            );
        }
    }
});
