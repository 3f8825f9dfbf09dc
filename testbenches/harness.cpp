// capim co-simulation harness for the Verilated `capim_top` (Verilator 5.006).
//
// This file is embedded in the capim binary (src/cosim/verilator.rs) and
// written into the build directory; it is driven by src/cosim/sim.rs.
//
// Protocol: the parent writes frames of little-endian u32 words to stdin and
// reads replies from stdout. Every reply starts with a u32 status (0 = ok) and
// is flushed as soon as it is complete.
//
//   0x01 RESET  n                  rst_n=0 for n clocks, then rst_n=1   -> [0]
//   0x02 WRITE  addr count d[count] one word per clock, host_we=1,
//                                  address addr+k                        -> [0]
//   0x03 READ   addr count         host_re=1 for one clock per word, the
//                                  data captured after that clock edge   -> [0, d[count]]
//   0x04 RUN    max_lo max_hi      clock until busy==0 is seen after at
//                                  least one clock, or until the 64-bit
//                                  max_cycles clocks have elapsed        -> [s, cyc_lo, cyc_hi]
//                                  s = 0 finished, 1 cycle bound hit; cyc = clocks
//                                  elapsed during this RUN
//   0x05 QUIT                      finish the trace, exit 0              -> [0]
//   0x06 CYCLES                    clocks since start (all commands)     -> [0, lo, hi]
//
// EOF on stdin between frames: exit 0. EOF inside a frame: exit 3.
// Unknown opcode: exit 4. $finish in the RTL: exit 5. Bad arguments: exit 2.
// Diagnostics, and everything Verilator or the RTL ($display) prints, go to
// stderr; the replies go to the original stdout only.
//
// Timing: one clock is 10 time units; the falling edge is at 10*k, the rising
// edge at 10*k+5. Inputs are changed after a falling edge and sampled at the
// next rising edge. The model is evaluated once per edge (plus once after an
// input change, only while tracing, so the waveform shows inputs changing
// half a cycle before the edge that samples them).

#include "Vcapim_top.h"
#include "verilated.h"
#include "verilated_fst_c.h"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <unistd.h>

namespace {

constexpr uint32_t OP_RESET = 0x01;
constexpr uint32_t OP_WRITE = 0x02;
constexpr uint32_t OP_READ = 0x03;
constexpr uint32_t OP_RUN = 0x04;
constexpr uint32_t OP_QUIT = 0x05;
constexpr uint32_t OP_CYCLES = 0x06;

constexpr int EXIT_BAD_ARGS = 2;
constexpr int EXIT_TRUNCATED = 3;
constexpr int EXIT_BAD_OPCODE = 4;
constexpr int EXIT_FINISH = 5;
constexpr int EXIT_IO = 6;

// Buffered little-endian u32 reader over fd 0.
class In {
  public:
    // Returns false on EOF before the first byte of the word; exits on a
    // partial word or a read error.
    bool word(uint32_t& out) {
        unsigned char b[4];
        for (int i = 0; i < 4; ++i) {
            if (pos_ == len_ && !fill()) {
                if (i == 0) return false;
                std::fprintf(stderr, "capim_harness: EOF inside a word\n");
                std::exit(EXIT_TRUNCATED);
            }
            b[i] = buf_[pos_++];
        }
        out = uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24;
        return true;
    }

    // A word that must be present (inside a frame).
    uint32_t need(const char* what) {
        uint32_t w;
        if (!word(w)) {
            std::fprintf(stderr, "capim_harness: EOF inside a frame (expected %s)\n", what);
            std::exit(EXIT_TRUNCATED);
        }
        return w;
    }

  private:
    bool fill() {
        for (;;) {
            ssize_t n = ::read(0, buf_, sizeof buf_);
            if (n > 0) {
                pos_ = 0;
                len_ = size_t(n);
                return true;
            }
            if (n == 0) return false;
            if (errno == EINTR) continue;
            std::fprintf(stderr, "capim_harness: read(stdin): %s\n", std::strerror(errno));
            std::exit(EXIT_IO);
        }
    }

    unsigned char buf_[1 << 16];
    size_t pos_ = 0;
    size_t len_ = 0;
};

// Buffered little-endian u32 writer over the protocol descriptor (a copy of
// the original stdout; fd 1 itself is pointed at stderr, see main).
class Out {
  public:
    void set_fd(int fd) { fd_ = fd; }

    void word(uint32_t w) {
        if (len_ + 4 > sizeof buf_) flush();
        buf_[len_++] = static_cast<unsigned char>(w);
        buf_[len_++] = static_cast<unsigned char>(w >> 8);
        buf_[len_++] = static_cast<unsigned char>(w >> 16);
        buf_[len_++] = static_cast<unsigned char>(w >> 24);
    }

    void flush() {
        size_t done = 0;
        while (done < len_) {
            ssize_t n = ::write(fd_, buf_ + done, len_ - done);
            if (n < 0) {
                if (errno == EINTR) continue;
                std::fprintf(stderr, "capim_harness: write(stdout): %s\n", std::strerror(errno));
                std::exit(EXIT_IO);
            }
            done += size_t(n);
        }
        len_ = 0;
    }

  private:
    unsigned char buf_[1 << 16];
    size_t len_ = 0;
    int fd_ = 1;
};

class Harness {
  public:
    Harness(VerilatedContext* ctx, const char* trace_path)
        : ctx_(ctx), top_(new Vcapim_top{ctx, "capim_top"}) {
        top_->clk = 0;
        top_->rst_n = 1;
        top_->host_we = 0;
        top_->host_re = 0;
        top_->host_addr = 0;
        top_->host_wdata = 0;
        top_->eval();
        if (trace_path) {
            tfp_.reset(new VerilatedFstC);
            top_->trace(tfp_.get(), 99);
            tfp_->open(trace_path);
            if (!tfp_->isOpen()) {
                std::fprintf(stderr, "capim_harness: cannot open trace file %s\n", trace_path);
                std::exit(EXIT_BAD_ARGS);
            }
            tfp_->dump(time());
        }
    }

    ~Harness() { close(); }

    void close() {
        if (tfp_) {
            tfp_->close();
            tfp_.reset();
        }
        if (top_) {
            top_->final();
            top_.reset();
        }
    }

    Vcapim_top& top() { return *top_; }
    uint64_t cycles() const { return cycles_; }

    // One full clock: rising edge, then falling edge.
    void tick() {
        if (tfp_) {
            top_->eval();  // show the input changes made since the falling edge
            tfp_->dump(time() + 1);
        }
        top_->clk = 1;
        top_->eval();
        if (tfp_) tfp_->dump(time() + 5);
        top_->clk = 0;
        top_->eval();
        ++cycles_;
        if (tfp_) tfp_->dump(time());
        if (ctx_->gotFinish()) {
            std::fprintf(stderr, "capim_harness: the RTL called $finish at cycle %llu\n",
                         static_cast<unsigned long long>(cycles_));
            close();
            std::exit(EXIT_FINISH);
        }
    }

  private:
    uint64_t time() const { return cycles_ * 10; }

    VerilatedContext* ctx_;
    std::unique_ptr<Vcapim_top> top_;
    std::unique_ptr<VerilatedFstC> tfp_;
    uint64_t cycles_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
    const char* trace_path = nullptr;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--trace") == 0 && i + 1 < argc) {
            trace_path = argv[++i];
        } else {
            std::fprintf(stderr, "capim_harness: unknown argument `%s`\nusage: %s [--trace FILE.fst]\n",
                         argv[i], argv[0]);
            return EXIT_BAD_ARGS;
        }
    }

    // Verilator's messages ($readmem warnings, $display, assertion reports)
    // go to stdout, which would corrupt the replies: keep the real stdout
    // for the protocol only and send everything printed to stdout to stderr.
    static Out out;
    const int proto_fd = ::dup(1);
    if (proto_fd < 0 || ::dup2(2, 1) < 0) {
        std::fprintf(stderr, "capim_harness: cannot redirect stdout: %s\n", std::strerror(errno));
        return EXIT_IO;
    }
    out.set_fd(proto_fd);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);

    auto ctx = std::make_unique<VerilatedContext>();
    ctx->traceEverOn(true);
    // Plusargs are not used; keep Verilator from parsing ours.
    ctx->commandArgs(1, argv);

    static In in;
    Harness h(ctx.get(), trace_path);
    Vcapim_top& top = h.top();

    uint32_t op;
    while (in.word(op)) {
        switch (op) {
        case OP_RESET: {
            uint32_t n = in.need("RESET cycles");
            top.host_we = 0;
            top.host_re = 0;
            top.rst_n = 0;
            for (uint32_t k = 0; k < n; ++k) h.tick();
            top.rst_n = 1;
            out.word(0);
            break;
        }
        case OP_WRITE: {
            uint32_t addr = in.need("WRITE address");
            uint32_t count = in.need("WRITE count");
            top.host_re = 0;
            top.host_we = 1;
            for (uint32_t k = 0; k < count; ++k) {
                top.host_addr = addr + k;
                top.host_wdata = in.need("WRITE data");
                h.tick();
            }
            top.host_we = 0;
            out.word(0);
            break;
        }
        case OP_READ: {
            uint32_t addr = in.need("READ address");
            uint32_t count = in.need("READ count");
            top.host_we = 0;
            top.host_re = 1;
            out.word(0);
            // Pipelined: the address for word k is sampled at the rising edge
            // of clock k, and the data is on host_rdata after that edge.
            for (uint32_t k = 0; k < count; ++k) {
                top.host_addr = addr + k;
                h.tick();
                out.word(top.host_rdata);
            }
            top.host_re = 0;
            break;
        }
        case OP_RUN: {
            uint32_t lo = in.need("RUN max_cycles low word");
            uint32_t hi = in.need("RUN max_cycles high word");
            const uint64_t max_cycles = uint64_t(lo) | uint64_t(hi) << 32;
            top.host_we = 0;
            top.host_re = 0;
            uint64_t n = 0;
            uint32_t status = 1;
            while (n < max_cycles) {
                h.tick();
                ++n;
                if (!top.busy) {
                    status = 0;
                    break;
                }
            }
            out.word(status);
            out.word(static_cast<uint32_t>(n));
            out.word(static_cast<uint32_t>(n >> 32));
            break;
        }
        case OP_QUIT:
            h.close();
            out.word(0);
            out.flush();
            return 0;
        case OP_CYCLES:
            out.word(0);
            out.word(static_cast<uint32_t>(h.cycles()));
            out.word(static_cast<uint32_t>(h.cycles() >> 32));
            break;
        default:
            std::fprintf(stderr, "capim_harness: unknown opcode 0x%08x\n", op);
            h.close();
            return EXIT_BAD_OPCODE;
        }
        out.flush();
    }
    // EOF between frames: the parent went away or closed the pipe.
    h.close();
    return 0;
}
