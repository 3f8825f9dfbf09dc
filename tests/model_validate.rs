//! Validation of model files: every bad input is an `Error::Invalid` naming
//! the file, the field and the value, with exit code 2.

use capim::model::{Layer, Model, Op, Requant, synth::synth};
use serde_json::{Value, json};
use std::path::Path;

const ORIGIN: &str = "models/bad.json";
const WEIGHTS: &str = "models/bad.safetensors";

/// The synthesized skeleton at 8 or 16 bits (computed once per test binary).
fn skeleton(p16: bool) -> &'static Model {
    static M: std::sync::OnceLock<[Model; 2]> = std::sync::OnceLock::new();
    &M.get_or_init(|| {
        let mut ms = [8, 16].map(|p| synth("skeleton", p, 1).unwrap());
        for m in &mut ms {
            m.path = ORIGIN.into();
        }
        ms
    })[p16 as usize]
}

/// The skeleton with a head: `gap` over `conv2` (16x4x4 -> 16x1x1, ReLU)
/// and `fc`, a 1x1 conv 16 -> 10 with raw logits (computed once per test
/// binary, at 8 and 16 bits).
fn headed(p16: bool) -> &'static Model {
    static M: std::sync::OnceLock<[Model; 2]> = std::sync::OnceLock::new();
    &M.get_or_init(|| {
        [false, true].map(|p16| {
            let mut m = skeleton(p16).clone();
            let act = m.layers[2].cout_active.clone();
            m.layers.push(Layer {
                name: "gap".into(),
                op: Op::Gap,
                input: "conv2".into(),
                cin: 16,
                cout: 16,
                kh: 4,
                kw: 4,
                stride: 1,
                pad: 0,
                relu: true,
                cin_active: act.clone(),
                cout_active: act.clone(),
                requant: Some(Requant {
                    shift: vec![4, 5, 6, 7],
                    residual: None,
                }),
                weights: Vec::new(),
                bias: (0..4)
                    .map(|w| (0..16).map(|c| c - w * 3).collect())
                    .collect(),
                mult: (0..4).map(|w| vec![w as u32 + 3; 16]).collect(),
            });
            m.layers.push(Layer {
                name: "fc".into(),
                op: Op::Conv,
                input: "gap".into(),
                cin: 16,
                cout: 10,
                kh: 1,
                kw: 1,
                stride: 1,
                pad: 0,
                relu: false,
                cin_active: act,
                cout_active: vec![10; 4],
                requant: None,
                weights: (0..160).map(|i| (i * 37 % 255) - 127).collect(),
                bias: vec![(0..10).collect(); 4],
                mult: vec![vec![1; 10]; 4],
            });
            m.validate().unwrap();
            m
        })
    })[p16 as usize]
}

fn base() -> (Value, Vec<u8>) {
    let m = skeleton(false);
    let json: Value = serde_json::from_slice(&m.json_bytes()).unwrap();
    (json, m.safetensors_bytes())
}

fn load(json: &Value, st: &[u8]) -> capim::Result<Model> {
    Model::from_bytes(&serde_json::to_vec(json).unwrap(), st, Path::new(ORIGIN))
}

/// The error message, after checking it names file, field and value.
#[track_caller]
fn check(r: capim::Result<Model>, file: &str, field: &str, value: &str) -> String {
    let e = match r {
        Ok(_) => panic!("should be rejected: {field}"),
        Err(e) => e,
    };
    let m = e.to_string();
    assert!(m.contains(file), "no file `{file}` in: {m}");
    assert!(
        m.contains(&format!("`{field}`")),
        "no field `{field}` in: {m}"
    );
    assert!(
        m.contains(&format!("= {value}")),
        "no value `{value}` in: {m}"
    );
    assert!(m.contains("expected"), "no expectation in: {m}");
    assert_eq!(e.exit_code(), 2, "{m}");
    m
}

#[test]
fn base_model_loads() {
    let (j, st) = base();
    let m = load(&j, &st).unwrap();
    assert_eq!(m.path, Path::new(ORIGIN));
    assert_eq!(m.layers.len(), 4);
}

#[test]
fn widths_not_increasing() {
    let (mut j, st) = base();
    j["widths"] = json!([0.25, 0.75, 0.5, 1.0]);
    check(load(&j, &st), ORIGIN, "widths[2]", "0.5");
}

#[test]
fn widths_last_not_one() {
    let (mut j, st) = base();
    j["widths"] = json!([0.25, 0.5, 0.75, 0.9]);
    check(load(&j, &st), ORIGIN, "widths[3]", "0.9");
}

#[test]
fn width_out_of_range() {
    let (mut j, st) = base();
    j["widths"] = json!([0.0, 0.5, 0.75, 1.0]);
    check(load(&j, &st), ORIGIN, "widths[0]", "0");
}

#[test]
fn active_not_prefix_monotone() {
    let (mut j, st) = base();
    j["layers"][2]["cout_active"] = json!([4, 12, 8, 16]);
    check(load(&j, &st), ORIGIN, "layers[2].cout_active[2]", "8");
}

#[test]
fn active_not_full_at_last_width() {
    let (mut j, st) = base();
    j["layers"][2]["cout_active"] = json!([4, 8, 12, 12]);
    check(load(&j, &st), ORIGIN, "layers[2].cout_active[3]", "12");
}

#[test]
fn active_zero() {
    let (mut j, st) = base();
    j["layers"][2]["cout_active"] = json!([0, 8, 12, 16]);
    check(load(&j, &st), ORIGIN, "layers[2].cout_active[0]", "0");
}

#[test]
fn active_wrong_length() {
    let (mut j, st) = base();
    j["layers"][1]["cout_active"] = json!([4, 8]);
    check(load(&j, &st), ORIGIN, "layers[1].cout_active", "2 entries");
}

#[test]
fn input_channels_never_shrink() {
    let (mut j, st) = base();
    j["layers"][0]["cin_active"] = json!([1, 2, 3, 3]);
    check(load(&j, &st), ORIGIN, "layers[0].cin_active[0]", "1");
}

#[test]
fn cin_active_must_match_source() {
    let (mut j, st) = base();
    j["layers"][2]["cin_active"] = json!([2, 5, 6, 8]);
    check(load(&j, &st), ORIGIN, "layers[2].cin_active[1]", "5");
}

#[test]
fn cin_must_match_source() {
    let (mut j, st) = base();
    j["layers"][1]["cin"] = json!(4);
    j["layers"][1]["cin_active"] = json!([1, 2, 3, 4]);
    check(load(&j, &st), ORIGIN, "layers[1].cin", "4");
}

#[test]
fn residual_shape_mismatch() {
    let (mut j, st) = base();
    // conv2 (16x4x4) cannot add conv0 (8x8x8).
    j["layers"][2]["requant"]["residual"] = json!({"source": "conv0", "mult": [1, 1, 1, 1]});
    let m = check(
        load(&j, &st),
        ORIGIN,
        "layers[2].requant.residual.source",
        "\"conv0\"",
    );
    assert!(m.contains("8x8x8") && m.contains("16x4x4"), "{m}");
}

#[test]
fn residual_active_mismatch() {
    let (mut j, st) = base();
    // conv3 (16x4x4) adding conv2 (16x4x4) is fine in shape; change conv3's counts.
    j["layers"][3]["requant"]["residual"] = json!({"source": "conv2", "mult": [1, 1, 1, 1]});
    assert!(load(&j, &st).is_ok());
    j["layers"][3]["cout_active"] = json!([4, 8, 16, 16]);
    check(
        load(&j, &st),
        ORIGIN,
        "layers[3].requant.residual.source",
        "\"conv2\" with 12",
    );
}

#[test]
fn residual_mult_out_of_range() {
    let (mut j, st) = base();
    j["layers"][1]["requant"]["residual"]["mult"] = json!([1, 65536, 1, 1]);
    check(
        load(&j, &st),
        ORIGIN,
        "layers[1].requant.residual.mult[1]",
        "65536",
    );
}

#[test]
fn source_must_be_earlier() {
    let (mut j, st) = base();
    j["layers"][1]["input"] = json!("conv2");
    check(load(&j, &st), ORIGIN, "layers[1].input", "\"conv2\"");
}

#[test]
fn duplicate_and_reserved_names() {
    let (mut j, st) = base();
    j["layers"][1]["name"] = json!("conv0");
    check(load(&j, &st), ORIGIN, "layers[1].name", "\"conv0\"");
    let (mut j, st) = base();
    j["layers"][0]["name"] = json!("input");
    check(load(&j, &st), ORIGIN, "layers[0].name", "\"input\"");
}

#[test]
fn shift_out_of_range() {
    let (mut j, st) = base();
    j["layers"][0]["requant"]["shift"] = json!([1, 2, 63, 4]);
    check(load(&j, &st), ORIGIN, "layers[0].requant.shift[2]", "63");
}

#[test]
fn pad_not_below_kernel() {
    let (mut j, st) = base();
    j["layers"][3]["pad"] = json!(1);
    check(load(&j, &st), ORIGIN, "layers[3].pad", "1");
}

#[test]
fn stride_zero() {
    let (mut j, st) = base();
    j["layers"][0]["stride"] = json!(0);
    check(load(&j, &st), ORIGIN, "layers[0].stride", "0");
}

#[test]
fn precision_and_format() {
    let (mut j, st) = base();
    j["precision"] = json!(12);
    check(load(&j, &st), ORIGIN, "precision", "12");
    let (mut j, st) = base();
    j["format"] = json!("capim-cadnn/0");
    check(load(&j, &st), ORIGIN, "format", "\"capim-cadnn/0\"");
}

#[test]
fn unknown_json_key() {
    let (mut j, st) = base();
    j["layers"][1]["dilation"] = json!(2);
    let m = check(
        load(&j, &st),
        ORIGIN,
        "layers[1].dilation",
        "unknown key \"dilation\"",
    );
    assert!(m.contains("cout_active"), "should list the known keys: {m}");
    let (mut j, st) = base();
    j["layers"][1]["requant"]["extra"] = json!(true);
    check(
        load(&j, &st),
        ORIGIN,
        "layers[1].requant.extra",
        "unknown key \"extra\"",
    );
}

#[test]
fn missing_json_key() {
    let (mut j, st) = base();
    j["layers"][2].as_object_mut().unwrap().remove("stride");
    check(load(&j, &st), ORIGIN, "layers[2].stride", "(missing)");
}

#[test]
fn wrong_json_type() {
    let (mut j, st) = base();
    j["layers"][2]["cout"] = json!("sixteen");
    check(
        load(&j, &st),
        ORIGIN,
        "layers[2].cout",
        "string \"sixteen\"",
    );
    let (mut j, st) = base();
    j["layers"][2]["cout_active"][1] = json!(-3);
    check(
        load(&j, &st),
        ORIGIN,
        "layers[2].cout_active[1]",
        "integer `-3`",
    );
    let (mut j, st) = base();
    j["layers"][2]["op"] = json!("pool");
    check(load(&j, &st), ORIGIN, "layers[2].op", "\"pool\"");
    let (mut j, st) = base();
    j["layers"][2]["requant"] = json!("raw");
    check(load(&j, &st), ORIGIN, "layers[2].requant", "string \"raw\"");
}

#[test]
fn json_syntax_error() {
    let (_, st) = base();
    let r = Model::from_bytes(
        b"{\"format\": \"capim-cadnn/1\",\n \"name\": }",
        &st,
        Path::new(ORIGIN),
    );
    check(r, ORIGIN, "name", "line 2, column");
}

#[test]
fn requant_none_output() {
    let (mut j, st) = base();
    j["layers"][3]["requant"] = json!("none");
    // Raw outputs are logits: the class count never shrinks.
    check(load(&j, &st), ORIGIN, "layers[3].cout_active[0]", "4");
    j["layers"][3]["cout_active"] = json!([16, 16, 16, 16]);
    let m = load(&j, &st).unwrap();
    assert!(m.layers[3].requant.is_none());
    // Raw accumulators are not N-bit: nothing may read them.
    j["layers"][2]["input"] = json!("conv3");
    // (conv2 comes before conv3, so this is "not earlier" first.)
    check(load(&j, &st), ORIGIN, "layers[2].input", "\"conv3\"");
    // ReLU on a raw output is contradictory.
    let (mut j, st) = base();
    j["layers"][2]["requant"] = json!("none");
    check(load(&j, &st), ORIGIN, "layers[2].relu", "true");
}

// ---- global average pool and raw logits ----

/// The headed skeleton's JSON and weights; `gap` is layers[4], `fc` layers[5].
fn head_base() -> (Value, Vec<u8>) {
    let m = headed(false);
    let json: Value = serde_json::from_slice(&m.json_bytes()).unwrap();
    (json, m.safetensors_bytes())
}

#[test]
fn gap_json_shape() {
    let (j, st) = head_base();
    // A gap layer has no kernel, stride or pad in the JSON.
    let gap = j["layers"][4].as_object().unwrap();
    assert_eq!(gap["op"], json!("gap"));
    for key in ["kernel", "stride", "pad"] {
        assert!(!gap.contains_key(key), "{key} written for gap");
    }
    let m = load(&j, &st).unwrap();
    let g = &m.layers[4];
    assert_eq!((g.op, g.kh, g.kw, g.stride, g.pad), (Op::Gap, 4, 4, 1, 0));
    assert!(g.weights.is_empty());
    assert_eq!(m.out_hw(4), (1, 1));
    assert_eq!(m.tensor_shape("fc"), Some((10, 1, 1)));
    let mut expect = headed(false).clone();
    expect.path = ORIGIN.into();
    assert_eq!(m, expect);
    // No `gap.weight` in the weights file.
    let names = safetensors::SafeTensors::deserialize(&st)
        .unwrap()
        .names()
        .len();
    assert_eq!(names, 4 * 3 + 2 + 3);
}

#[test]
fn gap_rejects_kernel_stride_pad() {
    for (key, v, shown) in [
        ("kernel", json!([4, 4]), "[4, 4]"),
        ("stride", json!(1), "1"),
        ("pad", json!(0), "0"),
    ] {
        let (mut j, st) = head_base();
        j["layers"][4][key] = v;
        let m = check(load(&j, &st), ORIGIN, &format!("layers[4].{key}"), shown);
        assert!(m.contains("gap"), "{m}");
    }
}

#[test]
fn conv_requires_kernel_stride_pad() {
    for key in ["kernel", "stride", "pad"] {
        let (mut j, st) = head_base();
        j["layers"][5].as_object_mut().unwrap().remove(key);
        check(
            load(&j, &st),
            ORIGIN,
            &format!("layers[5].{key}"),
            "(missing)",
        );
    }
}

#[test]
fn gap_residual_rejected() {
    let (mut j, st) = head_base();
    j["layers"][4]["requant"]["residual"] = json!({"source": "conv2", "mult": [1, 1, 1, 1]});
    let m = check(
        load(&j, &st),
        ORIGIN,
        "layers[4].requant.residual",
        "{\"source\": \"conv2\", ...}",
    );
    assert!(m.contains("no residual"), "{m}");
}

#[test]
fn gap_must_be_requantized() {
    let (mut j, st) = head_base();
    j["layers"][4]["requant"] = json!("none");
    j["layers"][4]["relu"] = json!(false);
    check(load(&j, &st), ORIGIN, "layers[4].requant", "\"none\"");
}

#[test]
fn gap_channel_counts() {
    // cout must equal cin (the source's channels).
    let (mut j, st) = head_base();
    j["layers"][4]["cout"] = json!(8);
    let m = check(load(&j, &st), ORIGIN, "layers[4].cout", "8");
    assert!(m.contains("cin = 16"), "{m}");
    // cin must equal the source's channels (as for conv).
    let (mut j, st) = head_base();
    j["layers"][4]["cin"] = json!(8);
    j["layers"][4]["cout"] = json!(8);
    check(load(&j, &st), ORIGIN, "layers[4].cin", "8");
    // cin_active must follow the source's active counts.
    let (mut j, st) = head_base();
    j["layers"][4]["cin_active"] = json!([8, 8, 12, 16]);
    check(load(&j, &st), ORIGIN, "layers[4].cin_active[0]", "8");
    // cout_active must equal cin_active at every width.
    let (mut j, st) = head_base();
    j["layers"][4]["cout_active"] = json!([4, 6, 12, 16]);
    let m = check(load(&j, &st), ORIGIN, "layers[4].cout_active[1]", "6");
    assert!(m.contains("expected 8"), "{m}");
}

#[test]
fn gap_scalar_mult_per_width() {
    let (j, st) = head_base();
    let mut m: Vec<i32> = (0..4).flat_map(|w| vec![w + 3; 16]).collect();
    m[2 * 16 + 9] = 6;
    let bytes: Vec<u8> = m.iter().flat_map(|x| x.to_le_bytes()).collect();
    let st = retensor(&st, "gap.mult", safetensors::Dtype::I32, vec![4, 16], bytes);
    let msg = check(load(&j, &st), WEIGHTS, "gap.mult[2][9]", "6");
    assert!(
        msg.contains("expected 5") && msg.contains("scalar M"),
        "{msg}"
    );
}

#[test]
fn gap_weight_tensor_rejected() {
    let (j, st) = head_base();
    let st = retensor(
        &st,
        "gap.weight",
        safetensors::Dtype::I8,
        vec![16, 16, 4, 4],
        vec![1; 16 * 16 * 16],
    );
    let m = check(load(&j, &st), WEIGHTS, "gap.weight", "a I8 tensor");
    assert!(m.contains("no weights"), "{m}");
    // In memory, too.
    let mut m = headed(true).clone();
    m.layers[4].weights = vec![0; 16];
    let e = m.validate().unwrap_err();
    assert!(e.to_string().contains("gap.weight"), "{e}");
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn gap_in_memory_kernel_must_be_input_map() {
    let mut m = headed(false).clone();
    m.layers[4].kh = 2;
    let e = m.validate().unwrap_err().to_string();
    assert!(
        e.contains("`layers[4].kernel[0]` = 2") && e.contains("the height of `conv2`: 4"),
        "{e}"
    );
    let mut m = headed(false).clone();
    m.layers[4].stride = 2;
    let e = m.validate().unwrap_err().to_string();
    assert!(e.contains("`layers[4].stride` = 2"), "{e}");
}

#[test]
fn gap_unknown_input() {
    let (mut j, st) = head_base();
    j["layers"][4]["input"] = json!("conv9");
    check(load(&j, &st), ORIGIN, "layers[4].input", "\"conv9\"");
}

#[test]
fn raw_logits_never_shrink() {
    let (mut j, st) = head_base();
    j["layers"][5]["cout_active"] = json!([3, 5, 8, 10]);
    let m = check(load(&j, &st), ORIGIN, "layers[5].cout_active[0]", "3");
    assert!(m.contains("class count never shrinks"), "{m}");
}

#[test]
fn raw_logits_feed_nothing() {
    // As the input of a later layer.
    let (mut j, st) = head_base();
    let mut extra = j["layers"][5].clone();
    extra["name"] = json!("fc2");
    extra["input"] = json!("fc");
    extra["cin"] = json!(10);
    extra["cin_active"] = json!([10, 10, 10, 10]);
    j["layers"].as_array_mut().unwrap().push(extra);
    let m = check(load(&j, &st), ORIGIN, "layers[6].input", "\"fc\"");
    assert!(m.contains("raw accumulator"), "{m}");
    // As a residual source.
    let (mut j, st) = head_base();
    let mut extra = j["layers"][4].clone();
    extra["name"] = json!("gap2");
    extra["requant"]["residual"] = json!({"source": "fc", "mult": [1, 1, 1, 1]});
    j["layers"].as_array_mut().unwrap().push(extra);
    let m = check(
        load(&j, &st),
        ORIGIN,
        "layers[6].requant.residual",
        "{\"source\": \"fc\", ...}",
    );
    assert!(m.contains("no residual"), "{m}");
    let (mut j, st) = head_base();
    let mut extra = j["layers"][3].clone();
    extra["name"] = json!("conv4");
    extra["cout"] = json!(10);
    extra["cout_active"] = json!([10, 10, 10, 10]);
    j["layers"].as_array_mut().unwrap().push(extra);
    j["layers"][6]["requant"]["residual"] = json!({"source": "fc", "mult": [1, 1, 1, 1]});
    let m = check(
        load(&j, &st),
        ORIGIN,
        "layers[6].requant.residual.source",
        "\"fc\"",
    );
    assert!(m.contains("raw accumulator"), "{m}");
}

#[test]
fn resnet20_validates_and_names_gap() {
    let mut m = synth("resnet20", 8, 1).unwrap();
    m.path = ORIGIN.into();
    let gi = m.layer_index("gap").unwrap();
    assert_eq!(m.layers[gi].op, Op::Gap);
    m.layers[gi].mult[0][63] += 1;
    let e = m.validate().unwrap_err().to_string();
    assert!(e.contains("gap.mult[0][63]"), "{e}");
}

// ---- weights file ----

fn retensor(
    st: &[u8],
    name: &str,
    dtype: safetensors::Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
) -> Vec<u8> {
    let t = safetensors::SafeTensors::deserialize(st).unwrap();
    let mut owned: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = t
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    owned.retain(|x| x.0 != name);
    if !data.is_empty() {
        owned.push((name.to_string(), dtype, shape, data));
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = owned
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

#[test]
fn truncated_weights_file() {
    let (j, st) = base();
    let cut = &st[..st.len() - 10];
    let m = check(
        load(&j, cut),
        WEIGHTS,
        "safetensors",
        &format!("{} bytes", cut.len()),
    );
    assert!(m.contains("complete"), "{m}");
    check(load(&j, &st[..5]), WEIGHTS, "safetensors", "5 bytes");
    check(load(&j, b""), WEIGHTS, "safetensors", "0 bytes");
}

#[test]
fn corrupt_weights_header() {
    let (j, mut st) = base();
    st[9] = b'#';
    check(
        load(&j, &st),
        WEIGHTS,
        "safetensors",
        &format!("{} bytes", st.len()),
    );
}

#[test]
fn wrong_weight_dtype() {
    let (j, st) = base();
    let st = retensor(
        &st,
        "conv1.weight",
        safetensors::Dtype::I16,
        vec![8, 8, 3, 3],
        vec![0; 8 * 8 * 9 * 2],
    );
    check(load(&j, &st), WEIGHTS, "conv1.weight", "dtype I16");
}

#[test]
fn wrong_weight_shape() {
    let (j, st) = base();
    let st = retensor(
        &st,
        "conv1.weight",
        safetensors::Dtype::I8,
        vec![8, 8, 9],
        vec![0; 8 * 8 * 9],
    );
    let m = check(load(&j, &st), WEIGHTS, "conv1.weight", "shape [8, 8, 9]");
    assert!(m.contains("[8, 8, 3, 3]"), "{m}");
}

#[test]
fn missing_tensor() {
    let (j, st) = base();
    let st = retensor(&st, "conv2.bias", safetensors::Dtype::I64, vec![], vec![]);
    check(load(&j, &st), WEIGHTS, "conv2.bias", "(missing)");
}

#[test]
fn unexpected_tensor() {
    let (j, st) = base();
    let st = retensor(
        &st,
        "conv9.weight",
        safetensors::Dtype::I8,
        vec![1],
        vec![0],
    );
    check(
        load(&j, &st),
        WEIGHTS,
        "conv9.weight",
        "(unexpected tensor)",
    );
}

#[test]
fn mult_out_of_range() {
    let (j, st) = base();
    let mut m: Vec<i32> = vec![100; 4 * 16];
    m[16 + 3] = 70000;
    let bytes: Vec<u8> = m.iter().flat_map(|x| x.to_le_bytes()).collect();
    let st2 = retensor(
        &st,
        "conv2.mult",
        safetensors::Dtype::I32,
        vec![4, 16],
        bytes,
    );
    check(load(&j, &st2), WEIGHTS, "conv2.mult[1][3]", "70000");
    m[16 + 3] = -1;
    let bytes: Vec<u8> = m.iter().flat_map(|x| x.to_le_bytes()).collect();
    let st2 = retensor(
        &st,
        "conv2.mult",
        safetensors::Dtype::I32,
        vec![4, 16],
        bytes,
    );
    check(load(&j, &st2), WEIGHTS, "conv2.mult[1][3]", "-1");
}

#[test]
fn bias_overflows_accumulator() {
    let (j, st) = base();
    let mut b: Vec<i64> = vec![0; 4 * 8];
    b[2 * 8 + 5] = (1 << 47) - 1000;
    let bytes: Vec<u8> = b.iter().flat_map(|x| x.to_le_bytes()).collect();
    let st = retensor(
        &st,
        "conv1.bias",
        safetensors::Dtype::I64,
        vec![4, 8],
        bytes,
    );
    check(
        load(&j, &st),
        WEIGHTS,
        "conv1.bias[2][5]",
        &((1i64 << 47) - 1000).to_string(),
    );
}

#[test]
fn in_memory_validate() {
    let mut m = synth("skeleton", 16, 1).unwrap();
    assert!(m.validate().is_ok());
    m.layers[0].weights[4] = 40000;
    let e = m.validate().unwrap_err().to_string();
    assert!(e.contains("conv0.weight[4]") && e.contains("40000"), "{e}");
    let mut m = synth("skeleton", 8, 1).unwrap();
    m.layers[1].mult[0].pop();
    let e = m.validate().unwrap_err().to_string();
    assert!(e.contains("conv1.mult[0]"), "{e}");
}

#[test]
fn load_from_disk_names_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.json");
    let m = synth("skeleton", 8, 3).unwrap();
    m.save(&p).unwrap();
    let back = Model::load(&p).unwrap();
    assert_eq!(back.layers, m.layers);
    assert_eq!(back.path, p);
    // Truncate the weights file on disk.
    let wp = dir.path().join("m.safetensors");
    let bytes = std::fs::read(&wp).unwrap();
    std::fs::write(&wp, &bytes[..bytes.len() / 2]).unwrap();
    let e = Model::load(&p).unwrap_err().to_string();
    assert!(
        e.contains("m.safetensors") && e.contains("safetensors"),
        "{e}"
    );
    // A missing weights file is an I/O error naming it.
    std::fs::remove_file(&wp).unwrap();
    let e = Model::load(&p).unwrap_err();
    assert!(e.to_string().contains("m.safetensors"), "{e}");
    assert_eq!(e.exit_code(), 2);
}

// ---- never panic on user input ----

/// Every numeric leaf of a JSON value, as a path of keys/indices.
fn numeric_leaves(v: &Value, path: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    match v {
        Value::Number(_) => out.push(path.clone()),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                path.push(json!(i));
                numeric_leaves(x, path, out);
                path.pop();
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                path.push(json!(k));
                numeric_leaves(x, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn leaf_mut<'a>(v: &'a mut Value, path: &[Value]) -> &'a mut Value {
    path.iter().fold(v, |v, k| match k {
        Value::String(s) => &mut v[s.as_str()],
        Value::Number(n) => &mut v[n.as_u64().unwrap() as usize],
        _ => unreachable!(),
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 300, ..Default::default() })]

    /// Any number in the JSON changed to an edge value: either a clean
    /// error (exit 2) or a model the reference runs on at every width.
    #[test]
    fn mutated_numbers_never_panic(which in 0usize..1000, pick in 0usize..10, p16 in proptest::bool::ANY, head in proptest::bool::ANY) {
        let m = if head { headed(p16) } else { skeleton(p16) };
        let mut j: Value = serde_json::from_slice(&m.json_bytes()).unwrap();
        let st = m.safetensors_bytes();
        let mut leaves = Vec::new();
        numeric_leaves(&j, &mut Vec::new(), &mut leaves);
        let path = &leaves[which % leaves.len()];
        let values = [json!(0), json!(1), json!(2), json!(3), json!(7), json!(16), json!(63),
                      json!(65536), json!(u64::MAX), json!(-1)];
        *leaf_mut(&mut j, path) = values[pick].clone();
        match load(&j, &st) {
            Err(e) => proptest::prop_assert_eq!(e.exit_code(), 2),
            // (Huge but valid inputs are only loaded, not run, to keep this fast.)
            Ok(model) if model.input.channels * model.input.height * model.input.width <= 4096 => {
                let c = model.input.channels;
                let (h, w) = (model.input.height, model.input.width);
                let x = capim::model::Tensor::new(c, h, w, vec![-1; c * h * w]);
                for wi in 0..model.widths.len() {
                    capim::model::reference::run_all(&model, wi, &x);
                }
            }
            Ok(_) => {}
        }
    }

    /// Flipped, dropped or truncated bytes in either file: never a panic.
    #[test]
    fn corrupted_bytes_never_panic(at in 0usize..100_000, byte in 0u8..=255, cut in proptest::bool::ANY, in_json in proptest::bool::ANY, head in proptest::bool::ANY) {
        let m = if head { headed(false) } else { skeleton(false) };
        let mut js = m.json_bytes();
        let mut st = m.safetensors_bytes();
        let target = if in_json { &mut js } else { &mut st };
        let i = at % target.len();
        if cut { target.truncate(i) } else { target[i] = byte }
        if let Err(e) = Model::from_bytes(&js, &st, Path::new(ORIGIN)) {
            proptest::prop_assert_eq!(e.exit_code(), 2);
        }
    }
}
