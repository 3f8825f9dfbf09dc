//! Fuzzing of capim's three input readers: the TOML array configuration,
//! the model (JSON + safetensors pair) and NPY tensors.
//!
//! A seeded, in-process mutation fuzzer: each case takes a valid seed input
//! (the shipped configurations, models and a valid NPY), applies a few
//! random mutations (bit flips, byte runs inserted, deleted or duplicated,
//! numbers replaced by extreme values, lines swapped, truncation) and feeds
//! it to the reader. A case passes when the reader returns a value, or an
//! error with exit code 2 whose message names the file, a field and a value
//! (`Error::Invalid`, or `Error::Io` naming the file). A panic or any other
//! error fails the case; the input is written to
//! `target/fuzz-failures/<target>-<n>.bin` and belongs, once fixed, in
//! `tests/fuzz/regressions/<target>/`, which every run replays first.
//!
//! - `make test` runs the smoke: a fixed seed, a fixed number of cases per
//!   target (well under a minute in all).
//! - `make fuzz` runs `fuzz_for_a_while` with fresh seeds for
//!   `CAPIM_FUZZ_SECS` seconds per target (default 60) and prints executions
//!   per second.
//!
//! `cargo fuzz` (libFuzzer) needs a nightly toolchain, which these machines
//! do not have; this fuzzer runs on stable Rust in every `make test`.

use capim::Error;
use capim::hw::ArrayConfig;
use capim::model::{Model, npy};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Interesting replacement values for a run of digits.
const EXTREMES: &[&str] = &[
    "0",
    "-1",
    "1",
    "255",
    "256",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "1e308",
    "NaN",
    "0.9999999999",
    "",
];

/// Applies 1 to 4 random mutations to `b`.
fn mutate(rng: &mut ChaCha8Rng, b: &mut Vec<u8>) {
    for _ in 0..rng.random_range(1..=4) {
        let len = b.len();
        match rng.random_range(0..8) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                b[i] ^= 1 << rng.random_range(0..8);
            }
            1 => {
                let i = rng.random_range(0..=len);
                let n = rng.random_range(1..16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                b.splice(i..i, bytes);
            }
            2 if len > 0 => {
                let i = rng.random_range(0..len);
                let n = rng.random_range(1..=(len - i).min(64));
                b.drain(i..i + n);
            }
            3 if len > 0 => {
                // Duplicate a run (repeated keys, lines, tensors).
                let i = rng.random_range(0..len);
                let n = rng.random_range(1..=(len - i).min(200));
                let run = b[i..i + n].to_vec();
                let at = rng.random_range(0..=len);
                b.splice(at..at, run);
            }
            4 => {
                // Replace a run of digits by an extreme value.
                let starts: Vec<usize> = (0..len)
                    .filter(|&i| b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit()))
                    .collect();
                if !starts.is_empty() {
                    let i = starts[rng.random_range(0..starts.len())];
                    let mut j = i;
                    while j < len && (b[j].is_ascii_digit() || b[j] == b'.') {
                        j += 1;
                    }
                    let v = EXTREMES[rng.random_range(0..EXTREMES.len())];
                    b.splice(i..j, v.bytes());
                }
            }
            5 if len > 0 => {
                b.truncate(rng.random_range(0..len));
            }
            6 => {
                // Swap two lines.
                let text = String::from_utf8_lossy(b).into_owned();
                let mut lines: Vec<&str> = text.split('\n').collect();
                if lines.len() > 1 {
                    let (x, y) = (
                        rng.random_range(0..lines.len()),
                        rng.random_range(0..lines.len()),
                    );
                    lines.swap(x, y);
                    *b = lines.join("\n").into_bytes();
                }
            }
            _ if len > 0 => {
                let i = rng.random_range(0..len);
                b[i] = rng.random();
            }
            _ => b.push(rng.random()),
        }
    }
}

/// Whether `r` is an acceptable outcome; `None` when it is, else why not.
fn judge<T>(r: std::thread::Result<capim::Result<T>>) -> Option<String> {
    match r {
        Err(p) => Some(format!(
            "panicked: {}",
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        )),
        Ok(Ok(_)) => None,
        Ok(Err(e)) => {
            if e.exit_code() != 2 {
                return Some(format!("exit code {} for bad input: {e}", e.exit_code()));
            }
            match &e {
                Error::Invalid {
                    file, field, value, ..
                } if !file.is_empty() && !field.is_empty() && !value.is_empty() => None,
                Error::Io { path, .. } if !path.is_empty() => None,
                _ => Some(format!("message does not name file, field and value: {e}")),
            }
        }
    }
}

/// Feeds one input to a reader; `Some(why)` when the outcome is a failure.
type Reader = Box<dyn Fn(&[u8]) -> Option<String>>;

/// One fuzz target: a name, seed inputs and a reader of one input.
struct Target {
    name: &'static str,
    seeds: Vec<Vec<u8>>,
    run: Reader,
}

fn config_target() -> Target {
    let seeds = ["configs/default.toml", "configs/small.toml"]
        .iter()
        .map(|f| std::fs::read(root().join(f)).unwrap())
        .collect();
    Target {
        name: "config",
        seeds,
        run: Box::new(|b| {
            // As `ArrayConfig::load` sees it: bytes that may not be UTF-8.
            judge(catch_unwind(|| match std::str::from_utf8(b) {
                Ok(text) => ArrayConfig::parse(text, Path::new("fuzz.toml")).map(|_| ()),
                Err(_) => Ok(()), // load refuses these before parsing
            }))
        }),
    }
}

/// The model target: the input is `json_len (u32 LE) ++ json ++ safetensors`.
fn model_target() -> Target {
    let mut seeds = Vec::new();
    for m in ["skeleton-i8", "skeleton-i16", "tinynet-i8"] {
        let json = std::fs::read(root().join(format!("models/{m}.json"))).unwrap();
        let st = std::fs::read(root().join(format!("models/{m}.safetensors"))).unwrap();
        let mut b = (json.len() as u32).to_le_bytes().to_vec();
        b.extend(json);
        b.extend(st);
        seeds.push(b);
    }
    Target {
        name: "model",
        seeds,
        run: Box::new(|b| {
            if b.len() < 4 {
                return None;
            }
            let n = (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize).min(b.len() - 4);
            let (json, st) = b[4..].split_at(n);
            judge(catch_unwind(|| {
                Model::from_bytes(json, st, Path::new("fuzz.json")).map(|_| ())
            }))
        }),
    }
}

fn npy_target() -> Target {
    let model = Model::load(&root().join("models/skeleton-i8.json")).unwrap();
    let data: Vec<i64> = (0..192).map(|k| (k % 200) as i64 - 100).collect();
    let seed = npy::to_bytes(Path::new("x.npy"), &[3, 8, 8], &data, npy::NpyDtype::I8).unwrap();
    let wide = npy::to_bytes(
        Path::new("x.npy"),
        &[2, 3, 8, 8],
        [data.clone(), data].concat(),
        npy::NpyDtype::I64,
    )
    .unwrap();
    Target {
        name: "npy",
        seeds: vec![seed, wide],
        run: Box::new(move |b| {
            let model = AssertUnwindSafe(&model);
            judge(catch_unwind(|| {
                let p = Path::new("fuzz.npy");
                npy::parse(b, p).and_then(|a| npy::input_tensors(a, p, &model).map(|_| ()))
            }))
        }),
    }
}

/// Replays `tests/fuzz/regressions/<target>/*`, then runs `cases` mutated
/// inputs (or until `until`) from `seed`. Returns (executions, failures).
fn fuzz(t: &Target, seed: u64, cases: u64, until: Option<Instant>) -> (u64, Vec<String>) {
    let mut failures = Vec::new();
    let dir = root().join("tests/fuzz/regressions").join(t.name);
    let mut replay: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    replay.sort();
    for p in &replay {
        if let Some(why) = (t.run)(&std::fs::read(p).unwrap()) {
            failures.push(format!("regression {}: {why}", p.display()));
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut n = 0;
    while n < cases && until.is_none_or(|u| Instant::now() < u) {
        let mut b = t.seeds[rng.random_range(0..t.seeds.len())].clone();
        mutate(&mut rng, &mut b);
        n += 1;
        if let Some(why) = (t.run)(&b) {
            let out = root().join("target/fuzz-failures");
            let _ = std::fs::create_dir_all(&out);
            let f = out.join(format!("{}-{seed}-{n}.bin", t.name));
            let _ = std::fs::write(&f, &b);
            failures.push(format!(
                "case {n} (seed {seed}), input in {}: {why}",
                f.display()
            ));
            if failures.len() >= 5 {
                break;
            }
        }
    }
    (n, failures)
}

fn smoke(t: Target, cases: u64) {
    // Panics are caught and reported; keep their default message quiet.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let (n, failures) = fuzz(&t, 1, cases, None);
    std::panic::set_hook(hook);
    assert_eq!(n, cases);
    assert!(
        failures.is_empty(),
        "{} fuzz failures:\n{}",
        t.name,
        failures.join("\n")
    );
}

#[test]
fn fuzz_smoke_config() {
    smoke(config_target(), 100_000);
}

#[test]
fn fuzz_smoke_model() {
    smoke(model_target(), 10_000);
}

#[test]
fn fuzz_smoke_npy() {
    smoke(npy_target(), 100_000);
}

/// The mutator does change its inputs, and the judge rejects a panic and a
/// wrong exit code: the smoke could fail.
#[test]
fn fuzz_harness_can_fail() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let seed = b"precision = 8\n".to_vec();
    let changed = (0..100)
        .filter(|_| {
            let mut b = seed.clone();
            mutate(&mut rng, &mut b);
            b != seed
        })
        .count();
    assert!(changed > 90, "{changed}");
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let panicked = judge::<()>(catch_unwind(|| panic!("planted")));
    std::panic::set_hook(hook);
    assert!(panicked.unwrap().contains("planted"));
    let failed = judge::<()>(Ok(Err(Error::Verification("x".into()))));
    assert!(failed.unwrap().contains("exit code 1"));
    let unnamed = judge::<()>(Ok(Err(Error::invalid("f", "", "v", "e"))));
    assert!(unnamed.is_some());
}

/// `make fuzz`: fresh seeds for `CAPIM_FUZZ_SECS` seconds per target.
#[test]
#[ignore = "long; run by `make fuzz`"]
fn fuzz_for_a_while() {
    let secs: u64 = std::env::var("CAPIM_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut all = Vec::new();
    for t in [config_target(), model_target(), npy_target()] {
        let start = Instant::now();
        let (n, failures) = fuzz(&t, seed, u64::MAX, Some(start + Duration::from_secs(secs)));
        let el = start.elapsed().as_secs_f64();
        println!(
            "fuzz {:<7} seed {seed}: {n} executions in {el:.1} s ({:.0}/s), {} failures",
            t.name,
            n as f64 / el,
            failures.len()
        );
        all.extend(failures);
    }
    std::panic::set_hook(hook);
    assert!(all.is_empty(), "fuzz failures:\n{}", all.join("\n"));
}
