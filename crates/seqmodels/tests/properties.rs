//! Property tests of the recurrent cells over random sizes: input gradients through
//! a masked, multi-step run match finite differences in both GRU conventions, and a
//! run on the tape computes the same values as on plain arrays.

use autodiff::testing::seed;
use autodiff::{GradCheck, NoGrad, ParamStore, Tape, Tensor, Var, gradcheck};
use ndarray::Array2;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seqmodels::cells::run_cell;
use seqmodels::{AnyCell, Cell, CellKind, GruConvention};

const KINDS: [CellKind; 4] = [
    CellKind::Rnn,
    CellKind::Gru(GruConvention::Textbook),
    CellKind::Gru(GruConvention::PyTorch),
    CellKind::MeanStdGru { units: 3 },
];

/// A cell, three steps of inputs, an initial state and random 0/1 step masks.
fn setup(
    b: usize,
    i: usize,
    h: usize,
    kind: CellKind,
    s: u64,
) -> (ParamStore, AnyCell, Vec<Array2<f64>>, Vec<Array2<f64>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(s);
    let mut store = ParamStore::new();
    let cell = AnyCell::new(&mut store, "cell", kind, i, h, &mut rng).unwrap();
    let mut inputs: Vec<Array2<f64>> =
        (0..3).map(|_| Array2::from_shape_simple_fn((b, i), || rng.random_range(-2.0..2.0))).collect();
    // The initial state, as wide as the cell's (twice `h` for the mean-and-std GRU).
    inputs.push(Array2::from_shape_simple_fn((b, cell.hidden_dim()), || rng.random_range(-1.0..1.0)));
    let masks =
        (0..3).map(|_| Array2::from_shape_simple_fn((b, 1), || f64::from(rng.random::<bool>()))).collect();
    (store, cell, inputs, masks)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn input_gradients_match_finite_differences(b in 1usize..4, i in 1usize..4, h in 1usize..4, k in 0usize..4, s in seed(), reverse in any::<bool>()) {
        let (store, cell, inputs, masks) = setup(b, i, h, KINDS[k], s);
        let report = gradcheck(
            |v| {
                let sess = v[0].tape().session(&store);
                let hs = run_cell(&sess, &cell, &v[..3], &masks, v[3], reverse).map_err(|e| autodiff::Error::Invalid { op: "run_cell", reason: e.to_string() })?;
                Var::concat_cols(&hs.iter().collect::<Vec<_>>())
            },
            &inputs,
            &GradCheck::default(),
        );
        prop_assert!(report.is_ok(), "{:?}", report);
    }

    #[test]
    fn tape_and_plain_arrays_agree(b in 1usize..4, i in 1usize..4, h in 1usize..4, k in 0usize..4, s in seed()) {
        let (store, cell, inputs, masks) = setup(b, i, h, KINDS[k], s);
        let plain = run_cell(&NoGrad::new(&store), &cell, &inputs[..3], &masks, inputs[3].clone(), false).unwrap();
        let tape = Tape::new();
        let sess = tape.session(&store);
        let xs: Vec<_> = inputs[..3].iter().map(|x| tape.constant(x.clone())).collect();
        let taped = run_cell(&sess, &cell, &xs, &masks, tape.constant(inputs[3].clone()), false).unwrap();
        for (p, t) in plain.iter().zip(&taped) {
            prop_assert_eq!(p, &t.to_array());
        }
    }
}
