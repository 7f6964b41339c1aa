//! Plots for the examples: training curves, trajectories and heatmaps (with axes,
//! labels and colour bars), written as PNG.
//!
//! The font is embedded (DejaVu Sans, licence in `assets/fonts/`), so drawing text
//! needs no system font library: a fresh machine with only the Rust toolchain can
//! write every plot.

use ndarray::Array2;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Once;

static FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// A plot that could not be drawn or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// Drawing or encoding failed.
    #[error("plot {path}: {message}")]
    Draw {
        /// The file being written.
        path: PathBuf,
        /// What the backend reported.
        message: String,
    },
    /// Nothing to draw (no series, or no finite point).
    #[error("plot {path}: {what}")]
    Empty {
        /// The file that was to be written.
        path: PathBuf,
        /// What was missing.
        what: &'static str,
    },
}

fn register_font() {
    REGISTER.call_once(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("the embedded DejaVu Sans is a valid TrueType font"));
    });
}

fn draw_err(path: &Path, e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw { path: path.to_owned(), message: e.to_string() }
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A line through the points.
    Line,
    /// A dot at each point (observations).
    Dots,
}

/// One named curve of `(x, y)` points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// The points, in drawing order.
    pub points: Vec<(f64, f64)>,
    /// Line or dots.
    pub style: Style,
}

impl Series {
    /// A line through the points.
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series { label: label.into(), points, style: Style::Line }
    }

    /// The same points drawn as dots.
    pub fn dots(self) -> Self {
        Series { style: Style::Dots, ..self }
    }
}

/// Draws `series` on `chart` in the palette's order, each with its legend entry.
fn draw_series<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<
        'a,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    series: &'a [Series],
    path: &Path,
) -> Result<(), PlotError> {
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts = s.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite());
        let drawn = match s.style {
            Style::Line => chart.draw_series(LineSeries::new(pts, color.stroke_width(2))),
            Style::Dots => chart.draw_series(pts.map(|p| Circle::new(p, 3, color.filled()))),
        }
        .map_err(|e| draw_err(path, e))?;
        drawn.label(s.label.as_str()).legend(move |(x, y)| match s.style {
            Style::Line => PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)).into_dyn(),
            Style::Dots => Circle::new((x + 9, y), 3, color.filled()).into_dyn(),
        });
    }
    Ok(())
}

/// Draws one small chart per panel (title and series), `cols` to a row, each with
/// its own axes, into a PNG at `path`: for looking at several trajectories side by
/// side. The legend is drawn in the first panel.
pub fn panels(
    path: &Path,
    x: &str,
    y: &str,
    panels: &[(String, Vec<Series>)],
    cols: usize,
) -> Result<(), PlotError> {
    register_font();
    if panels.is_empty() || cols == 0 {
        return Err(PlotError::Empty { path: path.to_owned(), what: "no panel to draw" });
    }
    let rows = panels.len().div_ceil(cols);
    let root = BitMapBackend::new(path, (340 * cols as u32, 320 * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_err(path, e))?;
    for (k, (area, (title, series))) in root.split_evenly((rows, cols)).iter().zip(panels).enumerate() {
        let finite =
            || series.iter().flat_map(|s| s.points.iter()).filter(|(a, b)| a.is_finite() && b.is_finite());
        let Some(&(x0, y0)) = finite().next() else { continue };
        let (mut xlo, mut xhi, mut ylo, mut yhi) = (x0, x0, y0, y0);
        for &(a, b) in finite() {
            (xlo, xhi, ylo, yhi) = (xlo.min(a), xhi.max(a), ylo.min(b), yhi.max(b));
        }
        let (px, py) = (0.05 * (xhi - xlo).max(1e-9), 0.05 * (yhi - ylo).max(1e-9));
        let mut chart = ChartBuilder::on(area)
            .caption(title.as_str(), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(32)
            .y_label_area_size(40)
            .build_cartesian_2d((xlo - px)..(xhi + px), (ylo - py)..(yhi + py))
            .map_err(|e| draw_err(path, e))?;
        chart
            .configure_mesh()
            .x_desc(x)
            .y_desc(y)
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(|e| draw_err(path, e))?;
        draw_series(&mut chart, series, path)?;
        if k == 0 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 12))
                .draw()
                .map_err(|e| draw_err(path, e))?;
        }
    }
    root.present().map_err(|e| draw_err(path, e))
}

/// Axis labels and scale of a line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Axes<'a> {
    /// Title above the plot.
    pub title: &'a str,
    /// Label of the x axis.
    pub x: &'a str,
    /// Label of the y axis.
    pub y: &'a str,
    /// Logarithmic y axis (for losses spanning decades); needs positive values.
    pub log_y: bool,
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draws curves on shared axes into a 900 x 560 PNG at `path`. Non-finite points
/// (and, on a log axis, non-positive ones) are left out of the drawing.
pub fn line_chart(path: &Path, axes: &Axes<'_>, series: &[Series]) -> Result<(), PlotError> {
    register_font();
    let keep = |&(x, y): &(f64, f64)| x.is_finite() && y.is_finite() && (!axes.log_y || y > 0.0);
    let pts: Vec<Vec<(f64, f64)>> =
        series.iter().map(|s| s.points.iter().copied().filter(keep).collect()).collect();
    let all = || pts.iter().flatten();
    let Some(&(x0, y0)) = all().next() else {
        return Err(PlotError::Empty { path: path.to_owned(), what: "no finite point to draw" });
    };
    let (mut xlo, mut xhi, mut ylo, mut yhi) = (x0, x0, y0, y0);
    for &(x, y) in all() {
        (xlo, xhi, ylo, yhi) = (xlo.min(x), xhi.max(x), ylo.min(y), yhi.max(y));
    }
    if xhi == xlo {
        xhi = xlo + 1.0;
    }
    if yhi == ylo {
        yhi = ylo + ylo.abs().max(1.0) * 1e-3;
    }
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_err(path, e))?;
    let mut builder = ChartBuilder::on(&root);
    builder.caption(axes.title, ("sans-serif", 24)).margin(16).x_label_area_size(44).y_label_area_size(72);
    macro_rules! draw {
        ($chart:expr) => {{
            let mut chart = $chart.map_err(|e| draw_err(path, e))?;
            chart
                .configure_mesh()
                .x_desc(axes.x)
                .y_desc(axes.y)
                .label_style(("sans-serif", 15))
                .draw()
                .map_err(|e| draw_err(path, e))?;
            for (i, (s, p)) in series.iter().zip(&pts).enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                chart
                    .draw_series(LineSeries::new(p.iter().copied(), color.stroke_width(2)))
                    .map_err(|e| draw_err(path, e))?
                    .label(s.label.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 15))
                .draw()
                .map_err(|e| draw_err(path, e))?;
        }};
    }
    if axes.log_y {
        draw!(builder.build_cartesian_2d(xlo..xhi, (ylo..yhi).log_scale()));
    } else {
        let pad = 0.05 * (yhi - ylo);
        draw!(builder.build_cartesian_2d(xlo..xhi, (ylo - pad)..(yhi + pad)));
    }
    root.present().map_err(|e| draw_err(path, e))
}

/// Maps `t` in `[0, 1]` to a perceptually ordered colour (dark blue, teal, yellow:
/// a coarse piecewise-linear viridis).
fn viridis(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 } * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |u: f64, v: f64| (u + f * (v - u)).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// How a heatmap's values map to colours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ColourScale {
    /// From 0 to the panel's own largest value (densities and histograms: peaks of
    /// different heights all use the full range).
    ZeroToMax,
    /// From the panel's smallest to its largest finite value.
    MinToMax,
    /// A fixed range shared by several panels; values outside it saturate.
    Fixed(f64, f64),
}

/// One panel of [`heatmaps`]: a matrix drawn as coloured cells (row 0 at the top)
/// over the rectangle `x x y`, with a title, labelled axes and a colour bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap<'a> {
    /// Title above the panel.
    pub title: &'a str,
    /// The values, row 0 drawn at the top (`y.2`), column 0 at the left (`x.1`).
    pub values: &'a Array2<f64>,
    /// Label and range of the horizontal axis.
    pub x: (&'a str, f64, f64),
    /// Label and range of the vertical axis.
    pub y: (&'a str, f64, f64),
    /// How values map to colours.
    pub scale: ColourScale,
    /// Label of the colour bar.
    pub colour_bar: &'a str,
}

impl<'a> Heatmap<'a> {
    /// A 2-D density or histogram on the square `[-half_width, half_width]^2` with axes
    /// `x1`, `x2`, coloured from 0 to its maximum (as `flows::Grid::image` lays it out).
    pub fn density(title: &'a str, values: &'a Array2<f64>, half_width: f64) -> Self {
        let l = half_width;
        Heatmap {
            title,
            values,
            x: ("x1", -l, l),
            y: ("x2", -l, l),
            scale: ColourScale::ZeroToMax,
            colour_bar: "density",
        }
    }

    /// The colour range `(lo, hi)`; an empty or flat range is widened so it divides.
    fn range(&self) -> (f64, f64) {
        let finite = || self.values.iter().copied().filter(|v| v.is_finite());
        let (lo, hi) = match self.scale {
            ColourScale::ZeroToMax => (0.0, finite().fold(0.0, f64::max)),
            ColourScale::MinToMax => {
                finite().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)))
            }
            ColourScale::Fixed(lo, hi) => (lo, hi),
        };
        if lo.is_finite() && hi > lo {
            (lo, hi)
        } else if lo.is_finite() {
            (lo, lo + 1.0)
        } else {
            (0.0, 1.0)
        }
    }
}

/// 2-D densities (or histograms) on the square `[-half_width, half_width]^2`, one
/// titled panel each ([`Heatmap::density`]: axes `x1`, `x2`, coloured from 0 to the
/// panel's own maximum, with a colour bar), side by side in one PNG.
pub fn density_panels(
    path: &Path,
    half_width: f64,
    panels: &[(&str, &Array2<f64>)],
) -> Result<(), PlotError> {
    let maps: Vec<Heatmap<'_>> = panels.iter().map(|&(t, v)| Heatmap::density(t, v, half_width)).collect();
    heatmaps(path, &maps, maps.len().max(1), (300 + BAR, 320))
}

/// Width in pixels of a panel's colour bar, labels included.
const BAR: u32 = 84;

/// Heatmap panels side by side, `cols` to a row, each `width x height` pixels (its
/// colour bar included), into a PNG at `path`.
pub fn heatmaps(
    path: &Path,
    panels: &[Heatmap<'_>],
    cols: usize,
    (width, height): (u32, u32),
) -> Result<(), PlotError> {
    register_font();
    if panels.is_empty() || cols == 0 {
        return Err(PlotError::Empty { path: path.to_owned(), what: "no panel to draw" });
    }
    if let Some(p) = panels.iter().find(|p| p.values.is_empty()) {
        return Err(PlotError::Draw {
            path: path.to_owned(),
            message: format!("panel `{}` holds no value", p.title),
        });
    }
    let rows = panels.len().div_ceil(cols);
    let root = BitMapBackend::new(path, (width * cols as u32, height * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_err(path, e))?;
    for (area, panel) in root.split_evenly((rows, cols)).iter().zip(panels) {
        let (map_area, bar_area) = area.split_horizontally(width.saturating_sub(BAR));
        draw_heatmap(&map_area, panel, path)?;
        draw_colour_bar(&bar_area, panel, path)?;
    }
    root.present().map_err(|e| draw_err(path, e))
}

fn draw_heatmap(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    p: &Heatmap<'_>,
    path: &Path,
) -> Result<(), PlotError> {
    let ((xl, x0, x1), (yl, y0, y1)) = (p.x, p.y);
    let mut chart = ChartBuilder::on(area)
        .caption(p.title, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(34)
        .y_label_area_size(44)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| draw_err(path, e))?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(xl)
        .y_desc(yl)
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(|e| draw_err(path, e))?;
    let (rows, cols) = p.values.dim();
    let (w, h) = ((x1 - x0) / cols as f64, (y1 - y0) / rows as f64);
    let (lo, hi) = p.range();
    let cells = p.values.indexed_iter().map(|((r, c), &v)| {
        let (left, top) = (x0 + c as f64 * w, y1 - r as f64 * h);
        Rectangle::new([(left, top - h), (left + w, top)], viridis((v - lo) / (hi - lo)).filled())
    });
    chart.draw_series(cells).map_err(|e| draw_err(path, e))?;
    Ok(())
}

/// A vertical bar of the panel's colours from `lo` (bottom) to `hi`, with its values
/// on an axis and its label.
fn draw_colour_bar(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    p: &Heatmap<'_>,
    path: &Path,
) -> Result<(), PlotError> {
    const STEPS: usize = 64;
    let (lo, hi) = p.range();
    // The values and the label on the bar's right, away from the panel's own axis.
    let mut bar = ChartBuilder::on(area)
        .margin_top(30)
        .margin_bottom(42)
        .margin_left(6)
        .margin_right(2)
        .right_y_label_area_size(56)
        .build_cartesian_2d(0.0..1.0, lo..hi)
        .map_err(|e| draw_err(path, e))?;
    bar.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_desc(p.colour_bar)
        .y_labels(5)
        .label_style(("sans-serif", 11))
        .draw()
        .map_err(|e| draw_err(path, e))?;
    let step = (hi - lo) / STEPS as f64;
    let cells = (0..STEPS).map(|k| {
        let v = lo + k as f64 * step;
        Rectangle::new([(0.0, v), (1.0, v + step)], viridis((k as f64 + 0.5) / STEPS as f64).filled())
    });
    bar.draw_series(cells).map_err(|e| draw_err(path, e))?;
    Ok(())
}
