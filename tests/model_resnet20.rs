//! The ResNet-20-shaped CA-DNN (`--preset resnet20`, shipped as
//! `models/resnet20-i{8,16}`): its shape, and every layer's outputs spread
//! over their range at every width and precision (calibration per width).

use capim::model::reference::{out_range, run_all};
use capim::model::{INPUT, Model, Op, Tensor, builtin_model};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn model(p: u32) -> Model {
    builtin_model(&format!("resnet20-i{p}")).unwrap()
}

/// A seeded input uniform over the input range.
fn input(m: &Model, seed: u64) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (lo, hi) = out_range(m.precision, !m.input.signed);
    let (c, h, w) = (m.input.channels, m.input.height, m.input.width);
    Tensor {
        c,
        h,
        w,
        data: (0..c * h * w).map(|_| rng.random_range(lo..=hi)).collect(),
    }
}

#[test]
fn shape() {
    for p in [8u32, 16] {
        let m = model(p);
        assert_eq!(m.precision, p);
        assert_eq!(m.widths, vec![0.25, 0.5, 0.75, 1.0]);
        assert_eq!(
            (
                m.input.channels,
                m.input.height,
                m.input.width,
                m.input.signed
            ),
            (3, 32, 32, true)
        );
        let names: Vec<&str> = m.layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "stem", "s1b1c1", "s1b1c2", "s1b2c1", "s1b2c2", "s1b3c1", "s1b3c2", "s2b1c1",
                "s2b1sc", "s2b1c2", "s2b2c1", "s2b2c2", "s2b3c1", "s2b3c2", "s3b1c1", "s3b1sc",
                "s3b1c2", "s3b2c1", "s3b2c2", "s3b3c1", "s3b3c2", "gap", "fc",
            ]
        );
        let stem = &m.layers[0];
        assert_eq!(stem.cin_active, vec![3; 4], "the input never shrinks");
        assert_eq!(stem.cout_active, vec![4, 8, 12, 16]);
        for (li, l) in m.layers.iter().enumerate() {
            let (ho, wo) = m.out_hw(li);
            match l.name.as_str() {
                "gap" => {
                    assert_eq!(l.op, Op::Gap);
                    assert_eq!((l.cin, l.cout, l.kh, l.kw), (64, 64, 8, 8));
                    assert_eq!((ho, wo), (1, 1));
                    assert!(l.relu && l.weights.is_empty());
                    assert_eq!(l.cout_active, vec![16, 32, 48, 64]);
                    for row in &l.mult {
                        assert!(row.iter().all(|&x| x == row[0]), "scalar M");
                    }
                }
                "fc" => {
                    assert_eq!(l.op, Op::Conv);
                    assert_eq!((l.cin, l.cout, l.kh, l.kw), (64, 10, 1, 1));
                    assert_eq!((ho, wo), (1, 1));
                    assert!(l.requant.is_none() && !l.relu);
                    assert_eq!(l.cin_active, vec![16, 32, 48, 64]);
                    assert_eq!(l.cout_active, vec![10; 4], "10 classes at every width");
                }
                name => {
                    assert_eq!(l.op, Op::Conv);
                    let stage = match name {
                        "stem" => 1,
                        _ => (name.as_bytes()[1] - b'0') as usize,
                    };
                    let c = 16 << (stage - 1);
                    assert_eq!(l.cout, c, "{name}");
                    assert_eq!(
                        l.cout_active,
                        [1, 2, 3, 4].map(|k| k * c / 4).to_vec(),
                        "{name}"
                    );
                    assert_eq!((ho, wo), (32 >> (stage - 1), 32 >> (stage - 1)), "{name}");
                    let shortcut = name.ends_with("sc");
                    assert_eq!(l.kh, if shortcut { 1 } else { 3 }, "{name}");
                    assert_eq!(l.relu, !shortcut, "{name}");
                    let down = name.ends_with("b1c1") && stage > 1 || shortcut;
                    assert_eq!(l.stride, if down { 2 } else { 1 }, "{name}");
                }
            }
        }
        // Residuals: identity (the block input) or the block's shortcut,
        // always an earlier tensor.
        let residual = |name: &str| {
            let l = &m.layers[m.layer_index(name).unwrap()];
            l.requant
                .as_ref()
                .unwrap()
                .residual
                .as_ref()
                .unwrap()
                .source
                .clone()
        };
        assert_eq!(residual("s1b1c2"), "stem");
        assert_eq!(residual("s1b2c2"), "s1b1c2");
        assert_eq!(residual("s2b1c2"), "s2b1sc");
        assert_eq!(residual("s2b2c2"), "s2b1c2");
        assert_eq!(residual("s3b1c2"), "s3b1sc");
        assert_eq!(residual("s3b3c2"), "s3b2c2");
        assert_eq!(
            m.layers
                .iter()
                .filter(|l| l.requant.as_ref().is_some_and(|r| r.residual.is_some()))
                .count(),
            9
        );
        assert!(m.layer_index("s2b1sc") < m.layer_index("s2b1c2"));
        assert_eq!(m.layers[m.layer_index("s2b1sc").unwrap()].input, "s1b3c2");
    }
}

/// Every layer at every width and precision, on a few seeded inputs: the
/// requantized outputs are not piled up at a clamp bound and take many
/// values; the logits differ between classes and between inputs.
#[test]
fn outputs_are_not_degenerate() {
    for p in [8u32, 16] {
        let m = model(p);
        for wi in 0..m.widths.len() {
            let mut logits = Vec::new();
            for seed in 0..3 {
                let all = run_all(&m, wi, &input(&m, seed));
                assert_eq!(all.len(), m.layers.len() + 1);
                assert!(all.contains_key(INPUT));
                for (li, l) in m.layers.iter().enumerate() {
                    let t = &all[&l.name];
                    let (ho, wo) = m.out_hw(li);
                    assert_eq!((t.c, t.h, t.w), (l.cout_active[wi], ho, wo));
                    let at = format!("p{p} width {} seed {seed} {}", m.widths[wi], l.name);
                    let mut distinct = t.data.to_vec();
                    distinct.sort_unstable();
                    distinct.dedup();
                    let n = t.data.len() as f64;
                    if l.requant.is_none() {
                        assert_eq!(
                            distinct.len(),
                            t.data.len(),
                            "{at}: equal logits {:?}",
                            t.data
                        );
                        logits.push(t.data.to_vec());
                        continue;
                    }
                    let (lo, hi) = out_range(p, l.relu);
                    for bound in [lo, hi] {
                        let share = t.data.iter().filter(|&v| v == bound).count() as f64 / n;
                        assert!(share < 0.5, "{at}: {share:.2} of the outputs at {bound}");
                    }
                    // (At 8 bits a large map has at most 256 distinct values.)
                    let want = (n / 4.0).min((hi - lo) as f64 / 8.0);
                    assert!(
                        distinct.len() as f64 > want,
                        "{at}: only {} distinct values of {n}",
                        distinct.len()
                    );
                }
            }
            logits.dedup();
            assert_eq!(
                logits.len(),
                3,
                "p{p} width {}: same logits for different inputs",
                m.widths[wi]
            );
        }
    }
}
