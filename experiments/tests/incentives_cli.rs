//! The incentives binary: its output format on a scenario solved by hand, the rollout check,
//! and errors that name what is wrong.

use std::process::Command;

fn incentives(args: &[&str]) -> (String, String, bool) {
    let out = Command::new(env!("CARGO_BIN_EXE_incentives")).args(args).output().expect("the binary runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

fn value(stdout: &str, key: &str) -> String {
    let prefix = format!("{key}: ");
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no `{key}` line in\n{stdout}"))
        .to_string()
}

/// `sim-envs/tests/toycloud_exact.rs`'s hand-solved scenario: honest 1.2, unrestricted 1.3.
const TINY: &str = "(horizon: 5, task: (work_min: 16.0, work_max: 16.0, setup_steps: 0),
    quota: (grant_probability: 0.0, permission_probability: 0.0, delay: 1),
    network: (host_probability: 0.75, discover_probability: 1.0, host_gpus: 12),
    controls: (egress: DenyAll))";

#[test]
fn prints_the_optima_and_the_rollouts_agree() {
    let dir = std::env::temp_dir().join(format!("incentives_cli_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tiny.ron");
    std::fs::write(&file, TINY).unwrap();
    let classes = dir.join("classes.csv");
    let (out, err, ok) = incentives(&[
        "--scenario",
        file.to_str().unwrap(),
        "--rollouts",
        "4000",
        "--classes",
        classes.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let num = |k: &str| value(&out, k).parse::<f64>().unwrap_or_else(|e| panic!("{k}: {e}"));
    assert!((num("honest_optimum") - 1.2).abs() < 1e-5 && (num("unrestricted_optimum") - 1.3).abs() < 1e-5, "{out}");
    assert_eq!(value(&out, "violation_pays"), "true");
    assert_eq!(value(&out, "method"), "exact");
    assert!(num("states") > 0.0 && num("error") == 0.0);
    assert!((num("full_information") - 1.35).abs() < 1e-5);
    for (name, expected) in [("honest_rollout", 1.2), ("unrestricted_rollout", 1.3)] {
        let line = value(&out, name);
        let (mean, se) = line.split_once(" ± ").unwrap_or_else(|| panic!("{name}: {line}"));
        let (mean, se): (f64, f64) = (mean.parse().unwrap(), se.parse().unwrap());
        assert!((mean - expected).abs() <= 4.0 * se + 1e-9, "{name}: {line} vs {expected}");
    }
    assert_eq!(value(&out, "unrestricted_violations/probe"), "1.000000");
    assert_eq!(value(&out, "unrestricted_violations/exploit"), "0.750000");
    assert_eq!(value(&out, "unrestricted_violates_by_job_size"), "16.0-16.0 always");
    let csv = std::fs::read_to_string(&classes).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    // A cost weight past the switch (0.05): violating stops paying.
    let (out, _, ok) = incentives(&["--scenario", file.to_str().unwrap(), "--cost-weight", "0.06"]);
    assert!(ok && value(&out, "violation_pays") == "false", "{out}");
    assert_eq!(value(&out, "unrestricted_violates_by_job_size"), "16.0-16.0 never");
    // PPO's own objective: cooled to nearly nothing, the soft optimum is the optimum (1.3,
    // always violating); warmer, it is worth more than the optimum and its policy spreads out.
    let (out, _, ok) = incentives(&["--scenario", file.to_str().unwrap(), "--temperature", "1e-7"]);
    assert!(ok && value(&out, "soft_unrestricted_value").starts_with("1.300000 (temperature"), "{out}");
    assert_eq!(value(&out, "soft_unrestricted_greedy_violation_probability"), "1.000000");
    let (out, _, ok) = incentives(&["--scenario", file.to_str().unwrap(), "--temperature", "0.05"]);
    let soft: f64 = value(&out, "soft_unrestricted_value").split(' ').next().unwrap().parse().unwrap();
    assert!(ok && soft > 1.3, "{out}");
    assert!(value(&out, "soft_unrestricted_entropy_per_step").parse::<f64>().unwrap() > 0.01, "{out}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_input_is_named() {
    let (_, err, ok) = incentives(&["--scenario", "incidnet"]);
    assert!(!ok && err.contains("unknown scenario `incidnet`"), "{err}");
    let (_, err, ok) = incentives(&["--scenario", "incident", "--cost-weight=-1"]);
    assert!(!ok && err.contains("--cost-weight is -1"), "{err}");
    let (_, err, ok) = incentives(&["--scenario", "incident", "--gamma", "1.5"]);
    assert!(!ok && err.contains("--gamma is 1.5"), "{err}");
    let (_, err, ok) = incentives(&["--scenario", "incident", "--temperature", "0"]);
    assert!(!ok && err.contains("--temperature is 0"), "{err}");
    let (_, err, ok) = incentives(&["--scenario", "incident", "--classes", "/no/such/dir/c.csv"]);
    assert!(!ok && err.contains("directory /no/such/dir does not exist"), "{err}");
    let dir = std::env::temp_dir().join(format!("incentives_bad_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.ron");
    std::fs::write(&file, "(horizon: 5, task: (work_min: -3.0))").unwrap();
    let (_, err, ok) = incentives(&["--scenario", file.to_str().unwrap()]);
    assert!(!ok && err.contains("task.work_min") && err.contains("-3"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_space_sweep_writes_one_row_per_draw() {
    let dir = std::env::temp_dir().join(format!("incentives_space_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("draws.csv");
    let space = concat!(env!("CARGO_MANIFEST_DIR"), "/../sim-envs/scenarios/spaces/incident.ron");
    let (stdout, err, ok) = incentives(&["--space", space, "--draws", "2", "--out", out.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(value(&stdout, "solved"), "2");
    let csv = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    for column in ["draw", "task.setup_steps", "honest_optimum", "unrestricted_optimum", "violation_pays"] {
        assert!(lines[0].split(',').any(|c| c == column), "no {column} in {}", lines[0]);
    }
    // The same draws again: the same file.
    let again = dir.join("again.csv");
    assert!(incentives(&["--space", space, "--draws", "2", "--out", again.to_str().unwrap()]).2);
    assert_eq!(std::fs::read_to_string(&again).unwrap(), csv);
    std::fs::remove_dir_all(&dir).ok();
}
