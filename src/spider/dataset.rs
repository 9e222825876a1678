//! The Spider 1.0 data set as plain Rust values: dev (1034), train_spider (7000), train_others (1659),
//! the 166 schemas of tables.json and the path of each SQLite database.
use super::hardness::{Hardness, Shape};
use super::sqlshape::shape_of;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    Dev,
    TrainSpider,
    TrainOthers,
}

impl Split {
    pub fn file_name(self) -> &'static str {
        match self {
            Split::Dev => "dev.json",
            Split::TrainSpider => "train_spider.json",
            Split::TrainOthers => "train_others.json",
        }
    }

    /// The number of examples in the release this project uses (see the data README).
    pub fn expected_len(self) -> usize {
        match self {
            Split::Dev => 1034,
            Split::TrainSpider => 7000,
            Split::TrainOthers => 1659,
        }
    }
}

/// One question with its gold SQL.
#[derive(Clone, Debug)]
pub struct Example {
    pub split: Split,
    /// Position in its JSON file; the stable id of the example.
    pub index: usize,
    pub db_id: String,
    pub question: String,
    pub query: String,
    pub hardness: Hardness,
}

/// One entry of tables.json (the fields sqlora uses).
#[derive(Clone, Debug, Deserialize)]
pub struct TableSchema {
    pub db_id: String,
    pub table_names_original: Vec<String>,
    /// `(table index, column name)`; index -1 is the `*` column.
    pub column_names_original: Vec<(i64, String)>,
    pub column_types: Vec<String>,
}

#[derive(Deserialize)]
struct RawExample {
    db_id: String,
    question: String,
    query: String,
    /// Only dev.json has the official parse; train files need the text path.
    #[serde(default)]
    sql: Option<serde_json::Value>,
}

pub struct Dataset {
    /// The data directory (holding `spider/`).
    pub data_dir: PathBuf,
    pub dev: Vec<Example>,
    /// train_spider followed by train_others (8659), as Spider's own train set.
    pub train: Vec<Example>,
    pub tables: BTreeMap<String, TableSchema>,
}

impl Dataset {
    /// Load every split and tables.json from `data_dir/spider`.
    pub fn load(data_dir: &Path) -> Result<Dataset> {
        let dir = data_dir.join("spider");
        let dev = load_split(&dir, Split::Dev)?;
        let mut train = load_split(&dir, Split::TrainSpider)?;
        train.extend(load_split(&dir, Split::TrainOthers)?);
        let tables_path = dir.join("tables.json");
        let tables: Vec<TableSchema> = read_json(&tables_path)?;
        let tables = tables.into_iter().map(|t| (t.db_id.clone(), t)).collect();
        Ok(Dataset { data_dir: data_dir.to_path_buf(), dev, train, tables })
    }

    /// `data_dir/spider/database/<db_id>/<db_id>.sqlite` (whether or not it exists).
    pub fn db_path(&self, db_id: &str) -> PathBuf {
        db_path(&self.data_dir, db_id)
    }
}

/// Whether `db_id` can name a Spider database: letters, digits and underscores only, so no name
/// (`../../tmp/x`, an absolute path) reaches a file outside the data folder.
pub fn is_db_id(db_id: &str) -> bool {
    !db_id.is_empty() && db_id.len() <= 128 && db_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `data_dir/spider/database/<db_id>/<db_id>.sqlite` (whether or not it exists). Check the name with
/// [`is_db_id`] before opening it.
pub fn db_path(data_dir: &Path, db_id: &str) -> PathBuf {
    data_dir.join("spider").join("database").join(db_id).join(format!("{db_id}.sqlite"))
}

/// Load one split; hardness from the official parse where present, else from the query text.
pub fn load_split(spider_dir: &Path, split: Split) -> Result<Vec<Example>> {
    let path = spider_dir.join(split.file_name());
    let raw: Vec<RawExample> = read_json(&path)?;
    if raw.len() != split.expected_len() {
        bail!("{}: {} examples, expected {}", path.display(), raw.len(), split.expected_len());
    }
    Ok(raw
        .into_iter()
        .enumerate()
        .map(|(index, r)| {
            let shape = r.sql.as_ref().map_or_else(|| shape_of(&r.query), Shape::from_spider_json);
            Example { split, index, db_id: r.db_id, question: r.question, query: r.query, hardness: shape.hardness() }
        })
        .collect())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}
