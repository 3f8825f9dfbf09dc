//! Command-line interface: the clap types. The subcommands themselves are
//! in [`crate::cmd`].

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "capim",
    version,
    about = "Hardware compiler for channel-adaptive DNNs on SOT-MRAM PIM sub-arrays"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate Verilog, weight-layout images and a manifest into a directory.
    Gen(GenArgs),
    /// Show the mapping plan of every layer at every width and its cost.
    Plan(PlanArgs),
    /// Co-simulate the generated RTL against the reference, bit-exactly, at every width.
    Verify(VerifyArgs),
    /// Lint generated RTL: Verilator -Wall, Yosys synthesis, Icarus -g2012.
    Lint(LintArgs),
    /// A synthesis-ready FPGA bundle: RTL behind AXI4-Lite, memory images,
    /// constraints, Vivado and Yosys scripts, FuseSoC core, C header,
    /// formal harness, cost report, manifest; and DIR.tar.gz.
    Bundle(BundleArgs),
    /// Formal check of the AXI4-Lite slave (Yosys, yosys-smtbmc, Yices):
    /// handshake properties proved for a bounded number of cycles.
    Formal(FormalArgs),
    /// Reference inference on your own tensors (NPY in, NPY out).
    Run(RunArgs),
    /// Model utilities (synthetic CA-DNN generator, inspection).
    #[command(subcommand)]
    Model(ModelCommand),
    /// Train a channel-adaptive ResNet in float (sandwich rule, in-place distillation).
    Train(TrainArgs),
    /// Quantize a trained float network into an 8- or 16-bit capim model and
    /// measure its integer accuracy on the whole test set.
    Quantize(QuantizeArgs),
    /// The trade-off per width: latency, energy per inference (by part),
    /// weight and activation memory, area and accuracy, per layer too, from
    /// a technology file; tables, JSON and SVG plots; `--sweep` over array sizes.
    Report(ReportArgs),
    /// Classify images through the integer reference of a trained model:
    /// one line per image (index, label, class per width), then the accuracy.
    Classify(ClassifyArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub design: DesignArgs,
    /// Technology file (TOML); default: the built-in SOT-MRAM 45 nm file
    /// (configs/tech-sot-mram-45nm.toml).
    #[arg(long)]
    pub tech: Option<PathBuf>,
    /// What is printed: `md` (tables), `csv` (one line per width) or `json`.
    #[arg(long, default_value = "md", value_parser = ["md", "csv", "json"])]
    pub format: String,
    /// Directory to write every form into: report.md, report.json,
    /// widths.csv, layers.csv and the SVG plots (sweep.* with --sweep).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Sweep array sizes instead: ROWSxCOLSxCOUNT, each a comma-separated
    /// list, e.g. 512,1024x128,256x16,32,64 (the rest of the configuration
    /// as given); marks the Pareto front over area, latency and energy.
    #[arg(long)]
    pub sweep: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct QuantizeArgs {
    /// Directory written by `capim train` (float.json, float.safetensors).
    #[arg(long)]
    pub float: PathBuf,
    /// Operand bits: 8 or 16.
    #[arg(long)]
    pub precision: u32,
    /// Model JSON to write (the weights go beside it as STEM.safetensors, STEM the JSON file name without .json).
    #[arg(long)]
    pub out: PathBuf,
    /// Model name; default: the file stem of --out.
    #[arg(long)]
    pub name: Option<String>,
    /// Directory of the Fashion-MNIST IDX files; default: $CAPIM_FASHION_MNIST or /usr/share/datasets/fashion-mnist.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Training images the activation ranges are measured on.
    #[arg(long, default_value_t = 1024)]
    pub calib_images: usize,
    /// Quantile of |activation| taken as a tensor's range (default 0.9999 at 8 bits, 1 at 16).
    #[arg(long)]
    pub clip_quantile: Option<f64>,
    /// Evaluate on the first N test images only (default: all 10000).
    #[arg(long)]
    pub test_images: Option<usize>,
    /// Seed of the choice of calibration images.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, Args, Clone)]
pub struct ClassifyArgs {
    /// A trained capim model (its JSON carries the input preprocessing).
    #[arg(long)]
    pub model: PathBuf,
    /// IDX image file (u8, N x H x W), e.g. t10k-images-idx3-ubyte[.gz].
    #[arg(long)]
    pub images: PathBuf,
    /// IDX label file; with it, the accuracy is printed.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Width to run (e.g. 0.5); default: every width of the model.
    #[arg(long)]
    pub width: Option<String>,
    /// Classify the first N images only.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Print only the accuracy per width, not one line per image.
    #[arg(long)]
    pub summary: bool,
}

#[derive(Debug, Args, Clone)]
pub struct DesignArgs {
    /// Array configuration (TOML); default: the built-in configuration.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Model description (JSON); default: the shipped ResNet-20 of the configuration's precision.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Override the configuration's precision (8 or 16).
    #[arg(long)]
    pub precision: Option<u32>,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    #[command(flatten)]
    pub design: DesignArgs,
    /// Technology file (TOML) the scheduler's cost table is priced in;
    /// default: the built-in SOT-MRAM 45 nm file.
    #[arg(long)]
    pub tech: Option<PathBuf>,
    /// Output directory.
    #[arg(long, default_value = "rtl-out")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub design: DesignArgs,
    /// `table` (for people) or `json` (the `cost.json` document).
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub design: DesignArgs,
    /// Output directory (generated, then verified).
    #[arg(long, default_value = "rtl-out")]
    pub out: PathBuf,
    /// Technology file (TOML) the scheduler's cost table is priced in;
    /// default: the built-in SOT-MRAM 45 nm file.
    #[arg(long)]
    pub tech: Option<PathBuf>,
    /// Re-verify this generated directory exactly as it is on disk (no regeneration).
    #[arg(long, conflicts_with_all = ["config", "model", "precision", "out", "tech"])]
    pub from: Option<PathBuf>,
    /// Widths to verify (e.g. 0.25,1.0); default: all of the model's widths.
    #[arg(long, value_delimiter = ',')]
    pub widths: Vec<String>,
    /// Seed of the random stimulus.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Random input images per width (edge-case images are always added).
    #[arg(long, default_value_t = 2)]
    pub images: usize,
    /// Write an FST waveform of the whole verification to this file.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Write this layer's RTL output (first image, each verified width) as NPY under DIR/dump/.
    #[arg(long)]
    pub dump_layer: Option<String>,
    /// Simulations run side by side; default: one per CPU core, at most 4 (1 with --trace).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: Option<u32>,
    /// Real Fashion-MNIST test images per width (the first N of the test set,
    /// through the model's preprocessing table) for a trained model; default 20, 0 for none.
    #[arg(long)]
    pub test_images: Option<usize>,
    /// Directory of the Fashion-MNIST IDX files; default: $CAPIM_FASHION_MNIST or /usr/share/datasets/fashion-mnist.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Whole inferences of the adaptive width scheduler's random workload
    /// trace (deadline, energy budget, sub-array cap per inference; seeded
    /// by --seed), 0 for none; default 4, or none with --widths (the
    /// scheduler may choose any width).
    #[arg(long)]
    pub schedule: Option<usize>,
    /// After verifying, load this model (same layer shapes and widths) over
    /// the host bus into the same RTL (rows, descriptors, requantization,
    /// cost table) and verify it at every width: a new model without
    /// re-synthesis.
    #[arg(long)]
    pub load: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Generated directory to lint.
    #[arg(default_value = "rtl-out")]
    pub dir: PathBuf,
    /// Yosys script: `generic` (synth; every memory becomes flip-flops, slow),
    /// `xilinx` (synth_xilinx, infers block RAM), or `auto` (= xilinx).
    #[arg(long, default_value = "auto", value_parser = ["auto", "generic", "xilinx"])]
    pub synth: String,
}

#[derive(Debug, Args)]
pub struct BundleArgs {
    #[command(flatten)]
    pub design: DesignArgs,
    /// Technology file (TOML) of the cost table and report; default: the built-in one.
    #[arg(long)]
    pub tech: Option<PathBuf>,
    /// Xilinx part of the Vivado script.
    #[arg(long, default_value = "xc7z020clg400-1")]
    pub part: String,
    /// Clock of the constraints, MHz.
    #[arg(long, default_value_t = 100.0)]
    pub clock_mhz: f64,
    /// Prove the bundle before writing it: Verilator -Wall, the testbench under
    /// Verilator and (FuseSoC) Icarus, FuseSoC lint, the AXI4-Lite formal check,
    /// Yosys synth_xilinx, and nextpnr-ecp5 place-and-route (Fmax); figures and
    /// tool versions in report/proof.json. Minutes on a small configuration.
    #[arg(long)]
    pub prove: bool,
    /// With --prove: place without timing-driven placement (nextpnr
    /// --no-tmdriv): about half the time, a lower Fmax. The test suite uses it.
    #[arg(long, requires = "prove")]
    pub quick_pnr: bool,
    /// Output directory; the tarball is written beside it as DIR.tar.gz.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct FormalArgs {
    /// Clock cycles to prove (bounded model check), at least 20.
    #[arg(long, default_value_t = crate::fpga::formal::DEFAULT_DEPTH,
          value_parser = clap::value_parser!(u32).range(20..=200))]
    pub depth: u32,
    /// Directory for the harness, the SMT-LIB file, the logs and a failing
    /// trace (created if missing); default: a temporary directory, removed
    /// when the check passes.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Model description (JSON; its weights file sits beside it).
    #[arg(long)]
    pub model: PathBuf,
    /// Input tensor, NPY, shape (C,H,W) or (N,C,H,W).
    #[arg(long)]
    pub input: PathBuf,
    /// Channel width to run at (one of the model's widths, e.g. 0.5); default the full width.
    #[arg(long)]
    pub width: Option<String>,
    /// Stop after this layer and write its output (default: the last layer).
    #[arg(long)]
    pub layer: Option<String>,
    /// Output tensor, NPY.
    #[arg(long)]
    pub output: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Write a deterministic synthetic quantized CA-DNN.
    Synth(SynthArgs),
    /// The accuracy table of a trained CA-DNN against separately trained
    /// models: width x {float, int8, int16} x {CA-DNN, separate}.
    Accuracy(AccuracyArgs),
}

#[derive(Debug, Args)]
pub struct AccuracyArgs {
    /// The CA-DNN's quantized models (8- and 16-bit), from `capim quantize`.
    #[arg(long, value_delimiter = ',', required = true)]
    pub cadnn: Vec<PathBuf>,
    /// A separately trained model of one width, as WIDTH=MODEL.json (repeat
    /// for each width and precision).
    #[arg(long)]
    pub separate: Vec<String>,
    /// Also write the table (Markdown) to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Network shape preset: skeleton, tinynet or resnet20.
    #[arg(long, default_value = "skeleton")]
    pub preset: String,
    /// Precision in bits: 8 or 16.
    #[arg(long, default_value_t = 8)]
    pub precision: u32,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output model JSON path; the safetensors file is written beside it.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Directory of the Fashion-MNIST IDX files; default: $CAPIM_FASHION_MNIST or /usr/share/datasets/fashion-mnist.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Network depth, 6n+2 (8, 14, 20, ...).
    #[arg(long, default_value_t = 20)]
    pub depth: usize,
    /// Channels of the three stages at width 1.0.
    #[arg(long, default_value = "16,32,64")]
    pub stage_widths: String,
    /// Channel widths, strictly increasing, in (0, 1].
    #[arg(long, default_value = "0.25,0.5,0.75,1.0")]
    pub widths: String,
    /// Epochs (default 30; 1 with --quick).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Images per batch (default 128; 32 with --quick).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Peak learning rate of the cosine schedule (AdamW).
    #[arg(long, default_value_t = 2e-3, allow_negative_numbers = true)]
    pub lr: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 5e-4, allow_negative_numbers = true)]
    pub wd: f64,
    /// Seed of initialization, data order, augmentation and width choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory (created if missing).
    #[arg(long, default_value = "train-out")]
    pub out: PathBuf,
    /// Continue from the checkpoint in --out.
    #[arg(long)]
    pub resume: bool,
    /// Train one separate model per width, on the labels only.
    #[arg(long)]
    pub baseline: bool,
    /// Train every middle width at every step (not one drawn at random):
    /// about 1.3x the compute of a sandwich step, each middle width trained
    /// at every step.
    #[arg(long)]
    pub all_widths: bool,
    /// Weight of each narrower width's loss against the full width's
    /// cross-entropy.
    #[arg(long, default_value_t = 1.0)]
    pub narrow_weight: f64,
    /// Share of the labels in a narrower width's target (0: the full
    /// width's soft targets only, 1: the labels only).
    #[arg(long, default_value_t = 0.0)]
    pub label_share: f64,
    /// A smoke run: 384 training and 300 test images, one epoch, batch 32.
    #[arg(long)]
    pub quick: bool,
    /// No random crop and flip.
    #[arg(long)]
    pub no_augment: bool,
    /// Stop after this epoch (checkpoint written); continue later with --resume.
    #[arg(long)]
    pub stop_after: Option<usize>,
    /// Use only the first N training images (and N/6 test images, at least 100).
    #[arg(long)]
    pub subset: Option<usize>,
}
