//! Any bytes as a training configuration, a rome_repro matrix and a phase-diagram grid: an error
//! that names the file, or a configuration that passes its own validation; never a panic.
#![no_main]

use experiments::config::TrainConfig;
use experiments::phase::Grid;
use experiments::repro::config::ReproConfig;
use libfuzzer_sys::fuzz_target;
use sim_core::params::{Validate, parse_ron};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse_ron::<TrainConfig>(text, "fuzz-train.ron") {
        Ok(c) => assert!(c.validate().is_ok(), "a parsed training configuration is valid"),
        Err(e) => assert!(e.to_string().contains("fuzz-train.ron"), "the error names the file: {e}"),
    }
    match ReproConfig::parse(text, "fuzz-matrix.ron") {
        Ok((config, base, scenarios)) => {
            assert!(base.validate().is_ok(), "the base scenario is valid");
            assert_eq!(scenarios.len(), config.conditions.len(), "one scenario per condition");
            assert!(scenarios.iter().all(|s| s.validate().is_ok()), "every condition's scenario is valid");
        }
        Err(e) => assert!(e.to_string().contains("fuzz-matrix.ron"), "the error names the file: {e}"),
    }
    match Grid::parse(text, "fuzz-grid.ron") {
        Ok(grid) => {
            let cells = grid.config.x.values.len() * grid.config.y.values.len();
            assert_eq!(grid.cells.len(), cells, "one scenario per cell");
        }
        Err(e) => assert!(e.to_string().contains("fuzz-grid.ron"), "the error names the file: {e}"),
    }
});
