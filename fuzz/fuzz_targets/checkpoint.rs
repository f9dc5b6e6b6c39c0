//! Any bytes as a checkpoint, and a real checkpoint with bytes of the input written over it: the
//! container's sections, then a whole trainer resumed from them against the configuration that
//! wrote the real one. An error naming the file, or a trainer that trains on; never a panic or a
//! huge allocation (libFuzzer's malloc limit).
//!
//! The input's first byte picks the form: even, the rest are the checkpoint; odd, the rest are
//! patches (a little-endian `u16` offset into the real checkpoint, then a length byte, then that
//! many bytes to write there): damage anywhere in a real checkpoint must be refused, naming the
//! file. Past the checksum the readers are not fuzzed: burn's record reader panics on bad bytes
//! (the documented limit of the checksum, which guards against damage, not crafted files).
#![no_main]

#[path = "tiny_run.rs"]
mod tiny_run;

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// The checkpoint of the tiny run after one update.
fn real() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let mut trainer = tiny_run::trainer();
        trainer.train_update().expect("one update");
        let path = std::env::temp_dir().join(format!("rome-fuzz-checkpoint-{}.bin", std::process::id()));
        trainer.save_checkpoint(&path).expect("a checkpoint");
        let bytes = std::fs::read(&path).expect("the checkpoint reads back");
        std::fs::remove_file(&path).ok();
        bytes
    })
}

/// `real()` with the patches `input` describes.
fn patched(mut input: &[u8]) -> Vec<u8> {
    let mut bytes = real().to_vec();
    while let [lo, hi, len, rest @ ..] = input {
        let at = usize::from(u16::from_le_bytes([*lo, *hi])) % bytes.len();
        let n = usize::from(*len).min(rest.len());
        let end = (at + n).min(bytes.len());
        bytes[at..end].copy_from_slice(&rest[..end - at]);
        input = &rest[n..];
    }
    bytes
}

fuzz_target!(|data: &[u8]| {
    let Some((&form, rest)) = data.split_first() else { return };
    let bytes = if form % 2 == 0 { rest.to_vec() } else { patched(rest) };
    let path = Path::new("fuzz-checkpoint.bin");
    if let Err(e) = sim_agents::checkpoint::unpack(path, &bytes) {
        assert!(e.to_string().contains("fuzz-checkpoint.bin"), "the error names the file: {e}");
    }
    match tiny_run::resume(path, &bytes) {
        Ok(mut trainer) => {
            if trainer.updates_done() < trainer.config().num_updates() {
                // A non-finite loss is caught and reported as an error; any other outcome is fine.
                let _ = trainer.train_update();
            }
        }
        Err(e) => assert!(e.to_string().contains("fuzz-checkpoint.bin"), "the error names the file: {e}"),
    }
});
