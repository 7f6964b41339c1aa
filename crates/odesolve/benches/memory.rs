//! Peak heap memory and time of one gradient computation (ode_demo's model and batch,
//! on [0, 25]) by each method of `odeint_tape`, as the number of Dopri5 steps grows
//! tenfold (10 to 10,000, set by the largest step allowed): a table on stdout and a
//! log-log plot (`--plot PATH`, default `target/plots/odesolve_memory.png`).
//!
//! A counting global allocator (`autodiff::peak_memory`) records the peak of bytes in
//! use.

mod common;

use autodiff::peak_memory::{Counting, peak_during};
use common::{NeuralOde, Variant};
use plotters::prelude::*;
use std::path::PathBuf;
use std::time::Instant;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Median wall time of `reps` runs, in milliseconds.
fn median_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[reps / 2]
}

/// One measured point: accepted forward steps, peak KiB, median ms.
type Point = (f64, f64, f64);

const METHODS: [(&str, Variant); 3] = [
    ("backprop", Variant::Dopri5Backprop),
    ("backsolve adjoint", Variant::Dopri5Backsolve { seminorm: false }),
    ("checkpointed, c = 16", Variant::Dopri5Checkpointed(16)),
];

/// The workspace's embedded font (DejaVu Sans), so the plot needs no system font.
static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

fn plot(path: &PathBuf, curves: &[(&str, Vec<Point>)]) -> Result<(), Box<dyn std::error::Error>> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).map_err(|_| "the embedded font")?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let root = BitMapBackend::new(path, (960, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((1, 2));
    let all = curves.iter().flat_map(|(_, p)| p.iter());
    let (x_lo, x_hi) = all.clone().fold((f64::MAX, 0.0f64), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
    let colors = [RED, BLUE, GREEN];
    for (panel, (title, pick, unit)) in panels.iter().zip([
        ("peak heap of one gradient", (|p: &Point| p.1) as fn(&Point) -> f64, "KiB"),
        ("time of one gradient", |p: &Point| p.2, "ms"),
    ]) {
        let (y_lo, y_hi) =
            all.clone().map(pick).fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let mut chart = ChartBuilder::on(panel)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(
                (x_lo * 0.8..x_hi * 1.25).log_scale(),
                (y_lo * 0.8..y_hi * 1.25).log_scale(),
            )?;
        chart.configure_mesh().x_desc("accepted Dopri5 steps (forward)").y_desc(unit).draw()?;
        for ((name, points), color) in curves.iter().zip(colors) {
            let line: Vec<(f64, f64)> = points.iter().map(|p| (p.0, pick(p))).collect();
            chart
                .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
            chart.draw_series(line.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
        }
        chart.configure_series_labels().border_style(BLACK).background_style(WHITE).draw()?;
    }
    root.present()?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let path = match args.iter().position(|a| a == "--plot") {
        Some(i) => PathBuf::from(args.get(i + 1).ok_or("--plot needs a path")?),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/plots/odesolve_memory.png"),
    };
    let model = NeuralOde::new(10, 20);
    println!(
        "| steps asked | method | accepted steps (fwd) | evaluations fwd + bwd | stored states | peak heap | time |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut curves: Vec<(&str, Vec<Point>)> = METHODS.iter().map(|(n, _)| (*n, Vec::new())).collect();
    for steps in [10, 100, 1_000, 10_000] {
        let m = model.with_steps(25.0, steps);
        for ((name, v), curve) in METHODS.iter().zip(&mut curves) {
            let (bytes, (_, st)) = peak_during(|| m.gradients(*v));
            let ms = median_ms(5, || {
                m.gradients(*v);
            });
            let kib = bytes as f64 / 1024.0;
            println!(
                "| {steps} | {name} | {} | {} + {} | {} | {kib:.1} KiB | {ms:.2} ms |",
                st.forward.naccept, st.forward.nfev, st.backward.nfev, st.checkpoints
            );
            curve.1.push((st.forward.naccept as f64, kib, ms));
        }
    }
    plot(&path, &curves)?;
    println!("\nplot: {}", path.display());
    Ok(())
}
