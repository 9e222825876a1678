//! Advisory locks that let several sqlora processes share a results folder: whoever holds a file's
//! lock is the only one reading-modifying-writing it (or generating a run's checkpoint). The lock is
//! an exclusive `flock` on a small side file (`.<name>.lock`), released when the guard drops or the
//! process dies (the kernel drops it with the descriptor: a `kill -9` leaves no stale lock).
use anyhow::{Context, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// Holds the lock until dropped.
#[derive(Debug)]
pub struct LockGuard {
    _file: File,
    pub path: PathBuf,
}

/// The side file that guards `path`: `.<file name>.lock` beside it.
pub fn lock_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.lock"))
}

/// The exclusive lock of `path`, waiting for it when another process (or thread) holds it; then
/// `on_wait` is called once first (to say what it waits for).
pub fn lock_exclusive(path: &Path, on_wait: impl FnOnce(&Path)) -> Result<LockGuard> {
    let lp = lock_path(path);
    if let Some(dir) = lp.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lp)
        .with_context(|| format!("opening the lock {}", lp.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            on_wait(&lp);
            file.lock().with_context(|| format!("locking {}", lp.display()))?;
        }
        Err(TryLockError::Error(e)) => return Err(e).with_context(|| format!("locking {}", lp.display())),
    }
    Ok(LockGuard { _file: file, path: lp })
}

/// A temporary name beside `path` that no other writer uses at the same time: the process id and a
/// per-process counter (two threads, or two processes, never rename each other's file).
pub fn unique_temp(path: &Path, ext: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.tmp{}-{n}.{ext}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Two holders never overlap: each thread increments a shared counter inside the lock and checks
    /// that it was alone.
    #[test]
    fn the_lock_excludes_other_holders_and_says_when_it_waits() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("runs.parquet");
        let inside = Arc::new(AtomicUsize::new(0));
        let waited = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (target, inside, waited) = (target.clone(), inside.clone(), waited.clone());
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        let _g = lock_exclusive(&target, |_| {
                            waited.fetch_add(1, Ordering::SeqCst);
                        })
                        .unwrap();
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders at once");
                        std::thread::sleep(std::time::Duration::from_micros(200));
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert!(waited.load(Ordering::SeqCst) > 0, "eight threads never contended");
        assert!(lock_path(&target).ends_with(".runs.parquet.lock"));
        assert_ne!(unique_temp(&target, "parquet"), unique_temp(&target, "parquet"));
    }
}
