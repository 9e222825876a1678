//! One read-only connection per (thread, database file), reused across queries: opening a connection
//! costs more than most Spider queries take to run.
use super::exec::{ExecError, ReadOnlyDb};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

thread_local! {
    static POOL: RefCell<HashMap<PathBuf, ReadOnlyDb>> = RefCell::new(HashMap::new());
}

/// Run `f` with this thread's connection to `path`, opening it on first use.
pub fn with_db<T>(path: &Path, f: impl FnOnce(&mut ReadOnlyDb) -> T) -> Result<T, ExecError> {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if !pool.contains_key(path) {
            let db = ReadOnlyDb::open(path)?;
            pool.insert(path.to_path_buf(), db);
        }
        Ok(f(pool.get_mut(path).expect("inserted above")))
    })
}
