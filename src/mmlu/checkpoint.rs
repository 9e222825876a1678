//! A run's checkpoint: JSONL, a first line `{"settings": …}` and then one answer row per line,
//! flushed after every batch. An interrupted run reopens it, keeps what it holds and scores only the
//! rest; the finished run moves the rows into the Parquet file and removes the checkpoint.
use crate::results::mmlu_answers::AnswerRow;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub struct Checkpoint {
    path: PathBuf,
    out: BufWriter<std::fs::File>,
    /// Held while the run scores: one writer per checkpoint (a second identical run waits).
    _lock: sqlora_results::lock::LockGuard,
}

impl Checkpoint {
    /// Opens (or creates) the checkpoint at `path` for a run with these `settings`; returns the rows it
    /// already holds. A checkpoint written with other settings is an error (delete it to start over).
    /// A line cut short by the interruption is dropped.
    pub fn open(path: &Path, settings: &Value) -> Result<(Checkpoint, Vec<AnswerRow>)> {
        let lock = sqlora_results::lock::lock_exclusive(path, |lp| {
            println!("another sqlora process is scoring this run into {} (lock {}); waiting for it", path.display(), lp.display())
        })?;
        let mut rows = Vec::new();
        let header = serde_json::json!({ "settings": settings });
        if path.exists() {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            // Only whole lines count; cut a partial last line off the file before appending to it.
            let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
            let mut lines = whole.lines();
            match lines.next().map(serde_json::from_str::<Value>) {
                Some(Ok(h)) if h == header => {}
                Some(Ok(h)) => bail!(
                    "{} was written by a run with other settings:\n  it has  {}\n  now    {}\ndelete it to start this run over",
                    path.display(),
                    h["settings"],
                    settings
                ),
                Some(Err(e)) => bail!("{}: bad first line ({e}); delete it to start over", path.display()),
                None => {}
            }
            for (n, line) in lines.enumerate() {
                rows.push(serde_json::from_str(line).with_context(|| format!("{}:{}", path.display(), n + 2))?);
            }
            if whole.len() != text.len() {
                std::fs::write(path, whole)?;
            }
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let fresh = !path.exists() || std::fs::metadata(path)?.len() == 0;
        let file =
            std::fs::OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut c = Checkpoint { path: path.to_path_buf(), out: BufWriter::new(file), _lock: lock };
        if fresh {
            c.write_line(&header)?;
            c.out.flush()?;
        }
        Ok((c, rows))
    }

    fn write_line(&mut self, v: &impl serde::Serialize) -> Result<()> {
        serde_json::to_writer(&mut self.out, v)?;
        self.out.write_all(b"\n")?;
        Ok(())
    }

    /// Appends rows and flushes them to the file.
    pub fn append(&mut self, rows: &[AnswerRow]) -> Result<()> {
        for r in rows {
            self.write_line(r)?;
        }
        self.out.flush().with_context(|| format!("writing {}", self.path.display()))
    }

    /// The run is recorded elsewhere: delete the checkpoint.
    pub fn remove(self) -> Result<()> {
        drop(self.out);
        std::fs::remove_file(&self.path).with_context(|| format!("removing {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: i64) -> AnswerRow {
        AnswerRow { model: "m".into(), subject: "s".into(), row: i, logit_a: 0.5, ..Default::default() }
    }

    #[test]
    fn reopened_checkpoint_returns_saved_rows_and_drops_a_cut_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.jsonl");
        let s = serde_json::json!({"split": "val"});
        let (mut c, old) = Checkpoint::open(&p, &s).unwrap();
        assert!(old.is_empty());
        c.append(&[row(0), row(1)]).unwrap();
        drop(c);
        // An interruption in the middle of a line.
        let mut text = std::fs::read_to_string(&p).unwrap();
        text.push_str("{\"model\":\"m\",\"ro");
        std::fs::write(&p, text).unwrap();
        let (mut c, old) = Checkpoint::open(&p, &s).unwrap();
        assert_eq!(old, vec![row(0), row(1)]);
        c.append(&[row(2)]).unwrap();
        drop(c);
        let (c, old) = Checkpoint::open(&p, &s).unwrap();
        assert_eq!(old, vec![row(0), row(1), row(2)]);
        c.remove().unwrap();
        assert!(!p.exists());
    }

    #[test]
    fn checkpoint_of_other_settings_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.jsonl");
        drop(Checkpoint::open(&p, &serde_json::json!({"split": "val"})).unwrap());
        let err = Checkpoint::open(&p, &serde_json::json!({"split": "test"})).err().unwrap().to_string();
        assert!(err.contains("other settings"), "{err}");
    }
}
