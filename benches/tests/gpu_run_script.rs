//! `benches/gpu/run.sh`, the GPU run's one script, on the CPU backend at tiny sizes: every stage
//! writes its file, the CSVs have one header and a positive rate per row, the time-boxed
//! rome_repro gives a projection; and a device this build cannot give stops the run at the
//! smoke stage with the error. Needs `rome_repro` beside this package's `throughput` binary,
//! which `cargo test --workspace` builds.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin_dir() -> PathBuf {
    let throughput = Path::new(env!("CARGO_BIN_EXE_throughput"));
    let dir = throughput.parent().expect("a folder").to_path_buf();
    assert!(
        dir.join("rome_repro").exists(),
        "{} has no rome_repro: run with the workspace's tests (cargo test --workspace --release)",
        dir.display()
    );
    dir
}

fn run_script(args: &[&str], out: &Path) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root");
    Command::new("bash")
        .arg(root.join("benches/gpu/run.sh"))
        .args(["--bin", bin_dir().to_str().expect("a UTF-8 path"), "--tiny"])
        .args(args)
        .arg(out)
        .current_dir(root)
        .output()
        .expect("bash runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gpu-run-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The data rows of a CSV with exactly one header, as maps from column to value.
fn rows(path: &Path, header: &str) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(header), "{}", path.display());
    let columns: Vec<&str> = header.split(',').collect();
    lines
        .map(|l| {
            assert_ne!(l, header, "{}: the header repeated", path.display());
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!(cells.len(), columns.len(), "{}: {l}", path.display());
            columns.iter().zip(cells).map(|(c, v)| (c.to_string(), v.to_string())).collect()
        })
        .collect()
}

fn positive(row: &std::collections::HashMap<String, String>, column: &str) -> f64 {
    let v: f64 = row[column].parse().unwrap_or_else(|_| panic!("{column}: {:?}", row[column]));
    assert!(v > 0.0, "{column} {v}");
    v
}

#[test]
fn every_stage_writes_its_results_on_the_cpu_backend() {
    let out = scratch("cpu");
    let o = run_script(&["--device", "cpu"], &out);
    let log = std::fs::read_to_string(out.join("log.txt")).unwrap_or_default();
    assert!(o.status.success(), "{}\n{log}", String::from_utf8_lossy(&o.stderr));
    let stepping = rows(&out.join("stepping.csv"), "env,backend,envs,steps,env_steps_per_s");
    assert_eq!(stepping.len(), 4, "two environments at two sizes");
    for r in &stepping {
        positive(r, "env_steps_per_s");
    }
    let ppo = rows(
        &out.join("ppo.csv"),
        "env,loop,population,backend,kernel,run,samples,seconds,samples_per_s,final_return,weights_checksum",
    );
    let seen: Vec<(String, String, String)> =
        ppo.iter().map(|r| (r["env"].clone(), r["loop"].clone(), r["population"].clone())).collect();
    for env_loop in [
        ("cartpole", "host", "1"),
        ("cartpole", "device", "1"),
        ("toycloud", "host", "1"),
        ("toycloud", "device", "1"),
        ("cartpole", "device", "2"),
        ("toycloud", "device", "2"),
    ] {
        let found = seen.iter().any(|(e, l, p)| (e.as_str(), l.as_str(), p.as_str()) == env_loop);
        assert!(found, "{env_loop:?} in {seen:?}");
    }
    assert_eq!(ppo.len(), 10, "{seen:?}");
    // A population's first run is the run alone: the same checksum as the device loop's row.
    let checksum = |env: &str, population: &str, kernel: &str, run: &str| {
        ppo.iter()
            .find(|r| {
                r["env"] == env
                    && r["loop"] == "device"
                    && r["population"] == population
                    && r["kernel"] == kernel
                    && r["run"] == run
            })
            .map(|r| r["weights_checksum"].clone())
    };
    let alone = checksum("cartpole", "1", "auto", "16x8x2x512");
    assert!(alone.is_some());
    assert_eq!(checksum("cartpole", "2", "auto", "16x8x2x512"), alone);
    // The populations whose runs' updates are one batched model.
    for env in ["cartpole", "toycloud"] {
        assert!(checksum(env, "2", "batched", "16x8x2x512").is_some(), "{env}: a batched population's row");
    }
    for r in &ppo {
        assert_eq!(positive(r, "samples") as u64 % 8, 0, "whole rollouts");
        positive(r, "samples_per_s");
        assert_eq!(r["weights_checksum"].len(), 16);
    }
    for (file, runs) in [("rome_repro.txt", 40), ("rome_repro_device.txt", 40), ("emergence.txt", 2)] {
        let rome = std::fs::read_to_string(out.join(file)).expect(file);
        let field = |key: &str| {
            rome.lines()
                .find_map(|l| l.strip_prefix(&format!("{key}: ")))
                .unwrap_or_else(|| panic!("{key} in {rome}"))
                .to_string()
        };
        let finished = field("runs_finished");
        let (done, total) = finished.split_once(" of ").expect("`k of n`");
        let (done, total): (u64, u64) = (done.parse().unwrap(), total.parse().unwrap());
        assert!(done > 0 && done <= total, "{file}: {finished}");
        // The --quick matrix: 20 conditions x 2 seeds; the tiny emergence matrix: a cell and its twin.
        assert_eq!(total, runs, "{file}");
        let projected: u64 = field("projected_matrix_s").split(' ').next().unwrap().parse().expect("seconds");
        let elapsed: u64 = field("elapsed_s").parse().unwrap();
        // Every run finished: the time to the last one; some cut off: scaled up from the elapsed time.
        assert!(if done == total { projected <= elapsed } else { projected >= elapsed }, "{rome}");
    }
    assert!(field_of(&out.join("rome_repro_device.txt"), "command").contains("--loop device"));
    assert!(std::fs::read_to_string(out.join("device.txt")).unwrap().contains("device: cpu"));
    assert!(field_of(&out.join("emergence.txt"), "command").contains("emergence_tiny.ron"));
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 8, "at most 8 files; these eight");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_device_this_build_cannot_give_stops_at_the_smoke_stage_with_its_error() {
    if cfg!(feature = "cuda") {
        return; // a CUDA build may find a device
    }
    let out = scratch("nocuda");
    let o = run_script(&["--device", "cuda"], &out);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("smoke stage failed") && stderr.contains("`cuda` feature"), "{stderr}");
    assert!(!out.join("stepping.csv").exists(), "nothing runs after a failed smoke stage");
    let _ = std::fs::remove_dir_all(&out);
}

/// The value of `key: value` in the file at `path`.
fn field_of(path: &std::path::Path, key: &str) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("{key} in {text}"))
        .to_string()
}
