//! Run one query against a Spider database that no query can change, with a real time limit.
//!
//! Three independent guards keep the file intact (the official script opens databases read-write,
//! so a predicted `DROP TABLE` really drops the table there):
//! 1. the connection is opened `SQLITE_OPEN_READ_ONLY` and `PRAGMA query_only` is set;
//! 2. an authorizer allows only reads (SELECT, table reads, functions, recursive CTEs, PRAGMAs that
//!    set nothing) and denies ATTACH, DETACH, every write and schema change;
//! 3. a statement SQLite does not call read-only (`sqlite3_stmt_readonly`, e.g. `VACUUM INTO`, which
//!    no authorizer code covers and which works on read-only databases) is refused before it runs.
use super::value::Value;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// SQLite calls the progress handler every this many virtual-machine instructions.
const PROGRESS_OPS: i32 = 1000;

#[derive(Clone, Debug)]
pub struct ExecLimits {
    /// Wall-clock limit per prediction (default 30 s): its runs in both modes share it.
    pub timeout: Duration,
    /// Refuse a result holding more than this many bytes (values and their text): a runaway query
    /// must not exhaust memory before the time limit fires. No Spider gold result comes near it.
    pub max_bytes: usize,
    /// The longest text or blob SQLite may build (`SQLITE_LIMIT_LENGTH`): past it the query fails
    /// ("string or blob too big") instead of allocating it.
    pub max_value_bytes: usize,
}

impl Default for ExecLimits {
    fn default() -> Self {
        ExecLimits { timeout: Duration::from_secs(30), max_bytes: 256 << 20, max_value_bytes: 16 << 20 }
    }
}

/// A query's result: its column count (from the statement) and its rows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows {
    pub columns: usize,
    pub rows: Vec<Vec<Value>>,
    /// The query had more rows than it was asked for (`Run::stop_after`): `rows` holds the first ones.
    pub cut: bool,
}

/// How one query runs: until `deadline`, holding at most `limits.max_bytes`, and stopping after
/// `stop_after` rows when given (a prediction with more rows than the gold cannot match it in either
/// mode, so the rest is never read).
#[derive(Clone, Copy, Debug)]
pub struct Run<'a> {
    pub deadline: Instant,
    pub limits: &'a ExecLimits,
    pub stop_after: Option<usize>,
}

impl<'a> Run<'a> {
    /// One query with the whole time limit from now and no row cap.
    pub fn now(limits: &'a ExecLimits) -> Run<'a> {
        Run { deadline: Instant::now() + limits.timeout, limits, stop_after: None }
    }
}

/// Heap and inline bytes a value takes in a result.
fn value_bytes(v: &Value) -> usize {
    std::mem::size_of::<Value>()
        + match v {
            Value::Text(s) => s.len(),
            Value::Blob(b) => b.len(),
            _ => 0,
        }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    #[error("timeout")]
    Timeout,
    #[error("empty query")]
    Empty,
    #[error("not allowed on a read-only database: {0}")]
    Denied(String),
    #[error("result too large (more than {} MiB)", .0 >> 20)]
    TooLarge(usize),
    #[error("{0}")]
    Sql(String),
}

/// One read-only connection to one database file.
pub struct ReadOnlyDb {
    conn: Connection,
    path: PathBuf,
}

impl ReadOnlyDb {
    /// Open `path` read-only; a missing file is an error naming the path (SQLite would only say
    /// "unable to open database file").
    pub fn open(path: &Path) -> Result<ReadOnlyDb, ExecError> {
        if !path.is_file() {
            return Err(ExecError::Sql(format!("database file not found: {}", path.display())));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let sql_err = |e: rusqlite::Error| ExecError::Sql(format!("{}: {e}", path.display()));
        let mut conn = Connection::open_with_flags(path, flags).map_err(sql_err)?;
        conn.execute_batch("PRAGMA query_only = ON").map_err(sql_err)?;
        conn.set_limit(rusqlite::limits::Limit::SQLITE_LIMIT_LENGTH, ExecLimits::default().max_value_bytes as i32).map_err(sql_err)?;
        conn.authorizer(Some(authorize)).map_err(sql_err)?;
        Ok(ReadOnlyDb { conn, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `sql` (one statement) and collect every row, or stop at the time limit (from now).
    pub fn query(&mut self, sql: &str, limits: &ExecLimits) -> Result<Rows, ExecError> {
        self.run(sql, Run::now(limits))
    }

    /// Run `sql` under `run`'s deadline, byte budget and row cap.
    pub fn run(&mut self, sql: &str, run: Run<'_>) -> Result<Rows, ExecError> {
        if crate::sqllex::lex(sql).iter().all(|t| t.is_trivia()) {
            return Err(ExecError::Empty);
        }
        let deadline = run.deadline;
        if Instant::now() >= deadline {
            return Err(ExecError::Timeout);
        }
        self.conn.progress_handler(PROGRESS_OPS, Some(move || Instant::now() >= deadline)).map_err(sql_error)?;
        let result = collect(&self.conn, sql, run).map_err(|e| match e {
            ExecError::Sql(_) if Instant::now() >= deadline => ExecError::Timeout,
            e => e,
        });
        self.conn.progress_handler(0, None::<fn() -> bool>).map_err(sql_error)?;
        result
    }
}

fn collect(conn: &Connection, sql: &str, run: Run<'_>) -> Result<Rows, ExecError> {
    let mut stmt = conn.prepare(sql).map_err(sql_error)?;
    if !stmt.readonly() {
        return Err(ExecError::Denied("statement would write".into()));
    }
    let columns = stmt.column_count();
    let mut out = Rows { columns, rows: Vec::new(), cut: false };
    let mut bytes = 0usize;
    let mut rows = stmt.query([]).map_err(sql_error)?;
    while let Some(row) = rows.next().map_err(sql_error)? {
        if run.stop_after.is_some_and(|n| out.rows.len() >= n) {
            out.cut = true;
            break;
        }
        let values: Vec<Value> =
            (0..columns).map(|i| row.get_ref(i).map(Value::from_sqlite)).collect::<Result<_, _>>().map_err(sql_error)?;
        bytes += values.iter().map(value_bytes).sum::<usize>() + std::mem::size_of::<Vec<Value>>();
        if bytes > run.limits.max_bytes {
            return Err(ExecError::TooLarge(run.limits.max_bytes));
        }
        out.rows.push(values);
    }
    Ok(out)
}

fn sql_error(e: rusqlite::Error) -> ExecError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::OperationInterrupted => ExecError::Timeout,
        rusqlite::Error::SqliteFailure(f, msg) if f.code == ErrorCode::AuthorizationForStatementDenied => {
            ExecError::Denied(msg.clone().unwrap_or_else(|| "not authorized".into()))
        }
        _ => ExecError::Sql(e.to_string()),
    }
}

/// PRAGMAs that only report (they take an argument naming what to report on).
const READ_PRAGMAS: [&str; 8] =
    ["table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list", "database_list", "collation_list"];

/// Allow reads only; everything else is denied at prepare time.
fn authorize(ctx: AuthContext<'_>) -> Authorization {
    match ctx.action {
        AuthAction::Select | AuthAction::Read { .. } | AuthAction::Function { .. } | AuthAction::Recursive => Authorization::Allow,
        AuthAction::Pragma { pragma_name, pragma_value } => {
            let name = pragma_name.to_ascii_lowercase();
            if pragma_value.is_none() || READ_PRAGMAS.contains(&name.as_str()) {
                Authorization::Allow
            } else {
                Authorization::Deny
            }
        }
        _ => Authorization::Deny,
    }
}
