//! The loaders: well-formed inputs decode exactly, malformed ones are named errors.

use seqmodels::data::{NOTES, parse_digits, parse_polyphonic};

#[test]
fn piano_rolls_decode_pitch_minus_21() {
    let json = r#"{"train": [[[21, 60], [], [108]]], "valid": [[[64.0]]], "test": [[[21], [22]], [[23]]]}"#;
    let rolls = parse_polyphonic(json, "inline").unwrap();
    assert_eq!(rolls.train.len(), 1);
    assert_eq!(rolls.train[0].dim(), (3, NOTES));
    assert_eq!(rolls.train[0].row(0).iter().filter(|&&v| v == 1.0).count(), 2);
    assert_eq!(rolls.train[0][(0, 0)], 1.0);
    assert_eq!(rolls.train[0][(0, 39)], 1.0);
    assert_eq!(rolls.train[0].row(1).iter().copied().sum::<f64>(), 0.0);
    assert_eq!(rolls.train[0][(2, 87)], 1.0);
    assert_eq!(rolls.valid[0][(0, 43)], 1.0);
    assert_eq!(rolls.test.len(), 2);
    assert_eq!(seqmodels::data::PianoRolls::steps(&rolls.test), 3);
}

#[test]
fn malformed_music_files_are_named_errors() {
    let cases = [
        (r#"{"train": [[[60]]], "valid": [], "test": "#, "not valid JSON"),
        (r#"{"train": [[[60]]], "valid": []}"#, "no \"test\" split"),
        (r#"{"train": 3, "valid": [], "test": []}"#, "split \"train\" is not a list"),
        (
            r#"{"train": [[[60], [120]]], "valid": [], "test": []}"#,
            "train[0][1]: pitch 120 outside the piano range 21..=108",
        ),
        (r#"{"train": [], "valid": [[[20]]], "test": []}"#, "valid[0][0]: pitch 20 outside"),
        (
            r#"{"train": [], "valid": [], "test": [[[60.5]]]}"#,
            "test[0][0]: pitch 60.5 is not a non-negative integer",
        ),
        (r#"{"train": [[60]], "valid": [], "test": []}"#, "train[0][0]: a time step must be a list"),
        (r#"{"train": [[]], "valid": [], "test": []}"#, "train[0]: a sequence has no time steps"),
    ];
    for (json, want) in cases {
        let err = parse_polyphonic(json, "bad.json").unwrap_err().to_string();
        assert!(err.starts_with("bad.json: ") && err.contains(want), "{err:?} should mention {want:?}");
    }
    let err = seqmodels::data::load_polyphonic(std::path::Path::new("/nonexistent/x.json")).unwrap_err();
    assert!(err.to_string().starts_with("/nonexistent/x.json"), "{err}");
}

#[test]
fn digits_csv() {
    let header: Vec<String> = (0..64).map(|i| format!("p{i}")).chain(["label".into()]).collect();
    let row = |v: u8, label: &str| {
        (0..64).map(|_| v.to_string()).chain([label.to_owned()]).collect::<Vec<_>>().join(",")
    };
    let text = format!("{}\n{}\n{}\n", header.join(","), row(1, "3"), row(0, "7"));
    let d = parse_digits(&text, "d.csv").unwrap();
    assert_eq!(d.images.dim(), (2, 64));
    assert_eq!(d.labels, [3, 7]);
    assert_eq!(d.images[(0, 10)], 1.0);
    let err = parse_digits(&format!("{}\n1,2,3\n", header.join(",")), "d.csv").unwrap_err().to_string();
    assert!(err.contains("line 2: 3 fields"), "{err}");
    let err =
        parse_digits(&format!("{}\n{}\n", header.join(","), row(1, "x")), "d.csv").unwrap_err().to_string();
    assert!(err.contains("label `x`"), "{err}");
}

/// Data sets to padded arrays and back (the layout of a `.npz`): the same data set,
/// masks and times included; bad arrays are named.
#[test]
fn data_sets_round_trip_through_padded_arrays() {
    use ndarray::{ArrayD, IxDyn, array};
    use seqmodels::{IrregularSeries, Sequences, Series};
    let seqs = Sequences::with_masks(
        vec![array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], array![[7.0, 8.0]]],
        vec![array![[1.0, 1.0], [0.0, 1.0], [1.0, 1.0]], array![[1.0, 0.0]]],
    )
    .unwrap();
    let arrays = seqs.to_arrays();
    assert_eq!(arrays["values"].shape(), [2, 3, 2]);
    assert_eq!(arrays["lengths"], ndarray::array![3.0, 1.0].into_dyn());
    assert_eq!(Sequences::from_arrays(&arrays).unwrap(), seqs);
    let irregular = IrregularSeries::new(vec![
        Series::observed(vec![0.5, 1.5], array![[1.0], [2.0]]),
        Series {
            times: vec![0.1, 0.2, 0.9],
            values: array![[3.0], [0.0], [5.0]],
            masks: array![[1.0], [0.0], [1.0]],
        },
    ])
    .unwrap();
    let arrays = irregular.to_arrays();
    assert_eq!(arrays["times"].shape(), [2, 3]);
    assert_eq!(IrregularSeries::from_arrays(&arrays).unwrap(), irregular);
    // A length beyond the padding, and a missing array.
    let mut bad = arrays.clone();
    bad.insert("lengths".into(), ndarray::array![2.0, 4.0].into_dyn());
    let err = IrregularSeries::from_arrays(&bad).unwrap_err().to_string();
    assert!(err.contains("`lengths[1]` is 4"), "{err}");
    bad.remove("times");
    let err = IrregularSeries::from_arrays(&bad).unwrap_err().to_string();
    assert!(err.contains("no array `times`") || err.contains("lengths"), "{err}");
    let mut flat = seqs.to_arrays();
    flat.insert("values".into(), ArrayD::zeros(IxDyn(&[2, 6])));
    let err = Sequences::from_arrays(&flat).unwrap_err().to_string();
    assert!(err.contains("`values` has shape [2, 6], expected rank 3"), "{err}");
}

/// A subset with an index past the end is the tape's index error naming the data set,
/// not an out-of-bounds panic.
#[test]
fn subsets_with_an_index_past_the_end_are_named_errors() {
    use ndarray::array;
    use seqmodels::{Error, IrregularSeries, Sequences, Series};
    let seqs = Sequences::new(vec![array![[1.0], [2.0]], array![[3.0]]]).unwrap();
    let err = seqs.subset(&[1, 2]).unwrap_err();
    let want = autodiff::Error::Index { op: "Sequences::subset", index: 2, len: 2 };
    assert!(matches!(&err, Error::Autodiff(e) if *e == want), "{err:?}");
    assert_eq!(err.to_string(), "Sequences::subset: index 2 out of bounds for length 2");
    assert_eq!(seqs.subset(&[1]).unwrap().values(), &[array![[3.0]]]);
    let irregular = IrregularSeries::new(vec![Series::observed(vec![0.5], array![[1.0]])]).unwrap();
    let err = irregular.subset(&[0, 5]).unwrap_err();
    let want = autodiff::Error::Index { op: "IrregularSeries::subset", index: 5, len: 1 };
    assert!(matches!(&err, Error::Autodiff(e) if *e == want), "{err:?}");
    assert_eq!(err.to_string(), "IrregularSeries::subset: index 5 out of bounds for length 1");
}
