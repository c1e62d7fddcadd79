//! The report's two SVG charts: time to fix observed against estimated
//! under the proposals (empirical CDFs on a logarithmic time axis, since
//! minutes and days share it), and failed runs per failure class per day
//! (stacked bars).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::anyhow;
use plotters::prelude::*;

use crate::backtest::summary::ChartData;
use crate::core::model::FailureClass;

const WIDTH: u32 = 760;
const HEIGHT: u32 = 420;
/// Points per CDF line; more only grows the file.
const MAX_POINTS: usize = 200;

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// A colour-blind-safe colour per class (Okabe-Ito, then greys).
fn class_colour(class: FailureClass) -> RGBColor {
    match class {
        FailureClass::TransientInfra => RGBColor(0, 114, 178),
        FailureClass::ResourceExhaustion => RGBColor(213, 94, 0),
        FailureClass::SchemaDrift => RGBColor(0, 158, 115),
        FailureClass::DataQuality => RGBColor(204, 121, 167),
        FailureClass::SourceUnavailable => RGBColor(230, 159, 0),
        FailureClass::PermissionConfig => RGBColor(86, 180, 233),
        FailureClass::CodeBug => RGBColor(240, 228, 66),
        FailureClass::Timeout => RGBColor(90, 90, 90),
        FailureClass::Unknown => RGBColor(180, 180, 180),
    }
}

/// Minutes as the axis shows them.
pub fn short_duration(minutes: f64) -> String {
    if minutes < 90.0 {
        format!("{minutes:.0} min")
    } else if minutes < 48.0 * 60.0 {
        format!("{:.0} h", minutes / 60.0)
    } else {
        format!("{:.0} d", minutes / 1_440.0)
    }
}

pub fn write_time_to_fix(path: &Path, data: &ChartData) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|error| anyhow!("{error:?}"))?;
    draw_time_to_fix(&root, data).map_err(|error| anyhow!("{error:?}"))?;
    root.present().map_err(|error| anyhow!("{error:?}"))?;
    Ok(())
}

fn cdf(values: &[f64]) -> Vec<(f64, f64)> {
    let mut sorted: Vec<f64> = values.iter().map(|minutes| minutes.max(1.0)).collect();
    sorted.sort_by(f64::total_cmp);
    let count = sorted.len().max(1);
    let stride = count.div_ceil(MAX_POINTS).max(1);
    sorted
        .iter()
        .enumerate()
        .filter(|(index, _)| index % stride == 0 || index + 1 == count)
        .map(|(index, minutes)| (minutes.log10(), (index + 1) as f64 / count as f64))
        .collect()
}

fn draw_time_to_fix(area: &Area<'_>, data: &ChartData) -> DrawResult {
    let all = data.observed_minutes.iter().chain(&data.estimated_minutes).copied();
    let low = all.clone().fold(f64::INFINITY, f64::min).max(1.0).log10().floor();
    let high = all.fold(1.0, f64::max).max(1.0).log10().ceil().max(low + 1.0);
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "time to fix, {} fixed incidents: observed vs estimated under the proposals",
                data.observed_minutes.len()
            ),
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(38)
        .y_label_area_size(48)
        .build_cartesian_2d(low..high, 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("time from the failure to the fix (log scale)")
        .y_desc("share of incidents fixed")
        .x_label_formatter(&|exponent| short_duration(10_f64.powf(*exponent)))
        .draw()?;
    let observed = RGBColor(90, 90, 90);
    let estimated = RGBColor(213, 94, 0);
    for (label, values, colour) in [
        ("observed (history)", &data.observed_minutes, observed),
        ("estimated under etl-medic's proposals (median per incident)", &data.estimated_minutes, estimated),
    ] {
        chart
            .draw_series(LineSeries::new(cdf(values), colour.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.85))
        .draw()?;
    Ok(())
}

pub fn write_failures_by_class(path: &Path, data: &ChartData) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|error| anyhow!("{error:?}"))?;
    draw_failures_by_class(&root, &data.failures_per_day).map_err(|error| anyhow!("{error:?}"))?;
    root.present().map_err(|error| anyhow!("{error:?}"))?;
    Ok(())
}

fn draw_failures_by_class(
    area: &Area<'_>,
    days: &BTreeMap<chrono::NaiveDate, BTreeMap<FailureClass, u64>>,
) -> DrawResult {
    let first = days.keys().next().copied().unwrap_or_default();
    let last = days.keys().next_back().copied().unwrap_or(first);
    let span = (last - first).num_days().max(0) as i32 + 1;
    let tallest = days.values().map(|classes| classes.values().sum::<u64>()).max().unwrap_or(1).max(1);
    let mut chart = ChartBuilder::on(area)
        .caption("failed runs per day, by diagnosed failure class", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(38)
        .y_label_area_size(40)
        .build_cartesian_2d(0..span, 0..(tallest as i32 + 1))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("day")
        .y_desc("failed runs")
        .x_label_formatter(&|offset| (first + chrono::Duration::days(i64::from(*offset))).format("%m-%d").to_string())
        .draw()?;
    let present: Vec<FailureClass> = FailureClass::ALL
        .into_iter()
        .filter(|class| days.values().any(|classes| classes.contains_key(class)))
        .collect();
    for class in present {
        let colour = class_colour(class);
        let bars = days.iter().filter_map(move |(day, classes)| {
            let count = *classes.get(&class)? as i32;
            let below: i32 = classes.iter().filter(|(other, _)| **other < class).map(|(_, n)| *n as i32).sum();
            let x = (*day - first).num_days() as i32;
            Some(Rectangle::new([(x, below), (x + 1, below + count)], colour.filled()))
        });
        chart
            .draw_series(bars)?
            .label(class.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.85))
        .draw()?;
    Ok(())
}
