//! Verilog and image emission: the design's Verilog files ([`RTL`]: fixed
//! cells with the header prepended, and minijinja templates rendered from
//! typed structs), the weight, descriptor and requantization images, and a
//! manifest that documents the mapping, all in memory ([`Generated`]);
//! [`outdir`] writes them atomically and opens them again.

pub mod outdir;

pub use outdir::{Design, Generated, OutDir};

use crate::cost::tech::Tech;
use crate::cost::tradeoff::TradeOff;
use crate::error::{Error, Result};
use crate::hw::desc::{self, DescField};
use crate::hw::regs::{self, RowWindow};
use crate::hw::scheduler;
use crate::hw::{ArrayConfig, ConvEngine, LANE_BITS, SubArray, Widths, clog2, hex, raw_words};
use crate::layout::Layout;
use crate::layout::images::{desc_memh, quant_memh, subarray_images, subarray_memh};
use crate::model::Model;
use minijinja::{Environment, UndefinedBehavior};
use outdir::{
    CONFIG_FILE, COST_FILE, DESC_FILE, FILELIST, MANIFEST, MODEL_DIR, MODEL_JSON, MODEL_WEIGHTS,
    QUANT_FILE, TECH_FILE, subarray_file,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where a Verilog file's text comes from.
enum Source {
    /// A fixed library cell (`templates/cells/*.v`), parameterized by
    /// Verilog parameters only; written with the header prepended.
    Cell(&'static str),
    /// A minijinja template (`templates/*.v.j2`) rendered with [`Ctx`].
    Template(&'static str),
}

/// One generated Verilog module.
pub struct RtlFile {
    pub module: &'static str,
    source: Source,
}

impl RtlFile {
    /// The file it is written to: `<module>.v`.
    pub fn file(&self) -> String {
        format!("{}.v", self.module)
    }
}

/// Every Verilog module of the design, in compile order (the filelist).
/// Sources are embedded so capim works from any directory.
pub const RTL: &[RtlFile] = &[
    RtlFile {
        module: "capim_subarray",
        source: Source::Cell(include_str!("../../templates/cells/capim_subarray.v")),
    },
    RtlFile {
        module: "capim_accumulate",
        source: Source::Cell(include_str!("../../templates/cells/capim_accumulate.v")),
    },
    RtlFile {
        module: "capim_gating",
        source: Source::Cell(include_str!("../../templates/cells/capim_gating.v")),
    },
    RtlFile {
        module: "capim_requant",
        source: Source::Cell(include_str!("../../templates/cells/capim_requant.v")),
    },
    RtlFile {
        module: "capim_scheduler",
        source: Source::Cell(include_str!("../../templates/cells/capim_scheduler.v")),
    },
    RtlFile {
        module: "capim_conv_engine",
        source: Source::Template(include_str!("../../templates/capim_conv_engine.v.j2")),
    },
    RtlFile {
        module: crate::hw::TOP_MODULE,
        source: Source::Template(include_str!("../../templates/capim_top.v.j2")),
    },
];

/// One sub-array instance of the top.
#[derive(Serialize)]
struct ArrayCtx {
    idx: usize,
    file: String,
}

/// The descriptor word as the engine template sees it.
#[derive(Serialize)]
struct DescCtx {
    fields: Vec<DescField>,
    width: u32,
    /// 32-bit words of one descriptor on the host bus, and their index bits.
    words: u32,
    word_bits: u32,
}

/// The convolution engine's periphery as the templates see it.
#[derive(Serialize)]
struct EngineCtx {
    #[serde(flatten)]
    engine: ConvEngine,
    /// log2 of the lanes per activation word.
    lane_bits: u32,
    /// Lanes of one raw (requant = none) output, and the bits to count them.
    raw_words: usize,
    raw_words_bits: u32,
    /// Columns per bit-counter segment, its log2, and segments per row.
    segment: usize,
    segment_bits: u32,
    segments: usize,
    /// Bits of one segment's count and of a count routed over segments and
    /// arrays.
    seg_count_bits: u32,
    sum_bits: u32,
    /// Pieces (channel blocks) per activation word: LANES / segment.
    lps: usize,
    /// Bits of a gather-buffer entry index (entries: a power of two).
    piece_bits: u32,
    /// log2 of the segments per row and of the sub-array count (rounded up).
    segments_log: u32,
    count_log: u32,
    /// Bits of an accumulator index or count (up to the segments per row).
    acc_index_bits: u32,
}

/// The scheduler's cost table as the top template sees it.
#[derive(Serialize)]
struct SchedCtx {
    entries: usize,
    cheapest: usize,
    file: &'static str,
    /// SCHED_INFO register value, 8 hex digits.
    info_hex: String,
}

/// What the templates receive: typed structs, no loose numbers.
#[derive(Serialize)]
struct Ctx<'a> {
    header: &'a str,
    /// RTL bit widths (`w.aw`, `w.rw`, ...).
    w: &'a Widths,
    /// Sub-array geometry and count (`sa.rows`, `sa.cols`, `sa.count`).
    sa: &'a SubArray,
    engine: EngineCtx,
    desc: DescCtx,
    /// The register map (`regs.ctrl.lit`, `regs.list`).
    regs: serde_json::Value,
    /// Where rows sit in the ROW window (`row.word_bits`, `row.sa_lo`).
    row: RowWindow,
    /// INFO register value, 8 hex digits.
    info_hex: String,
    sched: SchedCtx,
    arrays: Vec<ArrayCtx>,
    /// Indices from `count` up to `2^sw` (unused decode slots).
    pad_arrays: Vec<usize>,
}

/// Renders the RTL, images, manifest and filelist, with the scheduler's
/// cost table in the built-in technology.
pub fn generate(cfg: &ArrayConfig, model: &Model) -> Result<Generated> {
    generate_with(cfg, model, &Tech::builtin())
}

/// [`generate`] with the scheduler's cost table in technology `tech` (the
/// directory keeps a copy of its file, `tech.toml`).
pub fn generate_with(cfg: &ArrayConfig, model: &Model, tech: &Tech) -> Result<Generated> {
    let lay = Layout::new(cfg, model)?;
    let sched = TradeOff::new(&lay, model, tech).schedule_table();
    let w = &lay.widths;
    // The copy in the output directory is `model/model.json` + `model/model.safetensors`.
    let mut stored = model.clone();
    stored.path = PathBuf::from("model.json");
    let model_json = stored.json_bytes();
    let model_st = stored.safetensors_bytes();
    let model_hash = {
        let mut h = Sha256::new();
        h.update(&model_json);
        h.update(&model_st);
        hex(&h.finalize())
    };
    let header = format!(
        "// Generated by capim {} -- configuration sha256 {} -- model `{}` sha256 {}\n// Do not edit by hand unless you mean to: `capim verify --from DIR` re-checks this directory as it is.",
        crate::VERSION,
        cfg.hash(),
        model.name,
        model_hash
    );

    let fields = desc::layout(w);
    let raw = raw_words(cfg.precision);
    let ctx = Ctx {
        header: &header,
        w,
        sa: &cfg.subarray,
        engine: EngineCtx {
            engine: cfg.engine(),
            lane_bits: LANE_BITS,
            raw_words: raw,
            raw_words_bits: clog2(raw as u64),
            segment: lay.segment,
            segment_bits: clog2(lay.segment as u64),
            segments: lay.groups,
            segments_log: clog2(lay.groups as u64),
            count_log: clog2(lay.count as u64),
            acc_index_bits: crate::hw::bits_for(lay.groups as u64),
            seg_count_bits: crate::hw::bits_for(lay.segment as u64),
            sum_bits: crate::hw::bits_for((lay.cols * lay.count) as u64),
            lps: crate::hw::LANES / lay.segment,
            piece_bits: clog2((lay.buffer / lay.segment) as u64).max(1),
        },
        desc: DescCtx {
            width: desc::width(&fields),
            words: desc::width(&fields).div_ceil(32),
            word_bits: regs::desc_word_bits(w),
            fields: fields.clone(),
        },
        regs: regs::template_ctx(w),
        row: RowWindow::new(&cfg.subarray, w),
        info_hex: format!(
            "{:08x}",
            regs::info_value(cfg.precision, model.widths.len(), lay.count)
        ),
        sched: SchedCtx {
            entries: sched.entries.len(),
            cheapest: sched.cheapest,
            file: scheduler::IMAGE_FILE,
            info_hex: format!("{:08x}", sched.info_value()),
        },
        arrays: (0..lay.count)
            .map(|a| ArrayCtx {
                idx: a,
                file: subarray_file(a),
            })
            .collect(),
        pad_arrays: (lay.count..(1usize << w.sw)).collect(),
    };

    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for f in RTL {
        let mut text = match f.source {
            Source::Cell(src) => format!("{header}\n{src}"),
            Source::Template(src) => {
                let name = format!("templates/{}.v.j2", f.module);
                env.render_named_str(
                    &name,
                    src,
                    minijinja::Value::from(minijinja::value::Serde(&ctx)),
                )
                .map_err(|e| Error::io(&name, format!("{e:#}")))?
            }
        };
        if !text.ends_with('\n') {
            text.push('\n');
        }
        files.insert(f.file(), text.into_bytes());
    }
    let images = subarray_images(&lay, model);
    for (a, img) in images.iter().enumerate() {
        files.insert(subarray_file(a), subarray_memh(img).into_bytes());
    }
    files.insert(DESC_FILE.into(), desc_memh(&lay, model).into_bytes());
    files.insert(QUANT_FILE.into(), quant_memh(&lay, model).into_bytes());
    files.insert(scheduler::IMAGE_FILE.into(), sched.memh().into_bytes());
    files.insert(TECH_FILE.into(), tech.text.clone().into_bytes());
    files.insert(
        COST_FILE.into(),
        crate::cost::Report::new(&lay, model).json_bytes(),
    );
    let filelist: String = RTL.iter().map(|f| f.file() + "\n").collect();
    files.insert(FILELIST.into(), filelist.into_bytes());
    let cfg_toml = toml::to_string(cfg).map_err(|e| Error::io(CONFIG_FILE, e))?;
    files.insert(CONFIG_FILE.into(), cfg_toml.into_bytes());
    files.insert(MODEL_JSON.into(), model_json);
    files.insert(MODEL_WEIGHTS.into(), model_st);

    let manifest = manifest(cfg, model, &lay, &fields, &model_hash, &sched, &files);
    files.insert(
        MANIFEST.into(),
        (serde_json::to_string_pretty(&manifest).expect("manifest serializes") + "\n").into_bytes(),
    );
    Ok(Generated { files, layout: lay })
}

fn manifest(
    cfg: &ArrayConfig,
    model: &Model,
    lay: &Layout,
    fields: &[DescField],
    model_hash: &str,
    sched: &scheduler::Table,
    files: &BTreeMap<String, Vec<u8>>,
) -> serde_json::Value {
    let n = lay.precision as usize;
    let layers: Vec<serde_json::Value> = lay
        .layers
        .iter()
        .zip(&model.layers)
        .map(|(lm, l)| {
            let full = lm.full_width();
            let wm = &lm.widths[full];
            let channels: Vec<serde_json::Value> = match &wm.plan {
                Some(p) if l.op == crate::model::Op::Conv => (0..l.cout)
                    .map(|co| {
                        let cpr = p.cpr(lay.groups);
                        let (grp, gl) = (co / cpr, co % cpr);
                        let (gslot, tl) = (grp / p.gpa, grp % p.gpa);
                        let arrays: Vec<usize> = (0..p.sets)
                            .flat_map(|set| {
                                (0..p.qp).map(move |ps| (set * p.qg + gslot) * p.qp + ps)
                            })
                            .collect();
                        let rows: Vec<usize> = (0..p.ppa)
                            .map(|kl| wm.wrow_base + (tl * p.ppa + kl) * n)
                            .collect();
                        let c0 = gl * p.d * lay.segment;
                        serde_json::json!({
                            "channel": co, "subarrays": arrays,
                            "piece_row_bases": rows,
                            "columns": [c0, c0 + p.d * lay.segment],
                        })
                    })
                    .collect(),
                _ => Vec::new(),
            };
            serde_json::json!({
                "name": lm.name,
                "activation": {"input_base": lm.in_base, "output_base": lm.out_base, "residual_base": lm.res_base},
                "widths": lm.widths, "output_channels": channels,
            })
        })
        .collect();
    let sha: BTreeMap<&String, String> = files
        .iter()
        .filter(|(k, _)| k.ends_with(".memh") || k.starts_with(MODEL_DIR))
        .map(|(k, v)| (k, hex(&Sha256::digest(v))))
        .collect();
    serde_json::json!({
        "generator": format!("capim {}", crate::VERSION),
        "config": cfg,
        "config_sha256": cfg.hash(),
        "model": {
            "name": model.name,
            "json": MODEL_JSON,
            "sha256": model_hash,
            "source": model.path.file_name().map(|f| f.to_string_lossy().to_string()),
        },
        "widths": model.widths,
        "rtl_widths": lay.widths,
        "subarrays": {
            "count": lay.count, "rows": lay.rows, "cols": lay.cols,
            "scratch_rows": lay.scratch_rows, "rows_used": lay.rows_used,
            "images": (0..lay.count).map(subarray_file).collect::<Vec<_>>(),
        },
        "activation_memory": {
            "lanes": lay.act_depth,
            "lanes_per_word": crate::hw::LANES,
            "lane_bits": lay.precision,
            "words": lay.act_depth / crate::hw::LANES,
            "addressing": "lane address = word * lanes_per_word + lane",
            "tensor_layout": "value (c, y, x), lane k of it: base + (y * width + x) * pixel_stride + c * words + k",
            "tensors": lay.tensors,
        },
        "descriptors": {
            "file": DESC_FILE, "word_bits": desc::width(fields),
            "index": "layer << ww | width", "fields": desc::manifest(fields),
        },
        "registers": regs::manifest(),
        "quant": {"file": QUANT_FILE, "word": format!("{{bias[{}:0], M[15:0]}}", crate::hw::ACC_W - 1), "entries": lay.quant_depth},
        "scheduler": {
            "file": scheduler::IMAGE_FILE,
            "technology": TECH_FILE,
            "word": "{arrays[127:96], energy[95:64], cycles[63:32], width[31:0]}",
            "energy_unit_pj": 2f64.powi(sched.energy_shift as i32),
            "cheapest": sched.cheapest,
            "entries": sched.entries.iter().map(|e| serde_json::json!({
                "width": model.widths[e.width], "width_index": e.width,
                "cycles": e.cycles, "energy": e.energy, "arrays": e.arrays,
            })).collect::<Vec<_>>(),
        },
        "layers": layers,
        "images_sha256": sha,
        "filelist": FILELIST,
        "cost": COST_FILE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine template's `d_<field>` wires are exactly the descriptor
    /// table's fields: a field added to one and not the other fails here
    /// (and under Verilator -Wall as an undriven or unused wire).
    #[test]
    fn engine_template_uses_exactly_the_descriptor_fields() {
        let src = RTL
            .iter()
            .find_map(|f| match (f.module, &f.source) {
                ("capim_conv_engine", Source::Template(s)) => Some(*s),
                _ => None,
            })
            .expect("engine template");
        let mut used: Vec<&str> = src
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter_map(|t| t.strip_prefix("d_"))
            .filter(|name| !name.is_empty())
            .collect();
        used.sort_unstable();
        used.dedup();
        let mut table: Vec<&str> = desc::FIELDS.iter().map(|f| f.name).collect();
        table.sort_unstable();
        assert_eq!(used, table);
    }
}
