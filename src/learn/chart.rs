//! The SVG chart of `evaluate --svg`: for each parameter set, the
//! distribution of time to recovery per policy (an empirical CDF over a
//! logarithmic time axis, since minutes and days share the plot), and the
//! trained policy's learning curve from its file's metadata.

use std::path::Path;

use anyhow::anyhow;
use plotters::prelude::*;

use crate::core::policy::QTable;
use crate::learn::agent::PolicyName;
use crate::learn::evaluate::{SimEvaluation, duration};

const PANEL_WIDTH: u32 = 640;
const PANEL_HEIGHT: u32 = 400;
/// Points per CDF line; more only grows the file.
const MAX_POINTS: usize = 200;

fn color(policy: PolicyName) -> RGBColor {
    match policy {
        PolicyName::Manual => RGBColor(120, 120, 120),
        PolicyName::GlueRetries => RGBColor(230, 159, 0),
        PolicyName::Rules => RGBColor(0, 114, 178),
        PolicyName::Trained => RGBColor(213, 94, 0),
        PolicyName::Oracle => RGBColor(0, 158, 115),
    }
}

/// Without a trained `table` (the rules baseline) there is no learning curve to draw.
pub fn write_svg(path: &Path, evaluations: &[SimEvaluation], table: Option<&QTable>) -> anyhow::Result<()> {
    let panels = evaluations.len() + usize::from(table.is_some());
    let columns = panels.min(2);
    let rows = panels.div_ceil(columns);
    let root = SVGBackend::new(path, (PANEL_WIDTH * columns as u32, PANEL_HEIGHT * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|error| anyhow!("{error:?}"))?;
    let areas = root.split_evenly((rows, columns));
    for (evaluation, area) in evaluations.iter().zip(areas.iter()) {
        draw_cdf(area, evaluation).map_err(|error| anyhow!("{error:?}"))?;
    }
    if let (Some(area), Some(table)) = (areas.get(evaluations.len()), table) {
        draw_learning_curve(area, table).map_err(|error| anyhow!("{error:?}"))?;
    }
    root.present().map_err(|error| anyhow!("{error:?}"))?;
    Ok(())
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

fn draw_cdf(area: &Area<'_>, evaluation: &SimEvaluation) -> DrawResult {
    let all: Vec<f64> =
        evaluation.minutes_by_policy.values().flatten().copied().filter(|minutes| *minutes > 0.0).collect();
    let low = all.iter().copied().fold(f64::INFINITY, f64::min).max(1.0).log10().floor();
    let high = all.iter().copied().fold(1.0, f64::max).log10().ceil().max(low + 1.0);
    let mut chart = ChartBuilder::on(area)
        .caption(format!("time to recovery: {}", evaluation.sim), ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(low..high, 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("time to recovery (log scale)")
        .y_desc("share of incidents recovered")
        .x_label_formatter(&|exponent| duration(10_f64.powf(*exponent)))
        .draw()?;
    for (policy, minutes) in &evaluation.minutes_by_policy {
        let mut sorted = minutes.clone();
        sorted.sort_by(f64::total_cmp);
        let count = sorted.len().max(1);
        let stride = count.div_ceil(MAX_POINTS).max(1);
        let points: Vec<(f64, f64)> = sorted
            .iter()
            .enumerate()
            .filter(|(index, _)| index % stride == 0 || index + 1 == count)
            .map(|(index, value)| (value.max(1.0).log10(), (index + 1) as f64 / count as f64))
            .collect();
        let line_color = color(*policy);
        chart
            .draw_series(LineSeries::new(points, line_color.stroke_width(2)))?
            .label(policy.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], line_color.stroke_width(2)));
    }
    chart.configure_series_labels().border_style(BLACK).background_style(WHITE.mix(0.8)).draw()?;
    Ok(())
}

fn draw_learning_curve(area: &Area<'_>, table: &QTable) -> DrawResult {
    let points: Vec<(f64, f64)> = table
        .trained()
        .get("learning_curve")
        .and_then(serde_json::Value::as_array)
        .map(|curve| {
            curve
                .iter()
                .filter_map(|point| {
                    Some((point.get("episodes")?.as_f64()?, point.get("mean_minutes")?.as_f64()? / 60.0))
                })
                .collect()
        })
        .unwrap_or_default();
    let max_episodes = points.iter().map(|(episodes, _)| *episodes).fold(1.0, f64::max);
    let max_hours = points.iter().map(|(_, hours)| *hours).fold(1.0, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(format!("learning curve: {}", table.version()), ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(0.0..max_episodes, 0.0..max_hours)?;
    chart.configure_mesh().x_desc("training episodes").y_desc("mean hours to recovery (block, exploring)").draw()?;
    chart.draw_series(LineSeries::new(points, color(PolicyName::Trained).stroke_width(2)))?;
    Ok(())
}
