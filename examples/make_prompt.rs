//! Writes data/prompts/spider_3shot.txt from the three shot examples and their SQLite schemas.
//! Run: cargo run --release --example make_prompt -- [DATA_DIR]
fn main() -> anyhow::Result<()> {
    let data = sqlora::datadir::resolve(std::env::args().nth(1).as_deref().map(std::path::Path::new))?;
    let text = sqlora::spider::prompt::build_shots(&data.join("spider"))?;
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/prompts/spider_3shot.txt");
    std::fs::write(&out, &text)?;
    println!("wrote {} ({} bytes)", out.display(), text.len());
    Ok(())
}
