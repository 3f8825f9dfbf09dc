//! `cargo bench` (or `make bench`): the figures the issues ask for, printed.
//!
//! - `capim gen` time for ResNet-20;
//! - the cost model of ResNet-20 per width (cycles, active array-cycles,
//!   engaged and array utilization, over all layers and over the 3x3 layers);
//! - Verilator build time of the default design, cold (ccache off) and warm;
//! - whole verification wall time and simulated cycles per second of the
//!   default design and of tinynet (and of ResNet-20 with CAPIM_BENCH_RESNET=1).

use capim::config::ArrayConfig;
use capim::cost;
use capim::emit;
use capim::model::{Model, builtin_model, default_model};
use capim::verify::{Design, Options, verify};
use std::path::Path;
use std::time::Instant;

const RESNET_CONFIG: &str = "precision = 8\n[subarray]\nrows = 512\ncols = 256\ncount = 32\n";

fn resnet_cfg() -> ArrayConfig {
    ArrayConfig::parse(RESNET_CONFIG, Path::new("<bench resnet20 config>")).expect("config")
}

fn bench_gen(model: &Model, cfg: &ArrayConfig, tmp: &Path) {
    let mut best = f64::MAX;
    for k in 0..3 {
        let t = Instant::now();
        let g = emit::generate(cfg, model, "bench").expect("generate");
        emit::write_dir(&g, &tmp.join(format!("gen{k}"))).expect("write");
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("capim gen {}: {:.3} s (best of 3)", model.name, best);
}

fn bench_cost(model: &Model, cfg: &ArrayConfig) {
    let g = emit::generate(cfg, model, "bench").expect("generate");
    let lay = &g.layout;
    let last = model.widths.len() - 1;
    let full = cost::network(lay, model, last);
    println!(
        "cost model {} on {} sub-arrays of {}x{}:",
        model.name, lay.count, lay.rows, lay.cols
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
}

fn bench_verify(name: &str, cfg: &ArrayConfig, model: &Model, tmp: &Path, cold: bool) {
    // Verilator's generated makefiles cannot take paths with spaces.
    let dir = tmp.join(format!(
        "v-{}",
        name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    ));
    let g = emit::generate(cfg, model, "bench").expect("generate");
    emit::write_dir(&g, &dir).expect("write");
    let d = Design::open(&dir).expect("open");
    let opts = Options {
        widths: Vec::new(),
        seed: 1,
        images: 1,
        trace: None,
        dump_layer: None,
    };
    if cold {
        // SAFETY: single-threaded here; set before the build spawns Verilator.
        unsafe { std::env::set_var("CCACHE_DISABLE", "1") };
    }
    let t = Instant::now();
    let r = verify(&d, &opts).expect("verify passes");
    let wall = t.elapsed().as_secs_f64();
    unsafe { std::env::remove_var("CCACHE_DISABLE") };
    println!(
        "verify {name}: {:.1} s wall, Verilator build {:.1} s{}, simulation {:.2} s, {} cycles, {:.0} k cycles/s",
        wall,
        r.build_seconds,
        if cold {
            " (ccache off)"
        } else if r.build_cached {
            " (cached)"
        } else {
            " (ccache)"
        },
        r.sim_seconds,
        r.cycles_simulated,
        r.cycles_simulated as f64 / r.sim_seconds / 1e3
    );
}

fn main() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let resnet = builtin_model("resnet20-i8").expect("resnet20");
    bench_gen(&resnet, &resnet_cfg(), tmp.path());
    bench_cost(&resnet, &resnet_cfg());

    let cfg = ArrayConfig::builtin();
    let skeleton = default_model(8).expect("skeleton");
    bench_verify(
        "skeleton-i8 (cold build)",
        &cfg,
        &skeleton,
        tmp.path(),
        true,
    );
    let tinynet = Model::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/tinynet-i8.json"
    )))
    .expect("tinynet");
    bench_verify("tinynet-i8", &cfg, &tinynet, tmp.path(), false);
    if std::env::var_os("CAPIM_BENCH_RESNET").is_some() {
        bench_verify("resnet20-i8", &resnet_cfg(), &resnet, tmp.path(), false);
    }
}
