//! The viewer's rows: one per arm (a base model alone, or with one adapter — the report's unit),
//! gathering that arm's Spider run, MMLU answers and settings from every file of the folder.
use super::folder::Folder;
use crate::compare::{arms as mmlu_arms, group_stats, Arm, GroupStat};
use crate::runs::{spider_run, RunRow};
use crate::stats::{wilson, Z95};
use std::collections::BTreeMap;

/// The MMLU split the viewer compares: the frozen sample when present (as `sqlora report`), else
/// the first split in the answers.
pub fn mmlu_split(folder: &Folder) -> Option<String> {
    let has = |s: &str| folder.answers.iter().any(|a| a.split == s);
    if has("sample150") {
        Some("sample150".into())
    } else {
        folder.answers.first().map(|a| a.split.clone())
    }
}

/// An accuracy with its Wilson 95% interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub value: f64,
    pub n: usize,
    pub lo: f64,
    pub hi: f64,
}

impl Rate {
    pub fn of(value: f64, n: usize) -> Rate {
        let k = (value * n as f64).round() as usize;
        let (lo, hi) = wilson(k, n, Z95);
        Rate { value, n, lo, hi }
    }
}

/// One Spider run of an arm, with its two EX rates.
#[derive(Clone, Debug)]
pub struct SpiderRun {
    pub run: RunRow,
    pub ex_official: Option<Rate>,
    pub ex_seed: Option<Rate>,
}

impl SpiderRun {
    fn of(run: &RunRow) -> SpiderRun {
        SpiderRun { ex_official: spider_metric(run, "ex_official"), ex_seed: spider_metric(run, "ex_seed"), run: run.clone() }
    }
}

/// Everything recorded about one arm.
#[derive(Clone, Debug)]
pub struct ArmRuns {
    pub model: String,
    pub adapter: Option<String>,
    /// Its Spider run with the fixed 3-shot prompt: the full dev split when there is one, else its
    /// largest subset.
    pub spider: Option<SpiderRun>,
    /// Its Spider run in the training format (`dev@0shot`), chosen the same way.
    pub spider_0shot: Option<SpiderRun>,
    /// Its MMLU answers on [`mmlu_split`], with the report's per-group statistics.
    pub mmlu: Option<(Arm, Vec<GroupStat>)>,
    /// Settings of its runs, flattened: a training run's keys as they are (rank, alpha, lr, …),
    /// others as `task.key`.
    pub settings: BTreeMap<String, String>,
}

impl ArmRuns {
    pub fn label(&self) -> String {
        match &self.adapter {
            Some(a) => format!("{} + {a}", self.model),
            None => self.model.clone(),
        }
    }

    pub fn is_base(&self) -> bool {
        self.adapter.is_none()
    }
}

fn flatten(settings: &str, prefix: &str, out: &mut BTreeMap<String, String>) {
    let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(settings) else { return };
    for (k, v) in m {
        let text = match v {
            serde_json::Value::String(s) => s,
            // A list of names (LoRA targets) reads as the CLI takes it.
            serde_json::Value::Array(a) if a.iter().all(|x| x.is_string()) => {
                a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(",")
            }
            serde_json::Value::Null => continue,
            other => other.to_string(),
        };
        out.insert(format!("{prefix}{k}"), text);
    }
}

fn spider_metric(run: &RunRow, key: &str) -> Option<Rate> {
    let m: serde_json::Value = serde_json::from_str(run.metrics.as_deref()?).ok()?;
    Some(Rate::of(m.get(key)?.as_f64()?, run.n.max(0) as usize))
}

/// The arms of a folder: those with any run, MMLU answers or training log; per model the base
/// first, then its adapters by name.
pub fn arms(folder: &Folder) -> Vec<ArmRuns> {
    let mut keys: Vec<(String, Option<String>)> = folder.runs.iter().map(|r| (r.model.clone(), r.adapter.clone())).collect();
    keys.extend(folder.answers.iter().map(|a| (a.model.clone(), a.adapter.clone())));
    keys.extend(folder.train_log.iter().map(|t| (t.model.clone(), Some(t.adapter.clone()))));
    keys.sort();
    keys.dedup();
    let split = mmlu_split(folder);
    let answers = split.as_deref().map(|s| mmlu_arms(folder.answers.clone(), s)).unwrap_or_default();
    keys.into_iter()
        .map(|(model, adapter)| {
            let mine: Vec<&RunRow> = folder.runs.iter().filter(|r| r.model == model && r.adapter == adapter).collect();
            let shown = |zero_shot| spider_run(&folder.runs, &model, adapter.as_deref(), zero_shot);
            let (spider, spider_0shot) = (shown(false), shown(true));
            // Settings come from the runs shown, each prompt's under its own prefix: a column never
            // holds one run's setting beside another run's number.
            let mut settings = BTreeMap::new();
            for r in mine.iter().filter(|r| r.task != "spider") {
                let prefix = if r.task == "train" { String::new() } else { format!("{}.", r.task) };
                flatten(r.settings.as_deref().unwrap_or(""), &prefix, &mut settings);
            }
            for (run, prefix) in [(spider, "spider."), (spider_0shot, "spider@0shot.")] {
                if let Some(r) = run {
                    flatten(r.settings.as_deref().unwrap_or(""), prefix, &mut settings);
                }
            }
            let mmlu = answers.iter().find(|a| a.model == model && a.adapter == adapter).map(|a| (a.clone(), group_stats(a)));
            ArmRuns { spider: spider.map(SpiderRun::of), spider_0shot: spider_0shot.map(SpiderRun::of), mmlu, settings, model, adapter }
        })
        .collect()
}

/// The default reference: the first base model, else the first arm.
pub fn default_reference(arms: &[ArmRuns]) -> usize {
    arms.iter().position(ArmRuns::is_base).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::run_id;

    #[test]
    fn an_arm_gathers_its_spider_run_and_settings_and_prefers_the_full_split() {
        let spider = |split: &str, n: i64, ex: f64| RunRow {
            run_id: run_id("spider", split, "m", None),
            task: "spider".into(),
            split: split.into(),
            model: "m".into(),
            n,
            score: ex,
            metrics: Some(format!(r#"{{"ex_official": {ex}, "ex_seed": 0.5}}"#)),
            settings: Some(r#"{"batch": 16, "chat": false}"#.into()),
            ..Default::default()
        };
        let train = RunRow {
            run_id: run_id("train", "train", "m", Some("r8")),
            task: "train".into(),
            model: "m".into(),
            adapter: Some("r8".into()),
            settings: Some(r#"{"rank": 8, "alpha": 16, "targets": ["q", "v"]}"#.into()),
            ..Default::default()
        };
        let folder = Folder { runs: vec![spider("dev-subset-8", 8, 0.25), spider("dev", 1034, 0.3), train], ..Default::default() };
        let a = arms(&folder);
        assert_eq!(a.iter().map(ArmRuns::label).collect::<Vec<_>>(), vec!["m", "m + r8"]);
        assert_eq!(a[0].spider.as_ref().unwrap().run.split, "dev");
        let ex = a[0].spider.as_ref().unwrap().ex_official.unwrap();
        assert_eq!((ex.value, ex.n), (0.3, 1034));
        assert!(ex.lo < 0.3 && 0.3 < ex.hi);
        assert_eq!(a[0].settings["spider.batch"], "16");
        assert_eq!(a[1].settings["rank"], "8");
        assert_eq!(a[1].settings["targets"], "q,v");
        assert_eq!(default_reference(&a), 0);
    }

    /// An adapter evaluated with both prompts: its row's EX and its `spider.*` settings are the
    /// 3-shot run's, the training format's settings sit under `spider@0shot.*` — never one run's
    /// label beside the other's number (as `scripts/main.sh` writes them: EX 0.062 and 0.089).
    #[test]
    fn both_prompts_of_an_adapter_keep_their_own_labels() {
        let run = |split: &str, ex: f64, prompt: &str| RunRow {
            run_id: run_id("spider", split, "m", Some("r16")),
            task: "spider".into(),
            split: split.into(),
            model: "m".into(),
            adapter: Some("r16".into()),
            n: 1034,
            score: ex,
            metrics: Some(format!(r#"{{"ex_official": {ex}, "ex_seed": {ex}}}"#)),
            settings: Some(format!(r#"{{"prompt": "{prompt}", "batch": 16}}"#)),
            ..Default::default()
        };
        // Either order in the file.
        for runs in [
            vec![run("dev", 0.062, "3shot"), run("dev@0shot", 0.089, "0shot")],
            vec![run("dev@0shot", 0.089, "0shot"), run("dev", 0.062, "3shot")],
        ] {
            let a = arms(&Folder { runs, ..Default::default() });
            assert_eq!(a.len(), 1);
            let (three, zero) = (a[0].spider.as_ref().unwrap(), a[0].spider_0shot.as_ref().unwrap());
            assert_eq!((three.run.split.as_str(), three.ex_official.unwrap().value), ("dev", 0.062));
            assert_eq!((zero.run.split.as_str(), zero.ex_official.unwrap().value), ("dev@0shot", 0.089));
            assert_eq!(a[0].settings["spider.prompt"], "3shot");
            assert_eq!(a[0].settings["spider@0shot.prompt"], "0shot");
        }
    }
}
