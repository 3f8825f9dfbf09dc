//! A seeded sweep over random array configurations (rows, cols, count,
//! precision, and the mapping's segment, policy and `max_active`) with the
//! small synthetic models: every configuration that holds its model is
//! generated and co-simulated bit-exactly at every width with Verilator;
//! every one that does not is refused with exit-2 advice on what would fit.
//! Every layer's energy at every width computed from the RTL's event
//! counters equals the analytic energy of `capim report`. Four tests of two
//! co-simulated configurations each, so they run side by side.

use capim::cost::tech::Tech;
use capim::cost::tradeoff::TradeOff;
use capim::emit::{self, OutDir};
use capim::hw::{ArrayConfig, Policy, SubArray};
use capim::model::Model;
use capim::verify::{self, Options};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The next random configuration and model from `rng`.
fn draw(rng: &mut ChaCha8Rng) -> (ArrayConfig, Model) {
    let precision = if rng.random_bool(0.5) { 8 } else { 16 };
    let cols = 1u32 << rng.random_range(4..=8); // 16 ..= 256
    let sa = SubArray {
        rows: rng.random_range(16..=640),
        cols,
        count: rng.random_range(1..=12),
    };
    let preset = if precision == 8 && rng.random_bool(0.3) {
        "tinynet"
    } else {
        "skeleton"
    };
    let seed = rng.random_range(1..1000);
    let count = sa.count;
    let mut cfg = ArrayConfig::new(precision, sa).expect("drawn within the limits");
    cfg.mapping.segment = 1 << rng.random_range(1..=cols.min(16).trailing_zeros());
    cfg.mapping.policy = if rng.random_bool(0.5) {
        Policy::Latency
    } else {
        Policy::Energy
    };
    if rng.random_bool(0.4) {
        cfg.mapping.max_active = Some(rng.random_range(1..=count));
    }
    cfg.validate().expect("mapping drawn within the limits");
    let model = capim::model::synth::synth(preset, precision, seed).unwrap();
    (cfg, model)
}

/// Draws configurations from `seed` until `fits` of them hold their model;
/// each is verified, each refusal must say what would fit.
fn sweep(seed: u64, fits: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut ok, mut refused) = (0, 0);
    while ok < fits {
        let (cfg, model) = draw(&mut rng);
        let what = format!(
            "{} on {} x {}x{} at {} bits, {:?} (sweep seed {seed})",
            model.name,
            cfg.subarray.count,
            cfg.subarray.rows,
            cfg.subarray.cols,
            cfg.precision,
            cfg.mapping
        );
        let g = match emit::generate(&cfg, &model) {
            Ok(g) => g,
            Err(e) => {
                let m = e.to_string();
                assert_eq!(e.exit_code(), 2, "{what}: {m}");
                assert!(
                    m.contains("at least") && m.contains("subarray."),
                    "{what}: the refusal does not say what would fit: {m}"
                );
                refused += 1;
                assert!(refused < 200, "{what}: too few configurations fit");
                continue;
            }
        };
        let t = tempfile::tempdir().unwrap();
        let out = OutDir::write(&g, &t.path().join("rtl")).unwrap();
        let d = out.load().unwrap();
        let opts = Options {
            images: 1,
            ..Options::default()
        };
        let rep = verify::verify(&d, &opts).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(rep.widths.len(), model.widths.len(), "{what}");
        assert!(rep.outputs_compared > 0, "{what}");
        // The energy of every layer at every width computed from the RTL's
        // event counters equals the report's analytic energy.
        let t = TradeOff::new(&d.layout, &d.model, &Tech::builtin());
        for w in &rep.widths {
            let analytic = &t.widths[w.index].layers;
            assert_eq!(w.layers.len(), analytic.len(), "{what}");
            for (seen, want) in w.layers.iter().zip(analytic) {
                assert_eq!(seen.layer, want.name);
                assert_eq!(
                    seen.counts, want.counts,
                    "{what}: {} at width {}",
                    want.name, w.width
                );
                assert_eq!(
                    seen.energy_j, want.energy_j,
                    "{what}: energy of {} at width {} from the RTL's counts",
                    want.name, w.width
                );
            }
        }
        ok += 1;
    }
}

#[test]
fn random_configurations_a() {
    sweep(11, 2);
}

#[test]
fn random_configurations_b() {
    sweep(22, 2);
}

#[test]
fn random_configurations_c() {
    sweep(33, 2);
}

#[test]
fn random_configurations_d() {
    sweep(44, 2);
}
