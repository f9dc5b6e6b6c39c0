//! Records the commit the binaries are built from (`ROME_SIM_BUILD_COMMIT`), so a run directory's
//! provenance names the code that ran, not only the checkout it finished in.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok().filter(|o| o.status.success())?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(hash) => match git(&["status", "--porcelain", "--untracked-files=no"]) {
            Some(changes) if changes.is_empty() => hash,
            Some(_) => format!("{hash} (with uncommitted changes)"),
            None => format!("{hash} (status unknown)"),
        },
        None => "unknown (not built from a git checkout)".into(),
    };
    println!("cargo:rustc-env=ROME_SIM_BUILD_COMMIT={commit}");
    // Built again when HEAD moves, the index changes, or a source the binaries are built from
    // changes (so an uncommitted edit is marked).
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/index");
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{head}");
        }
    }
    for dir in ["src", "configs", "../sim-core/src", "../sim-envs/src", "../sim-envs/scenarios", "../sim-agents/src"] {
        println!("cargo:rerun-if-changed={dir}");
    }
}
