use super::*;

/// Scores for a classifier that is good but not perfect, from a fixed
/// linear congruential generator so the test data never changes.
fn scored_labels() -> Vec<(f64, bool)> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..600)
        .map(|index| {
            let positive = index % 3 == 0;
            let signal = if positive { 0.65 } else { 0.35 };
            let score = (signal + (uniform() - 0.5) * 0.7).clamp(0.0, 1.0);
            (score, positive)
        })
        .collect()
}

/// ROC and PR points and their areas, the way an evaluator step would.
fn curves(scored: &[(f64, bool)]) -> (RocCurve, PrCurve) {
    let mut sorted = scored.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let positives = sorted.iter().filter(|(_, p)| *p).count() as f64;
    let negatives = sorted.len() as f64 - positives;
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut roc = vec![(0.0, 0.0)];
    let mut pr = vec![(0.0, 1.0)];
    let (mut auc, mut ap) = (0.0, 0.0);
    for (_, positive) in &sorted {
        if *positive {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let (fpr, tpr) = (fp / negatives, tp / positives);
        let previous = *roc.last().unwrap();
        auc += (fpr - previous.0) * (tpr + previous.1) / 2.0;
        roc.push((fpr, tpr));
        let (recall, precision) = (tp / positives, tp / (tp + fp));
        ap += (recall - pr.last().unwrap().0) * precision;
        pr.push((recall, precision));
    }
    (
        RocCurve { points: roc, auc },
        PrCurve {
            points: pr,
            average_precision: ap,
            positive_rate: Some(positives / sorted.len() as f64),
        },
    )
}

fn sample_report() -> RunReport {
    let (roc, pr) = curves(&scored_labels());
    let labels = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    RunReport {
        run_id: "r-20240611-0042".into(),
        pipeline: "churn-classifier".into(),
        status: "succeeded".into(),
        started_at: Some("2024-06-11T09:14:03Z".into()),
        finished_at: Some("2024-06-11T09:16:41Z".into()),
        steps: vec![
            StepRow {
                name: "load-events".into(),
                status: "succeeded".into(),
                duration_ms: Some(1_840),
                cache_hit: true,
                rows_in: None,
                rows_out: Some(1_204_332),
            },
            StepRow {
                name: "clean-text".into(),
                status: "succeeded".into(),
                duration_ms: Some(12_400),
                cache_hit: false,
                rows_in: Some(1_204_332),
                rows_out: Some(1_198_020),
            },
            StepRow {
                name: "train".into(),
                status: "succeeded".into(),
                duration_ms: Some(131_050),
                cache_hit: false,
                rows_in: Some(958_416),
                rows_out: Some(1),
            },
            StepRow {
                name: "evaluate".into(),
                status: "succeeded".into(),
                duration_ms: Some(640),
                cache_hit: false,
                rows_in: Some(239_604),
                rows_out: Some(239_604),
            },
        ],
        metrics: vec![
            MetricRow {
                step: "evaluate".into(),
                name: "roc_auc".into(),
                value: roc.auc,
                labels: vec![],
            },
            MetricRow {
                step: "evaluate".into(),
                name: "f1".into(),
                value: 0.8123,
                labels: labels(&[("split", "test")]),
            },
            MetricRow {
                step: "evaluate".into(),
                name: "f1".into(),
                value: 0.7841,
                labels: labels(&[("split", "test"), ("region", "<b>south</b>")]),
            },
            MetricRow {
                step: "clean-text".into(),
                name: "rows_dropped".into(),
                value: 6312.0,
                labels: vec![],
            },
        ],
        curves: vec![BinaryCurves {
            step: "evaluate".into(),
            roc: Some(roc),
            pr: Some(pr),
        }],
        confusion_matrices: vec![ConfusionMatrix {
            step: "evaluate".into(),
            labels: vec!["churn".into(), "stay".into()],
            counts: vec![vec![61_520, 18_348], vec![14_911, 144_825]],
        }],
        group_metrics: vec![GroupMetric {
            step: "evaluate".into(),
            metric: "f1".into(),
            groups: vec![
                ("north".into(), 0.842),
                ("south".into(), 0.784),
                ("east".into(), 0.811),
                ("<script>alert(1)</script>".into(), 0.729),
            ],
        }],
        model: Some(ModelInfo {
            name: "churn".into(),
            version: "7".into(),
            algorithm: "gradient-boosted trees".into(),
            params: vec![
                ("max_depth".into(), "6".into()),
                ("learning_rate".into(), "0.05".into()),
                ("n_estimators".into(), "400".into()),
            ],
            deployments: vec![DeploymentRow {
                id: 3,
                split: "canary 5 %".into(),
                status: "rolled_back".into(),
                started: "2026-12-03 10:00:00 UTC by ops".into(),
                ended_by: "serve/moderation".into(),
                reason: "fail-safe rate 9.80 % <img src=x onerror=alert(1)>".into(),
            }],
        }),
        logs: vec![
            LogRow {
                step: "clean-text".into(),
                kind: "log".into(),
                detail: "info".into(),
                message: "6312 rows dropped".into(),
            },
            LogRow {
                step: "clean-text".into(),
                kind: "stdout".into(),
                detail: String::new(),
                message: "\x1b]0;owned\x07<script>x()</script>\nsecond line".into(),
            },
        ],
    }
}

#[test]
fn renders_every_section_as_one_self_contained_page() {
    let report = sample_report();
    let html = render_html(&report).unwrap();

    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<html").count(), 1);
    assert_eq!(html.matches("</html>").count(), 1);
    assert_eq!(html.matches("<body>").count(), 1);
    for id in [
        "summary",
        "model",
        "steps",
        "metrics",
        "curves",
        "confusion",
        "groups",
    ] {
        assert!(
            html.contains(&format!("<section id=\"{id}\"")),
            "section {id}"
        );
        assert!(
            html.contains(&format!("href=\"#{id}\"")),
            "nav link to {id}"
        );
    }
    // ROC, PR, confusion matrix, per-group bars.
    assert_eq!(html.matches("<svg").count(), 4);
    assert_eq!(html.matches("</svg>").count(), 4);
    assert_eq!(html.matches("role=\"img\"").count(), 4);
    assert_eq!(html.matches("<desc id=").count(), 4);
    for needle in [
        "load-events",
        "1,204,332",
        "2 min 11 s",
        "gradient-boosted trees",
        "learning_rate",
        "False positive rate",
        "Recall",
        "Predicted",
        "gap 0.113",
        "Rollouts next to production",
        "canary 5 %",
        "serve/moderation",
    ] {
        assert!(html.contains(needle), "missing {needle}");
    }
    // A count in a heatmap cell and again in the accessible table.
    assert_eq!(html.matches("144,825").count(), 2);
    // Nothing is fetched or run.
    assert!(!html.contains("http://"));
    assert!(!html.contains("https://"));
    assert!(!html.contains("<script"));
    assert!(!html.contains("<link"));
    assert!(!html.contains("<img"));
    assert!(!html.contains("url("));
}

#[test]
fn user_controlled_strings_are_escaped() {
    let mut report = sample_report();
    report.run_id = "run\"><script>x()</script>".into();
    report.steps[0].name = "<img src=x onerror=alert(1)>".into();
    report.model.as_mut().unwrap().params[0].1 = "a & b".into();
    report.confusion_matrices[0].labels[0] = "<i>churn</i>".into();
    let html = render_html(&report).unwrap();

    assert!(!html.contains("<script"), "a raw <script> tag leaked");
    assert!(!html.contains("<img"), "a raw <img> tag leaked");
    assert!(!html.contains("<i>churn"), "a raw <i> tag leaked");
    assert!(
        !html.contains("<b>south"),
        "a metric label leaked unescaped"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("run&quot;&gt;&lt;script&gt;x()&lt;/script&gt;"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains("a &amp; b"));
    assert!(html.contains("&lt;i&gt;churn&lt;/i&gt;"));
    // plugin output: HTML-escaped, and control characters (invalid in
    // HTML, and meant for a terminal) shown escaped
    assert!(
        html.contains("<pre>\\x1b]0;owned\\x07&lt;script&gt;x()&lt;/script&gt;\nsecond line</pre>")
    );
    assert!(!html.contains(['\x1b', '\x07']));
}

#[test]
fn empty_sections_are_left_out() {
    let report = RunReport {
        run_id: "r1".into(),
        pipeline: "p".into(),
        status: "failed".into(),
        ..RunReport::default()
    };
    let html = render_html(&report).unwrap();
    assert!(html.contains("<section id=\"summary\""));
    assert!(html.contains("No steps recorded."));
    assert!(html.contains("badge bad"));
    for id in ["model", "metrics", "curves", "confusion", "groups"] {
        assert!(
            !html.contains(&format!("id=\"{id}\"")),
            "{id} should be absent"
        );
    }
    assert!(!html.contains("<svg"));
}

#[test]
fn malformed_confusion_matrix_is_rejected() {
    let mut report = sample_report();
    report.confusion_matrices[0].counts.pop();
    let error = render_html(&report).unwrap_err();
    assert!(matches!(error, ReportError::InvalidData(_)), "{error}");
    assert!(error.to_string().contains("`evaluate`"));
}

#[test]
fn non_finite_values_do_not_break_charts() {
    let mut report = sample_report();
    report.group_metrics[0]
        .groups
        .push(("unknown".into(), f64::NAN));
    report.curves[0]
        .roc
        .as_mut()
        .unwrap()
        .points
        .push((f64::NAN, 1.0));
    let html = render_html(&report).unwrap();
    assert!(html.contains("NaN"));
    assert!(!html.contains("NaN\" "), "NaN leaked into SVG coordinates");
}

#[test]
fn largest_gap_is_best_minus_worst_finite_group() {
    let gap = sample_report().group_metrics[0].largest_gap().unwrap();
    assert_eq!(gap.high.0, "north");
    assert_eq!(gap.low.0, "<script>alert(1)</script>");
    assert!((gap.gap - 0.113).abs() < 1e-12);
    let single = GroupMetric {
        groups: vec![("a".into(), 1.0), ("b".into(), f64::NAN)],
        ..GroupMetric::default()
    };
    assert_eq!(single.largest_gap(), None);
}

#[test]
fn formatting_helpers() {
    assert_eq!(format_value(0.812_345_6), "0.8123");
    assert_eq!(format_value(6312.0), "6312");
    assert_eq!(format_value(0.000_012), "1.200e-5");
    assert_eq!(format_value(0.5), "0.5");
    assert_eq!(format_count(1_204_332), "1,204,332");
    assert_eq!(format_count(999), "999");
    assert_eq!(format_duration(640), "640 ms");
    assert_eq!(format_duration(12_400), "12.4 s");
    assert_eq!(format_duration(131_050), "2 min 11 s");
}

#[test]
fn histogram_shape_supports_several_series() {
    // How a drift report would reuse the bar chart: bins × {reference, current}.
    let chart = charts::bar_chart(&charts::BarChart {
        title: "age drift".into(),
        description: "Share of rows per age bin".into(),
        category_label: "age".into(),
        value_label: "share".into(),
        categories: vec!["0–20".into(), "20–40".into(), "40–60".into(), "60+".into()],
        series: vec![
            charts::BarSeries {
                label: "reference".into(),
                values: vec![0.1, 0.4, 0.35, 0.15],
            },
            charts::BarSeries {
                label: "current".into(),
                values: vec![0.05, 0.3, 0.4, 0.25],
            },
        ],
        annotation: None,
    })
    .unwrap();
    assert!(chart.svg.contains("reference"));
    assert!(chart.svg.contains("current"));
    assert!(
        chart
            .inline_svg("drift")
            .contains("aria-labelledby=\"drift-title\" aria-describedby=\"drift-desc\"")
    );
    write_example("drift.svg", &chart.svg);
}

/// Writes sample output for eyeballing when `SLUICE_REPORT_EXAMPLE_DIR`
/// is set (rendered to PNG by hand during development).
fn write_example(name: &str, contents: &str) {
    if let Some(dir) = std::env::var_os("SLUICE_REPORT_EXAMPLE_DIR") {
        let path = std::path::Path::new(&dir).join(name);
        std::fs::write(&path, contents).unwrap();
    }
}

#[test]
fn example_output() {
    let report = sample_report();
    write_example("example.html", &render_html(&report).unwrap());
    let evaluation = &report.curves[0];
    let charts = [
        (
            "roc.svg",
            charts::roc_chart("evaluate", evaluation.roc.as_ref().unwrap()),
        ),
        (
            "pr.svg",
            charts::pr_chart("evaluate", evaluation.pr.as_ref().unwrap()),
        ),
        (
            "confusion.svg",
            charts::confusion_matrix_chart(&report.confusion_matrices[0]),
        ),
        (
            "groups.svg",
            charts::group_metric_chart(&report.group_metrics[0]),
        ),
    ];
    for (name, chart) in charts {
        let chart = chart.unwrap();
        assert!(chart.svg.contains("<text"), "{name} has no text");
        write_example(name, &chart.svg);
    }
}

#[test]
fn many_classes_fit_the_confusion_matrix() {
    let labels: Vec<String> = (0..10)
        .map(|index| format!("category-with-a-long-name-{index}"))
        .collect();
    let counts = (0..10)
        .map(|row| {
            (0..10)
                .map(|column| {
                    if row == column {
                        12_000 + row * 97
                    } else {
                        (row * 7 + column * 13) % 400
                    }
                })
                .collect()
        })
        .collect();
    let chart = charts::confusion_matrix_chart(&ConfusionMatrix {
        step: "evaluate-multiclass".into(),
        labels,
        counts,
    })
    .unwrap();
    assert!(chart.svg.contains("12,000"));
    assert!(chart.description.contains("category-with-a-long-name-9"));
    write_example("confusion-10.svg", &chart.svg);
}
