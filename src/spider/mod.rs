//! Spider 1.0: data set, hardness, schema text from SQLite.
pub mod dataset;
pub mod extract;
pub mod hardness;
pub mod prompt;
pub mod schema;
pub mod slice;
pub mod sqlshape;

pub use dataset::{db_path, Dataset, Example, Split, TableSchema};
pub use hardness::Hardness;
pub use schema::schema_text;
