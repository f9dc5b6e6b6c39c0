//! The rollout binary prints the same checksum on repeated runs and on any thread count, and
//! rejects bad input with errors that name what is wrong.

use std::process::Command;

fn rollout(threads: &str, args: &[&str]) -> (String, String, bool) {
    let out = Command::new(env!("CARGO_BIN_EXE_rollout"))
        .env("RAYON_NUM_THREADS", threads)
        .args(args)
        .output()
        .expect("the rollout binary runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

fn checksum(stdout: &str) -> String {
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.len() >= 2, "no output: {stdout}");
    assert!(lines[lines.len() - 1].starts_with("env-steps/s: "), "{stdout}");
    let sum = lines[lines.len() - 2].strip_prefix("checksum: ").expect("checksum line");
    assert_eq!(sum.len(), 16);
    sum.to_string()
}

#[test]
fn same_checksum_on_repeated_runs_and_any_thread_count() {
    // 1 100 slots: more than four chunks, so two threads really split the work.
    for env in [&["--env", "toycloud", "--scenario", "incident"][..], &["--env", "cartpole"][..]] {
        let mut args = env.to_vec();
        args.extend(["--policy", "random", "--seed", "7", "--envs", "1100", "--steps", "300"]);
        let sums: Vec<String> = ["1", "2", "2", "3"].iter().map(|t| checksum(&rollout(t, &args).0)).collect();
        assert!(sums.iter().all(|s| *s == sums[0]), "{env:?}: {sums:?}");
        let mut other_seed = args.clone();
        let seed_at = other_seed.iter().position(|a| *a == "7").unwrap();
        other_seed[seed_at] = "8";
        assert_ne!(checksum(&rollout("2", &other_seed).0), sums[0], "the seed matters");
    }
}

#[test]
fn bad_input_is_named() {
    let (_, err, ok) = rollout("1", &["--scenario", "no_such_scenario", "--steps", "1"]);
    assert!(!ok && err.contains("unknown scenario `no_such_scenario`") && err.contains("hardened"), "{err}");
    let (_, err, ok) = rollout("1", &["--policy", "teleport", "--steps", "1"]);
    assert!(!ok && err.contains("unknown policy `teleport`") && err.contains("tunnel_then_mine"), "{err}");
    let dir = std::env::temp_dir().join(format!("rollout-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.ron");
    std::fs::write(&bad, "(\n  quota: (grant_probability: 1.5),\n)").unwrap();
    let (_, err, ok) = rollout("1", &["--scenario", bad.to_str().unwrap(), "--steps", "1"]);
    assert!(!ok && err.contains("bad.ron") && err.contains("quota.grant_probability") && err.contains("1.5"), "{err}");
    std::fs::write(&bad, "(\n  quota: (grant_probabilty: 0.5),\n)").unwrap();
    let (_, err, ok) = rollout("1", &["--scenario", bad.to_str().unwrap(), "--steps", "1"]);
    assert!(!ok && err.contains("bad.ron:2:") && err.contains("grant_probabilty"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The checksums of `tests/data/rollout_checksums.csv` are shared with the Python bindings'
/// test (`sim-py/tests/test_rollout_checksum.py`), which steps the same rollouts through
/// `rome_sim`'s vector environment: one table, two implementations held to it.
#[test]
fn the_shared_rollout_checksums_hold() {
    let table = include_str!("data/rollout_checksums.csv");
    for row in table.lines().skip(1) {
        let f: Vec<&str> = row.split(',').collect();
        let (env, scenario, seed, envs, steps, expected) = (f[0], f[1], f[2], f[3], f[4], f[5]);
        let args = [
            "--env",
            env,
            "--scenario",
            scenario,
            "--policy",
            "random",
            "--seed",
            seed,
            "--envs",
            envs,
            "--steps",
            steps,
        ];
        assert_eq!(checksum(&rollout("2", &args).0), expected, "{row}");
    }
}
