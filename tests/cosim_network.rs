//! Whole-network co-simulation on the shipped `tinynet` models (stem,
//! identity and 1x1-shortcut residual blocks, global average pool, raw
//! logits): bit-exact at every width in 8 and 16 bit, width switching
//! without weight reload, and planted faults in the residual, pooling and
//! raw-output paths caught.

use capim::model::{Model, synth::synth};
use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{capim, edit, text};

fn model(p: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("models/tinynet-i{p}.json"))
}

/// 16-bit needs twice the rows per weight and scratch plane: 512 rows.
fn gen_into(dir: &Path, p: u32) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let cfg = dir.join("array.toml");
    let rows = if p == 16 { 512 } else { 256 };
    std::fs::write(
        &cfg,
        format!("precision = {p}\n[subarray]\nrows = {rows}\ncols = 64\ncount = 8\n"),
    )
    .unwrap();
    let out = dir.join("rtl");
    let o = capim(&[
        "gen",
        "--config",
        cfg.to_str().unwrap(),
        "--model",
        model(p).to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    out
}

fn verify_from(dir: &Path) -> Output {
    capim(&["verify", "--from", dir.to_str().unwrap(), "--images", "1"])
}

#[test]
fn shipped_tinynet_models_equal_the_generator() {
    for p in [8, 16] {
        let shipped = Model::load(&model(p)).unwrap();
        let fresh = synth("tinynet", p, 1).unwrap();
        assert_eq!(shipped.safetensors_bytes(), fresh.safetensors_bytes());
        assert_eq!(shipped.layers, fresh.layers);
    }
}

#[test]
fn tinynet_is_bit_exact_end_to_end_in_8_and_16_bit() {
    let tmp = tempfile::tempdir().unwrap();
    for p in [8u32, 16] {
        let dir = gen_into(&tmp.path().join(p.to_string()), p);
        let o = verify_from(&dir);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(0), "{t}");
        assert!(t.contains("1 -> 0.25 -> 0.75 -> 0.5 -> 1"), "{t}");
        assert!(t.contains("gap") && t.contains("fc"), "{t}");
    }
}

#[track_caller]
fn caught(dir: &Path, layer: &str) {
    let o = verify_from(dir);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains(&format!("layer `{layer}`")), "{t}");
}

#[test]
fn a_residual_taken_as_unsigned_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = gen_into(tmp.path(), 8);
    // b2c2 adds the signed 1x1 shortcut b2sc: sign-extend from the wrong bit.
    edit(
        &dir,
        "capim_requant.v",
        "{ {(PW-N){res_signed & res[N-1]}}, res}",
        "{ {(PW-N){res_signed & res[0]}}, res}",
    );
    caught(&dir, "b2c2");
}

#[test]
fn a_pooling_sum_missing_its_last_element_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = gen_into(tmp.path(), 8);
    edit(
        &dir,
        "capim_conv_engine.v",
        "if (pix + A_ONE == d_in_hw) state <= S_GAP_LAST;",
        "if (pix + A_ONE + A_ONE == d_in_hw) state <= S_GAP_LAST;",
    );
    caught(&dir, "gap");
}

#[test]
fn raw_logits_without_bias_are_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = gen_into(tmp.path(), 8);
    edit(
        &dir,
        "capim_conv_engine.v",
        "wire [ACC_W-1:0] raw_val = sh_data + q_data[63:16];",
        "wire [ACC_W-1:0] raw_val = sh_data;",
    );
    caught(&dir, "fc");
}

#[test]
fn dump_layer_writes_the_rtl_output_and_trace_writes_a_waveform() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = gen_into(tmp.path(), 8);
    let wave = tmp.path().join("all.fst");
    let o = capim(&[
        "verify",
        "--from",
        dir.to_str().unwrap(),
        "--images",
        "1",
        "--widths",
        "0.5",
        "--dump-layer",
        "b2c2",
        "--trace",
        wave.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(std::fs::metadata(&wave).unwrap().len() > 1000);
    // The dump is what the RTL computed for the first image: the reference.
    let m = Model::load(&model(8)).unwrap();
    let wi = m.width_index("0.5").unwrap();
    let stim = &capim::verify::stimuli(&m, 1, 1)[0];
    let want = &capim::model::reference::run_all(&m, wi, &stim.input)["b2c2"];
    let got = capim::model::npy::read(&dir.join("dump/b2c2-w0.5.npy")).unwrap();
    assert_eq!(got.shape, vec![want.c, want.h, want.w]);
    assert_eq!(got.data, want.data);
}
