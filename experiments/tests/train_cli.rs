//! The train binary: a run killed with SIGKILL and resumed ends exactly like an uninterrupted
//! one (on another thread count), and bad input is named.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn train(threads: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_train"))
        .env("RAYON_NUM_THREADS", threads)
        .args(args)
        .arg("--quiet")
        .output()
        .expect("the train binary runs")
}

fn line(out: &Output, key: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no `{key}:` in {stdout} / {}", String::from_utf8_lossy(&out.stderr)))
        .to_string()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("train-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(dir: &Path, text: &str) -> String {
    let path = dir.join("config.in.ron");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// The metrics CSV without the wall-clock columns (SPS, rollout and optimisation seconds).
fn deterministic_metrics(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    text.lines()
        .map(|l| {
            l.split(',').enumerate().filter(|(i, _)| !(6..=8).contains(i)).map(|(_, c)| c).collect::<Vec<_>>().join(",")
        })
        .collect()
}

/// Trains CartPole (240 updates of 512 samples) with `seed` on loop `on` straight through, and
/// again stopped by `interrupt` (given the child process and its run directory) before the end; resumes the
/// stopped run and checks that it ends exactly as the straight one.
fn interrupted_run_resumes_exactly(
    name: &str,
    checkpoint_every: usize,
    seed: &str,
    on: &str,
    interrupt: impl FnOnce(Child, &Path),
) {
    let dir = scratch(name);
    let cfg = config(
        &dir,
        &format!("(env: CartPole(()), ppo: (total_timesteps: 122880), checkpoint_every: {checkpoint_every})"),
    );
    let straight = dir.join("straight");
    let out = train("1", &["--config", &cfg, "--seed", seed, "--loop", on, "--out", straight.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let stopped = dir.join("stopped");
    let child = Command::new(env!("CARGO_BIN_EXE_train"))
        .env("RAYON_NUM_THREADS", "2")
        .args(["--config", &cfg, "--seed", seed, "--loop", on, "--out", stopped.to_str().unwrap(), "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    interrupt(child, &stopped);
    let rows = std::fs::read_to_string(stopped.join("metrics.csv")).unwrap().lines().count() - 1;
    assert!(rows < 240, "the run finished before it was stopped");

    let resumed = train("2", &["--resume", stopped.to_str().unwrap()]);
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    assert_eq!(line(&resumed, "weights_checksum"), line(&out, "weights_checksum"));
    assert_eq!(line(&resumed, "final_return"), line(&out, "final_return"));
    assert_eq!(deterministic_metrics(&stopped), deterministic_metrics(&straight));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn killed_and_resumed_equals_uninterrupted() {
    killed_and_resumed_on("host");
}

#[test]
fn killed_and_resumed_equals_uninterrupted_on_the_device_loop() {
    killed_and_resumed_on("device");
}

fn killed_and_resumed_on(on: &str) {
    // SIGKILL once 10 updates are on disk (a checkpoint every 5): the run resumes from the last one.
    interrupted_run_resumes_exactly(&format!("resume-{on}"), 5, "3", on, |mut child, dir| {
        let start = Instant::now();
        loop {
            let rows =
                std::fs::read_to_string(dir.join("metrics.csv")).map_or(0, |t| t.lines().count().saturating_sub(1));
            if rows >= 10 {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "no checkpoint after a minute");
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    });
}

#[test]
fn sigterm_checkpoints_the_update_in_progress_and_resume_continues_exactly() {
    // Checkpoints every 50 updates: the one SIGTERM makes almost always falls between them.
    interrupted_run_resumes_exactly("sigterm", 50, "4", "host", |child, dir| {
        // Wait for the run to be under way (its resolved config is written first), then a little.
        let start = Instant::now();
        while !dir.join("config.ron").exists() {
            assert!(start.elapsed() < Duration::from_secs(60), "the run did not start");
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(300));
        let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(sent.success());
        let stopped_at = Instant::now();
        let result = child.wait_with_output().unwrap();
        assert!(stopped_at.elapsed() < Duration::from_secs(5), "took {:?} to stop", stopped_at.elapsed());
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(!result.status.success(), "{stderr}");
        assert!(stderr.contains("stopped by SIGTERM after update") && stderr.contains("--resume"), "{stderr}");
    });
}

#[test]
fn bad_input_is_named() {
    let dir = scratch("bad");
    let out_dir = dir.join("run");
    let run = |text: &str| {
        let cfg = config(&dir, text);
        let out = train("1", &["--config", &cfg, "--out", out_dir.to_str().unwrap()]);
        assert!(!out.status.success(), "{text} was accepted");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run("(\n  env: CartPole(()),\n  ppo: (learning_rat: 0.001),\n)");
    assert!(err.contains("config.in.ron:3:") && err.contains("ppo.learning_rat"), "{err}");
    let err = run("(env: CartPole(()), ppo: (learning_rate: -1.0))");
    assert!(err.contains("ppo.learning_rate") && err.contains("-1"), "{err}");
    let err = run("(env: ToyCloud((horizon: 0)))");
    assert!(err.contains("env.horizon") && err.contains("at least 1"), "{err}");
    let err = run("(env: ToyCloudScenario(\"incidnet\"))");
    assert!(err.contains("unknown scenario `incidnet`") && err.contains("hardened"), "{err}");
    let err = run("(env: CartPole(()), ppo: (num_minibatches: 3))");
    assert!(err.contains("ppo.num_minibatches") && err.contains("divisor"), "{err}");
    assert!(!out_dir.join("checkpoint.bin").exists(), "nothing trained on bad input");

    let missing = train("1", &["--resume", dir.join("nowhere").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success() && err.contains("nowhere") && err.contains("no run to resume"), "{err}");

    let cfg = config(&dir, "(env: CartPole(()), ppo: (total_timesteps: 1024))");
    assert!(train("1", &["--config", &cfg, "--out", out_dir.to_str().unwrap()]).status.success());
    let again = train("1", &["--config", &cfg, "--out", out_dir.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success() && err.contains("already holds a run") && err.contains("--resume"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_device_loop_trains_deterministically_with_any_thread_count() {
    let dir = scratch("device-loop");
    // 24 updates of 512 samples, environments and rollout on the device (burn's CPU backend here),
    // with a penalty that reads the typed safety record.
    let cfg = config(
        &dir,
        "(env: ToyCloud(()), ppo: (total_timesteps: 12288, penalty: Detected(weight: 0.1)), checkpoint_every: 5)",
    );
    let run = |name: &str, threads: &str| {
        let out = dir.join(name);
        let o = train(threads, &["--config", &cfg, "--seed", "5", "--loop", "device", "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (o, out)
    };
    let (a, out_a) = run("a", "1");
    let (b, out_b) = run("b", "2");
    assert_eq!(line(&a, "weights_checksum"), line(&b, "weights_checksum"));
    let rows = deterministic_metrics(&out_a);
    assert_eq!(rows.len(), 25, "a header and one row per update");
    assert_eq!(rows, deterministic_metrics(&out_b));
    assert!(out_a.join("device_loop.txt").is_file() && out_a.join("checkpoint.bin").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}
