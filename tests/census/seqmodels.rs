//! Sequence data (batches, irregular series, CSV and data-set loaders, streams) and
//! the models' entry checks.

use crate::harness::{Case, error, fails, gives, values};
use latent_seq::ChaCha8Rng;
use latent_seq::autodiff::ndarray::{Array2, array};
use latent_seq::autodiff::{Activation, NoGrad, ParamStore};
use latent_seq::rand::SeedableRng;
use latent_seq::seqmodels::bound::log_mean_exp_blocks;
use latent_seq::seqmodels::data::{parse_digits, parse_polyphonic};
use latent_seq::seqmodels::diffusion::Schedule;
use latent_seq::seqmodels::stream::Streams;
use latent_seq::seqmodels::{
    CellKind, CsvSeries, GaussianHead, GruOdeBayes, GruOdeBayesConfig, IrregularBatch, IrregularSeries,
    LatentOde, LatentOdeConfig, ObsKind, OdeRnn, OdeRnnConfig, RnnConfig, RnnModel, SeqBatch, SequenceModel,
    Sequences, Series, Srnn, SrnnConfig, Vae, VaeConfig, Vrnn, VrnnConfig, WaveNet, WaveNetConfig,
    WaveNetOutput,
};

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(0)
}

/// A digits CSV line: 64 pixels of `pixel`, then `label`.
fn digits_line(pixel: &str, label: &str) -> String {
    std::iter::repeat_n(pixel, 64).chain([label]).collect::<Vec<_>>().join(",")
}

fn digits_header() -> String {
    (0..64).map(|i| format!("p{i}")).chain(["label".into()]).collect::<Vec<_>>().join(",")
}

fn csv(text: &str) -> latent_seq::seqmodels::Result<CsvSeries> {
    CsvSeries::from_csv_reader(text.as_bytes())
}

fn series(times: Vec<f64>) -> Series {
    let n = times.len();
    Series::observed(times, Array2::zeros((n, 1)))
}

/// A WaveNet over `levels` classes with dilations `[1, 2]` and 4 channels, or the
/// error of `config` edited by `edit`.
fn wavenet(output: WaveNetOutput, edit: fn(&mut WaveNetConfig)) -> latent_seq::seqmodels::Result<WaveNet> {
    let mut config = WaveNetConfig::new(output, vec![1, 2], 4);
    edit(&mut config);
    WaveNet::new(&mut ParamStore::new(), "wn", config, &mut rng())
}

const LEVELS: WaveNetOutput = WaveNetOutput::Categorical { levels: 4 };

/// One irregular series of `dim` features observed at times 0.5 and 1.
fn irregular(dim: usize) -> IrregularBatch {
    IrregularBatch::new(vec![Series::observed(vec![0.5, 1.0], Array2::zeros((2, dim)))])
        .expect("a valid batch")
}

/// A fully observed batch of one sequence of 2 steps of `dim` features.
fn steps(dim: usize) -> SeqBatch {
    SeqBatch::fully_observed(vec![Array2::zeros((1, dim)); 2]).expect("a valid batch")
}

fn schedule() -> Schedule {
    Schedule::linear(4, 1e-4, 0.02).expect("a valid schedule")
}

pub const CASES: &[Case] = &[
    fails("Sequences::new(values)", "no sequences", "Config", &["Sequences", "no sequences"], || {
        error(Sequences::new(vec![]))
    }),
    fails(
        "Sequences::new(values)",
        "a sequence of 0 steps",
        "Config",
        &["Sequences", "sequence 1 has no time steps"],
        || error(Sequences::new(vec![Array2::zeros((2, 1)), Array2::zeros((0, 1))])),
    ),
    fails("Sequences::new(values)", "sequences of 1 and 2 features", "Config", &["sequence 1 has 2"], || {
        error(Sequences::new(vec![Array2::zeros((2, 1)), Array2::zeros((2, 2))]))
    }),
    fails(
        "Sequences::new(values)",
        "NaN in the training data",
        "Autodiff::NonFiniteData",
        &["sequence 0", "NaN", "row 1"],
        || error(Sequences::new(vec![array![[0.0], [f64::NAN]]])),
    ),
    fails("Sequences::with_masks", "a mask entry of 0.5", "Config", &["sequence 0: mask holds 0.5"], || {
        error(Sequences::with_masks(vec![array![[0.0], [1.0]]], vec![array![[1.0], [0.5]]]))
    }),
    fails("Sequences::with_masks", "2 sequences, 1 mask", "Config", &["2 sequences but 1 masks"], || {
        error(Sequences::with_masks(vec![array![[0.0]], array![[1.0]]], vec![array![[1.0]]]))
    }),
    fails("Sequences::subset(indices)", "index 3 of 1 sequence", "Autodiff::Index", &["index 3"], || {
        error(Sequences::new(vec![array![[0.0]]]).and_then(|s| s.subset(&[3])))
    }),
    fails(
        "SeqBatch::new(steps, masks)",
        "no time steps",
        "Config",
        &["SeqBatch::new", "no time steps"],
        || error(SeqBatch::new(vec![], vec![])),
    ),
    fails("SeqBatch::new(steps, masks)", "3 steps, 2 masks", "Config", &["3 steps but 2 masks"], || {
        error(SeqBatch::new(vec![Array2::zeros((1, 1)); 3], vec![Array2::ones((1, 1)); 2]))
    }),
    fails(
        "SeqBatch::new(steps, masks)",
        "a mask of 3 columns for 2 features",
        "Config",
        &["mask 0", "(1, 3)"],
        || error(SeqBatch::new(vec![Array2::zeros((1, 2))], vec![Array2::ones((1, 3))])),
    ),
    fails("SeqBatch::new(steps, masks)", "a mask entry of 2", "Config", &["step 0: mask holds 2"], || {
        error(SeqBatch::new(vec![Array2::zeros((1, 1))], vec![array![[2.0]]]))
    }),
    fails(
        "SeqBatch::fully_observed(steps)",
        "NaN in an observed entry",
        "Autodiff::NonFiniteData",
        &["step 1", "NaN", "row 0"],
        || error(SeqBatch::fully_observed(vec![array![[0.0]], array![[f64::NAN]]])),
    ),
    fails(
        "SeqBatch::fully_observed(steps)",
        "steps of 1 and 2 rows",
        "Config",
        &["step 1 is (2, 1)"],
        || error(SeqBatch::fully_observed(vec![Array2::zeros((1, 1)), Array2::zeros((2, 1))])),
    ),
    fails("SeqBatch::repeat(k)", "k = 0", "Config", &["SeqBatch::repeat", "at least one copy"], || {
        error(SeqBatch::fully_observed(vec![array![[0.0]]]).and_then(|b| b.repeat(0)))
    }),
    fails("IrregularSeries::new(series)", "no series", "Config", &["IrregularSeries", "no series"], || {
        error(IrregularSeries::new(vec![]))
    }),
    fails(
        "IrregularSeries::new(series)",
        "times [0, 1, 1]",
        "Config",
        &["series 0", "not strictly increasing", "1 then 1"],
        || error(IrregularSeries::new(vec![series(vec![0.0, 1.0, 1.0])])),
    ),
    fails("IrregularSeries::new(series)", "a NaN time", "Config", &["series 1", "time 0 is NaN"], || {
        error(IrregularSeries::new(vec![series(vec![0.0]), series(vec![f64::NAN])]))
    }),
    fails(
        "IrregularSeries::new(series)",
        "a series with no observations",
        "Config",
        &["series 0 has no observations"],
        || error(IrregularSeries::new(vec![series(vec![])])),
    ),
    fails(
        "IrregularSeries::new(series)",
        "3 times for 2 rows of values",
        "Config",
        &["series 0", "3 times"],
        || {
            let s = Series {
                times: vec![0.0, 1.0, 2.0],
                values: Array2::zeros((2, 1)),
                masks: Array2::ones((2, 1)),
            };
            error(IrregularSeries::new(vec![s]))
        },
    ),
    fails(
        "IrregularBatch::before(t)",
        "t before a row's first observation",
        "Config",
        &["IrregularBatch::before"],
        || {
            error(
                IrregularBatch::new(vec![series(vec![0.0, 1.0]), series(vec![2.0])])
                    .and_then(|b| b.before(1.5)),
            )
        },
    ),
    fails("CsvSeries::from_csv_reader", "an empty file", "Csv", &["line 1", "empty"], || error(csv(""))),
    fails("CsvSeries::from_csv_reader", "a header without data", "Csv", &["no data line"], || {
        error(csv("ID,Time,Value_0,Mask_0\n"))
    }),
    fails("CsvSeries::from_csv_reader", "no Time column", "Csv", &["Time", "no such column"], || {
        error(csv("ID,Value_0,Mask_0\na,1,1\n"))
    }),
    fails(
        "CsvSeries::from_csv_reader",
        "a value `x`",
        "Csv",
        &["line 2", "Value_0", "`x` is not a number"],
        || error(csv("ID,Time,Value_0,Mask_0\na,0,x,1\n")),
    ),
    fails(
        "CsvSeries::from_csv_reader",
        "a mask of 2",
        "Csv",
        &["Mask_0", "mask 2 is neither 0 nor 1"],
        || error(csv("ID,Time,Value_0,Mask_0\na,0,1,2\n")),
    ),
    fails(
        "CsvSeries::from_csv_reader",
        "two lines of one series at one time",
        "Csv",
        &["line 3", "second line at time 0"],
        || error(csv("ID,Time,Value_0,Mask_0\na,0,1,1\na,0,2,1\n")),
    ),
    fails("CsvSeries::from_csv_reader", "an infinite time", "Csv", &["Time", "inf is not finite"], || {
        error(csv("ID,Time,Value_0,Mask_0\na,inf,1,1\n"))
    }),
    fails(
        "parse_digits(text)",
        "a file without a header line",
        "Format",
        &["d.csv", "line 1", "header"],
        || error(parse_digits(&format!("{}\n{}\n", digits_line("1", "3"), digits_line("0", "7")), "d.csv")),
    ),
    fails("parse_digits(text)", "a NaN pixel", "Format", &["line 2", "`NaN`", "finite"], || {
        error(parse_digits(&format!("{}\n{}\n", digits_header(), digits_line("NaN", "3")), "d.csv"))
    }),
    fails("parse_digits(text)", "label 12", "Format", &["line 2", "label `12`", "digit"], || {
        error(parse_digits(&format!("{}\n{}\n", digits_header(), digits_line("1", "12")), "d.csv"))
    }),
    fails("parse_digits(text)", "a header only", "Format", &["no images"], || {
        error(parse_digits(&digits_header(), "d.csv"))
    }),
    fails(
        "parse_polyphonic(text)",
        "pitch 200",
        "Format",
        &["rolls.json", "train[0][0]", "pitch 200"],
        || error(parse_polyphonic(r#"{"train": [[[200]]], "valid": [], "test": []}"#, "rolls.json")),
    ),
    fails("parse_polyphonic(text)", "no \"test\" split", "Format", &["no \"test\" split"], || {
        error(parse_polyphonic(r#"{"train": [], "valid": []}"#, "rolls.json"))
    }),
    fails("parse_polyphonic(text)", "not JSON", "Format", &["not valid JSON"], || {
        error(parse_polyphonic("{", "rolls.json"))
    }),
    fails(
        "Streams::new(streams, chunk)",
        "chunk = 0",
        "Config",
        &["Streams::new", "chunks of 0 steps"],
        || error(Streams::new(vec![Array2::zeros((4, 1))], 0).map(|s| s.steps())),
    ),
    fails(
        "Streams::new(streams, chunk)",
        "NaN in a stream",
        "Config",
        &["stream 0 holds NaN", "step 2"],
        || error(Streams::new(vec![array![[0.0], [0.0], [f64::NAN]]], 2).map(|s| s.steps())),
    ),
    fails("Schedule::from_betas(betas)", "beta = 1", "Config", &["Schedule", "beta_2 = 1"], || {
        error(Schedule::from_betas(vec![0.1, 1.0]))
    }),
    fails("Schedule::linear(steps)", "0 steps", "Config", &["Schedule", "at least one step"], || {
        error(Schedule::linear(0, 1e-4, 0.02))
    }),
    fails(
        "Schedule::cosine(steps, offset)",
        "offset -1",
        "Config",
        &["Schedule::cosine", "offset -1"],
        || error(Schedule::cosine(10, -1.0)),
    ),
    fails("Schedule::beta(t)", "t = 0 (steps count from 1)", "Config", &["step 0 is not in 1..=4"], || {
        error(schedule().beta(0))
    }),
    fails("Schedule::alpha_bar_at(u)", "u = NaN", "Config", &["continuous time NaN"], || {
        error(schedule().alpha_bar_at(f64::NAN))
    }),
    fails("Schedule::step_at_noise(noise)", "noise -1", "Config", &["noise level -1"], || {
        error(schedule().step_at_noise(-1.0))
    }),
    gives("Schedule::posterior_variance(t)", "t = 1 (the posterior is the data)", &[0.0], 0.0, || {
        values(schedule().posterior_variance(1).map(|v| vec![v]))
    }),
    fails(
        "log_mean_exp_blocks(lw, k)",
        "5 rows in 2 blocks",
        "Config",
        &["log_mean_exp_blocks", "5 rows"],
        || error(log_mean_exp_blocks(&Array2::<f64>::zeros((5, 1)), 2)),
    ),
    gives(
        "log_mean_exp_blocks(lw, k)",
        "log-weights -1000 and -1000 (exp underflows)",
        &[-1000.0],
        1e-9,
        || values(log_mean_exp_blocks(&array![[-1000.0], [-1000.0]], 2).map(|v| v.iter().copied().collect())),
    ),
    fails("GaussianHead::new(min_std)", "min_std = -1", "Config", &["GaussianHead", "min_std", "-1"], || {
        error(GaussianHead::new(&mut ParamStore::new(), "h", 2, 2, -1.0, &mut rng()))
    }),
    fails(
        "Vae::new(config)",
        "no hidden layer",
        "Config",
        &["Vae::new", "at least one hidden layer"],
        || {
            let config = VaeConfig {
                x_dim: 2,
                z_dim: 1,
                hidden: vec![],
                obs: ObsKind::Bernoulli,
                activation: Activation::Tanh,
                min_std: 0.0,
            };
            error(Vae::new(&mut ParamStore::new(), "vae", config, &mut rng()).map(|_| ()))
        },
    ),
    fails(
        "ObsHead via RnnModel::new",
        "a mixture of 0 components",
        "Config",
        &["ObsHead", "at least one component"],
        || {
            let config = RnnConfig {
                x_dim: 1,
                hidden: 2,
                cell: CellKind::Rnn,
                obs: ObsKind::Gmm { components: 0, min_std: 0.0 },
            };
            error(RnnModel::new(&mut ParamStore::new(), "rnn", config, &mut rng()).map(|_| ()))
        },
    ),
    fails(
        "RnnModel::filter(s, batch)",
        "a batch of 3 features for a model of 1",
        "Config",
        &["RnnModel", "expects 1 features", "got 3"],
        || {
            let config = RnnConfig {
                x_dim: 1,
                hidden: 2,
                cell: CellKind::Rnn,
                obs: ObsKind::Gaussian { min_std: 0.0 },
            };
            let mut store = ParamStore::new();
            let model = RnnModel::new(&mut store, "rnn", config, &mut rng()).expect("a valid model");
            let batch = SeqBatch::fully_observed(vec![Array2::zeros((1, 3))]).expect("a valid batch");
            error(model.filter(&NoGrad::new(&store), &batch).map(|_| ()))
        },
    ),
    fails("WaveNet::new(config)", "a dilation of 0", "Config", &["WaveNet", "dilation 1 is 0"], || {
        error(wavenet(LEVELS, |c| c.dilations = vec![1, 0]).map(|_| ()))
    }),
    fails("WaveNet::new(config)", "no blocks", "Config", &["WaveNet", "no blocks"], || {
        error(wavenet(LEVELS, |c| c.dilations.clear()).map(|_| ()))
    }),
    fails(
        "WaveNet::new(config)",
        "a categorical output of 1 level",
        "Config",
        &["WaveNet", "2 or more levels", "got 1"],
        || error(wavenet(WaveNetOutput::Categorical { levels: 1 }, |_| ()).map(|_| ())),
    ),
    fails("WaveNet::inputs(x, batch)", "batch = 0", "Config", &["WaveNet::inputs", "batch of 0"], || {
        error(wavenet(LEVELS, |_| ()).and_then(|w| w.inputs(&Array2::zeros((4, 1)), 0)))
    }),
    fails(
        "WaveNet::inputs(x, batch)",
        "5 rows for a batch of 2",
        "Config",
        &["WaveNet::inputs", "5 rows"],
        || error(wavenet(LEVELS, |_| ()).and_then(|w| w.inputs(&Array2::zeros((5, 1)), 2))),
    ),
    fails(
        "WaveNet::inputs(x, batch)",
        "class 7 of 4 levels",
        "Dist::OutOfRange",
        &["integers 0..categories", "7"],
        || error(wavenet(LEVELS, |_| ()).and_then(|w| w.inputs(&array![[0.0], [7.0]], 1))),
    ),
    fails("WaveNet::inputs(x, batch)", "a Bernoulli entry of 0.5", "Config", &["0/1 entries", "0.5"], || {
        error(wavenet(WaveNetOutput::Bernoulli { dim: 1 }, |_| ()).and_then(|w| w.inputs(&array![[0.5]], 1)))
    }),
    fails("LatentOde::new(config)", "obs_std = 0", "Config", &["LatentOde", "obs_std", "0"], || {
        let config = LatentOdeConfig { obs_std: 0.0, ..LatentOdeConfig::new(1) };
        error(LatentOde::new(&mut ParamStore::new(), "lode", config, &mut rng()).map(|_| ()))
    }),
    fails(
        "LatentOde::encode(s, batch)",
        "a batch of 2 features for a model of 1",
        "Config",
        &["expects 1"],
        || {
            let mut store = ParamStore::new();
            let model = LatentOde::new(&mut store, "lode", LatentOdeConfig::new(1), &mut rng())
                .expect("a valid model");
            error(model.encode(&NoGrad::new(&store), &irregular(2)).map(|_| ()))
        },
    ),
    fails(
        "GruOdeBayes::new(config)",
        "hidden width 0",
        "Config",
        &["GruOdeBayes", "widths must be positive"],
        || {
            let config = GruOdeBayesConfig { hidden: 0, ..GruOdeBayesConfig::new(1) };
            error(GruOdeBayes::new(&mut ParamStore::new(), "gob", config, &mut rng()).map(|_| ()))
        },
    ),
    fails(
        "OdeRnn::run(s, batch)",
        "a batch of 2 features for a model of 1",
        "Config",
        &["OdeRnn", "expects 1 features, got 2"],
        || {
            let mut store = ParamStore::new();
            let model =
                OdeRnn::new(&mut store, "odernn", OdeRnnConfig::new(1), &mut rng()).expect("a valid model");
            error(model.run(&NoGrad::new(&store), &irregular(2)).map(|_| ()))
        },
    ),
    fails("OdeRnn::run(s, batch)", "observations before t0", "Config", &["OdeRnn", "before t0"], || {
        let mut store = ParamStore::new();
        let config = OdeRnnConfig { t0: 0.75, ..OdeRnnConfig::new(1) };
        let model = OdeRnn::new(&mut store, "odernn", config, &mut rng()).expect("a valid model");
        error(model.run(&NoGrad::new(&store), &irregular(1)).map(|_| ()))
    }),
    fails(
        "SequenceModel::elbo (Vrnn)",
        "a batch of 3 features for a model of 2",
        "Config",
        &["expects 2 features per step, got 3"],
        || {
            let mut store = ParamStore::new();
            let model =
                Vrnn::new(&mut store, "vrnn", VrnnConfig::new(2, 4, 2), &mut rng()).expect("a valid model");
            error(model.elbo(&NoGrad::new(&store), &steps(3), &mut rng()).map(|_| ()))
        },
    ),
    fails(
        "SequenceModel::elbo (Srnn)",
        "a batch of 3 features for a model of 2",
        "Config",
        &["expects 2 features per step, got 3"],
        || {
            let mut store = ParamStore::new();
            let model = Srnn::new(&mut store, "srnn", SrnnConfig::new(2, 4, 2, 4), &mut rng())
                .expect("a valid model");
            error(model.elbo(&NoGrad::new(&store), &steps(3), &mut rng()).map(|_| ()))
        },
    ),
];
