//! `cargo bench` (or `make bench`): the figures the issues ask for, printed.
//!
//! All on the default design (ResNet-20 on 32 sub-arrays of 1024 x 256):
//! - `capim gen` time, 8- and 16-bit;
//! - the cost model per width (cycles, active array-cycles, engaged and
//!   array utilization, over all layers and over the 3x3 layers);
//! - whole verification (every width, the edge-case images, the switching
//!   sequence) wall time, Verilator build time cold (empty ccache) and warm
//!   (ccache filled, fresh build directory), simulated cycles per second;
//!   8-bit, and 16-bit warm;
//! - a 2,000-layer model (tinynet with 2,000 chained pooling layers): load
//!   (parse and validate), generate and write, and one reference inference,
//!   which must stay linear in the layer count (target: under 1 s);
//! - `capim report --sweep` over 12 array sizes (target: under 10 s);
//! - `capim train` steps (ResNet-8, 16/32/64 channels, 28x28 images,
//!   batch 128): one width alone, the sandwich step and the all-widths
//!   step, forward, backward and AdamW update, in images per second.
//!
//! `cargo bench -- NAME...` runs only the named parts: `long`, `gen`
//! (generation and cost model), `verify`, `sweep`, `train`.

use capim::cost;
use capim::emit;
use capim::hw::ArrayConfig;
use capim::model::{Model, default_model};
use capim::verify::{Options, verify};
use std::path::Path;
use std::time::Instant;

fn bench_gen(model: &Model, cfg: &ArrayConfig, tmp: &Path) {
    let mut best = f64::MAX;
    for k in 0..3 {
        let t = Instant::now();
        let g = emit::generate(cfg, model).expect("generate");
        emit::OutDir::write(&g, &tmp.join(format!("gen{k}"))).expect("write");
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("capim gen {}: {:.3} s (best of 3)", model.name, best);
}

fn bench_cost(model: &Model, cfg: &ArrayConfig) {
    let g = emit::generate(cfg, model).expect("generate");
    let lay = &g.layout;
    let last = model.widths.len() - 1;
    let full = cost::network(lay, model, last);
    println!(
        "cost model {} on {} sub-arrays of {}x{}, policy {}, segment {}:",
        model.name,
        lay.count,
        lay.rows,
        lay.cols,
        cfg.mapping.policy.name(),
        lay.segment
    );
    println!(
        "  width    cycles  (of full)  active-array-cycles (of full)  engaged util (3x3)  array util"
    );
    for wi in 0..model.widths.len() {
        let c = cost::network(lay, model, wi);
        let mut c3 = cost::Cost::default();
        for (li, l) in model.layers.iter().enumerate() {
            if l.kh == 3 && l.kw == 3 && l.op == capim::model::Op::Conv {
                c3.add(&cost::layer(lay, model, li, wi));
            }
        }
        println!(
            "  {:<6} {:>9}  ({:.3})    {:>12}      ({:.3})           {:.3} ({:.3})      {:.3}",
            model.widths[wi],
            c.cycles,
            c.cycles as f64 / full.cycles as f64,
            c.active_array_cycles,
            c.active_array_cycles as f64 / full.active_array_cycles as f64,
            c.engaged_utilization(lay.cols),
            c3.engaged_utilization(lay.cols),
            c.array_utilization(lay.count, lay.cols)
        );
    }
    // The mapping compiler's targets (issue 9).
    let q = cost::network(lay, model, 0);
    match cfg.mapping.policy {
        capim::hw::Policy::Latency => println!(
            "  targets ({}-bit): cycles at full width {} (<= 450,000 at 8 bits), at {} / full {:.3} (<= 0.10)",
            cfg.precision,
            full.cycles,
            model.widths[0],
            q.cycles as f64 / full.cycles as f64
        ),
        capim::hw::Policy::Energy => println!(
            "  targets ({}-bit): active array-cycles at {} / full {:.3} (<= 0.085), engaged utilization {:.3} at full (>= 0.80), {:.3} at {} (>= 0.60)",
            cfg.precision,
            model.widths[0],
            q.active_array_cycles as f64 / full.active_array_cycles as f64,
            full.engaged_utilization(lay.cols),
            q.engaged_utilization(lay.cols),
            model.widths[0]
        ),
    }
}

fn bench_verify(name: &str, cfg: &ArrayConfig, model: &Model, tmp: &Path, cold: bool) {
    // Verilator's generated makefiles cannot take paths with spaces.
    let dir = tmp.join(format!(
        "v-{}",
        name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    ));
    let g = emit::generate(cfg, model).expect("generate");
    let d = emit::OutDir::write(&g, &dir)
        .and_then(|o| o.load())
        .expect("open");
    let opts = Options {
        images: 0,
        ..Options::default()
    };
    if cold {
        // An empty ccache of the bench's own: the first build is cold, the
        // later ones find it filled.
        let cache = tmp.join("ccache");
        std::fs::create_dir_all(&cache).expect("ccache dir");
        // SAFETY: single-threaded here; set before the build spawns Verilator.
        unsafe { std::env::set_var("CCACHE_DIR", &cache) };
    }
    let t = Instant::now();
    let r = verify(&d, &opts).expect("verify passes");
    let wall = t.elapsed().as_secs_f64();
    println!(
        "verify {name}: {:.1} s wall ({} widths x {} images + {} switching steps), Verilator build {:.1} s{}, simulation {:.2} s, {} cycles in {} simulations side by side, {:.0} k cycles/s in all",
        wall,
        model.widths.len(),
        r.images,
        r.switch_sequence.len(),
        r.build_seconds,
        if cold {
            " (empty ccache)"
        } else if r.build_cached {
            " (build reused)"
        } else {
            " (ccache as the runs before left it)"
        },
        r.sim_seconds,
        r.cycles_simulated,
        r.simulations,
        r.cycles_simulated as f64 / r.sim_seconds / 1e3
    );
}

/// tinynet with `extra` global-average-pool layers chained after its own.
fn long_model(extra: usize) -> Model {
    let mut m = capim::model::synth::synth("tinynet", 8, 1).expect("tinynet");
    let gi = m.layer_index("gap").expect("gap layer");
    let gap = m.layers[gi].clone();
    let mut fc = m.layers.pop().expect("fc layer");
    let mut prev = gap.name.clone();
    for k in 0..extra {
        let mut l = gap.clone();
        l.name = format!("g{k}");
        l.input = prev.clone();
        (l.kh, l.kw) = (1, 1);
        prev = l.name.clone();
        m.layers.push(l);
    }
    fc.input = prev;
    m.layers.push(fc);
    m
}

fn bench_long(tmp: &Path) {
    let m = long_model(2000);
    let json = tmp.join("long.json");
    m.save(&json).expect("save");
    let cfg = ArrayConfig::new(
        8,
        capim::hw::SubArray {
            rows: 4096,
            cols: 64,
            count: 8,
        },
    )
    .expect("config");
    let t = Instant::now();
    let m = Model::load(&json).expect("load");
    let load = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let g = emit::generate(&cfg, &m).expect("generate");
    emit::OutDir::write(&g, &tmp.join("long-rtl")).expect("write");
    let generate = t.elapsed().as_secs_f64();
    let x = capim::model::Tensor::zeros(m.input.channels, m.input.height, m.input.width);
    let t = Instant::now();
    let out = capim::model::reference::run_all(&m, m.widths.len() - 1, &x);
    let run = t.elapsed().as_secs_f64();
    println!(
        "{} layers: load {load:.3} s, generate + write {generate:.3} s ({} files), reference inference {run:.3} s ({} tensors)",
        m.layers.len(),
        g.files.len(),
        out.len()
    );
}

/// The trade-off of ResNet-20 (8-bit) over 12 array sizes, as `capim
/// report --sweep 512,1024x128,256x16,32,64` computes it.
fn bench_sweep() {
    use capim::cost::{sweep, tech::Tech};
    let model = default_model(8).expect("default model");
    let grid = sweep::Grid::parse("512,1024x128,256x16,32,64").expect("grid");
    let configs = grid.configs(&ArrayConfig::builtin()).expect("configs");
    let mut best = f64::MAX;
    let mut fit = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let pts = sweep::run(&configs, &model, &Tech::builtin());
        best = best.min(t.elapsed().as_secs_f64());
        fit = pts.iter().filter(|p| p.does_not_fit.is_none()).count();
    }
    println!(
        "report --sweep over {} configurations ({fit} fit), {} threads: {best:.3} s (best of 3; target < 10 s)",
        configs.len(),
        rayon::current_num_threads()
    );
}

/// Training throughput of `capim train`'s step on this machine: median
/// of 15 timed steps after 3 warm-up steps, fixed synthetic batch.
fn bench_train() {
    use candle_core::{Device, Tensor};
    use capim::train::net::{Net, NetConfig};
    use rand::SeedableRng;
    let dev = Device::Cpu;
    let batch = 128;
    let xs: Vec<f32> = (0..batch * 28 * 28)
        .map(|i| ((i * 7919 % 251) as f32) / 125.0 - 1.0)
        .collect();
    let x = Tensor::from_vec(xs, (batch, 1, 28, 28), &dev).expect("x");
    let ys: Vec<u32> = (0..batch as u32).map(|i| i % 10).collect();
    let y = Tensor::from_vec(ys, batch, &dev).expect("y");
    let four = vec![0.25, 0.5, 0.75, 1.0];
    let cases: [(&str, Vec<f64>, Vec<usize>); 5] = [
        ("width 0.25 alone", vec![0.25], vec![]),
        ("width 0.5 alone", vec![0.5], vec![]),
        ("width 1.0 alone", vec![1.0], vec![]),
        ("sandwich (1.0, 0.25, one middle)", four.clone(), vec![1]),
        ("all widths", four, vec![1, 2]),
    ];
    for (label, widths, mids) in cases {
        let config = NetConfig {
            depth: 8,
            stage_widths: [16, 32, 64],
            widths,
            input: [1, 28, 28],
            classes: 10,
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut net = Net::new(config, &mut rng, &dev).expect("net");
        let vars: Vec<_> = net.vars().into_iter().map(|(_, v)| v).collect();
        let mut opt = capim::train::optim::AdamW::new(&vars, 5e-4).expect("optimizer");
        let mut times = Vec::new();
        for i in 0..18 {
            let t = Instant::now();
            let (loss, _, _) =
                capim::train::sandwich(&mut net, &x, &y, &mids, &capim::train::Narrow::DISTILL)
                    .expect("step");
            let grads = loss.backward().expect("backward");
            opt.step(&grads, 1e-3).expect("update");
            if i >= 3 {
                times.push(t.elapsed().as_secs_f64());
            }
        }
        times.sort_by(f64::total_cmp);
        let med = times[times.len() / 2];
        println!(
            "train step, {label}: {:.1} images/s ({:.1} ms per batch of {batch}, {} threads)",
            batch as f64 / med,
            med * 1e3,
            rayon::current_num_threads()
        );
    }
}

fn main() {
    capim::alloc::keep_freed_memory();
    // SAFETY: first thing in main, before any other thread exists.
    unsafe { capim::train::pin_thread_count() };
    // names after `--` (cargo passes `--bench` too)
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let run = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let tmp = tempfile::tempdir().expect("tempdir");
    if run("sweep") {
        bench_sweep();
    }
    if run("train") {
        bench_train();
    }
    if run("long") {
        bench_long(tmp.path());
    }
    if !run("gen") {
        return verify_benches(&only, tmp.path());
    }
    for p in [8, 16] {
        let mut cfg = ArrayConfig::builtin();
        cfg.precision = p;
        let model = default_model(p).expect("default model");
        bench_gen(&model, &cfg, tmp.path());
        for policy in [capim::hw::Policy::Latency, capim::hw::Policy::Energy] {
            cfg.mapping.policy = policy;
            bench_cost(&model, &cfg);
        }
        cfg.mapping.policy = capim::hw::Policy::Latency;
    }
    verify_benches(&only, tmp.path());
}

fn verify_benches(only: &[String], tmp: &Path) {
    if !(only.is_empty() || only.iter().any(|o| o == "verify")) {
        return;
    }
    let cfg = ArrayConfig::builtin();
    let model = default_model(8).expect("default model");
    bench_verify("resnet20-i8, cold", &cfg, &model, tmp, true);
    bench_verify("resnet20-i8, warm", &cfg, &model, tmp, false);
    let mut cfg16 = cfg.clone();
    cfg16.precision = 16;
    let model16 = default_model(16).expect("default model");
    // Its RTL differs from the 8-bit design's: ccache has nothing of it yet.
    bench_verify("resnet20-i16", &cfg16, &model16, tmp, false);
}
