//! Records the commit the binaries are built from (`ROME_SIM_BUILD_COMMIT`), so a run directory's
//! provenance names the code that ran, not only the checkout it finished in.

#[path = "src/checkout.rs"]
mod checkout;

use checkout::git;

fn main() {
    let commit = checkout::head().unwrap_or_else(|| "unknown (not built from a git checkout)".into());
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
