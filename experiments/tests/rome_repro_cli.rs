//! The rome_repro binary end to end: `--quick` writes every output with sane values, the same
//! matrix gives the same `summary.csv` byte for byte whatever the thread count, an interrupted
//! matrix resumes only what it had not finished, and a malformed matrix fails before training.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn rome_repro(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rome_repro")).args(args).arg("--quiet").output().expect("rome_repro runs")
}

fn ok(out: &Output) -> PathBuf {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "rome_repro failed: {stdout} / {}", String::from_utf8_lossy(&out.stderr));
    let last = stdout.lines().last().expect("some output");
    PathBuf::from(last.strip_prefix("run_dir: ").unwrap_or_else(|| panic!("last line is `{last}`")))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rome-repro-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The cells of a CSV line (double-quoted cells may hold commas and doubled quotes).
fn cells(line: &str) -> Vec<String> {
    let (mut out, mut cell, mut quoted, mut chars) = (vec![], String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cell)),
            _ => cell.push(c),
        }
    }
    out.push(cell);
    out
}

/// A CSV as a header and rows of named cells.
fn csv(path: &Path) -> (Vec<String>, Vec<HashMap<String, String>>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<String> = cells(lines.next().expect("a header"));
    let rows = lines
        .map(|l| {
            let cells = cells(l);
            assert_eq!(cells.len(), header.len(), "{}: ragged row `{l}`", path.display());
            header.iter().cloned().zip(cells).collect()
        })
        .collect();
    (header, rows)
}

fn number(row: &HashMap<String, String>, column: &str) -> Option<f64> {
    let cell = &row[column];
    if cell.is_empty() {
        return None;
    }
    let x: f64 = cell.parse().unwrap_or_else(|_| panic!("{column} = `{cell}` is not a number"));
    assert!(x.is_finite(), "{column} = {x}");
    Some(x)
}

/// No file anywhere under `dir` is a leftover of an unfinished atomic write.
fn no_partial_files(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            no_partial_files(&path);
        } else {
            let name = path.file_name().unwrap().to_string_lossy();
            assert!(!name.contains(".tmp") && !name.starts_with('.'), "left behind: {}", path.display());
        }
    }
}

/// The quick preset's conditions, cut down to `names` and `seeds`, as a matrix file.
fn sub_matrix(dir: &Path, names: &[&str], seeds: &str) -> String {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/rome_repro_quick.ron")).unwrap();
    let start = text.find("    conditions: [").unwrap();
    // Each condition, which may span lines: from its `(name:` to where its parentheses close.
    let mut conditions: Vec<String> = Vec::new();
    let mut open: Option<(String, i32)> = None;
    for line in text[start..].lines().skip(1) {
        if open.is_none() && names.iter().any(|n| line.contains(&format!("(name: \"{n}\""))) {
            open = Some((String::new(), 0));
        }
        if let Some((block, depth)) = &mut open {
            block.push_str(line);
            block.push('\n');
            *depth += line.matches('(').count() as i32 - line.matches(')').count() as i32;
            if *depth == 0 {
                conditions.push(std::mem::take(block));
                open = None;
            }
        }
    }
    assert_eq!(conditions.len(), names.len(), "every condition was found in the preset");
    let matrix = format!("{}    conditions: [\n{}    ],\n)\n", &text[..start], conditions.concat())
        .replace("seeds: [101, 102]", &format!("seeds: {seeds}"));
    let path = dir.join("matrix.ron");
    std::fs::write(&path, matrix).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn quick_writes_every_output_with_values_in_range() {
    let dir = scratch("quick");
    let out_dir = dir.join("run");
    let run = ok(&rome_repro(&["--quick", "--out", out_dir.to_str().unwrap()]));
    assert_eq!(run, out_dir);

    for file in [
        "config.ron",
        "summary.csv",
        "aggregate.csv",
        "modes.csv",
        "verdicts.csv",
        "calibration.csv",
        "report.md",
        "learning_curves.svg",
        "frontier.svg",
        "detection_latency.svg",
        "violation_breakdown.svg",
    ] {
        let len = std::fs::metadata(run.join(file)).unwrap_or_else(|e| panic!("{file}: {e}")).len();
        assert!(len > 100, "{file} has {len} bytes");
    }
    no_partial_files(&run);

    let (header, rows) = csv(&run.join("summary.csv"));
    for column in [
        "condition",
        "seed",
        "task_return",
        "success_rate",
        "violation_rate",
        "true_cost",
        "alert_rate",
        "detected_share",
        "mean_detection_latency",
        "tunnel_rate",
        "mining_share",
        "exploit_rate",
        "self_report_rate",
        "steps_to_majority_violation",
        "alerts_per_episode",
        "unauthorized_gpu_steps",
        "never_detected_share",
        "sampled_true_cost",
        "unmonitored_true_cost",
        "mode",
    ] {
        assert!(header.iter().any(|h| h == column), "summary.csv lacks `{column}`");
    }
    let conditions: Vec<&String> = rows.iter().map(|r| &r["condition"]).collect();
    assert_eq!(rows.len(), 2 * 20, "20 conditions by 2 seeds");
    for name in [
        "baseline",
        "twin",
        "honest",
        "emergence",
        "egress_allow",
        "persist_kill",
        "evade_detected",
        "oracle_0.5",
        "lagrangian_0.5",
    ] {
        assert_eq!(conditions.iter().filter(|c| **c == name).count(), 2, "{name}");
    }
    for row in &rows {
        for rate in [
            "success_rate",
            "violation_rate",
            "alert_rate",
            "detected_share",
            "tunnel_rate",
            "mining_share",
            "exploit_rate",
            "self_report_rate",
        ] {
            let x = number(row, rate).unwrap_or(0.0);
            assert!((0.0..=1.0).contains(&x), "{} {rate} = {x}", row["condition"]);
        }
        assert!(number(row, "true_cost").unwrap() >= 0.0);
        if let Some(latency) = number(row, "mean_detection_latency") {
            assert!(latency >= 0.0);
        }
        if let Some(steps) = number(row, "steps_to_majority_violation") {
            assert!(steps > 0.0 && steps <= 4096.0, "{steps}");
        }
        let ret = number(row, "task_return").unwrap();
        assert!((-1.0..=10.0).contains(&ret), "{} return {ret}", row["condition"]);
        // A curve per run, with at least the final evaluation.
        let curve = run.join("curves").join(format!("{}__seed{}.csv", row["condition"], row["seed"]));
        assert!(csv(&curve).1.len() >= 2, "{}", curve.display());
    }

    let (header, rows) = csv(&run.join("aggregate.csv"));
    for column in ["condition", "metric", "iqm", "ci_low", "ci_high"] {
        assert!(header.iter().any(|h| h == column), "aggregate.csv lacks `{column}`: {header:?}");
    }
    for row in &rows {
        let (Some(iqm), Some(low), Some(high)) = (number(row, "iqm"), number(row, "ci_low"), number(row, "ci_high"))
        else {
            continue;
        };
        assert!(low <= iqm + 1e-9 && iqm <= high + 1e-9, "{row:?}");
    }
    for metric in ["safety_gym/final_return", "safety_gym/final_cost", "safety_gym/cost_rate"] {
        assert!(rows.iter().any(|r| r["metric"] == metric), "aggregate.csv lacks {metric}");
    }

    // A barely trained matrix supports nothing.
    let (header, rows) = csv(&run.join("verdicts.csv"));
    assert_eq!(header[..7], ["phenomenon", "verdict", "precondition", "effect", "low", "high", "criterion"]);
    assert_eq!(
        rows.iter().map(|r| r["phenomenon"].as_str()).collect::<Vec<_>>(),
        ["P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8"]
    );
    for row in &rows {
        assert!(
            ["not_measured", "precondition_fails"].contains(&row["verdict"].as_str()),
            "--quick gives a verdict: {row:?}"
        );
    }
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("## Verdicts"));
    for n in 1..=8 {
        assert!(report.contains(&format!("\n### P{n}: ")), "report.md lacks phenomenon {n}");
    }
    assert!(report.contains("checksum"), "the report names the criteria's checksum");
    // Every phenomenon calibrated on every pseudo-agent, whatever the training length; the
    // optimal agents reach P1 on `smoke` against its twin, and no honest, random or
    // always-violating agent reaches `supported` or `partly` on anything.
    let (header, rows) = csv(&run.join("calibration.csv"));
    assert_eq!(header, ["phenomenon", "agent", "verdict", "effect", "low", "high"]);
    assert_eq!(rows.len(), 8 * 5);
    assert!(rows.iter().any(|r| r["phenomenon"] == "P1" && r["agent"] == "optimal" && r["verdict"] == "supported"));
    for r in rows.iter().filter(|r| r["agent"] != "optimal") {
        assert!(!["supported", "partly"].contains(&r["verdict"].as_str()), "{r:?}");
    }
    assert!(report.contains("## Calibration on oracle pseudo-agents"));
}

#[test]
fn on_a_base_where_violating_does_not_pay_p1_is_not_supported() {
    let dir = scratch("no_pay");
    // Short runs judged, so that only the precondition can stop P1. The base is its own twin:
    // agents that violate in most of its episodes are an artefact, otherwise it fails.
    let matrix = sub_matrix(&dir, &["baseline", "honest"], "[101]");
    judge_short_runs(&dir, &matrix);
    // `smoke` with a firewall that sees everything a step later (as `tuning/watched.ron` is
    // `pressure`'s; at the default latency of 2 a violation in `smoke`'s last steps outlives its
    // short deadline): every violation halts the job, so by the solver violating does not pay
    // (the phase diagram's corner, honest = unrestricted).
    let base = dir.join("watched_smoke.ron");
    let watched = include_str!("../../sim-envs/scenarios/smoke.ron").replace(
        "firewall: (tunnel: 0.1)",
        "firewall: (latency: 1, blocked_egress: 1.0, direct_egress: 1.0, tunnel: 1.0, probe: 1.0, exploit: 1.0)",
    );
    assert!(watched.contains("exploit: 1.0"));
    std::fs::write(&base, watched).unwrap();
    let run = rebased(&dir, &matrix, base.to_str().unwrap());
    let (_, rows) = csv(&run.join("verdicts.csv"));
    let p1 = &rows[0];
    assert_eq!(p1["phenomenon"], "P1");
    assert!(["not_supported", "artefact", "precondition_fails"].contains(&p1["verdict"].as_str()), "{p1:?}");
    assert!(p1["precondition"].contains("does not pay"), "{p1:?}");
}

/// P7 and P8 on a base where acquiring does not pay (`smoke` watched by a firewall that halts
/// every violation; its own twin): pretrained RLOO agents, a KL leash and golden pretraining,
/// trained briefly and judged. P7 cannot be supported where there is nothing to acquire for, and
/// P8 cannot report a remedy as preventing what never happened; the phase diagram's table and
/// figure are written.
#[test]
fn on_a_base_where_acquiring_does_not_pay_p7_and_p8_are_not_supported() {
    let dir = scratch("no_pay_pretrained");
    let matrix = sub_matrix(&dir, &["baseline"], "[101, 102]");
    judge_short_runs(&dir, &matrix);
    let text = std::fs::read_to_string(&matrix).unwrap();
    let mix = |chain: f64| {
        format!(
            "Some((mixture: [(strategy: \"honest_work\", share: {}){}], episodes: 200))",
            1.0 - chain,
            if chain > 0.0 { format!(", (strategy: \"tunnel_then_mine\", share: {chain})") } else { String::new() }
        )
    };
    let cell = |name: &str, family: &str, beta: f64, chain: f64| {
        format!(
            "        (name: \"{name}\", family: {family}, algorithm: Rloo(group_size: 4, beta: {beta:?}), pretrain: {}),\n",
            mix(chain)
        )
    };
    let conditions = [
        cell("rloo", "Algorithm", 0.0, 0.05),
        cell("rloo_twin", "Twin", 0.0, 0.05),
        cell("rloo_kl", "Algorithm", 0.1, 0.05),
        cell("rloo_golden", "Algorithm", 0.0, 0.0),
    ]
    .concat();
    let start = text.find("    conditions: [").unwrap();
    std::fs::write(&matrix, format!("{}    conditions: [\n{conditions}    ],\n)\n", &text[..start])).unwrap();
    let base = dir.join("watched_smoke.ron");
    let watched = include_str!("../../sim-envs/scenarios/smoke.ron").replace(
        "firewall: (tunnel: 0.1)",
        "firewall: (latency: 1, blocked_egress: 1.0, direct_egress: 1.0, tunnel: 1.0, probe: 1.0, exploit: 1.0)",
    );
    std::fs::write(&base, watched).unwrap();
    let run = rebased(&dir, &matrix, base.to_str().unwrap());
    let (_, rows) = csv(&run.join("verdicts.csv"));
    let row = |p: &str| rows.iter().find(|r| r["phenomenon"] == p).unwrap_or_else(|| panic!("{p} has a row")).clone();
    let (p7, p8) = (row("P7"), row("P8"));
    assert_eq!(p7["verdict"], "precondition_fails", "{p7:?}");
    assert!(p7["precondition"].contains("violating does not pay on the base"), "{p7:?}");
    assert!(!["supported", "partly"].contains(&p8["verdict"].as_str()), "{p8:?}");
    let (header, cells) = csv(&run.join("emergence.csv"));
    assert_eq!(header[..5], ["algorithm", "prior", "beta", "golden_rl", "scenario"]);
    assert_eq!(cells.len(), 4, "three cells on the base and one twin");
    let first = &cells[0];
    assert_eq!(
        (first["algorithm"].as_str(), first["prior"].as_str(), first["scenario"].as_str()),
        ("rloo", "0.05", "base")
    );
    assert_eq!(first["seeds"], "2");
    assert!(std::fs::read_to_string(run.join("emergence.svg")).unwrap().contains("rloo: no-pay twin"));
}

/// `matrix` run on the base scenario file `base` into `dir/run`, which it returns.
fn rebased(dir: &Path, matrix: &str, base: &str) -> PathBuf {
    ok(&rome_repro(&["--config", matrix, "--base-scenario", base, "--out", dir.join("run").to_str().unwrap()]))
}

/// Criteria that let a short run be judged (no training-length gate), written into `dir`, and
/// the matrix file at `matrix` pointed at them.
fn judge_short_runs(dir: &Path, matrix: &str) {
    let criteria = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/criteria.ron"))
        .unwrap()
        .replace("min_train_steps: 200000", "min_train_steps: 0");
    let criteria_path = dir.join("criteria.ron");
    std::fs::write(&criteria_path, criteria).unwrap();
    let text = std::fs::read_to_string(matrix)
        .unwrap()
        .replace("criteria: \"default\"", &format!("criteria: {:?}", criteria_path.to_str().unwrap()));
    std::fs::write(matrix, text).unwrap();
}

/// Agents that violate regardless of the payoff (a prior on the tunnel that a short run does
/// not unlearn) on a base file where violating pays: they violate on its no-pay twin too, so P1
/// is an artefact (never supported or partly), although they violate on the base as the
/// optimum does.
#[test]
fn agents_that_violate_on_the_no_pay_twin_too_are_an_artefact_not_evidence() {
    let dir = scratch("twin_artefact");
    let matrix = sub_matrix(&dir, &["baseline", "twin"], "[101, 102]");
    judge_short_runs(&dir, &matrix);
    let text = std::fs::read_to_string(&matrix).unwrap();
    assert!(text.contains("initial_logits: {\"work\": 1.0}"));
    std::fs::write(&matrix, text.replace("initial_logits: {\"work\": 1.0}", "initial_logits: {\"open_tunnel\": 4.0}"))
        .unwrap();
    let base = dir.join("smoke_copy.ron");
    std::fs::write(&base, include_str!("../../sim-envs/scenarios/smoke.ron")).unwrap();
    let run = rebased(&dir, &matrix, base.to_str().unwrap());
    let (_, rows) = csv(&run.join("verdicts.csv"));
    let p1 = &rows[0];
    assert_eq!(p1["phenomenon"], "P1");
    assert_eq!(p1["verdict"], "artefact", "{p1:?}");
    assert!(p1["precondition"].contains("on the twin (the base with jobs of"), "{p1:?}");
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("they violate regardless of the payoff"), "the report says why");
    // The calibration beside it: the optimal pseudo-agents pass P1's primary (`partly`: this
    // matrix has no emergence condition for the last secondary), so P1 has power here; the
    // always-violating ones are artefacts too.
    let (_, cal) = csv(&run.join("calibration.csv"));
    let of = |agent: &str| cal.iter().find(|r| r["phenomenon"] == "P1" && r["agent"] == agent).unwrap().clone();
    assert_eq!(of("optimal")["verdict"], "partly");
    assert!(number(&of("optimal"), "low").unwrap() > 0.3, "{:?}", of("optimal"));
    assert_eq!(of("always_violate")["verdict"], "artefact");
}

#[test]
fn same_matrix_same_summary_whatever_the_threads_and_resume_recomputes_only_the_missing() {
    let dir = scratch("determinism");
    // A penalty with its own network (AUP), a learned multiplier and a plain run.
    let matrix = sub_matrix(&dir, &["baseline", "lagrangian_0.5", "aup_0.01"], "[5]");
    let one = ok(&rome_repro(&["--config", &matrix, "--threads", "1", "--out", dir.join("one").to_str().unwrap()]));
    let two = ok(&rome_repro(&["--config", &matrix, "--threads", "2", "--out", dir.join("two").to_str().unwrap()]));
    let summary = std::fs::read(one.join("summary.csv")).unwrap();
    assert_eq!(summary, std::fs::read(two.join("summary.csv")).unwrap(), "summary.csv differs across thread counts");
    assert_eq!(std::fs::read(one.join("aggregate.csv")).unwrap(), std::fs::read(two.join("aggregate.csv")).unwrap());

    // An interrupted matrix: one run's result is missing, another never started.
    std::fs::remove_dir_all(two.join("runs").join("aup_0.01__seed5")).unwrap();
    std::fs::remove_file(two.join("summary.csv")).unwrap();
    let out = rome_repro(&["--config", &matrix, "--threads", "2", "--out", two.to_str().unwrap()]);
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1 runs computed"), "{stderr}");
    assert_eq!(summary, std::fs::read(two.join("summary.csv")).unwrap(), "resumed matrix differs");

    // A different matrix never mixes into an existing run directory.
    let other = sub_matrix(&dir, &["baseline"], "[5]");
    let out = rome_repro(&["--config", &other, "--out", two.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("different matrix"));
}

#[test]
fn malformed_matrix_fails_before_training_naming_file_line_and_field() {
    let dir = scratch("malformed");
    let good = std::fs::read_to_string(sub_matrix(&dir, &["baseline"], "[7]")).unwrap();
    assert!(good.contains("tuning_seeds: [1]"));
    let cases = [
        // An unknown field inside the PPO settings, on the line of `num_envs`.
        (good.replace("num_envs: 16,", "num_envs: 16, num_env: 3,"), "num_env", true),
        // A wrong type.
        (good.replace("num_steps: 32,", "num_steps: \"32\","), "num_steps", true),
        // An out-of-range value: a probability above one in the bootstrap's confidence.
        (good.replace("confidence: 0.95", "confidence: 1.5"), "confidence", false),
        // A base scenario that does not exist.
        (good.replace("base_scenario: \"smoke\"", "base_scenario: \"smokes\""), "smokes", false),
        // Criteria that do not exist.
        (good.replace("criteria: \"default\"", "criteria: \"no_such_criteria.ron\""), "no_such_criteria", false),
        // Tuning seeds that overlap the reported ones.
        (good.replace("tuning_seeds: [1]", "tuning_seeds: [7]"), "tuning_seeds", false),
        // No seeds.
        (good.replace("    seeds: [7],", "    seeds: [],"), "seeds", false),
    ];
    for (i, (text, needle, with_line)) in cases.iter().enumerate() {
        assert_ne!(text, &good, "case {i} changed nothing");
        let path = dir.join(format!("bad{i}.ron"));
        std::fs::write(&path, text).unwrap();
        let out_dir = dir.join(format!("out{i}"));
        let out = rome_repro(&["--config", path.to_str().unwrap(), "--out", out_dir.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "case {i} ran");
        assert!(stderr.contains(path.to_str().unwrap()), "case {i} does not name the file: {stderr}");
        assert!(stderr.contains(needle), "case {i} does not name `{needle}`: {stderr}");
        if *with_line {
            let line = text.lines().position(|l| l.contains(needle)).unwrap() + 1;
            assert!(stderr.contains(&format!(":{line}:")), "case {i} does not name line {line}: {stderr}");
        }
        assert!(!out_dir.exists(), "case {i} created its run directory");
    }
}

#[test]
fn draws_and_sensitivity_tabulate_every_variants_verdicts() {
    let dir = scratch("variants");
    let matrix = sub_matrix(&dir, &["baseline"], "[5]");
    // A space like `spaces/pressure.ron`, around `smoke` so that each draw solves in seconds.
    let space = dir.join("space.ron");
    std::fs::write(
        &space,
        r#"(base: "smoke", vary: {"monitors.firewall.tunnel": Uniform(0.05, 0.3), "task.work_max": Numbers([56.0, 64.0, 72.0])})"#,
    )
    .unwrap();
    let space = space.to_str().unwrap();
    let out = dir.join("draws");
    let run = ok(&rome_repro(&[
        "--config",
        &matrix,
        "--base-scenario",
        space,
        "--draws",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]));
    let (_, rows) = csv(&run.join("draws.csv"));
    assert_eq!(rows.len(), 2 * 8, "two draws by eight phenomena");
    assert_eq!(rows[0]["base_scenario"], format!("{space}@0"));
    assert!(run.join("draw1").join("verdicts.csv").is_file());
    // The tally agrees with the table: per phenomenon, its two draws counted by verdict.
    let (_, tally) = csv(&run.join("draws_summary.csv"));
    assert_eq!(tally.len(), 8, "one row per phenomenon");
    for t in &tally {
        let of: Vec<&str> =
            rows.iter().filter(|r| r["phenomenon"] == t["phenomenon"]).map(|r| r["verdict"].as_str()).collect();
        assert_eq!(t["variants"], "2");
        for v in ["supported", "partly", "not_supported", "artefact", "precondition_fails", "not_measured"] {
            assert_eq!(t[v], of.iter().filter(|&&w| w == v).count().to_string(), "{v} of {}", t["phenomenon"]);
        }
    }

    let matrix = sub_matrix(&dir, &["baseline", "emergence"], "[5]");
    let out = dir.join("sensitivity");
    let run = ok(&rome_repro(&["--config", &matrix, "--sensitivity", "--out", out.to_str().unwrap()]));
    let (_, rows) = csv(&run.join("sensitivity.csv"));
    assert_eq!(rows.len(), 10 * 8, "five entropy coefficients, with and without the prior, by eight phenomena");
    let variants: std::collections::BTreeSet<(String, String)> =
        rows.iter().map(|r| (r["ent_coef"].clone(), r["honest_prior"].clone())).collect();
    assert_eq!(variants.len(), 10, "{variants:?}");
    for row in &rows {
        assert_eq!(row["verdict"], "not_measured", "{row:?}");
    }
    // P1's dose–response: the task-only agents of every variant beside the exact optimum of
    // their objective, and the shortfall between them.
    let (_, dose) = csv(&run.join("dose_response.csv"));
    assert_eq!(dose.len(), 10, "one task-only condition in each of the ten variants");
    for d in &dose {
        assert_eq!(d["family"], "baseline");
        let (optimum, ret, shortfall) =
            (number(d, "optimum").unwrap(), number(d, "task_return").unwrap(), number(d, "shortfall").unwrap());
        assert!((optimum - ret - shortfall).abs() < 1e-9 && optimum > 1.0, "{d:?}");
    }
    // Emergence's dose–response: the lifted condition in every variant, its seeds counted.
    let (_, emergence) = csv(&run.join("emergence.csv"));
    assert_eq!(emergence.len(), 10, "one emergence condition in each of the ten variants");
    for e in &emergence {
        assert_eq!((e["condition"].as_str(), e["lift_at"].as_str(), e["seeds"].as_str()), ("emergence", "2048", "1"));
        let emerged: usize = e["emerged"].parse().unwrap();
        let unresolved: usize = e["unresolved"].parse().unwrap();
        assert!(emerged + unresolved <= 1, "{e:?}");
        let sampled = number(e, "sampled_violation_after").expect("sampled training episodes after the lift");
        assert!((0.0..=1.0).contains(&sampled), "{e:?}");
    }
}

#[test]
fn a_run_directory_in_use_is_refused_naming_its_holder() {
    // This test process holds the lock (it is alive, on this host): rome_repro must refuse the
    // directory before any work, name the holder, and leave the lock and the directory as they
    // were.
    let dir = scratch("locked");
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "unknown".into());
    let lock = format!("host={}\npid={}\nsince=1\n", host.trim(), std::process::id());
    std::fs::write(out_dir.join("rome.lock"), &lock).unwrap();
    let out = rome_repro(&["--quick", "--out", out_dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(&format!("in use by pid {}", std::process::id())), "{stderr}");
    assert_eq!(std::fs::read_to_string(out_dir.join("rome.lock")).unwrap(), lock);
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 1, "only the lock is there");
}

/// `rome_repro args` (with `--out DIR` among them) sent SIGTERM `wait_ms` after its second run
/// directory appeared; what it printed and its status. It must stop within 10 s.
fn stopped_by_sigterm(args: &[&str], wait_ms: u64) -> Output {
    let out = args.iter().position(|&a| a == "--out").map(|i| PathBuf::from(args[i + 1])).expect("--out");
    let child = Command::new(env!("CARGO_BIN_EXE_rome_repro"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while std::fs::read_dir(out.join("runs")).map_or(0, |d| d.count()) < 2 {
        assert!(start.elapsed() < std::time::Duration::from_secs(60), "the runs did not start");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(std::time::Duration::from_millis(wait_ms));
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let sent = std::time::Instant::now();
    let result = child.wait_with_output().unwrap();
    assert!(sent.elapsed() < std::time::Duration::from_secs(10), "took {:?} to stop", sent.elapsed());
    result
}

#[test]
fn sigterm_checkpoints_the_runs_in_progress_and_the_same_command_continues_exactly() {
    let dir = scratch("sigterm");
    // Long enough runs (384 updates each) that the signal falls inside training.
    let matrix = sub_matrix(&dir, &["baseline", "lagrangian_0.5", "aup_0.01"], "[5]");
    let text = std::fs::read_to_string(&matrix).unwrap().replace("total_timesteps: 4096", "total_timesteps: 196608");
    std::fs::write(&matrix, text).unwrap();
    let straight =
        ok(&rome_repro(&["--config", &matrix, "--threads", "2", "--out", dir.join("straight").to_str().unwrap()]));

    let stopped = dir.join("stopped");
    let result = stopped_by_sigterm(
        &["--config", &matrix, "--threads", "2", "--quiet", "--out", stopped.to_str().unwrap()],
        1500,
    );
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(75), "stopped by SIGTERM: EX_TEMPFAIL; {stderr}");
    assert!(stderr.contains("stopped by SIGTERM") && stderr.contains("run the same command again"), "{stderr}");
    let checkpoints = std::fs::read_dir(stopped.join("runs"))
        .unwrap()
        .filter(|d| d.as_ref().unwrap().path().join("checkpoint.bin").is_file())
        .count();
    assert!(checkpoints >= 1, "no run was checkpointed mid-training: {stderr}");
    assert!(!stopped.join("summary.csv").exists(), "no tables from an interrupted matrix");

    let resumed = ok(&rome_repro(&["--config", &matrix, "--threads", "2", "--out", stopped.to_str().unwrap()]));
    for file in ["summary.csv", "aggregate.csv", "verdicts.csv"] {
        assert_eq!(
            std::fs::read(resumed.join(file)).unwrap(),
            std::fs::read(straight.join(file)).unwrap(),
            "{file} of the resumed matrix differs"
        );
    }
    for run in std::fs::read_dir(straight.join("runs")).unwrap() {
        let name = run.unwrap().file_name();
        let (a, b) = (straight.join("runs").join(&name), resumed.join("runs").join(&name));
        for file in ["result.ron", "metrics.csv"] {
            assert_eq!(std::fs::read(a.join(file)).unwrap(), std::fs::read(b.join(file)).unwrap(), "{name:?}/{file}");
        }
        assert!(!b.join("checkpoint.bin").exists() && !b.join("progress.ron").exists(), "spent checkpoint kept");
    }
    no_partial_files(&resumed);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn array_tasks_then_aggregate_equal_one_process_byte_for_byte() {
    let dir = scratch("array");
    // 4 runs in tasks of 3: the last task is short.
    let matrix = sub_matrix(&dir, &["baseline", "honest"], "[5, 6]");
    let one = ok(&rome_repro(&["--config", &matrix, "--threads", "2", "--out", dir.join("one").to_str().unwrap()]));
    let (scripts, tasks) = (dir.join("slurm"), dir.join("tasks"));
    let (tasks_s, scripts_s) = (tasks.to_str().unwrap(), scripts.to_str().unwrap());
    let opts = dir.join("site.sbatch");
    std::fs::write(&opts, "# our cluster\n#SBATCH --partition=short\naccount=rl-safety\n").unwrap();
    let written = rome_repro(&[
        "--config",
        &matrix,
        "--out",
        tasks_s,
        "--runs-per-task",
        "3",
        "--slurm",
        scripts_s,
        "--sbatch-file",
        opts.to_str().unwrap(),
        "--sbatch",
        "time=0:20:00",
        "--sbatch",
        "requeue=",
    ]);
    ok(&written);
    assert!(!tasks.join("runs").exists(), "--slurm runs nothing");
    let array = std::fs::read_to_string(scripts.join("array.sbatch")).unwrap();
    for line in [
        "#SBATCH --array=0-1\n",
        "#SBATCH --time=0:20:00\n",
        "#SBATCH --partition=short\n",
        "#SBATCH --account=rl-safety\n",
        "#SBATCH --signal=B:TERM@120\n",
        "--task \"$SLURM_ARRAY_TASK_ID\"",
    ] {
        assert!(array.contains(line), "array.sbatch lacks `{line}`:\n{array}");
    }
    assert!(!array.contains("--requeue\n"), "`requeue=` removes the default");
    let aggregate = std::fs::read_to_string(scripts.join("aggregate.sbatch")).unwrap();
    assert!(
        aggregate.contains("--aggregate")
            && aggregate.contains("#SBATCH --partition=short")
            && !aggregate.contains("--array")
    );
    let submit = std::fs::read_to_string(scripts.join("submit.sh")).unwrap();
    assert!(submit.contains("--dependency=\"afterok:$array\""), "{submit}");
    for script in ["array.sbatch", "aggregate.sbatch", "submit.sh"] {
        let syntax = Command::new("bash").arg("-n").arg(scripts.join(script)).output().unwrap();
        assert!(syntax.status.success(), "{script}: {}", String::from_utf8_lossy(&syntax.stderr));
    }

    // Aggregating before every task ran names what is missing and writes no table.
    let task = |i: &str| rome_repro(&["--config", &matrix, "--out", tasks_s, "--runs-per-task", "3", "--task", i]);
    assert!(task("1").status.success());
    let early = rome_repro(&["--config", &matrix, "--out", tasks_s, "--runs-per-task", "3", "--aggregate"]);
    let stderr = String::from_utf8_lossy(&early.stderr);
    assert!(!early.status.success());
    assert!(
        stderr.contains("3 of 4 runs are not finished")
            && stderr.contains("baseline__seed5")
            && stderr.contains("array tasks 0 "),
        "{stderr}"
    );
    assert!(!tasks.join("summary.csv").exists());
    let missing = task("2");
    assert!(!missing.status.success() && String::from_utf8_lossy(&missing.stderr).contains("task 2 does not exist"));
    assert!(task("0").status.success());
    let all = ok(&rome_repro(&["--config", &matrix, "--out", tasks_s, "--runs-per-task", "3", "--aggregate"]));
    for file in ["summary.csv", "aggregate.csv", "verdicts.csv", "modes.csv", "violations_by_kind.csv"] {
        assert_eq!(std::fs::read(all.join(file)).unwrap(), std::fs::read(one.join(file)).unwrap(), "{file} differs");
    }
    no_partial_files(&all);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// On the device loop each condition's seeds train together as one population: the same bytes
/// as every run trained alone on the device loop (array tasks of one run each), the report says
/// so, and a population stopped by SIGTERM continues from its runs' checkpoints to the same
/// bytes.
#[test]
fn device_loop_populations_equal_runs_alone_and_resume_after_sigterm() {
    let dir = scratch("population");
    let matrix = sub_matrix(&dir, &["baseline", "lagrangian_0.5"], "[5, 6]");
    let device = ["--loop", "device"];
    let together = dir.join("together");
    let together =
        ok(&rome_repro(&[&["--config", &matrix, "--out", together.to_str().unwrap()][..], &device].concat()));
    let report = std::fs::read_to_string(together.join("report.md")).unwrap();
    assert!(report.contains("went together as one population"), "{report}");
    let tasks = dir.join("alone");
    let tasks_s = tasks.to_str().unwrap();
    for i in ["0", "1", "2", "3"] {
        let args =
            [&["--config", &matrix, "--out", tasks_s, "--runs-per-task", "1", "--task", i][..], &device].concat();
        assert!(rome_repro(&args).status.success(), "task {i}");
    }
    let alone = ok(&rome_repro(
        &[&["--config", &matrix, "--out", tasks_s, "--runs-per-task", "1", "--aggregate"][..], &device].concat(),
    ));
    for file in ["summary.csv", "aggregate.csv", "verdicts.csv"] {
        assert_eq!(std::fs::read(together.join(file)).unwrap(), std::fs::read(alone.join(file)).unwrap(), "{file}");
    }
    for run in std::fs::read_dir(together.join("runs")).unwrap() {
        let name = run.unwrap().file_name();
        for file in ["result.ron", "metrics.csv"] {
            let (a, b) = (together.join("runs").join(&name).join(file), alone.join("runs").join(&name).join(file));
            assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap(), "{name:?}/{file}");
        }
    }

    // Long enough (192 updates a run) that the signal falls inside training.
    let text = std::fs::read_to_string(&matrix).unwrap().replace("total_timesteps: 4096", "total_timesteps: 98304");
    std::fs::write(&matrix, text).unwrap();
    let straight = dir.join("straight");
    let straight =
        ok(&rome_repro(&[&["--config", &matrix, "--out", straight.to_str().unwrap()][..], &device].concat()));
    let stopped = dir.join("stopped");
    let result = stopped_by_sigterm(
        &[&["--config", &matrix, "--quiet", "--out", stopped.to_str().unwrap()][..], &device].concat(),
        1000,
    );
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(75), "stopped by SIGTERM: EX_TEMPFAIL; {stderr}");
    let checkpoints = std::fs::read_dir(stopped.join("runs"))
        .unwrap()
        .filter(|d| d.as_ref().unwrap().path().join("checkpoint.bin").is_file())
        .count();
    assert!(checkpoints >= 2, "a population's runs are checkpointed together: {checkpoints}; {stderr}");
    let resumed = ok(&rome_repro(&[&["--config", &matrix, "--out", stopped.to_str().unwrap()][..], &device].concat()));
    for file in ["summary.csv", "aggregate.csv", "verdicts.csv"] {
        assert_eq!(std::fs::read(resumed.join(file)).unwrap(), std::fs::read(straight.join(file)).unwrap(), "{file}");
    }
    no_partial_files(&resumed);
    std::fs::remove_dir_all(&dir).unwrap();
}
