//! The git checkout of the working directory: its commit, marked where it has uncommitted
//! changes. Shared by the crate (the checkout a run finished in, [`crate::publish::Provenance`])
//! and its build script (the commit a binary is built from), which includes this file.

use std::process::Command;

/// `git <args>` in the working directory: its trimmed output, or `None` where git fails.
pub fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok().filter(|o| o.status.success())?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// HEAD's short commit, marked `(with uncommitted changes)` or `(status unknown)`; `None`
/// outside a git checkout.
pub fn head() -> Option<String> {
    let hash = git(&["rev-parse", "--short=12", "HEAD"])?;
    Some(match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(changes) if changes.is_empty() => hash,
        Some(_) => format!("{hash} (with uncommitted changes)"),
        None => format!("{hash} (status unknown)"),
    })
}
