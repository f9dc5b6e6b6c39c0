//! Checkpoint files: one file holding the model, the optimiser and the trainer's state, written
//! atomically (to a temporary file in the same directory, synced, then renamed over the old
//! one), so that a run killed at any moment leaves either the previous checkpoint or the new one.

use std::path::Path;

use crate::error::TrainError;

const MAGIC: &[u8] = b"rome-sim checkpoint v1\n";

/// Writes a checkpoint body to `path` atomically ([`sim_core::io::write_atomic`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    sim_core::io::write_atomic(path, bytes).map_err(|e| TrainError::Checkpoint { path: e.path, message: e.message })
}

/// Packs sections into one checkpoint body.
pub fn pack(sections: &[&[u8]]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend((sections.len() as u64).to_le_bytes());
    for s in sections {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(*s);
    }
    out
}

/// Splits a checkpoint body into its sections. Any bytes give the sections or an error, never
/// a panic; no more is allocated than the bytes hold.
pub fn unpack(path: &Path, bytes: &[u8]) -> Result<Vec<Vec<u8>>, TrainError> {
    let bad =
        |what: &str| TrainError::Checkpoint { path: path.to_path_buf(), message: format!("not a checkpoint: {what}") };
    let mut rest = bytes.strip_prefix(MAGIC).ok_or_else(|| bad("wrong header"))?;
    let mut take = |n: u64| -> Result<&[u8], TrainError> {
        let n = usize::try_from(n).ok().filter(|&n| n <= rest.len()).ok_or_else(|| bad("truncated"))?;
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
    let count = word(take(8)?);
    let mut sections = Vec::new();
    for _ in 0..count {
        let len = word(take(8)?);
        sections.push(take(len)?.to_vec());
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::fs;

    #[test]
    fn sections_round_trip_and_damage_is_detected() {
        let body = pack(&[b"model", b"", b"state"]);
        let dir = std::env::temp_dir().join(format!("ckpt-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("checkpoint.bin");
        write_atomic(&path, &body).unwrap();
        let read = fs::read(&path).unwrap();
        assert_eq!(unpack(&path, &read).unwrap(), vec![b"model".to_vec(), vec![], b"state".to_vec()]);
        assert!(unpack(&path, &read[..read.len() - 2]).is_err());
        assert!(unpack(&path, b"garbage").is_err());
        let missing = dir.join("no/such/dir/checkpoint.bin");
        let err = write_atomic(&missing, b"x").unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
