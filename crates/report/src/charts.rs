//! Charts drawn with `plotters` into standalone SVG documents.
//!
//! The shapes here are generic (labelled line series, grouped bars over
//! labelled categories, a labelled heatmap) so that other reports — e.g.
//! drift histograms, which are grouped bars of reference vs. current bin
//! shares — can reuse them; [`roc_chart`], [`pr_chart`],
//! [`confusion_matrix_chart`] and [`group_metric_chart`] are thin adapters.
//!
//! Text is emitted as SVG `<text>` in a generic `sans-serif` family, so no
//! font file is read or embedded: the viewer (a browser, `rsvg-convert`)
//! renders it with whatever sans-serif font it has. plotters only needs a
//! width estimate for layout, which its built-in estimator provides when
//! neither the `ttf` nor the `ab_glyph` feature is enabled.

use std::ops::Range;

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use thiserror::Error;

use super::{ConfusionMatrix, GroupMetric, PrCurve, RocCurve, escape};

/// plotters failed to draw a chart.
#[derive(Debug, Error)]
#[error("drawing chart `{chart}`: {message}")]
pub struct ChartError {
    pub chart: String,
    pub message: String,
}

/// A finished chart: a standalone SVG document plus the text a screen
/// reader gets instead of the picture.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    /// What the chart shows, in words (becomes the SVG `<desc>`).
    pub description: String,
    /// Standalone SVG document (with `xmlns`), e.g. to write to a file.
    pub svg: String,
}

impl Chart {
    /// The SVG for embedding in HTML: `role="img"` with `<title>` and
    /// `<desc>` for assistive technology, scaled to the page width. The
    /// `xmlns` attribute is dropped (HTML does not need it) so the page
    /// holds no URL at all.
    pub fn inline_svg(&self, id: &str) -> String {
        let body = match self.svg.find('>') {
            Some(end) if self.svg.starts_with("<svg") => &self.svg[end + 1..],
            _ => self.svg.as_str(),
        };
        let (width, height) = svg_size(&self.svg).unwrap_or((640, 400));
        let id = escape(id);
        format!(
            "<svg class=\"chart\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" \
             role=\"img\" aria-labelledby=\"{id}-title\" aria-describedby=\"{id}-desc\">\n\
             <title id=\"{id}-title\">{}</title>\n<desc id=\"{id}-desc\">{}</desc>{body}",
            escape(&self.title),
            escape(&self.description),
        )
    }
}

fn svg_size(svg: &str) -> Option<(u32, u32)> {
    let attribute = |name: &str| -> Option<u32> {
        let start = svg.find(&format!(" {name}=\""))? + name.len() + 3;
        let end = start + svg[start..].find('"')?;
        svg[start..end].parse().ok()
    };
    Some((attribute("width")?, attribute("height")?))
}

/// Colour-blind-safe palette (Okabe–Ito), in series order.
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
];
const GRID: RGBColor = RGBColor(225, 225, 225);
const MUTED: RGBColor = RGBColor(110, 110, 110);
const FONT: FontFamily<'static> = FontFamily::SansSerif;

/// Longest category label drawn in a chart; the full text is in the
/// report's tables and the chart description.
const MAX_LABEL_CHARS: usize = 16;
/// Rough width of one character of 13 px sans-serif text, for layout.
const LABEL_CHAR_PX: i32 = 7;

fn shorten(label: &str) -> String {
    shorten_to(label, MAX_LABEL_CHARS)
}

/// Cuts the middle out of long labels: generated names often share a
/// prefix and differ at the end (`feature-1` … `feature-12`).
fn shorten_to(label: &str, max_chars: usize) -> String {
    let count = label.chars().count();
    if count <= max_chars {
        return label.to_owned();
    }
    let kept = max_chars.saturating_sub(1).max(2);
    let head = kept / 2;
    let tail = kept - head;
    let start: String = label.chars().take(head).collect();
    let end: String = label.chars().skip(count - tail).collect();
    format!("{start}…{end}")
}

fn label_px(label: &str) -> i32 {
    label.chars().count() as i32 * LABEL_CHAR_PX
}

fn drawing_error<E: std::fmt::Debug>(chart: &str) -> impl Fn(E) -> ChartError + '_ {
    move |error| ChartError {
        chart: chart.to_owned(),
        // plotters' error Display hides the backend cause; Debug keeps it.
        message: format!("{error:?}"),
    }
}

/// One line of a [`LineChart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
    /// Dashed lines mark references (chance level, baselines).
    pub dashed: bool,
}

/// A chart of one or more lines over fixed axis ranges.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    pub title: String,
    pub description: String,
    pub x_label: String,
    pub y_label: String,
    pub x_range: Range<f64>,
    pub y_range: Range<f64>,
    pub lines: Vec<Line>,
    pub size: (u32, u32),
}

pub fn line_chart(spec: &LineChart) -> Result<Chart, ChartError> {
    let error = drawing_error(&spec.title);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, spec.size).into_drawing_area();
        root.fill(&WHITE).map_err(&error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&spec.title, (FONT, 17).into_font().style(FontStyle::Bold))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(54)
            .build_cartesian_2d(spec.x_range.clone(), spec.y_range.clone())
            .map_err(&error)?;
        chart
            .configure_mesh()
            .x_desc(&spec.x_label)
            .y_desc(&spec.y_label)
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&|value| format!("{value:.1}"))
            .y_label_formatter(&|value| format!("{value:.1}"))
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .max_light_lines(0)
            .bold_line_style(GRID)
            .draw()
            .map_err(&error)?;
        for line in &spec.lines {
            let points: Vec<(f64, f64)> = finite_points(&line.points);
            let color = line.color;
            let style = color.stroke_width(if line.dashed { 1 } else { 2 });
            let series = if line.dashed {
                chart.draw_series(DashedLineSeries::new(points, 6, 4, style))
            } else {
                chart.draw_series(LineSeries::new(points, style))
            };
            series
                .map_err(&error)?
                .label(&line.label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.9))
            .border_style(MUTED)
            .draw()
            .map_err(&error)?;
        root.present().map_err(&error)?;
    }
    Ok(Chart {
        title: spec.title.clone(),
        description: spec.description.clone(),
        svg,
    })
}

fn finite_points(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect()
}

/// A bracket between two values on the value axis, e.g. the gap between
/// the best and worst group.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanAnnotation {
    pub low: f64,
    pub high: f64,
    pub label: String,
}

/// One series of a [`BarChart`]: a value per category (NaN: no bar).
#[derive(Debug, Clone, PartialEq)]
pub struct BarSeries {
    pub label: String,
    pub values: Vec<f64>,
}

/// Grouped bars: for each category, one bar per series. One series gives
/// a plain bar chart; a histogram is categories = bin labels.
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    pub title: String,
    pub description: String,
    pub category_label: String,
    pub value_label: String,
    pub categories: Vec<String>,
    pub series: Vec<BarSeries>,
    pub annotation: Option<SpanAnnotation>,
}

pub fn bar_chart(spec: &BarChart) -> Result<Chart, ChartError> {
    let error = drawing_error(&spec.title);
    let categories = spec.categories.len().max(1);
    let series_count = spec.series.len().max(1);
    let width = (160 + categories * (24 + 28 * series_count)).clamp(480, 1100) as u32;
    let size = (width, 380);

    let finite = spec
        .series
        .iter()
        .flat_map(|series| series.values.iter().copied())
        .filter(|value| value.is_finite());
    let (low, high) = finite.fold((0.0_f64, 0.0_f64), |(low, high), value| {
        (low.min(value), high.max(value))
    });
    // Headroom above the bars for value labels and the annotation text.
    let headroom = ((high - low) * 0.18).max(1e-9);
    let value_range = if low < 0.0 { low - headroom } else { 0.0 }..high + headroom;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(&error)?;
        // Labels must fit their segment or they run into each other.
        let segment_px = (width as i32 - 180) / categories as i32;
        let max_chars = ((segment_px - 6) / LABEL_CHAR_PX).clamp(3, MAX_LABEL_CHARS as i32);
        let category_names: Vec<String> = spec
            .categories
            .iter()
            .map(|category| shorten_to(category, max_chars as usize))
            .collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(&spec.title, (FONT, 17).into_font().style(FontStyle::Bold))
            .margin(14)
            .margin_right(if spec.annotation.is_some() { 90 } else { 14 })
            .x_label_area_size(48)
            .y_label_area_size(60)
            // plotters' integer ranges include their end: 0..n-1 is n segments.
            .build_cartesian_2d((0..categories - 1).into_segmented(), value_range.clone())
            .map_err(&error)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(&spec.category_label)
            .y_desc(&spec.value_label)
            .x_labels(categories)
            .x_label_formatter(&|value| match value {
                SegmentValue::CenterOf(index) => {
                    category_names.get(*index).cloned().unwrap_or_default()
                }
                _ => String::new(),
            })
            .y_label_formatter(&|value| format_axis_value(*value))
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            // Not 0 on the integer x axis: plotters loops until overflow
            // computing 0 key points for integers (the x mesh is off anyway).
            .x_max_light_lines(1)
            .y_max_light_lines(0)
            .bold_line_style(GRID)
            .draw()
            .map_err(&error)?;

        // Drawn before the bars so the bars cover the dashed guides and
        // the guides never cross a value label.
        if let Some(annotation) = &spec.annotation {
            let high = chart.backend_coord(&(SegmentValue::Last, annotation.high));
            let low = chart.backend_coord(&(SegmentValue::Last, annotation.low));
            let start_x = chart
                .backend_coord(&(SegmentValue::Exact(0), annotation.high))
                .0;
            for y in [high.1, low.1] {
                root.draw(&DashedPathElement::new(
                    vec![(start_x, y), (high.0 + 12, y)],
                    5,
                    4,
                    MUTED.stroke_width(1),
                ))
                .map_err(&error)?;
            }
            let bracket_x = high.0 + 12;
            root.draw(&PathElement::new(
                vec![
                    (bracket_x - 5, high.1),
                    (bracket_x, high.1),
                    (bracket_x, low.1),
                    (bracket_x - 5, low.1),
                ],
                BLACK.stroke_width(2),
            ))
            .map_err(&error)?;
            root.draw(&Text::new(
                annotation.label.clone(),
                (bracket_x + 6, (high.1 + low.1) / 2),
                (FONT, 13)
                    .into_font()
                    .style(FontStyle::Bold)
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(&error)?;
        }

        // Bars are placed in pixels within each category's segment so any
        // number of series fits side by side.
        let baseline = 0.0_f64.clamp(value_range.start, value_range.end);
        for (category, _) in spec.categories.iter().enumerate() {
            let left = chart.backend_coord(&(SegmentValue::Exact(category), baseline));
            let right = chart.backend_coord(&(segment_edge(category + 1, categories), baseline));
            let segment = (right.0 - left.0) as f64;
            let bar_width = segment * 0.8 / series_count as f64;
            for (index, series) in spec.series.iter().enumerate() {
                let Some(value) = series.values.get(category).copied() else {
                    continue;
                };
                if !value.is_finite() {
                    continue;
                }
                let x0 = left.0 + (segment * 0.1 + bar_width * index as f64).round() as i32;
                let x1 = x0 + bar_width.round().max(1.0) as i32 - 1;
                let top = chart
                    .backend_coord(&(SegmentValue::Exact(category), value))
                    .1;
                let color = PALETTE[index % PALETTE.len()];
                root.draw(&Rectangle::new(
                    [(x0, top.min(left.1)), (x1, top.max(left.1))],
                    color.filled(),
                ))
                .map_err(&error)?;
                // Inside the bar end when it fits (white on the bar colour),
                // otherwise just beyond it.
                let fits_inside = (top - left.1).abs() >= 22 && x1 - x0 >= 34;
                let upward = value >= 0.0;
                let (label_y, anchor, text_color) = match (fits_inside, upward) {
                    (true, true) => (top + 4, VPos::Top, text_on(color)),
                    (true, false) => (top - 4, VPos::Bottom, text_on(color)),
                    (false, true) => (top - 3, VPos::Bottom, BLACK),
                    (false, false) => (top + 3, VPos::Top, BLACK),
                };
                root.draw(&Text::new(
                    format_bar_value(value),
                    ((x0 + x1) / 2, label_y),
                    (FONT, 12)
                        .into_font()
                        .color(&text_color)
                        .pos(Pos::new(HPos::Center, anchor)),
                ))
                .map_err(&error)?;
            }
        }

        if spec.series.len() > 1 {
            for (index, series) in spec.series.iter().enumerate() {
                let color = PALETTE[index % PALETTE.len()];
                chart
                    .draw_series(std::iter::empty::<Rectangle<(SegmentValue<usize>, f64)>>())
                    .map_err(&error)?
                    .label(&series.label)
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .label_font((FONT, 13))
                .background_style(WHITE.mix(0.9))
                .border_style(MUTED)
                .draw()
                .map_err(&error)?;
        }
        root.present().map_err(&error)?;
    }
    Ok(Chart {
        title: spec.title.clone(),
        description: spec.description.clone(),
        svg,
    })
}

/// Left edge of segment `index`; `count` is the right edge of the last one.
fn segment_edge(index: usize, count: usize) -> SegmentValue<usize> {
    if index < count {
        SegmentValue::Exact(index)
    } else {
        SegmentValue::Last
    }
}

/// Bar labels carry one more digit than the axis: group gaps of 0.005
/// matter.
fn format_bar_value(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.3}")
    }
}

fn format_axis_value(value: f64) -> String {
    if value.abs() >= 1000.0 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// A grid of cells shaded by `shade` (0..=1) and labelled by `cell_text`.
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    pub title: String,
    pub description: String,
    /// Axis names, e.g. "Actual" and "Predicted".
    pub row_axis: String,
    pub column_axis: String,
    pub row_names: Vec<String>,
    pub column_names: Vec<String>,
    /// Row-major; values outside 0..=1 are clamped.
    pub shade: Vec<Vec<f64>>,
    pub cell_text: Vec<Vec<String>>,
}

pub fn heatmap(spec: &Heatmap) -> Result<Chart, ChartError> {
    let error = drawing_error(&spec.title);
    let rows = spec.row_names.len().max(1);
    let columns = spec.column_names.len().max(1);
    let cell = (520 / rows.max(columns)).clamp(16, 72) as i32;
    // Shrink cell text to fit the widest entry (about 0.6 em per digit);
    // below 9 px it is unreadable, so cells stay blank (the page also has
    // the counts as a table).
    let widest = spec
        .cell_text
        .iter()
        .flatten()
        .map(|text| text.chars().count())
        .max()
        .unwrap_or(1)
        .max(1);
    let cell_font = (f64::from(cell - 8) / (0.6 * widest as f64))
        .min(14.0)
        .floor() as u32;
    let show_text = cell_font >= 9;
    let row_names: Vec<String> = spec.row_names.iter().map(|n| shorten(n)).collect();
    let column_names: Vec<String> = spec.column_names.iter().map(|n| shorten(n)).collect();
    let widest_row = row_names.iter().map(|n| label_px(n)).max().unwrap_or(0);
    let widest_column = column_names.iter().map(|n| label_px(n)).max().unwrap_or(0);
    // Column labels wider than a cell are turned to read upwards.
    let rotate_columns = widest_column > cell - 6;
    let column_label_height = if rotate_columns {
        widest_column + 10
    } else {
        22
    };
    const MIN_WIDTH: i32 = 360;
    let natural_left = 34 + widest_row + 10;
    let natural_width = natural_left + cell * columns as i32 + 24;
    // Small matrices are centred in the minimum width.
    let left = natural_left + (MIN_WIDTH - natural_width).max(0) / 2;
    let top = 66 + column_label_height;
    let width = natural_width.max(MIN_WIDTH) as u32;
    let height = (top + cell * rows as i32 + 24) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(&error)?;
        let bold = |size: u32| {
            (FONT, size)
                .into_font()
                .style(FontStyle::Bold)
                .color(&BLACK)
        };
        let plain = |size: u32| (FONT, size).into_font().color(&BLACK);
        root.draw(&Text::new(
            spec.title.clone(),
            (width as i32 / 2, 10),
            bold(17).pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(&error)?;
        let grid_center_x = left + cell * columns as i32 / 2;
        root.draw(&Text::new(
            spec.column_axis.clone(),
            (grid_center_x, 40),
            bold(14).pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(&error)?;
        root.draw(&Text::new(
            spec.row_axis.clone(),
            (16, top + cell * rows as i32 / 2),
            bold(14)
                .transform(FontTransform::Rotate270)
                .pos(Pos::new(HPos::Center, VPos::Center)),
        ))
        .map_err(&error)?;
        for (column, name) in column_names.iter().enumerate() {
            let x = left + cell * column as i32 + cell / 2;
            let style = if rotate_columns {
                plain(13)
                    .transform(FontTransform::Rotate270)
                    .pos(Pos::new(HPos::Left, VPos::Center))
            } else {
                plain(13).pos(Pos::new(HPos::Center, VPos::Bottom))
            };
            root.draw(&Text::new(name.clone(), (x, top - 6), style))
                .map_err(&error)?;
        }
        for (row, name) in row_names.iter().enumerate() {
            root.draw(&Text::new(
                name.clone(),
                (left - 8, top + cell * row as i32 + cell / 2),
                plain(13).pos(Pos::new(HPos::Right, VPos::Center)),
            ))
            .map_err(&error)?;
            for column in 0..spec.column_names.len() {
                let shade = spec
                    .shade
                    .get(row)
                    .and_then(|values| values.get(column))
                    .copied()
                    .filter(|value| value.is_finite())
                    .unwrap_or(0.0)
                    .clamp(0.0, 1.0);
                let x = left + cell * column as i32;
                let y = top + cell * row as i32;
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    blend(shade).filled(),
                ))
                .map_err(&error)?;
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    WHITE.stroke_width(1),
                ))
                .map_err(&error)?;
                let text = spec.cell_text.get(row).and_then(|texts| texts.get(column));
                if let (true, Some(text)) = (show_text, text) {
                    // Dark cells get white text for contrast.
                    let color = if shade > 0.5 { WHITE } else { BLACK };
                    root.draw(&Text::new(
                        text.clone(),
                        (x + cell / 2, y + cell / 2),
                        (FONT, cell_font)
                            .into_font()
                            .color(&color)
                            .pos(Pos::new(HPos::Center, VPos::Center)),
                    ))
                    .map_err(&error)?;
                }
            }
        }
        root.present().map_err(&error)?;
    }
    Ok(Chart {
        title: spec.title.clone(),
        description: spec.description.clone(),
        svg,
    })
}

/// Black or white, whichever contrasts more with `background` (WCAG: the
/// two are equal at a relative luminance of about 0.18).
fn text_on(background: RGBColor) -> RGBColor {
    let linear = |channel: u8| {
        let c = f64::from(channel) / 255.0;
        if c <= 0.03928 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let RGBColor(r, g, b) = background;
    let luminance = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
    if luminance > 0.18 { BLACK } else { WHITE }
}

/// White → dark blue.
fn blend(shade: f64) -> RGBColor {
    let (light, dark) = ((247.0, 251.0, 255.0), (8.0, 48.0, 107.0));
    let mix = |a: f64, b: f64| (a + (b - a) * shade).round() as u8;
    RGBColor(
        mix(light.0, dark.0),
        mix(light.1, dark.1),
        mix(light.2, dark.2),
    )
}

// ------------------------------------------------------------- adapters

const CURVE_SIZE: (u32, u32) = (440, 400);

pub fn roc_chart(step: &str, curve: &RocCurve) -> Result<Chart, ChartError> {
    line_chart(&LineChart {
        title: format!("ROC — {} (AUC {:.3})", shorten_to(step, 32), curve.auc),
        description: format!(
            "ROC curve of step {step}: true positive rate against false positive rate \
             over {} thresholds, area under the curve {:.3}. The dashed diagonal is a \
             random classifier.",
            curve.points.len(),
            curve.auc
        ),
        x_label: "False positive rate".into(),
        y_label: "True positive rate".into(),
        x_range: 0.0..1.0,
        y_range: 0.0..1.0,
        lines: vec![
            Line {
                label: format!("model (AUC {:.3})", curve.auc),
                points: curve.points.clone(),
                color: PALETTE[0],
                dashed: false,
            },
            Line {
                label: "chance".into(),
                points: vec![(0.0, 0.0), (1.0, 1.0)],
                color: MUTED,
                dashed: true,
            },
        ],
        size: CURVE_SIZE,
    })
}

pub fn pr_chart(step: &str, curve: &PrCurve) -> Result<Chart, ChartError> {
    let mut lines = vec![Line {
        label: format!("model (AP {:.3})", curve.average_precision),
        points: curve.points.clone(),
        color: PALETTE[1],
        dashed: false,
    }];
    let mut baseline_text = String::new();
    if let Some(rate) = curve.positive_rate.filter(|rate| rate.is_finite()) {
        lines.push(Line {
            label: format!("chance ({rate:.2})"),
            points: vec![(0.0, rate), (1.0, rate)],
            color: MUTED,
            dashed: true,
        });
        baseline_text = format!(
            " The dashed line at {rate:.3} is the precision of a random classifier \
             (the share of positives)."
        );
    }
    line_chart(&LineChart {
        title: format!(
            "Precision–recall — {} (AP {:.3})",
            shorten_to(step, 28),
            curve.average_precision
        ),
        description: format!(
            "Precision-recall curve of step {step}: precision against recall over {} \
             thresholds, average precision {:.3}.{baseline_text}",
            curve.points.len(),
            curve.average_precision
        ),
        x_label: "Recall".into(),
        y_label: "Precision".into(),
        x_range: 0.0..1.0,
        y_range: 0.0..1.05,
        lines,
        size: CURVE_SIZE,
    })
}

/// Cells show counts; shading is the share of each actual class (row), so
/// a good classifier shows a dark diagonal whatever the class balance.
pub fn confusion_matrix_chart(matrix: &ConfusionMatrix) -> Result<Chart, ChartError> {
    let shade = matrix
        .counts
        .iter()
        .map(|row| {
            let total: u64 = row.iter().sum();
            row.iter()
                .map(|count| {
                    if total == 0 {
                        0.0
                    } else {
                        *count as f64 / total as f64
                    }
                })
                .collect()
        })
        .collect();
    let cell_text = matrix
        .counts
        .iter()
        .map(|row| {
            row.iter()
                .map(|count| super::format_count(*count))
                .collect()
        })
        .collect();
    let total: u64 = matrix.counts.iter().flatten().sum();
    let correct: u64 = (0..matrix.labels.len())
        .filter_map(|index| matrix.counts.get(index)?.get(index))
        .sum();
    heatmap(&Heatmap {
        title: format!("Confusion matrix — {}", shorten_to(&matrix.step, 32)),
        description: format!(
            "Confusion matrix of step {} over classes {}: rows are actual classes, \
             columns predicted classes, cells show counts shaded by the share of the \
             actual class. {correct} of {total} predictions are on the diagonal (correct).",
            matrix.step,
            matrix.labels.join(", ")
        ),
        row_axis: "Actual".into(),
        column_axis: "Predicted".into(),
        row_names: matrix.labels.clone(),
        column_names: matrix.labels.clone(),
        shade,
        cell_text,
    })
}

pub fn group_metric_chart(group_metric: &GroupMetric) -> Result<Chart, ChartError> {
    let gap = group_metric.largest_gap();
    let annotation = gap.as_ref().map(|gap| SpanAnnotation {
        low: gap.low.1,
        high: gap.high.1,
        label: format!("gap {}", format_bar_value(gap.gap)),
    });
    let gap_text = match &gap {
        Some(gap) => format!(
            " The largest gap is {:.4}, between {} ({:.4}) and {} ({:.4}).",
            gap.gap, gap.high.0, gap.high.1, gap.low.0, gap.low.1
        ),
        None => String::new(),
    };
    let values: Vec<String> = group_metric
        .groups
        .iter()
        .map(|(group, value)| format!("{group}: {value:.4}"))
        .collect();
    bar_chart(&BarChart {
        title: format!(
            "{} by group — {}",
            shorten_to(&group_metric.metric, 24),
            shorten_to(&group_metric.step, 24)
        ),
        description: format!(
            "Bar chart of {} per group for step {}: {}.{gap_text}",
            group_metric.metric,
            group_metric.step,
            values.join("; ")
        ),
        category_label: "Group".into(),
        value_label: group_metric.metric.clone(),
        categories: group_metric.groups.iter().map(|(g, _)| g.clone()).collect(),
        series: vec![BarSeries {
            label: group_metric.metric.clone(),
            values: group_metric.groups.iter().map(|(_, v)| *v).collect(),
        }],
        annotation,
    })
}
