//! The policy loader on arbitrary text: never panics (nor hangs: libFuzzer's timeout catches
//! that), and every diagnostic points at a line that exists in the input, or at line 0 when it
//! has no position. An accepted policy can be matched against and rendered.
#![no_main]

use std::path::Path;

use gateway::policy::{Policy, normalise, render_docs};
use http::Method;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    // The number of lines an editor shows: a final newline opens one more (empty) line.
    let lines = source.split('\n').count();
    match Policy::from_yaml_str(source, Path::new("fuzz.yaml")) {
        Err(diagnostics) => {
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
                assert!(!d.message.is_empty(), "empty diagnostic message");
            }
        }
        Ok(policy) => {
            for path in ["/", "/forecast", "/models/x/y", "/a/b/c/"] {
                if let Ok(p) = normalise(path) {
                    let _ = policy.route_for(&p, &Method::GET);
                }
            }
            let _ = render_docs(&policy, "fuzz");
        }
    }
});
