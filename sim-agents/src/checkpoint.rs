//! Checkpoint files: one file holding the model, the optimiser and the trainer's state, written
//! atomically (to a temporary file in the same directory, synced, then renamed over the old
//! one), so that a run killed at any moment leaves either the previous checkpoint or the new one.
//!
//! The file is the header, the number of sections, each section as its length and bytes, and a
//! CRC-32 of everything before it. The checksum is checked before any section is decoded: burn's
//! binary record reader panics on damaged bytes instead of returning an error (found by the
//! `checkpoint` fuzz target), so damage must be caught here. A file whose checksum matches is
//! taken to be one this program wrote; the checksum guards against damage, not against a file
//! crafted to pass it.

use std::path::Path;

use crate::error::TrainError;

const MAGIC: &[u8] = b"rome-sim checkpoint v2\n";

/// The header of the first format, which had no checksum.
const MAGIC_V1: &[u8] = b"rome-sim checkpoint v1\n";

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
    let crc = crc32fast::hash(&out);
    out.extend(crc.to_le_bytes());
    out
}

/// Splits a checkpoint body into its sections, after checking its checksum. Any bytes give the
/// sections or an error, never a panic; no more is allocated than the bytes hold.
pub fn unpack(path: &Path, bytes: &[u8]) -> Result<Vec<Vec<u8>>, TrainError> {
    let bad =
        |what: &str| TrainError::Checkpoint { path: path.to_path_buf(), message: format!("not a checkpoint: {what}") };
    if bytes.starts_with(MAGIC_V1) {
        return Err(bad("written by an earlier version of rome-sim (format v1); start the run again"));
    }
    if !bytes.starts_with(MAGIC) {
        return Err(bad("wrong header"));
    }
    let (body, crc) =
        bytes.split_at(bytes.len().checked_sub(4).filter(|&n| n >= MAGIC.len()).ok_or_else(|| bad("truncated"))?);
    if crc32fast::hash(body).to_le_bytes() != crc {
        return Err(bad("damaged (its checksum does not match its bytes)"));
    }
    let mut rest = &body[MAGIC.len()..];
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
    if !rest.is_empty() {
        return Err(bad("bytes after the last section"));
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
        let message = |bytes: &[u8]| unpack(&path, bytes).unwrap_err().to_string();
        assert!(message(&read[..read.len() - 2]).contains("checksum"));
        let mut flipped = read.clone();
        flipped[MAGIC.len() + 20] ^= 1;
        assert!(message(&flipped).contains("damaged"));
        assert!(message(b"garbage").contains("wrong header"));
        assert!(message(MAGIC_V1).contains("earlier version"));
        assert!(message(&read[..MAGIC.len() + 2]).contains("truncated"));
        // A checksum that matches does not excuse a body whose lengths disagree with its size.
        let mut short = pack(&[b"model"]);
        short.truncate(short.len() - 4);
        short.pop();
        let crc = crc32fast::hash(&short);
        short.extend(crc.to_le_bytes());
        assert!(message(&short).contains("truncated"));
        let missing = dir.join("no/such/dir/checkpoint.bin");
        let err = write_atomic(&missing, b"x").unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
