//! Any bytes as a scenario file and as a scenario-space file: an error that names the file, or a
//! scenario that passes its own validation; never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sim_core::params::{Validate, parse_ron};
use sim_envs::CloudParams;
use sim_envs::toycloud::space::ScenarioSpace;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse_ron::<CloudParams>(text, "fuzz.ron") {
        Ok(p) => assert!(p.validate().is_ok(), "a parsed scenario is valid"),
        Err(e) => assert!(e.to_string().contains("fuzz.ron"), "the error names the file: {e}"),
    }
    // A space's base resolves against a directory that does not exist: only presets and
    // absolute paths can be named, as in a space file elsewhere.
    match ScenarioSpace::parse(text, "fuzz-space.ron", Path::new("/nonexistent-fuzz-dir")) {
        Ok(space) => {
            for draw in 0..3 {
                if let Ok((_, p)) = space.draw(draw) {
                    assert!(p.validate().is_ok(), "a drawn scenario is valid");
                }
            }
        }
        Err(e) => {
            let e = e.to_string();
            assert!(!e.is_empty());
        }
    }
});
