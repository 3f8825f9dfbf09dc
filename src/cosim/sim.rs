//! Driving a running co-simulation harness (see `testbenches/harness.cpp`).
//!
//! Frames are little-endian u32 words; every reply starts with a status word
//! (0 = ok). `RUN` carries its cycle bound as two words (low, high), so
//! [`Sim::run`] takes the full `u64` in one frame. Long writes and reads are
//! split into frames of at most [`MAX_FRAME_WORDS`] words (one round trip
//! each), so reading 10 k words is a single round trip.
//!
//! Everything the model prints (`$display`, Verilator's warnings) goes to the
//! harness's stderr, which is kept in a temporary file: [`Sim::stderr_text`].
//! [`Sim::spawn`] fails if the model prints a `%Warning` or `%Error` while it
//! initialises (for example a `$readmemh` image that is missing), so a
//! missing image cannot simulate as zeros.
//!
//! Any failure of the child (it died, closed its pipes, answered a short or
//! malformed reply) is [`Error::Verification`] with the child's exit status
//! and the tail of its stderr.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, Result};

const OP_RESET: u32 = 0x01;
const OP_WRITE: u32 = 0x02;
const OP_READ: u32 = 0x03;
const OP_RUN: u32 = 0x04;
const OP_QUIT: u32 = 0x05;
const OP_CYCLES: u32 = 0x06;

/// Largest number of data words in one WRITE or READ frame.
pub const MAX_FRAME_WORDS: u32 = 1 << 20;
/// Bytes of the child's stderr quoted in an error.
const STDERR_TAIL: usize = 4000;

/// Outcome of [`Sim::run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunResult {
    /// `busy` was seen low after at least one clock (false: the bound was hit).
    pub finished: bool,
    /// Clock cycles elapsed during this run.
    pub cycles: u64,
}

/// A running harness process.
pub struct Sim {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    stderr: File,
    exe: PathBuf,
    /// Cycles clocked so far, as counted on this side.
    cycles: u64,
    closed: bool,
}

impl Sim {
    /// Starts the harness `exe` with current directory `cwd` (where the
    /// `$readmemh` images are) and, if `trace` is given, an FST waveform
    /// written to that path (relative paths are taken relative to this
    /// process's current directory, not `cwd`).
    pub fn spawn(exe: &Path, cwd: &Path, trace: Option<&Path>) -> Result<Sim> {
        if !cwd.is_dir() {
            return Err(Error::io(
                cwd,
                "not a directory (simulation working directory)",
            ));
        }
        let stderr = tempfile::tempfile().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let child_err = stderr
            .try_clone()
            .map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let exe = std::path::absolute(exe).map_err(|e| Error::io(exe, e))?;
        let mut cmd = Command::new(&exe);
        if let Some(t) = trace {
            let t = std::path::absolute(t).map_err(|e| Error::io(t, e))?;
            cmd.arg("--trace").arg(t);
        }
        let mut child = cmd
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(child_err)
            .spawn()
            .map_err(|e| Error::io(&exe, format!("cannot start the harness: {e}")))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            // Not reachable with Stdio::piped(); handled without panicking.
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Verification(format!(
                "{}: harness started without pipes",
                exe.display()
            )));
        };
        let mut sim = Sim {
            child,
            stdin: BufWriter::with_capacity(1 << 16, stdin),
            stdout: BufReader::with_capacity(1 << 16, stdout),
            stderr,
            exe,
            cycles: 0,
            closed: false,
        };
        // Handshake: the model has been evaluated once (initial blocks,
        // $readmemh) before the harness reads its first frame.
        sim.harness_cycles()?;
        let init = sim.stderr_text();
        if init
            .lines()
            .any(|l| l.starts_with("%Warning") || l.starts_with("%Error"))
        {
            return Err(sim.failure(&format!(
                "the model reported problems while initialising in {} \
                 (a missing or malformed $readmemh image?)",
                cwd.display()
            )));
        }
        Ok(sim)
    }

    /// Clock cycles clocked so far (resets, writes, reads and runs), as
    /// counted by this side.
    pub fn cycles(&self) -> u64 {
        self.cycles
    }

    /// Holds `rst_n` low for `cycles` clocks, then releases it.
    pub fn reset(&mut self, cycles: u32) -> Result<()> {
        self.send(&[OP_RESET, cycles])?;
        self.expect_ok("RESET")?;
        self.cycles += u64::from(cycles);
        Ok(())
    }

    /// Writes `data` to `addr`, `addr + 1`, ... (one word per clock).
    pub fn write(&mut self, addr: u32, data: &[u32]) -> Result<()> {
        let mut a = addr;
        for chunk in data.chunks(MAX_FRAME_WORDS as usize) {
            let n = chunk.len() as u32; // at most MAX_FRAME_WORDS
            self.send(&[OP_WRITE, a, n])?;
            self.send(chunk)?;
            self.expect_ok("WRITE")?;
            self.cycles += u64::from(n);
            a = a.wrapping_add(n);
        }
        Ok(())
    }

    /// Reads `n` words from `addr`, `addr + 1`, ... (one clock per word,
    /// pipelined).
    pub fn read(&mut self, addr: u32, n: u32) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(n as usize);
        let mut a = addr;
        let mut left = n;
        while left > 0 {
            let k = left.min(MAX_FRAME_WORDS);
            self.send(&[OP_READ, a, k])?;
            self.expect_ok("READ")?;
            let mut buf = vec![0u8; k as usize * 4];
            self.recv_bytes(&mut buf, "READ data")?;
            out.extend(
                buf.chunks_exact(4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            );
            self.cycles += u64::from(k);
            a = a.wrapping_add(k);
            left -= k;
        }
        Ok(out)
    }

    /// Clocks until `busy` is seen low after at least one clock, or until
    /// `max_cycles` clocks have elapsed (`max_cycles == 0` clocks nothing and
    /// reports the bound as hit).
    pub fn run(&mut self, max_cycles: u64) -> Result<RunResult> {
        self.send(&[OP_RUN, max_cycles as u32, (max_cycles >> 32) as u32])?;
        let [status, lo, hi] = self.recv::<3>("RUN")?;
        let cycles = u64::from(lo) | u64::from(hi) << 32;
        if status > 1 || cycles > max_cycles {
            return Err(self.failure(&format!(
                "malformed RUN reply: status {status}, {cycles} cycles for a bound of {max_cycles}"
            )));
        }
        self.cycles += cycles;
        Ok(RunResult {
            finished: status == 0,
            cycles,
        })
    }

    /// Clock cycles elapsed in the harness since it started (its own count;
    /// equals [`Sim::cycles`] unless something is wrong).
    pub fn harness_cycles(&mut self) -> Result<u64> {
        self.send(&[OP_CYCLES])?;
        let [status, lo, hi] = self.recv::<3>("CYCLES")?;
        if status != 0 {
            return Err(self.failure(&format!("CYCLES answered status {status}")));
        }
        Ok(u64::from(lo) | u64::from(hi) << 32)
    }

    /// Ends the simulation: the harness closes the trace and exits. Waits for
    /// it and checks that it exited cleanly.
    pub fn quit(mut self) -> Result<()> {
        self.send(&[OP_QUIT])?;
        self.expect_ok("QUIT")?;
        self.closed = true;
        let status = self
            .child
            .wait()
            .map_err(|e| Error::Verification(format!("waiting for the harness: {e}")))?;
        if !status.success() {
            let note = self.stderr_note();
            return Err(Error::Verification(format!(
                "{} exited with {status} after QUIT{note}",
                self.exe.display(),
            )));
        }
        Ok(())
    }

    fn send(&mut self, words: &[u32]) -> Result<()> {
        let mut res = Ok(());
        for w in words {
            res = self.stdin.write_all(&w.to_le_bytes());
            if res.is_err() {
                break;
            }
        }
        // Only the last frame part needs flushing, but flushing a
        // BufWriter that already flushed is free.
        if let Err(e) = res.and_then(|_| self.stdin.flush()) {
            return Err(self.failure(&format!("cannot send to the harness: {e}")));
        }
        Ok(())
    }

    fn recv<const N: usize>(&mut self, what: &str) -> Result<[u32; N]> {
        let mut buf = [0u8; 4];
        let mut out = [0u32; N];
        for w in out.iter_mut() {
            self.recv_bytes(&mut buf, what)?;
            *w = u32::from_le_bytes(buf);
        }
        Ok(out)
    }

    fn recv_bytes(&mut self, buf: &mut [u8], what: &str) -> Result<()> {
        if let Err(e) = self.stdout.read_exact(buf) {
            let why = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                "the harness closed its output".to_string()
            } else {
                e.to_string()
            };
            return Err(self.failure(&format!("no complete reply to {what}: {why}")));
        }
        Ok(())
    }

    fn expect_ok(&mut self, what: &str) -> Result<()> {
        let [status] = self.recv::<1>(what)?;
        if status != 0 {
            return Err(self.failure(&format!("{what} answered status {status}")));
        }
        Ok(())
    }

    /// A [`Error::Verification`] describing `msg`, the child's exit status
    /// (waiting briefly for it to exit) and the tail of its stderr.
    fn failure(&mut self, msg: &str) -> Error {
        let deadline = Instant::now() + Duration::from_millis(500);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(s)) => {
                    self.closed = true;
                    break format!("exited with {s}");
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    self.closed = true;
                    break "was still running and has been killed".to_string();
                }
                Err(e) => break format!("state unknown ({e})"),
            }
        };
        let note = self.stderr_note();
        Error::Verification(format!(
            "co-simulation harness {} (after {} acknowledged cycles): {msg}; the harness {status}{note}",
            self.exe.display(),
            self.cycles,
        ))
    }

    /// Everything the child has written to stderr so far (lossy UTF-8).
    pub fn stderr_text(&mut self) -> String {
        let mut bytes = Vec::new();
        match self
            .stderr
            .rewind()
            .and_then(|_| self.stderr.read_to_end(&mut bytes))
        {
            Ok(_) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => String::new(),
        }
    }

    /// "; its stderr: ..." with the last bytes the child wrote to stderr, or "".
    fn stderr_note(&mut self) -> String {
        let text = self.stderr_text();
        let mut start = text.len().saturating_sub(STDERR_TAIL);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        let tail = text[start..].trim();
        if tail.is_empty() {
            String::new()
        } else {
            format!("; its stderr:\n{tail}")
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if !self.closed {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("exe", &self.exe)
            .field("pid", &self.child.id())
            .field("cycles", &self.cycles)
            .finish()
    }
}
