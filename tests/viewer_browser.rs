//! The results layer and the viewer on files a real (small) run wrote: `sqlora baseline` on 8 dev
//! questions with the exact and the int8 path, `sqlora mmlu` on 20 questions spread over the frozen
//! sample (every category; the whole sample took half of this file's time). Those files are
//! read by pyarrow and DuckDB, and shown by `sqlora view` in Debian's headless chromium, driven by
//! playwright-core (tests/browser/viewer.mjs), which reports what the page shows; the assertions
//! here compare it with the Parquet files. Screenshots go to `$SQLORA_ARTIFACTS/viewer/` (default
//! `target/artifacts/viewer/`).
//!
//! Two real fine-tunes (a few steps each, ranks 4 and 8) are evaluated into the same folder, r4
//! with both prompts: the page must show each prompt's EX in its own column and both training
//! curves, which the evaluations gathered from the adapters' folders.
mod mmlu_support;
mod spider_support;

use serde_json::Value;
use sqlora::results::predictions::read_predictions;
use sqlora::results::runs::{read_runs, record_runs, run_id, spider_run, RunRow};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const LIMIT: usize = 8;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Outside CI a missing tool skips the test with a message; under CI=true it fails it.
fn missing(what: &str) -> Option<()> {
    if in_ci() {
        panic!("CI=true and {what}");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED: {what}");
    None
}

fn has_command(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

fn browser_tools() -> Option<()> {
    if sqlora::viewer::assets::viewer_dir().is_err() {
        return missing("the viewer is not built (bash wasm/build.sh)");
    }
    if !Path::new("/usr/bin/chromium").exists() && std::env::var_os("CHROMIUM").is_none() {
        return missing("chromium is not installed (apt-get install chromium)");
    }
    if !Path::new(REPO).join("tests/browser/node_modules/playwright-core").is_dir() {
        return missing("playwright-core is not installed (npm ci --prefix tests/browser)");
    }
    Some(())
}

fn python_tools() -> Option<()> {
    if !has_command("python3", &["-c", "import duckdb, pyarrow"]) {
        return missing("python3 with duckdb and pyarrow is not available (pip install duckdb pyarrow)");
    }
    Some(())
}

fn sqlora(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_sqlora")).args(args).output().expect("run sqlora");
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "sqlora {args:?} failed:\n{text}");
    text
}

struct RealRun {
    results: PathBuf,
    /// The exact-path Spider run and its int8 twin (their run ids).
    exact: String,
    int8: String,
}

/// The folder of a real small run, made once for both tests of this file.
fn real_run() -> Option<&'static RealRun> {
    static RUN: OnceLock<Option<RealRun>> = OnceLock::new();
    RUN.get_or_init(|| {
        spider_support::data_dir()?;
        mmlu_support::model()?;
        let results = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("viewer-results");
        let _ = std::fs::remove_dir_all(&results);
        let r = results.to_str().unwrap();
        let int8_dir = results.join("int8");
        let limit = LIMIT.to_string();
        let base = ["baseline", "--limit", &limit, "--batch", "4", "--max-tokens", "64"];
        sqlora(&[&base[..], &["--out-dir", r]].concat());
        sqlora(&[&base[..], &["--int8", "--out-dir", int8_dir.to_str().unwrap()]].concat());
        sqlora(&["mmlu", "--limit", "20", "--out-dir", r]);
        // Two short fine-tunes in folders of their own, evaluated into the results folder.
        let adapters = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("viewer-adapters");
        let _ = std::fs::remove_dir_all(&adapters);
        for rank in ["4", "8"] {
            let dir = adapters.join(format!("r{rank}"));
            let d = dir.to_str().unwrap();
            let short = "finetune --max-examples 12 --batch-size 2 --max-len 400 --max-steps 6 --val-examples 2 --val-every 2";
            let short: Vec<&str> = short.split(' ').collect();
            sqlora(&[&short[..], &["--rank", rank, "--targets", "q,v,down", "--out-dir", d]].concat());
            let prompts: &[&str] = if rank == "4" { &["3shot", "0shot"] } else { &["3shot"] };
            for prompt in prompts {
                sqlora(&[&["evaluate"][..], &base[1..], &["--adapter", d, "--prompt", prompt, "--out-dir", r]].concat());
            }
        }
        // The kernel benchmark's smoke run at every ISA level, with the training step's breakdown.
        sqlora(&["bench", "--kernels", "--tiny", "--isa", "all", "--train", "--label", "smoke", "--out-dir", r]);
        let runs = read_runs(&results.join("runs.parquet")).unwrap();
        let exact = runs.iter().find(|r| r.task == "spider" && r.adapter.is_none()).expect("a spider run").clone();
        let int8 = read_runs(&int8_dir.join("runs.parquet")).unwrap().remove(0);
        Some(RealRun { results, exact: exact.run_id, int8: int8.run_id })
    })
    .as_ref()
}

#[test]
fn real_results_files_read_the_same_in_pyarrow_and_duckdb() {
    let Some(run) = real_run() else { return };
    let Some(()) = python_tools() else { return };
    let o = Command::new("python3").arg(Path::new(REPO).join("tests/results_interop.py")).arg(&run.results).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let seen: Value = serde_json::from_slice(&o.stdout).unwrap();
    let files = seen.as_object().unwrap();
    let kinds: Vec<&str> = files.values().map(|f| f["kind"].as_str().unwrap()).collect();
    for k in ["runs", "spider_predictions", "mmlu_answers", "train_log", "kernels"] {
        assert!(kinds.contains(&k), "no {k} file among {files:?}");
    }
    // pyarrow's names of the Arrow types the schema tables use.
    let arrow_name = |t: sqlora::results::schema::Ty| {
        use sqlora::results::schema::Ty::*;
        match t {
            Utf8 => "string",
            Int8 => "int8",
            Int32 => "int32",
            Int64 => "int64",
            Float32 => "float",
            Float64 => "double",
            Boolean => "bool",
        }
    };
    for (rel, f) in files {
        let kind = sqlora::results::schema::Kind::from_name(f["kind"].as_str().unwrap()).unwrap();
        assert_eq!(f["schema_version"], "1", "{rel}");
        assert_eq!(f["duckdb_kind"], f["kind"], "{rel}: DuckDB sees the same metadata");
        assert_eq!(f["rows"], f["duckdb_rows"], "{rel}");
        for c in kind.columns() {
            assert_eq!(f["types"][c.name], arrow_name(c.ty), "{rel}: column {}", c.name);
        }
    }
    let preds = read_predictions(&run.results.join("spider_predictions.parquet")).unwrap();
    let p = &files["spider_predictions.parquet"];
    assert_eq!(p["rows"], preds.len());
    let mean = preds.iter().filter(|r| r.ex_official == Some(true)).count() as f64 / preds.len() as f64;
    assert!((p["duckdb_mean_ex_official"].as_f64().unwrap() - mean).abs() < 1e-12);
    let runs = read_runs(&run.results.join("runs.parquet")).unwrap();
    for r in &runs {
        assert_eq!(files["runs.parquet"]["duckdb_scores"][&r.run_id].as_f64(), Some(r.score), "{}", r.run_id);
    }
    let mmlu = runs.iter().find(|r| r.task == "mmlu").unwrap();
    assert!((files["mmlu_answers.parquet"]["duckdb_accuracy"].as_f64().unwrap() - mmlu.score).abs() < 1e-12);
}

fn http_get(url: &str, path: &str) -> (String, Vec<u8>) {
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let at = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    (String::from_utf8_lossy(&buf[..at]).into_owned(), buf[at + 4..].to_vec())
}

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(results: &Path) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sqlora"))
        .args(["view", "--port", "0", "--results"])
        .arg(results)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_else(|| panic!("no URL in {line:?}")).to_string();
    (Server(child), url)
}

fn artifacts() -> PathBuf {
    let base = std::env::var_os("SQLORA_ARTIFACTS").map(PathBuf::from).unwrap_or_else(|| Path::new(REPO).join("target/artifacts"));
    let dir = base.join("viewer");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What tests/browser/viewer.mjs saw on the page at `url`.
fn browse(url: &str, shots: &Path, args: Value) -> Value {
    let o = Command::new("node")
        .arg(Path::new(REPO).join("tests/browser/viewer.mjs"))
        .args([url, shots.to_str().unwrap(), &args.to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "the browser script failed:\n{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The texts of a JSON array of strings.
fn texts(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|x| x.as_str().unwrap_or("").to_string()).collect()
}

fn ex_values(cells: &[String]) -> Vec<Option<f64>> {
    cells.iter().map(|c| c.split_whitespace().next().and_then(|x| x.parse().ok())).collect()
}

#[test]
fn the_viewer_in_chromium_shows_what_the_files_hold() {
    let Some(run) = real_run() else { return };
    let Some(()) = browser_tools() else { return };
    let (_server, url) = serve(&run.results);

    // The server: wasm with its MIME type, the listing, nothing outside the folder.
    let (head, _) = http_get(&url, "/pkg/sqlora_viewer_bg.wasm");
    assert!(head.starts_with("HTTP/1.1 200") && head.contains("Content-Type: application/wasm"), "{head}");
    let (_, index) = http_get(&url, "/results/index.json");
    let index: Value = serde_json::from_slice(&index).unwrap();
    assert!(texts(&index["files"]).contains(&"int8/spider_predictions.parquet".to_string()), "{index}");
    for bad in ["/results/../Cargo.toml", "/results/%2e%2e/Cargo.toml", "/../../Cargo.toml"] {
        let (head, _) = http_get(&url, bad);
        assert!(head.starts_with("HTTP/1.1 403"), "{bad}: {head}");
    }

    let runs = read_runs(&run.results.join("runs.parquet")).unwrap();
    let exact = runs.iter().find(|r| r.run_id == run.exact).unwrap();
    // The exact base run's questions (the adapters' runs share the file).
    let preds: Vec<_> = read_predictions(&run.results.join("spider_predictions.parquet"))
        .unwrap()
        .into_iter()
        .filter(|p| p.run_id.as_deref() == Some(run.exact.as_str()))
        .collect();
    let (db, hardness) = (preds[0].db_id.clone(), preds[0].hardness.clone().unwrap());
    let corrupt = artifacts().join("corrupt-runs.parquet");
    let whole = std::fs::read(run.results.join("runs.parquet")).unwrap();
    std::fs::write(&corrupt, &whole[..whole.len() / 2]).unwrap();
    let shots = artifacts();
    let seen =
        browse(&url, &shots, serde_json::json!({"runA": run.exact, "runB": run.int8, "db": db, "hardness": hardness, "corrupt": corrupt}));
    eprintln!("first render of the results folder: {} ms after navigation; screenshots in {}", seen["firstRenderMs"], shots.display());

    assert_eq!(seen["pageErrors"], serde_json::json!([]), "{seen}");
    assert!(seen["status"].as_str().unwrap().starts_with("Loaded"), "{}", seen["status"]);
    // Runs: the exact and int8 baselines and the two adapters, one row each.
    let rows = seen["runs"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    let row_of = |label: &str| rows.iter().find(|r| r["run"] == label).unwrap_or_else(|| panic!("no row {label}: {rows:?}"));
    let exact_row = row_of(&exact.model);
    let ex = exact_row["EX official"].as_str().unwrap();
    assert!(ex.starts_with(&format!("{:.3} [", exact.score)), "EX {ex} vs runs.parquet {}", exact.score);
    assert_eq!(exact_row["Spider n"], LIMIT.to_string());
    assert_eq!(exact_row["Δ EX official"], "reference");
    // Each prompt's EX in its own column, as runs.parquet has them: r4 ran both, r8 only 3-shot.
    let score = |adapter: &str, zero_shot: bool| {
        let r = spider_run(&runs, &exact.model, Some(adapter), zero_shot).unwrap_or_else(|| panic!("no run of {adapter}"));
        format!("{:.3} [", r.score)
    };
    let r4 = row_of(&format!("{} + r4", exact.model));
    let r8 = row_of(&format!("{} + r8", exact.model));
    for (row, adapter) in [(r4, "r4"), (r8, "r8")] {
        assert!(row["EX official"].as_str().unwrap().starts_with(&score(adapter, false)), "{row}");
        let delta = row["Δ EX official"].as_str().unwrap();
        assert!(delta.starts_with(['+', '-']) && delta.contains(" ["), "a paired change with its interval: {delta}");
    }
    assert!(r4["EX official, training format"].as_str().unwrap().starts_with(&score("r4", true)), "{r4}");
    assert_eq!(r8["EX official, training format"], "", "{r8}");
    // Metrics before settings; differences only by default, without the bookkeeping.
    let headers = texts(&seen["headers"]);
    let first_setting = seen["firstSettingColumn"].as_u64().unwrap() as usize;
    for m in ["EX official", "EX official, training format", "MMLU Overall", "Δ EX official", "Δ MMLU Overall"] {
        assert!(headers.iter().position(|h| h.starts_with(m)).unwrap() < first_setting, "{m} after the settings: {headers:?}");
    }
    assert_eq!(seen["diffOnlyByDefault"], true);
    // Sorting by EX official: descending then ascending, empty cells last both times.
    let desc = ex_values(&texts(&seen["sortedDesc"]["ex"]));
    let asc = ex_values(&texts(&seen["sortedAsc"]["ex"]));
    let nums = |v: &[Option<f64>]| v.iter().flatten().copied().collect::<Vec<f64>>();
    assert!(nums(&desc).windows(2).all(|w| w[0] >= w[1]) && nums(&asc).windows(2).all(|w| w[0] <= w[1]), "{desc:?} {asc:?}");
    assert!(desc.iter().skip_while(|v| v.is_some()).all(Option::is_none), "{desc:?}");
    // Differences only: the int8 switch and the ranks differ; the Spider batch is the same, and
    // the adapter paths are bookkeeping.
    let all = texts(&seen["settingColumnsAll"]);
    let diff = texts(&seen["settingColumnsDiffOnly"]);
    assert_eq!(texts(&seen["settingColumnsDefault"]), diff);
    assert!(all.contains(&"spider.batch".into()) && !diff.contains(&"spider.batch".into()), "{all:?} / {diff:?}");
    assert!(all.contains(&"spider.adapter_path".into()) && !diff.contains(&"spider.adapter_path".into()), "{all:?} / {diff:?}");
    assert!(diff.contains(&"spider.int8".into()) && diff.contains(&"rank".into()), "{diff:?}");
    assert!(seen["mmluBars"].as_u64().unwrap() >= 5, "one bar per group at least: {}", seen["mmluBars"]);
    // Training: train and validation curves of both adapters (6 steps, validation every 2),
    // gathered from their folders by the evaluations.
    let curves = seen["curves"].as_array().unwrap();
    let points: Vec<u64> = curves.iter().map(|c| c["points"].as_u64().unwrap()).collect();
    assert_eq!(points, vec![6, 3, 6, 3], "{curves:?}");
    assert!(curves.iter().all(|c| c["d"].as_u64().unwrap() > 20), "{curves:?}");
    let legend = seen["trainingText"].as_str().unwrap();
    assert!(legend.contains("r4 train") && legend.contains("r8 validation"), "{legend}");
    // Kernels: one line per op case, one column per ISA level, each cell the file's median.
    let kernels = sqlora::results::kernels::read_kernels(&run.results.join("kernels.parquet")).unwrap();
    let ops: Vec<_> = kernels.iter().filter(|r| r.kind == "op").collect();
    let mut lines: Vec<String> = Vec::new();
    for r in &ops {
        let key = format!("{} {:?} {:?} {:?} {}", r.op, r.phase, r.shape, r.encoding, r.numerics);
        if !lines.contains(&key) {
            lines.push(key);
        }
    }
    let shown = seen["kernelRows"].as_array().unwrap();
    assert_eq!(shown.len(), lines.len(), "one line per op case");
    let headers = texts(&seen["kernelHeaders"]);
    for level in sqlora_kernel::cpu::isa::supported() {
        assert!(headers.iter().any(|h| h.starts_with(level.name())), "no column for {level}: {headers:?}");
    }
    let first = texts(&shown[0]);
    let want = ops[0].median_s.unwrap();
    assert_eq!(first[0], ops[0].op);
    assert_eq!(first[6].parse::<f64>().unwrap(), want, "the first cell is the file's median");
    assert_eq!(seen["kernelSteps"], 2, "the training step's breakdown, in each numerics");
    // Explorer: all 8 questions, then those with the first question's database and hardness, in
    // dev order.
    assert_eq!(seen["explorerAll"], format!("{LIMIT} of {LIMIT} questions"));
    let on_db: Vec<_> = preds.iter().filter(|p| p.db_id == db && p.hardness.as_ref() == Some(&hardness)).collect();
    assert_eq!(seen["explorerFiltered"], format!("{} of {LIMIT} questions", on_db.len()));
    let shown = seen["explorerRows"].as_array().unwrap();
    assert_eq!(shown.len(), on_db.len());
    assert_eq!(
        (shown[0]["id"].as_str(), shown[0]["q"].as_str()),
        (Some(on_db[0].id.to_string().as_str()), Some(on_db[0].question.as_str()))
    );
    let detail = seen["detail"].as_str().unwrap();
    assert!(detail.contains(&on_db[0].gold) && detail.contains("gold") && detail.contains("predicted"), "{detail}");
    assert_eq!(seen["explorerPairedColumns"], 3, "seed, official and run B's verdict");
    // The corrupt file: a message on the page, the runs still there.
    let errors = texts(&seen["errorMessages"]);
    assert!(errors.iter().any(|e| e.contains("corrupt-runs.parquet: not a Parquet file")), "{errors:?}");
    assert!(seen["statusAfterDrop"].as_str().unwrap().contains("could not be read"), "{}", seen["statusAfterDrop"]);
    assert_eq!(seen["runsAfterDrop"], 4);
    for shot in ["runs.png", "mmlu.png", "training.png", "kernels.png", "spider.png", "corrupt-drop.png"] {
        assert!(shots.join(shot).metadata().is_ok_and(|m| m.len() > 1000), "{shot}");
    }
}

/// Five Spider runs over all 1,034 dev questions beside the real run's MMLU answers: the size the
/// viewer must render in under a second. The questions and gold SQL are Spider's; each run's
/// verdicts are synthetic (seeded, the prediction is the gold or `SELECT 1`), written through the
/// results layer like the real files.
fn scale_folder(real: &RealRun) -> PathBuf {
    use sqlora::results::predictions::{write_predictions, PredictionRow};
    let data = sqlora::datadir::resolve(None).unwrap();
    let dev = sqlora::spider::dataset::load_split(&data.join("spider"), sqlora::spider::Split::Dev).unwrap();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("viewer-scale");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(real.results.join("mmlu_answers.parquet"), dir.join("mmlu_answers.parquet")).unwrap();
    let mut rng = sqlora::rng::SplitMix64::new(7);
    let (mut preds, mut runs) = (Vec::new(), Vec::new());
    for (k, adapter) in [None, Some("r4"), Some("r8"), Some("r16"), Some("r32")].into_iter().enumerate() {
        let id = run_id("spider", "dev", "demo.gguf", adapter);
        let p = 0.1 + 0.06 * k as f64;
        let mut right = 0;
        for e in &dev {
            let ok = (rng.next_u64() as f64 / u64::MAX as f64) < p;
            right += usize::from(ok);
            preds.push(PredictionRow {
                run_id: Some(id.clone()),
                id: e.index as i64,
                db_id: e.db_id.clone(),
                question: e.question.clone(),
                hardness: Some(e.hardness.as_str().into()),
                gold: e.query.clone(),
                predicted: if ok { e.query.clone() } else { "SELECT 1".into() },
                ex_seed: Some(ok),
                ex_official: Some(ok),
                ..Default::default()
            });
        }
        let ex = right as f64 / dev.len() as f64;
        runs.push(RunRow {
            run_id: id,
            task: "spider".into(),
            split: "dev".into(),
            model: "demo.gguf".into(),
            adapter: adapter.map(Into::into),
            metric: "ex_official".into(),
            score: ex,
            n: dev.len() as i64,
            metrics: Some(serde_json::json!({"ex_official": ex, "ex_seed": ex}).to_string()),
            settings: Some(serde_json::json!({"rank": adapter.map(|a| a[1..].parse::<i64>().unwrap()), "batch": 16}).to_string()),
            ..Default::default()
        });
    }
    write_predictions(&dir.join("spider_predictions.parquet"), &preds).unwrap();
    record_runs(&dir.join("runs.parquet"), runs).unwrap();
    dir
}

#[test]
fn five_full_dev_runs_render_with_a_virtual_explorer_list() {
    let Some(run) = real_run() else { return };
    let Some(()) = browser_tools() else { return };
    let dir = scale_folder(run);
    let (_server, url) = serve(&dir);
    let seen = browse(&url, &artifacts(), serde_json::json!({"mode": "scale"}));
    eprintln!(
        "5 runs x 1034 questions + MMLU: first render {} ms after navigation; text filter {} ms",
        seen["firstRenderMs"], seen["filterMs"]
    );
    assert!(seen["status"].as_str().unwrap().starts_with("Loaded"), "{}", seen["status"]);
    // 5 Spider arms and the real MMLU arm (another model name).
    assert_eq!(seen["runs"], 6, "{seen}");
    assert_eq!(seen["count"], "1034 of 1034 questions");
    // Only the rows in view are in the page, at the top and after scrolling to the end.
    let (top, end) = (seen["domRows"].as_u64().unwrap(), seen["domRowsAtEnd"].as_u64().unwrap());
    assert!((10..100).contains(&top) && (10..100).contains(&end), "{top} / {end} rows in the page");
    assert_eq!(seen["lastRowId"], "1033");
    let filtered: usize = seen["countFiltered"].as_str().unwrap().split_whitespace().next().unwrap().parse().unwrap();
    // Run A's predictions are its gold or "SELECT 1", so the search matches question or gold.
    let dev =
        sqlora::spider::dataset::load_split(&sqlora::datadir::resolve(None).unwrap().join("spider"), sqlora::spider::Split::Dev).unwrap();
    let want = dev.iter().filter(|e| format!("{}\n{}", e.question, e.query).to_lowercase().contains("how many")).count();
    assert!(want > 0);
    assert_eq!(filtered, want, "rows for 'how many'");
}
