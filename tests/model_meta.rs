//! The trained-model keys of the model format: `preprocess` (the input
//! table) and `evaluation` (the measured accuracy) round-trip, are validated
//! with messages naming the key, and `capim classify` / `capim verify` use
//! them; the class rule (largest logit, lowest index on a tie).

use capim::model::Model;
use capim::model::classify::argmax;
use capim::model::{Evaluation, Preprocess};
use std::path::Path;
use std::process::{Command, Output};

fn capim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_capim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// tinynet-i8 (3x8x8 signed input) with a table `p -> p/2 - 64` per channel,
/// the raw image 3x6x6 padded by one pixel of `-3` on every side.
fn trained_tinynet() -> Model {
    let mut m = Model::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/tinynet-i8.json"
    )))
    .unwrap();
    m.preprocess = Some(Preprocess {
        raw: [3, 6, 6],
        pad: [1, 1, 1, 1],
        pad_value: -3,
        formula: "p / 2 - 64 (test)".into(),
        mean: vec![0.5; 3],
        std: vec![0.25; 3],
        scale: vec![1.0; 3],
        table: (0..3)
            .map(|_| (0..256).map(|p| p / 2 - 64).collect())
            .collect(),
    });
    m.evaluation = Some(Evaluation {
        dataset: "test".into(),
        images: 10,
        accuracy: vec![0.1, 0.2, 0.3, 0.4],
        float_accuracy: vec![0.1, 0.2, 0.3, 0.5],
    });
    m
}

#[test]
fn preprocess_applies_the_table_and_the_padding() {
    let m = trained_tinynet();
    let pre = m.preprocess.as_ref().unwrap();
    let raw: Vec<u8> = (0..3 * 36).map(|i| (i * 7 % 256) as u8).collect();
    let t = pre.apply(&raw);
    assert_eq!((t.c, t.h, t.w), (3, 8, 8));
    for c in 0..3 {
        for y in 0..8 {
            for x in 0..8 {
                let want = if (1..7).contains(&y) && (1..7).contains(&x) {
                    raw[(c * 6 + y - 1) * 6 + x - 1] as i64 / 2 - 64
                } else {
                    -3
                };
                assert_eq!(t.at(c, y, x), want, "({c},{y},{x})");
            }
        }
    }
}

#[test]
fn trained_keys_round_trip_and_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let m = trained_tinynet();
    let p = dir.path().join("t.json");
    m.save(&p).unwrap();
    let back = Model::load(&p).unwrap();
    assert_eq!(back.preprocess, m.preprocess);
    assert_eq!(back.evaluation, m.evaluation);
    let json = std::fs::read_to_string(&p).unwrap();
    // each table row is one line of the file
    assert!(
        json.lines()
            .any(|l| l.trim_start().starts_with("[-64, -64, -63,"))
    );

    let bad = |edit: &dyn Fn(&mut Model), needle: &str| {
        let mut b = m.clone();
        edit(&mut b);
        let e = b.save(&dir.path().join("b.json")).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let msg = e.to_string();
        assert!(msg.contains(needle), "`{needle}` not in: {msg}");
        assert!(!dir.path().join("b.json").exists());
    };
    bad(
        &|b| b.preprocess.as_mut().unwrap().table[1][5] = 128,
        "preprocess.table[1][5]",
    );
    bad(
        &|b| {
            b.preprocess.as_mut().unwrap().table[2].pop();
        },
        "preprocess.table[2]",
    );
    bad(
        &|b| b.preprocess.as_mut().unwrap().pad = [0, 0, 1, 1],
        "preprocess.raw",
    );
    bad(
        &|b| b.preprocess.as_mut().unwrap().pad_value = -129,
        "preprocess.pad_value",
    );
    bad(
        &|b| {
            b.preprocess.as_mut().unwrap().mean.pop();
        },
        "preprocess.mean",
    );
    bad(
        &|b| b.evaluation.as_mut().unwrap().accuracy[3] = 1.5,
        "evaluation.accuracy[3]",
    );
    bad(
        &|b| {
            b.evaluation.as_mut().unwrap().float_accuracy.pop();
        },
        "evaluation.float_accuracy",
    );
    bad(
        &|b| b.evaluation.as_mut().unwrap().images = 0,
        "evaluation.images",
    );
    // an unknown key in the file is named
    let text = json.replace("\"pad_value\"", "\"pad_valu\"");
    std::fs::write(dir.path().join("u.json"), text).unwrap();
    std::fs::copy(
        dir.path().join("t.safetensors"),
        dir.path().join("u.safetensors"),
    )
    .unwrap();
    let text_u = std::fs::read_to_string(dir.path().join("u.json"))
        .unwrap()
        .replace("\"t.safetensors\"", "\"u.safetensors\"");
    std::fs::write(dir.path().join("u.json"), text_u).unwrap();
    let e = Model::load(&dir.path().join("u.json")).unwrap_err();
    assert!(e.to_string().contains("pad_valu"), "{e}");
}

#[test]
fn the_class_is_the_largest_logit_the_lowest_index_on_a_tie() {
    assert_eq!(argmax(&[3, 9, 2, 9]), 1);
    assert_eq!(argmax(&[-5, -7]), 0);
    assert_eq!(argmax(&[0, 0, 0]), 0);
    assert_eq!(argmax(&[i64::MIN, i64::MIN + 1]), 1);
}

#[test]
fn real_images_need_a_trained_model() {
    let dir = tempfile::tempdir().unwrap();
    // a synthetic model has no table: asking for real images is an error
    let o = capim(&[
        "verify",
        "--config",
        "configs/small.toml",
        "--model",
        "models/tinynet-i8.json",
        "--test-images",
        "2",
        "--out",
        dir.path().join("v").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--test-images"), "{}", text(&o));
    assert!(!dir.path().join("v").exists(), "generated before the check");
    // classify refuses images whose size differs from the table's raw input
    let m = trained_tinynet();
    let p = dir.path().join("t.json");
    m.save(&p).unwrap();
    let imgs = dir.path().join("imgs");
    let mut b = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28];
    b.extend(std::iter::repeat_n(7u8, 2 * 28 * 28));
    std::fs::write(&imgs, b).unwrap();
    let o = capim(&[
        "classify",
        "--model",
        p.to_str().unwrap(),
        "--images",
        imgs.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("preprocess.raw"), "{}", text(&o));
}
