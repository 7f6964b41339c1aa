//! The metrics log, callbacks and early stopping inside the training loop.

mod common;

use autodiff::{NoGrad, Tensor};
use common::{TempDir, mlp_loss, mlp_problem};
use serde_json::Value;
use std::cell::RefCell;
use trainers::metrics::{MetricsLog, Row};
use trainers::{Adam, Control, EarlyStopping, Mode, Optim, StopReason, Trainer};

fn row(kind: &str, pairs: &[(&str, f64)]) -> Row {
    std::iter::once(("kind".to_string(), serde_json::json!(kind)))
        .chain(pairs.iter().map(|(k, v)| (k.to_string(), serde_json::json!(v))))
        .collect()
}

#[test]
fn json_lines_and_csv_formats() {
    let dir = TempDir::new("metrics");
    let jl = dir.path().join("m.jsonl");
    let mut log = MetricsLog::open(&jl, false).unwrap();
    log.write(row("step", &[("step", 1.0), ("loss", 0.5)])).unwrap();
    log.commit().unwrap();
    assert_eq!(std::fs::read_to_string(&jl).unwrap(), "{\"kind\":\"step\",\"step\":1.0,\"loss\":0.5}\n");

    let csv = dir.path().join("m.csv");
    let mut log = MetricsLog::open(&csv, false).unwrap();
    log.write(row("step", &[("step", 1.0), ("loss", 0.5)])).unwrap();
    log.write(row("epoch", &[("step", 1.0), ("val_loss", 0.25)])).unwrap();
    log.commit().unwrap();
    log.write(row("step", &[("step", 2.0), ("loss", 0.125)])).unwrap();
    let err = log.write(row("step", &[("new", 1.0)])).unwrap_err();
    assert!(err.to_string().contains("column `new`"), "{err}");
    log.commit().unwrap();
    drop(log);
    // Appending reuses the header.
    let mut log = MetricsLog::open(&csv, true).unwrap();
    log.write(row("step", &[("step", 3.0)])).unwrap();
    log.commit().unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(
        text,
        "kind,step,loss,val_loss\nstep,1.0,0.5,\nepoch,1.0,,0.25\nstep,2.0,0.125,\nstep,3.0,,\n"
    );

    // A column name with a comma and a value with a quote are quoted, and the header
    // reads back as the same columns on resume.
    let odd = dir.path().join("odd.csv");
    let mut log = MetricsLog::open(&odd, false).unwrap();
    log.write(vec![("kind".into(), "say \"hi\"".into()), ("a,b".into(), 1.5.into())]).unwrap();
    log.commit().unwrap();
    drop(log);
    let mut log = MetricsLog::open(&odd, true).unwrap();
    log.write(vec![("a,b".into(), 2.5.into())]).unwrap();
    log.commit().unwrap();
    let text = std::fs::read_to_string(&odd).unwrap();
    assert_eq!(text, "kind,\"a,b\"\n\"say \"\"hi\"\"\",1.5\n,2.5\n");
}

/// Validation loss from an epoch callback drives early stopping with patience 2; the
/// best epoch's parameters come back; the log holds step and epoch rows.
#[test]
fn trainer_logs_calls_back_and_stops_early() {
    let (net, store, data) = mlp_problem(64, 5);
    let (_, _, val) = mlp_problem(32, 6);
    let dir = TempDir::new("log");
    let log_path = dir.path().join("metrics.jsonl");
    // A learning rate this large makes validation loss bounce, so patience runs out.
    let adam = Optim::new(Adam { lr: 0.5, ..Adam::default() }).unwrap();
    let steps_seen = RefCell::new(Vec::new());
    let val_losses = RefCell::new(Vec::new());
    let mut t = Trainer::new(store, adam, 1)
        .epochs(200)
        .batch_size(16)
        .progress_bar(false)
        .metrics_log(&log_path)
        .early_stopping(EarlyStopping::new(2, 0.0, Mode::Min).unwrap(), "val_loss")
        .on_step(|r| {
            steps_seen.borrow_mut().push(r.step);
            Ok(Control::Continue)
        })
        .on_epoch(|e| {
            let pred = net.forward(&NoGrad::new(e.store), &val.arrays()[0])?;
            let v = (pred - &val.arrays()[1]).square().mean()?.item()?;
            val_losses.borrow_mut().push(v);
            e.metrics.insert("val_loss".into(), v);
            Ok(Control::Continue)
        });
    let summary = t.fit(&data, |s, b, ctx| mlp_loss(&net, s, b, ctx)).unwrap();
    assert_eq!(summary.reason, StopReason::EarlyStopped);
    let vals = val_losses.borrow().clone();
    let (best, epoch) = summary.best.unwrap();
    let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(best, min);
    assert_eq!(vals.len() as u64, epoch + 2, "stopped two epochs after the best");
    // The restored parameters give the best validation loss again.
    let pred = net.forward(&NoGrad::new(t.store()), &val.arrays()[0]).unwrap();
    assert_eq!((pred - &val.arrays()[1]).square().mean().unwrap().item().unwrap(), best);
    assert_eq!(*steps_seen.borrow(), (1..=summary.steps).collect::<Vec<_>>());

    let lines: Vec<Value> = std::fs::read_to_string(&log_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let steps: Vec<&Value> = lines.iter().filter(|v| v["kind"] == "step").collect();
    let epochs: Vec<&Value> = lines.iter().filter(|v| v["kind"] == "epoch").collect();
    assert_eq!(steps.len() as u64, summary.steps);
    assert_eq!(epochs.len(), vals.len());
    for key in ["step", "epoch", "loss", "lr", "grad_norm", "kl_weight", "elapsed_s", "mse"] {
        assert!(steps[0][key].is_number(), "step rows lack {key}: {}", steps[0]);
    }
    assert_eq!(steps[0]["lr"], 0.5);
    assert_eq!(epochs[0]["val_loss"], vals[0]);
}

#[test]
fn a_step_callback_can_stop_training() {
    let (net, store, data) = mlp_problem(64, 5);
    let adam = Optim::new(Adam::default()).unwrap();
    let mut t = Trainer::new(store, adam, 1)
        .epochs(10)
        .batch_size(16)
        .progress_bar(false)
        .on_step(|r| Ok(if r.step == 6 { Control::Stop } else { Control::Continue }));
    let summary = t.fit(&data, |s, b, ctx| mlp_loss(&net, s, b, ctx)).unwrap();
    assert_eq!((summary.reason, summary.steps, summary.epochs), (StopReason::Callback, 6, 1));
    let curve: Vec<u64> = summary.step_losses.iter().map(|(s, _)| *s).collect();
    assert_eq!(curve, (1..=6).collect::<Vec<_>>());
    assert!(summary.step_losses.iter().all(|(_, l)| l.is_finite() && *l > 0.0));
}
