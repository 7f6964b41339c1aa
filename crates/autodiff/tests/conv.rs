//! The causal dilated convolution: its values against hand-built filters, its
//! causality, its batches that do not leak, its errors and the gradient of a tap that
//! sees only padding. (Its gradient check is with every op's in `gradients.rs`, its
//! second derivative in `higher_order.rs`.)

use autodiff::op::CausalConv;
use autodiff::{Tape, Tensor};
use ndarray::{Array2, array, s};

fn conv(width: usize, dilation: usize, batch: usize) -> CausalConv {
    CausalConv { width, dilation, batch }
}

/// Deterministic values in [-1, 1).
fn values(shape: (usize, usize), seed: u64) -> Array2<f64> {
    Array2::from_shape_fn(shape, |(i, j)| {
        let v = (i as u64 * 7919 + j as u64 * 104_729 + seed * 15_485_863) % 2000;
        v as f64 / 1000.0 - 1.0
    })
}

#[test]
fn dilation_four_with_filter_one_one_is_the_filter_one_zero_zero_zero_one() {
    // One channel: y_t = x_{t-4} + x_t with dilation 4, and the same with the
    // undilated five-tap filter [1, 0, 0, 0, 1]; on 2 interleaved sequences as well.
    for batch in [1, 2] {
        let x = values((12 * batch, 1), 3);
        let dilated = x.causal_conv(&array![[1.0], [1.0]], conv(2, 4, batch)).unwrap();
        let spread = x.causal_conv(&array![[1.0], [0.0], [0.0], [0.0], [1.0]], conv(5, 1, batch)).unwrap();
        assert_eq!(dilated, spread);
        for t in 0..12 {
            for b in 0..batch {
                let back = if t >= 4 { x[((t - 4) * batch + b, 0)] } else { 0.0 };
                assert_eq!(dilated[(t * batch + b, 0)], x[(t * batch + b, 0)] + back);
            }
        }
    }
}

#[test]
fn an_identity_filter_does_not_shift_time() {
    // Width 2 with the identity on the present tap and zero on the past one, and width
    // 1 with the identity: both give x back, step for step.
    let x = values((10, 3), 1);
    let eye = Array2::<f64>::eye(3);
    let mut two_taps = Array2::zeros((6, 3));
    two_taps.slice_mut(s![3.., ..]).assign(&eye);
    assert_eq!(x.causal_conv(&two_taps, conv(2, 3, 2)).unwrap(), x);
    assert_eq!(x.causal_conv(&eye, conv(1, 1, 5)).unwrap(), x);
    // The identity on the past tap is a delay of exactly d steps.
    let mut delay = Array2::zeros((6, 3));
    delay.slice_mut(s![..3, ..]).assign(&eye);
    let y = x.causal_conv(&delay, conv(2, 3, 1)).unwrap();
    assert_eq!(y.slice(s![3.., ..]), x.slice(s![..7, ..]));
    assert!(y.slice(s![..3, ..]).iter().all(|&v| v == 0.0));
}

#[test]
fn causality_perturbing_a_step_changes_no_earlier_output() {
    // The Jacobian of y with respect to x, column by column: entry (output step t,
    // input step t') is zero unless t' <= t <= t' + (w - 1) d, and outputs of one
    // sequence never depend on another's input.
    let (steps, batch, width, dilation) = (9, 2, 3, 2);
    let x = values((steps * batch, 2), 5);
    let w = values((width * 2, 3), 6);
    let g = conv(width, dilation, batch);
    let base = x.causal_conv(&w, g).unwrap();
    for row in 0..x.nrows() {
        let mut bumped = x.clone();
        bumped[(row, 0)] += 1.0;
        let diff = bumped.causal_conv(&w, g).unwrap() - &base;
        let (t_in, b_in) = (row / batch, row % batch);
        for out in 0..diff.nrows() {
            let (t, b) = (out / batch, out % batch);
            let reachable = b == b_in && t >= t_in && t <= t_in + (width - 1) * dilation;
            if !reachable {
                assert!(diff.row(out).iter().all(|&v| v == 0.0), "x[{t_in}, {b_in}] reached y[{t}, {b}]");
            }
        }
    }
    assert_eq!(g.receptive_field(), 5);
}

#[test]
fn a_batch_equals_its_sequences_run_alone() {
    // Three sequences of 8 steps, interleaved time-major, against each one alone.
    let (steps, batch) = (8, 3);
    let x = values((steps * batch, 2), 2);
    let w = values((4, 3), 4);
    let y = x.causal_conv(&w, conv(2, 2, batch)).unwrap();
    for b in 0..batch {
        let rows: Vec<usize> = (0..steps).map(|t| t * batch + b).collect();
        let alone = x.select(ndarray::Axis(0), &rows).causal_conv(&w, conv(2, 2, 1)).unwrap();
        let max = (&y.select(ndarray::Axis(0), &rows) - &alone).iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(max < 1e-15, "sequence {b}: {max}");
    }
}

#[test]
fn bad_geometry_gives_errors_naming_the_op() {
    let x = values((6, 2), 0);
    let err = x.causal_conv(&values((3, 1), 0), conv(2, 1, 1)).unwrap_err();
    assert!(err.to_string().contains("causal_conv"), "{err}");
    let err = x.causal_conv(&values((4, 1), 0), conv(2, 1, 4)).unwrap_err();
    assert!(err.to_string().contains("not whole steps"), "{err}");
    let err = x.causal_conv(&values((4, 1), 0), conv(2, 0, 1)).unwrap_err();
    assert!(err.to_string().contains("must be positive"), "{err}");
}

#[test]
fn a_tap_beyond_the_sequence_gets_a_zero_gradient() {
    // Dilation 5 on 3 steps: the past tap sees only the padding.
    let tape = Tape::new();
    let x = tape.leaf(values((3, 1), 1));
    let w = tape.leaf(array![[2.0], [0.5]]);
    let grads = x.causal_conv(&w, conv(2, 5, 1)).unwrap().sum().backward().unwrap();
    let gw = grads.wrt(&w).unwrap().unwrap();
    assert_eq!(gw[(0, 0)], 0.0);
    assert!((gw[(1, 0)] - x.value().iter().sum::<f64>()).abs() < 1e-15);
    assert_eq!(grads.wrt(&x).unwrap().unwrap(), &Array2::from_elem((3, 1), 0.5));
}
