//! What fires on a labelled CSV file, and how well it predicts the labels.
//!
//! ```sh
//! cargo run --release -p lexicon-detector --example eval -- FILE.csv [TEXT_COLUMN] [LABEL_COLUMN] [SHOW]
//! ```
//!
//! Prints the flag rate, precision / recall / F1 of the label (score ≥ 0.5)
//! against the label column (`1` = offensive), the ROC-AUC of the score,
//! throughput, and up to SHOW (default 0) false positives and negatives.

use std::time::Instant;

use lexicon_detector::{Detection, Langs, Lexicon, Scratch};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .first()
        .expect("usage: eval FILE.csv [TEXT] [LABEL] [SHOW]");
    let text_column = args.get(1).map_or("text", String::as_str);
    let label_column = args.get(2).map_or("label", String::as_str);
    let show: usize = args
        .get(3)
        .map_or(0, |s| s.parse().expect("SHOW is a number"));
    let mut reader = csv::Reader::from_path(path).expect("readable CSV");
    let headers = reader.headers().expect("a header row").clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let text_at = column(text_column).expect("the text column exists");
    let label_at = column(label_column);
    let (mut texts, mut labels) = (Vec::new(), Vec::new());
    for record in reader.records() {
        let record = record.expect("a well-formed row");
        texts.push(record[text_at].to_string());
        labels.push(label_at.map(|at| record[at].trim() == "1"));
    }
    // the built-in index is static (build.rs); building it from the lists
    // is what `open` pays with `extra_dir` set (natively here)
    let mut builds: Vec<f64> = (0..21)
        .map(|_| {
            let started = Instant::now();
            let built = Lexicon::build(&Lexicon::builtin_sources()).expect("valid lists");
            std::hint::black_box(built);
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    builds.sort_by(f64::total_cmp);
    println!(
        "built-in index: {} terms, static; from the lists (as with extra_dir) {:.3} ms (median of 21, min {:.3})",
        Lexicon::builtin().terms().len(),
        builds[10],
        builds[0]
    );
    let lexicon = Lexicon::builtin();
    let (mut scratch, mut out) = (Scratch::default(), Detection::default());
    let started = Instant::now();
    let mut scores = Vec::with_capacity(texts.len());
    let mut rules = Vec::with_capacity(texts.len());
    for text in &texts {
        lexicon.detect_with(text, Langs::BOTH, &mut scratch, &mut out);
        scores.push(out.score);
        rules.push(out.rule_ids(&lexicon).collect::<Vec<_>>().join(" "));
    }
    let elapsed = started.elapsed();
    let flagged = scores.iter().filter(|&&s| s >= 0.5).count();
    println!(
        "{path}: {} rows, {flagged} flagged ({:.2} %), {:.0} rows/s",
        texts.len(),
        100.0 * flagged as f64 / texts.len() as f64,
        texts.len() as f64 / elapsed.as_secs_f64()
    );
    let truth: Vec<bool> = labels.iter().map(|l| l.unwrap_or(false)).collect();
    if label_at.is_some() {
        let count = |p: bool, t: bool| {
            scores
                .iter()
                .zip(&truth)
                .filter(|(s, l)| (**s >= 0.5) == p && **l == t)
                .count() as f64
        };
        let (tp, fp, fn_) = (count(true, true), count(true, false), count(false, true));
        let precision = tp / (tp + fp).max(1.0);
        let recall = tp / (tp + fn_).max(1.0);
        let f1 = 2.0 * precision * recall / (precision + recall).max(f64::EPSILON);
        println!(
            "  positives {}: P {precision:.3} R {recall:.3} F1 {f1:.3} ROC-AUC {:.3}",
            truth.iter().filter(|&&t| t).count(),
            roc_auc(&scores, &truth)
        );
    }
    for (title, want_flag, want_label) in [
        ("false positives", true, false),
        ("false negatives", false, true),
    ] {
        let rows: Vec<usize> = (0..texts.len())
            .filter(|&i| (scores[i] >= 0.5) == want_flag && truth[i] == want_label)
            .take(show)
            .collect();
        if !rows.is_empty() {
            println!("{title}:");
        }
        for i in rows {
            let text: String = texts[i].chars().take(160).collect();
            println!(
                "  {:.2} [{}] {}",
                scores[i],
                rules[i],
                text.replace('\n', " ")
            );
        }
    }
}

/// ROC-AUC with ties counted half (the Mann–Whitney statistic).
fn roc_auc(scores: &[f64], truth: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < order.len() {
        let mut j = i;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            j += 1;
        }
        let mid_rank = (i + j + 1) as f64 / 2.0;
        rank_sum += mid_rank * order[i..j].iter().filter(|&&k| truth[k]).count() as f64;
        i = j;
    }
    let positives = truth.iter().filter(|&&t| t).count() as f64;
    let negatives = truth.len() as f64 - positives;
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}
