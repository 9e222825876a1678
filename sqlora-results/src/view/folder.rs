//! A results folder as the viewer holds it: the rows of every file it was given, merged by kind,
//! and one status line per file (what it was, how many rows, or what is wrong with it). Files come
//! as bytes (fetched, picked or dropped); a bad file is reported, never a panic or a blank page.
use crate::check::check_table;
use crate::kernels::KernelRow;
use crate::mmlu_answers::AnswerRow;
use crate::predictions::PredictionRow;
use crate::rows::rows_of;
use crate::runs::RunRow;
use crate::schema::Kind;
use crate::table::read_parquet_bytes;
use crate::train_log::TrainLogRow;
use anyhow::Result;

/// What happened to one file.
#[derive(Clone, Debug, PartialEq)]
pub struct FileStatus {
    pub name: String,
    pub kind: Option<Kind>,
    pub rows: usize,
    /// Something to know that did not stop the file from loading (an older schema, say).
    pub note: Option<String>,
    /// Why the file was not loaded.
    pub error: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Folder {
    /// One row per run_id (a later file's row replaces an earlier one).
    pub runs: Vec<RunRow>,
    pub predictions: Vec<PredictionRow>,
    pub answers: Vec<AnswerRow>,
    pub train_log: Vec<TrainLogRow>,
    pub kernels: Vec<KernelRow>,
    pub files: Vec<FileStatus>,
}

/// The run name given to predictions from a file written before rows named their run.
pub fn unnamed_run(file: &str) -> String {
    format!("file:{file}")
}

impl Folder {
    /// Read one file into the folder; its outcome is the last entry of [`Folder::files`].
    pub fn add_file(&mut self, name: &str, bytes: Vec<u8>) {
        let status = match self.load(name, bytes) {
            Ok(s) => s,
            Err(e) => FileStatus { name: name.into(), kind: None, rows: 0, note: None, error: Some(format!("{e:#}")) },
        };
        self.files.push(status);
    }

    fn load(&mut self, name: &str, bytes: Vec<u8>) -> Result<FileStatus> {
        if !bytes.starts_with(b"PAR1") || !bytes.ends_with(b"PAR1") {
            anyhow::bail!(
                "{name}: not a Parquet file (a results file starts and ends with the bytes PAR1); corrupt, truncated, or another format"
            );
        }
        let table = read_parquet_bytes(bytes, name)?;
        let found = check_table(&table, name)?;
        let mut note = (!found.missing_optional.is_empty()).then(|| {
            let v = found.version.map_or("before schema versions".to_string(), |v| format!("schema version {v}"));
            format!("{name}: written {v}, without {} (read as empty)", found.missing_optional.join(", "))
        });
        let rows = table.rows.len();
        match found.kind {
            Kind::Runs => {
                for r in rows_of::<RunRow>(table)? {
                    self.runs.retain(|o| o.run_id != r.run_id);
                    self.runs.push(r);
                }
            }
            Kind::SpiderPredictions => {
                let mut preds: Vec<PredictionRow> = rows_of(table)?;
                if preds.iter().any(|p| p.run_id.is_none()) {
                    let run = unnamed_run(name);
                    let extra = format!("{name}: rows without a run_id are shown as run {run:?}");
                    note = Some(note.map_or(extra.clone(), |n| format!("{n}; {extra}")));
                    preds.iter_mut().filter(|p| p.run_id.is_none()).for_each(|p| p.run_id = Some(run.clone()));
                }
                let runs: Vec<Option<String>> = preds.iter().map(|p| p.run_id.clone()).collect();
                self.predictions.retain(|p| !runs.contains(&p.run_id));
                self.predictions.extend(preds);
            }
            Kind::MmluAnswers => {
                let new: Vec<AnswerRow> = rows_of(table)?;
                self.answers.retain(|o| !new.iter().any(|n| n.same_run(&o.model, o.adapter.as_deref(), &o.split)));
                self.answers.extend(new);
            }
            Kind::TrainLog => {
                let new: Vec<TrainLogRow> = rows_of(table)?;
                self.train_log.retain(|o| !new.iter().any(|n| n.run_id == o.run_id));
                self.train_log.extend(new);
            }
            Kind::Kernels => {
                let new: Vec<KernelRow> = rows_of(table)?;
                self.kernels.retain(|o| !new.iter().any(|n| n.run_id == o.run_id));
                self.kernels.extend(new);
            }
        }
        Ok(FileStatus { name: name.into(), kind: Some(found.kind), rows, note, error: None })
    }

    pub fn errors(&self) -> impl Iterator<Item = &str> {
        self.files.iter().filter_map(|f| f.error.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::write_rows;
    use crate::runs::run_id;

    fn bytes_of<T: serde::Serialize>(rows: &[T], kind: Kind) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.parquet");
        write_rows(&p, rows, &kind.arrow_schema()).unwrap();
        std::fs::read(p).unwrap()
    }

    #[test]
    fn files_merge_by_kind_and_bad_files_are_reported_not_fatal() {
        let run = |adapter: Option<&str>, score: f64| RunRow {
            run_id: run_id("spider", "dev", "m", adapter),
            task: "spider".into(),
            adapter: adapter.map(Into::into),
            score,
            ..Default::default()
        };
        let mut f = Folder::default();
        f.add_file("a/runs.parquet", bytes_of(&[run(None, 0.1), run(Some("r8"), 0.2)], Kind::Runs));
        f.add_file("b/runs.parquet", bytes_of(&[run(Some("r8"), 0.3)], Kind::Runs));
        assert_eq!(f.runs.len(), 2);
        assert_eq!(f.runs.iter().find(|r| r.adapter.is_some()).unwrap().score, 0.3, "the later file wins");
        f.add_file("junk.parquet", b"PAR1 not really PAR1".to_vec());
        f.add_file("notes.txt", b"hello".to_vec());
        let errors: Vec<&str> = f.errors().collect();
        assert_eq!(errors.len(), 2);
        assert!(errors[0].starts_with("junk.parquet: not a readable Parquet file"), "{}", errors[0]);
        assert!(errors[1].contains("not a Parquet file"), "{}", errors[1]);
        assert_eq!(f.files[0].kind, Some(Kind::Runs));
        assert_eq!(f.files[0].rows, 2);
    }

    #[test]
    fn predictions_without_a_run_id_get_the_file_as_their_run() {
        let p = PredictionRow { id: 3, db_id: "d".into(), question: "q".into(), ..Default::default() };
        let mut f = Folder::default();
        f.add_file("old/spider_predictions.parquet", bytes_of(&[p], Kind::SpiderPredictions));
        assert_eq!(f.predictions[0].run_id.as_deref(), Some("file:old/spider_predictions.parquet"));
        assert!(f.files[0].note.as_deref().unwrap().contains("without a run_id"), "{:?}", f.files[0]);
    }
}
