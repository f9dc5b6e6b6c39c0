//! One writer per run directory.
//!
//! A binary that writes a run directory (`rome_repro`, `phase_diagram`, `train`) takes its lock
//! before any other work: the file `rome.lock` in the directory, naming the holder's host and
//! pid and when it started. A second process refuses the directory with an error naming the
//! holder. A lock left by a process that died (same host, no such pid any more) is stale and is
//! taken over; a lock held on another host cannot be checked from here, so it is refused, and
//! the error says how to remove it. The lock is written to a private file first and linked into
//! place, so a lock file is never seen half-written, and two processes racing for it cannot both
//! win. It is removed when its holder ends (also on an error); a process killed outright leaves
//! it behind, stale, for the next one to take over.
//!
//! Array tasks (`rome_repro --task i`) write distinct runs of one directory: each takes a task
//! lock of its own (`rome.task-<i>.lock`, [`DirLock::acquire_task`]), so tasks coexist, while a
//! task and a whole-directory writer exclude each other. Each takes its own file first and then
//! looks for the other kind: of two processes racing, the later to link its file sees the
//! earlier's, so at least one of them refuses. Under Slurm the holder also names its job
//! (`SLURM_JOB_ID`): a lock held by the same job id is that job's earlier instance, which Slurm
//! ended before requeueing it, so it is taken over on any host.

use std::path::{Path, PathBuf};

use crate::error::FsError;

/// The lock's file name inside the run directory.
pub const LOCK_FILE: &str = "rome.lock";

/// Who holds a lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// Seconds since the Unix epoch when the lock was taken.
    pub since: u64,
    /// The Slurm job it ran in (`SLURM_JOB_ID`), if any.
    pub job: Option<String>,
}

impl Holder {
    /// This process.
    pub fn this_process() -> Self {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let job = std::env::var("SLURM_JOB_ID").ok().filter(|j| !j.is_empty() && !j.contains('\n'));
        Holder { host: host_name(), pid: std::process::id(), since, job }
    }

    fn to_text(&self) -> String {
        let job = self.job.as_ref().map_or(String::new(), |j| format!("job={j}\n"));
        format!("host={}\npid={}\nsince={}\n{job}", self.host, self.pid, self.since)
    }

    fn parse(text: &str) -> Option<Self> {
        let field = |key: &str| text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix('='));
        Some(Holder {
            host: field("host")?.to_string(),
            pid: field("pid")?.parse().ok()?,
            since: field("since")?.parse().ok()?,
            job: field("job").map(str::to_string),
        })
    }

    /// Whether the holder is certainly gone: it ran on this host and its pid no longer exists,
    /// or it was an earlier instance of this process's own Slurm job.
    fn is_dead(&self) -> bool {
        let same_job = self.job.is_some() && self.job == Holder::this_process().job;
        let same_process = self.host == host_name() && self.pid == std::process::id();
        (self.host == host_name() && !process_exists(self.pid)) || (same_job && !same_process)
    }

    fn describe(&self) -> String {
        let job = self.job.as_ref().map_or(String::new(), |j| format!(", Slurm job {j}"));
        format!("pid {} on host {}{job} (since {} s after the epoch)", self.pid, self.host, self.since)
    }
}

/// The lock file of array task `task`.
pub fn task_lock_file(task: usize) -> String {
    format!("rome.task-{task}.lock")
}

/// The live holders of task locks in `dir` (stale ones are removed), with their files.
fn task_holders(dir: &Path) -> Vec<(PathBuf, Holder)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut live = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("rome.task-") && name.ends_with(".lock")) {
            continue;
        }
        let path = entry.path();
        match std::fs::read_to_string(&path).ok().and_then(|t| Holder::parse(&t)) {
            Some(h) if h.is_dead() => {
                let _ = std::fs::remove_file(&path);
            }
            Some(h) => live.push((path, h)),
            None => {}
        }
    }
    live.sort_by(|a, b| a.0.cmp(&b.0));
    live
}

/// Why a run directory's lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The directory or the lock's private file could not be made.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// A live process holds the lock.
    #[error(
        "run directory {} is in use by {holder} (lock {}): wait for it to finish, choose another --out, or delete \
         the lock if that process is gone",
        dir.display(),
        lock.display()
    )]
    Held {
        /// The run directory.
        dir: PathBuf,
        /// The holder: pid, host and since when.
        holder: String,
        /// The lock file.
        lock: PathBuf,
    },
    /// An array task holds its lock in the directory a whole-directory writer asked for.
    #[error(
        "run directory {} is in use by an array task: {holder} holds {}; wait for the array's tasks to finish, or \
         delete the lock if that process is gone",
        dir.display(),
        lock.display()
    )]
    HeldByTask {
        /// The run directory.
        dir: PathBuf,
        /// The task's process.
        holder: String,
        /// Its lock file.
        lock: PathBuf,
    },
    /// A live whole-directory writer holds the directory an array task asked for.
    #[error(
        "run directory {} is in use by {holder} (lock {}); an array task waits for no whole-directory writer",
        dir.display(),
        lock.display()
    )]
    HeldByWriter {
        /// The run directory.
        dir: PathBuf,
        /// The writer's process.
        holder: String,
        /// Its lock file.
        lock: PathBuf,
    },
    /// The lock file names no process.
    #[error(
        "run directory {} has a lock {} that names no holder; delete it if no other process writes there",
        dir.display(),
        lock.display()
    )]
    NoHolder {
        /// The run directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// Linking the lock file failed for another reason than its existence.
    #[error("cannot take the lock {}: {source}", lock.display())]
    Take {
        /// The lock file.
        lock: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Other processes kept taking the lock over.
    #[error("could not take the lock {} (it kept changing hands)", lock.display())]
    Contended {
        /// The lock file.
        lock: PathBuf,
    },
}

/// The lock of one run directory, held until dropped.
#[derive(Debug)]
pub struct DirLock {
    path: PathBuf,
    holder: Holder,
    /// The directory did not exist before the lock: removed again on release if still empty,
    /// so a process refused after taking the lock leaves nothing behind.
    created: Option<PathBuf>,
}

impl DirLock {
    /// Takes the lock of `dir` (created if missing) for a process writing all of it, taking over
    /// a stale one; refused while an array task holds its task lock there.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let lock = Self::take(dir, LOCK_FILE)?;
        if let Some((path, h)) = task_holders(dir).into_iter().next() {
            return Err(LockError::HeldByTask { dir: dir.to_path_buf(), holder: h.describe(), lock: path });
        }
        Ok(lock)
    }

    /// Takes the lock of array task `task` in `dir` (created if missing): other tasks' locks do
    /// not stand in its way, a live whole-directory writer does.
    pub fn acquire_task(dir: &Path, task: usize) -> Result<Self, LockError> {
        let lock = Self::take(dir, &task_lock_file(task))?;
        let whole = dir.join(LOCK_FILE);
        if let Some(h) = std::fs::read_to_string(&whole).ok().and_then(|t| Holder::parse(&t))
            && !h.is_dead()
        {
            return Err(LockError::HeldByWriter { dir: dir.to_path_buf(), holder: h.describe(), lock: whole });
        }
        Ok(lock)
    }

    /// Takes the lock file `name` in `dir`, taking over a stale one.
    fn take(dir: &Path, name: &str) -> Result<Self, LockError> {
        let created = (!dir.exists()).then(|| dir.to_path_buf());
        FsError::create_dir(dir)?;
        let path = dir.join(name);
        let holder = Holder::this_process();
        let private = dir.join(format!(".{name}.{}", holder.pid));
        std::fs::write(&private, holder.to_text())
            .map_err(|source| FsError::Write { path: private.clone(), source })?;
        let result = (|| {
            for _ in 0..3 {
                match std::fs::hard_link(&private, &path) {
                    Ok(()) => return Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(source) => return Err(LockError::Take { lock: path.clone(), source }),
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                match Holder::parse(&text) {
                    Some(h) if h.is_dead() => {
                        eprintln!(
                            "taking over the stale lock {} of {} (that process is gone)",
                            path.display(),
                            h.describe()
                        );
                        let _ = std::fs::remove_file(&path);
                    }
                    Some(h) => {
                        return Err(LockError::Held {
                            dir: dir.to_path_buf(),
                            holder: h.describe(),
                            lock: path.clone(),
                        });
                    }
                    None => {
                        return Err(LockError::NoHolder { dir: dir.to_path_buf(), lock: path.clone() });
                    }
                }
            }
            Err(LockError::Contended { lock: path.clone() })
        })();
        let _ = std::fs::remove_file(&private);
        if result.is_err()
            && let Some(d) = &created
        {
            let _ = std::fs::remove_dir(d);
        }
        result.map(|()| DirLock { path, holder, created })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Only our own lock: never one a later process took over.
        if std::fs::read_to_string(&self.path).ok().and_then(|t| Holder::parse(&t)) == Some(self.holder.clone()) {
            let _ = std::fs::remove_file(&self.path);
        }
        if let Some(d) = &self.created {
            let _ = std::fs::remove_dir(d); // only if empty
        }
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Whether process `pid` exists on this host (Linux: `/proc/<pid>`; elsewhere a process is never
/// presumed dead, so no lock is taken over automatically).
fn process_exists(pid: u32) -> bool {
    if Path::new("/proc/self").exists() { Path::new(&format!("/proc/{pid}")).exists() } else { true }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dirlock-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_second_writer_is_refused_naming_the_holder_until_the_first_is_done() {
        let dir = scratch("second");
        std::fs::create_dir_all(&dir).unwrap();
        let first = DirLock::acquire(&dir).unwrap();
        let err = DirLock::acquire(&dir).unwrap_err().to_string();
        assert!(err.contains(&format!("pid {}", std::process::id())) && err.contains("in use"), "{err}");
        drop(first);
        assert!(!dir.join(LOCK_FILE).exists());
        let again = DirLock::acquire(&dir).unwrap();
        std::fs::write(dir.join("kept"), "x").unwrap();
        drop(again);
        // No private file is left behind, and a directory with work in it stays.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
        // A directory the lock created and nothing else used is removed with it.
        drop(DirLock::acquire(&dir).unwrap());
        assert!(!dir.exists());
    }

    #[test]
    fn a_stale_lock_is_taken_over_and_a_foreign_one_refused() {
        let dir = scratch("stale");
        std::fs::create_dir_all(&dir).unwrap();
        // A pid above Linux's largest (2^22) cannot exist.
        let dead = Holder { host: host_name(), pid: u32::MAX, since: 1, job: None };
        std::fs::write(dir.join(LOCK_FILE), dead.to_text()).unwrap();
        let lock = DirLock::acquire(&dir).unwrap();
        assert_eq!(Holder::parse(&std::fs::read_to_string(lock.path()).unwrap()).unwrap().pid, std::process::id());
        drop(lock);
        let foreign = Holder { host: "another-host".into(), pid: 7, since: 1, job: None };
        std::fs::write(dir.join(LOCK_FILE), foreign.to_text()).unwrap();
        let err = DirLock::acquire(&dir).unwrap_err().to_string();
        assert!(err.contains("pid 7 on host another-host"), "{err}");
        // ... unless it was an earlier instance of this process's own Slurm job.
        if let Some(job) = Holder::this_process().job {
            let earlier = Holder { job: Some(job), ..foreign.clone() };
            std::fs::write(dir.join(LOCK_FILE), earlier.to_text()).unwrap();
            drop(DirLock::acquire(&dir).unwrap());
            std::fs::write(dir.join(LOCK_FILE), foreign.to_text()).unwrap();
        }
        // A refused process leaves the holder's lock alone.
        assert_eq!(Holder::parse(&std::fs::read_to_string(dir.join(LOCK_FILE)).unwrap()), Some(foreign));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn array_tasks_coexist_and_exclude_a_whole_directory_writer_both_ways() {
        let dir = scratch("tasks");
        let (t0, t3) = (DirLock::acquire_task(&dir, 0).unwrap(), DirLock::acquire_task(&dir, 3).unwrap());
        let err = DirLock::acquire_task(&dir, 3).unwrap_err().to_string();
        assert!(err.contains("in use by pid") && err.contains("rome.task-3.lock"), "{err}");
        let err = DirLock::acquire(&dir).unwrap_err().to_string();
        assert!(err.contains("array task") && err.contains("rome.task-0.lock"), "{err}");
        assert!(!dir.join(LOCK_FILE).exists(), "the refused writer released its own lock");
        drop((t0, t3));
        let whole = DirLock::acquire(&dir).unwrap();
        let err = DirLock::acquire_task(&dir, 1).unwrap_err().to_string();
        assert!(err.contains(&format!("in use by pid {}", std::process::id())), "{err}");
        assert!(!dir.join(task_lock_file(1)).exists(), "the refused task released its own lock");
        drop(whole);
        // A task lock left by a dead process does not keep a whole-directory writer out.
        let dead = Holder { host: host_name(), pid: u32::MAX, since: 1, job: None };
        std::fs::write(dir.join(task_lock_file(2)), dead.to_text()).unwrap();
        drop(DirLock::acquire(&dir).unwrap());
        assert!(!dir.join(task_lock_file(2)).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
