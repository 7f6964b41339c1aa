//! Weights and numbers from PyTorch: a GRU and a linear head trained nowhere but
//! written by PyTorch (`tests/data/torch_gru.py`, float64, with its outputs and
//! gradients) load into this library by their PyTorch names, reproduce PyTorch's
//! outputs and every gradient to 1e-12, and export back to the same tensors.

use latent_seq::autodiff::gradcheck::all_close;
use latent_seq::autodiff::ndarray::{Array2, ArrayD, Axis, Ix2};
use latent_seq::autodiff::{Linear, ParamStore, StateDict, Tape, Tensor};
use latent_seq::seqmodels::{Cell, GruCell};
use latent_seq::trainers::safetensors;
use std::path::Path;

fn torch_file() -> StateDict {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/torch_gru.safetensors");
    let (tensors, meta) = safetensors::read(&path).unwrap();
    assert_eq!(meta["made_by"], "tests/data/torch_gru.py");
    tensors
}

/// Step `k` of a time-major `T x B x D` tensor.
fn step(t: &ArrayD<f64>, k: usize) -> Array2<f64> {
    t.index_axis(Axis(0), k).to_owned().into_dimensionality::<Ix2>().unwrap()
}

fn close(what: &str, got: &ArrayD<f64>, want: &ArrayD<f64>) {
    assert_eq!(got.shape(), want.shape(), "{what}");
    let flat = |a: &ArrayD<f64>| Array2::from_shape_vec((1, a.len()), a.iter().copied().collect()).unwrap();
    assert!(all_close(&flat(got), &flat(want), 1e-12, 1e-12), "{what}: {got} vs {want}");
}

#[test]
fn a_pytorch_gru_loads_by_name_and_reproduces_outputs_and_gradients() {
    let t = torch_file();
    let mut store = ParamStore::new();
    let cell = GruCell::from_torch(&mut store, "gru", &t, "gru.", "_l0").unwrap();
    let head = Linear::from_torch(&mut store, "linear", &t, "linear.").unwrap();
    assert_eq!((cell.input_dim(), cell.hidden_dim()), (3, 4));

    let tape = Tape::new();
    let s = tape.session(&store);
    let steps = t["x"].shape()[0];
    let xs: Vec<_> = (0..steps).map(|k| tape.leaf(step(&t["x"], k))).collect();
    let h0 = tape.leaf(step(&t["h0"], 0));
    let (mut h, mut loss, mut outs) = (h0, None, Vec::new());
    for (k, x) in xs.iter().enumerate() {
        h = cell.step(&s, x, &h).unwrap();
        outs.push(h.value().insert_axis(Axis(0)));
        let term = head.forward(&s, &h).unwrap().mul(&tape.constant(step(&t["c"], k))).unwrap().sum();
        loss = Some(match loss {
            None => term,
            Some(l) => term.add(&l).unwrap(),
        });
    }
    let views: Vec<_> = outs.iter().map(|o| o.view()).collect();
    close("out", &latent_seq::autodiff::ndarray::concatenate(Axis(0), &views).unwrap().into_dyn(), &t["out"]);
    close("h_n", &h.value().insert_axis(Axis(0)).into_dyn(), &t["h_n"]);
    let loss = loss.unwrap();
    assert!((loss.item().unwrap() - t["loss"][[0]]).abs() < 1e-12);

    let g = tape.backward(loss).unwrap();
    let dx: Vec<_> = xs.iter().map(|x| g.wrt(x).unwrap().unwrap().clone().insert_axis(Axis(0))).collect();
    let dx_views: Vec<_> = dx.iter().map(|d| d.view()).collect();
    close(
        "grad.x",
        &latent_seq::autodiff::ndarray::concatenate(Axis(0), &dx_views).unwrap().into_dyn(),
        &t["grad.x"],
    );
    close("grad.h0", &g.wrt(&h0).unwrap().unwrap().clone().insert_axis(Axis(0)).into_dyn(), &t["grad.h0"]);
    // The parameter gradients in PyTorch's layout: the same export, applied to a store
    // holding gradients in place of values.
    let mut grads = store.clone();
    for id in store.ids() {
        grads.get_mut(id).unwrap().assign(g.param(id).unwrap());
    }
    let exported = cell
        .to_torch(&grads, "grad.gru.", "_l0")
        .unwrap()
        .into_iter()
        .chain(head.to_torch(&grads, "grad.linear.").unwrap());
    let mut n = 0;
    for (name, got) in exported {
        close(&name, &got, &t[&name]);
        n += 1;
    }
    assert_eq!(n, 6, "weight_ih, weight_hh, bias_ih, bias_hh, weight, bias");
}

#[test]
fn exports_give_back_the_pytorch_tensors() {
    let t = torch_file();
    let mut store = ParamStore::new();
    let cell = GruCell::from_torch(&mut store, "gru", &t, "gru.", "_l0").unwrap();
    let head = Linear::from_torch(&mut store, "linear", &t, "linear.").unwrap();
    let exported = cell
        .to_torch(&store, "gru.", "_l0")
        .unwrap()
        .into_iter()
        .chain(head.to_torch(&store, "linear.").unwrap());
    for (name, value) in exported {
        assert_eq!(value, t[&name], "{name}");
    }
}
