//! The shipped default models are exactly what `capim model synth` makes,
//! and models survive save/load unchanged.

use capim::model::{BUILTIN_MODELS, Model, builtin_model, default_model, synth::synth};
use std::path::{Path, PathBuf};

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
}

#[test]
fn embedded_models_equal_synth() {
    for (preset, p) in [
        ("skeleton", 8u32),
        ("skeleton", 16),
        ("resnet20", 8),
        ("resnet20", 16),
    ] {
        let name = format!("{preset}-i{p}");
        assert!(BUILTIN_MODELS.contains(&name.as_str()));
        let builtin = builtin_model(&name).unwrap();
        assert_eq!(builtin.path, Path::new(&format!("<built-in {name}>")));
        let mut fresh = synth(preset, p, 1).unwrap();
        assert_eq!(builtin.name, name);
        fresh.path = builtin.path.clone();
        assert_eq!(
            builtin, fresh,
            "models/{name} drifted from `capim model synth`"
        );
        // Byte for byte, too (the files carry no hidden state).
        fresh.path = shipped(&format!("{name}.json"));
        let json = std::fs::read(shipped(&format!("{name}.json"))).unwrap();
        let st = std::fs::read(shipped(&format!("{name}.safetensors"))).unwrap();
        assert!(
            fresh.json_bytes() == json,
            "models/{name}.json differs from synth; regenerate with \
             `capim model synth --preset {preset} --precision {p} --seed 1 --out models/{name}.json`"
        );
        assert!(
            fresh.safetensors_bytes() == st,
            "models/{name}.safetensors differs from synth"
        );
        assert_eq!(builtin.json_bytes(), json);
        // The shipped files load from disk to the same model.
        let mut disk = Model::load(&shipped(&format!("{name}.json"))).unwrap();
        disk.path = builtin.path.clone();
        assert_eq!(disk, builtin);
    }
}

#[test]
fn default_model_is_resnet20() {
    for p in [8u32, 16] {
        let m = default_model(p).unwrap();
        assert_eq!(m, builtin_model(&format!("resnet20-i{p}")).unwrap());
    }
}

#[test]
fn builtin_model_rejects_unknown_names() {
    let e = builtin_model("resnet56-i8").unwrap_err();
    let s = e.to_string();
    assert!(
        s.contains("<built-in models>")
            && s.contains("\"resnet56-i8\"")
            && s.contains("skeleton-i8, skeleton-i16, resnet20-i8, resnet20-i16"),
        "{s}"
    );
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn default_model_rejects_other_precisions() {
    let e = default_model(4).unwrap_err();
    assert!(e.to_string().contains("precision") && e.to_string().contains('4'));
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn save_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    for p in [8u32, 16] {
        let m = synth("skeleton", p, 11).unwrap();
        let path = dir.path().join(format!("rt{p}.json"));
        m.save(&path).unwrap();
        let back = Model::load(&path).unwrap();
        let mut expect = m.clone();
        expect.path = path.clone();
        assert_eq!(back, expect);
        assert_eq!(back.json_bytes(), std::fs::read(&path).unwrap());
        // Saving again gives identical files.
        let first = std::fs::read(dir.path().join(format!("rt{p}.safetensors"))).unwrap();
        back.save(&path).unwrap();
        let second = std::fs::read(dir.path().join(format!("rt{p}.safetensors"))).unwrap();
        assert_eq!(first, second);
        // No temporary files are left behind.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&format!("rt{p}")) || n.starts_with(".tmp"))
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }
}

#[test]
fn save_refuses_invalid_model() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = synth("skeleton", 8, 1).unwrap();
    m.layers[0].mult[0][0] = 1 << 16;
    let path = dir.path().join("bad.json");
    let e = m.save(&path).unwrap_err();
    assert!(e.to_string().contains("conv0.mult[0][0]"), "{e}");
    assert!(!path.exists());
}

#[test]
fn accessors() {
    let m = builtin_model("skeleton-i8").unwrap();
    assert_eq!(m.layer_index("conv2"), Some(2));
    assert_eq!(m.layer_index("nope"), None);
    assert_eq!(m.width_index("0.5").unwrap(), 1);
    assert_eq!(m.width_index("1").unwrap(), 3);
    assert_eq!(m.width_index("1.0").unwrap(), 3);
    let e = m.width_index("0.3").unwrap_err();
    let s = e.to_string();
    assert!(
        s.contains("--width") && s.contains("0.3") && s.contains("0.25, 0.5, 0.75, 1"),
        "{s}"
    );
    assert!(m.width_index("half").is_err());
    assert_eq!(m.in_hw(0), (8, 8));
    assert_eq!(m.out_hw(0), (8, 8));
    assert_eq!(m.out_hw(2), (4, 4));
    assert_eq!(m.in_hw(3), (8, 8));
    assert_eq!(m.out_hw(3), (4, 4));
    assert!(m.tensor_signed("input"));
    assert!(!m.tensor_signed("conv0"));
    assert!(m.tensor_signed("conv3"));
    assert_eq!(m.tensor_shape("conv2"), Some((16, 4, 4)));
    assert_eq!(m.tensor_active("conv2", 1), Some(8));
    assert_eq!(m.tensor_active("input", 0), Some(3));
}
