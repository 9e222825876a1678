//! What a Parquet file is, before its rows are trusted: its kind (from the file's metadata, else its
//! name, else its columns), its schema version, and the columns it lacks. Every problem is a
//! sentence a person can act on; the CLI prints it and the viewer shows it on the page.
use super::schema::{Kind, KIND_KEY, SCHEMA_VERSION, VERSION_KEY};
use super::table::Table;
use std::fmt;

/// A file that passed the check.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    pub kind: Kind,
    /// The writer's schema version; None for files written before versions were recorded.
    pub version: Option<u32>,
    /// Nullable columns the file lacks (read as nulls), for a note beside the data.
    pub missing_optional: Vec<&'static str>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Problem {
    /// The metadata names a kind this reader does not know.
    UnknownKind {
        origin: String,
        kind: String,
    },
    /// Neither metadata, name nor columns say which results file this is.
    Foreign {
        origin: String,
        columns: Vec<String>,
    },
    Newer {
        origin: String,
        kind: Kind,
        version: u32,
    },
    MissingColumns {
        origin: String,
        kind: Kind,
        version: Option<u32>,
        missing: Vec<&'static str>,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds = Kind::ALL.map(|k| k.name()).join(", ");
        match self {
            Problem::UnknownKind { origin, kind } => {
                write!(f, "{origin}: a results file of kind {kind:?}, which this viewer does not know (it reads {kinds}); is it from a newer sqlora?")
            }
            Problem::Foreign { origin, columns } => {
                let shown: Vec<&str> = columns.iter().take(8).map(String::as_str).collect();
                let more = if columns.len() > 8 { ", …" } else { "" };
                write!(f, "{origin}: not a sqlora results file: no sqlora.kind metadata, and its columns ({}{more}) match none of {kinds}", shown.join(", "))
            }
            Problem::Newer { origin, kind, version } => write!(
                f,
                "{origin}: a {} file from a newer schema (version {version}; this reader knows up to {SCHEMA_VERSION}): update sqlora to read it",
                kind.name()
            ),
            Problem::MissingColumns { origin, kind, version, missing } => {
                let v = version.map_or("no schema version: an older or foreign writer".to_string(), |v| format!("schema version {v}"));
                write!(f, "{origin}: a {} file ({v}) without the required column(s) {}", kind.name(), missing.join(", "))
            }
        }
    }
}

impl std::error::Error for Problem {}

/// The kind a file says it is, else the one its name gives (`…/runs.parquet`).
fn declared_kind(t: &Table, origin: &str) -> Result<Option<Kind>, Problem> {
    if let Some(name) = t.metadata.get(KIND_KEY) {
        return Kind::from_name(name).map(Some).ok_or_else(|| Problem::UnknownKind { origin: origin.into(), kind: name.clone() });
    }
    let stem = origin.rsplit(['/', '\\']).next().unwrap_or(origin).trim_end_matches(".parquet");
    Ok(Kind::from_name(stem))
}

fn missing(t: &Table, kind: Kind, required: bool) -> Vec<&'static str> {
    kind.columns().iter().filter(|c| c.nullable != required && !t.columns.iter().any(|n| n == c.name)).map(|c| c.name).collect()
}

/// Check a table read from a Parquet file (`origin` names it in messages).
pub fn check_table(t: &Table, origin: &str) -> Result<Found, Problem> {
    let version = t.metadata.get(VERSION_KEY).and_then(|v| v.parse::<u32>().ok());
    let kind = match declared_kind(t, origin)? {
        Some(k) => k,
        // Files without metadata or a known name: the first kind whose required columns all appear.
        None => Kind::ALL
            .into_iter()
            .find(|k| missing(t, *k, true).is_empty())
            .ok_or_else(|| Problem::Foreign { origin: origin.into(), columns: t.columns.clone() })?,
    };
    if let Some(v) = version.filter(|v| *v > SCHEMA_VERSION) {
        return Err(Problem::Newer { origin: origin.into(), kind, version: v });
    }
    let lacking = missing(t, kind, true);
    if !lacking.is_empty() {
        return Err(Problem::MissingColumns { origin: origin.into(), kind, version, missing: lacking });
    }
    Ok(Found { kind, version, missing_optional: missing(t, kind, false) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(kind: Option<&str>, version: Option<&str>, columns: &[&str]) -> Table {
        let mut t = Table { columns: columns.iter().map(|c| c.to_string()).collect(), ..Default::default() };
        if let Some(k) = kind {
            t.metadata.insert(KIND_KEY.into(), k.into());
        }
        if let Some(v) = version {
            t.metadata.insert(VERSION_KEY.into(), v.into());
        }
        t
    }

    fn all(kind: Kind) -> Vec<&'static str> {
        kind.columns().iter().map(|c| c.name).collect()
    }

    #[test]
    fn a_current_file_passes_and_an_old_one_names_its_missing_optional_columns() {
        let t = table(Some("train_log"), Some("1"), &all(Kind::TrainLog));
        assert_eq!(check_table(&t, "x").unwrap(), Found { kind: Kind::TrainLog, version: Some(1), missing_optional: vec![] });
        // A predictions file from before run_id and versions: found by its name, run_id reported.
        let cols: Vec<&str> = all(Kind::SpiderPredictions).into_iter().filter(|c| *c != "run_id").collect();
        let found = check_table(&table(None, None, &cols), "out/spider_predictions.parquet").unwrap();
        assert_eq!((found.kind, found.version, found.missing_optional), (Kind::SpiderPredictions, None, vec!["run_id"]));
    }

    #[test]
    fn newer_foreign_and_incomplete_files_say_what_is_wrong() {
        let newer = check_table(&table(Some("runs"), Some("99"), &all(Kind::Runs)), "runs.parquet").unwrap_err();
        assert!(newer.to_string().contains("newer schema (version 99"), "{newer}");
        let foreign = check_table(&table(None, None, &["a", "b"]), "data.parquet").unwrap_err();
        assert!(foreign.to_string().contains("not a sqlora results file") && foreign.to_string().contains("(a, b)"), "{foreign}");
        let unknown = check_table(&table(Some("adapters"), Some("1"), &["a"]), "x.parquet").unwrap_err();
        assert!(matches!(unknown, Problem::UnknownKind { .. }), "{unknown}");
        let partial = check_table(&table(Some("runs"), Some("1"), &["run_id", "task"]), "runs.parquet").unwrap_err();
        let msg = partial.to_string();
        assert!(msg.contains("without the required column(s) split, model, metric, score, n"), "{msg}");
        // By columns alone: an unnamed file with the train_log columns is a train_log.
        let by_cols = check_table(&table(None, None, &all(Kind::TrainLog)), "upload.parquet").unwrap();
        assert_eq!(by_cols.kind, Kind::TrainLog);
    }
}
