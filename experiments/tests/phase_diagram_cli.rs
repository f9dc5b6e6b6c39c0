//! phase_diagram --quick writes its table with the documented columns and its figure.

use std::process::Command;

#[test]
fn quick_writes_the_phase_table_and_figure() {
    let dir = std::env::temp_dir().join(format!("phase_quick_{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_phase_diagram"))
        .args(["--quick", "--quiet", "--out", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = std::fs::read_to_string(dir.join("phase.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    for column in [
        "x",
        "y",
        "honest_optimum",
        "unrestricted_optimum",
        "violation_pays",
        "ppo_return",
        "ppo_return_low",
        "ppo_return_high",
        "ppo_true_cost",
        "ppo_true_cost_low",
        "ppo_true_cost_high",
        "ppo_violation_rate",
        "ppo_violation_rate_low",
        "ppo_violation_rate_high",
    ] {
        assert!(header.contains(&column), "no {column} in {header:?}");
    }
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 4, "2 x 2 cells: {csv}");
    let pays = header.iter().position(|c| *c == "violation_pays").unwrap();
    assert!(rows.iter().all(|r| matches!(r.split(',').nth(pays), Some("true") | Some("false"))));
    let svg = std::fs::read_to_string(dir.join("phase.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("firewall_detection"));
    std::fs::remove_dir_all(&dir).ok();
}
