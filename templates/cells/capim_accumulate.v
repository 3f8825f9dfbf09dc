// Count routing and accumulation behind the sub-arrays (DESIGN.md sections 2
// and 3). Two cycles after a compute every enabled array presents one count
// per segment of SEG columns. They are routed in two reductions:
//   - span: the d = 2^ld consecutive segments that carry pieces of one dot
//     product are summed, so array a's channel k has
//     count[a][k*d] + ... + count[a][k*d+d-1];
//   - split: the qp = 2^lqp arrays that split a dot product's piece-rows
//     (a group, its first array aligned to qp) are summed into the group's
//     first array.
// Both are binary trees; level ld / lqp is the one used: the levels above it
// pass their input on (entries above the used channels hold values nobody
// reads). Then the first array of each group updates its first `used`
// accumulators, acc[k] += sigma_a(i) * sigma_w(j) * 2^(i+j) * sum[k]: no
// multiplier, the weight of a bit-plane pair is a shift, its sign a negate
// (invert and add one). The first compute of a group loads instead of adding.
// A snapshot copies every accumulator to its shadow, which the requantizer
// reads by (array, channel) while the next group computes.
module capim_accumulate #(
    parameter integer NSA = 4,         // sub-arrays
    parameter integer LA = 2,          // levels of the split tree: 2^LA >= NSA
    parameter integer NSEG = 8,        // segments per row (a power of two)
    parameter integer LSEG = 3,        // log2(NSEG)
    parameter integer CNT_W = 4,       // bits of one segment's count
    parameter integer SUM_W = 12,      // bits of a routed sum: NSA * NSEG * (2^CNT_W - 1) fits
    parameter integer KW = 4,          // bits of a channel index / count (NSEG fits)
    parameter integer SW = 2,          // bits of an array index
    parameter integer ACC_W = 48,
    parameter integer SH_W = 5
) (
    input  wire                      clk,
    // array a's segment g at [(a*NSEG + g)*CNT_W +: CNT_W]
    input  wire [NSA*NSEG*CNT_W-1:0] count,
    // arrays whose counts come from a compute (a gated array's are stale)
    input  wire [NSA-1:0]            cvalid,
    input  wire [3:0]                ld,
    input  wire [3:0]                lqp,
    input  wire                      valid,  // the counts belong to a bit-plane pair
    input  wire                      first,
    input  wire [SH_W-1:0]           shift,
    input  wire                      neg,
    input  wire [KW-1:0]             used,
    input  wire                      snap,
    input  wire [SW-1:0]             sel_arr,
    input  wire [KW-1:0]             sel_idx,
    output wire [ACC_W-1:0]          shadow
);
    // Each reduction level is an array of its own, entry a*NSEG + k, all
    // NSA * NSEG entries wide: level l <= ld sums pairs into the first
    // NSEG >> l entries of each array, any other level passes its input on.
    // So the last level holds level ld's result (likewise lqp for the split
    // tree), and each accumulator reads a fixed entry.
    genvar ga, gk, gl;
    generate
        for (gl = 0; gl <= LSEG; gl = gl + 1) begin : g_sp
            wire [SUM_W-1:0] v [0:NSA*NSEG-1];
            for (ga = 0; ga < NSA; ga = ga + 1) begin : g_a
                for (gk = 0; gk < NSEG; gk = gk + 1) begin : g_k
                    localparam integer E = ga * NSEG + gk;
                    if (gl == 0) begin : g_leaf
                        // a gated array's counters hold stale values: count 0
                        assign v[E] = cvalid[ga]
                            ? SUM_W'(count[E*CNT_W +: CNT_W]) : {SUM_W{1'b0}};
                    end else if (gk < (NSEG >> gl)) begin : g_sum
                        assign v[E] = (4'(gl) <= ld)
                            ? g_sp[gl-1].v[ga*NSEG + 2*gk] + g_sp[gl-1].v[ga*NSEG + 2*gk + 1]
                            : g_sp[gl-1].v[E];
                    end else begin : g_pass
                        assign v[E] = g_sp[gl-1].v[E];
                    end
                end
            end
        end
        for (gl = 0; gl <= LA; gl = gl + 1) begin : g_xs
            wire [SUM_W-1:0] v [0:NSA*NSEG-1];
            for (ga = 0; ga < NSA; ga = ga + 1) begin : g_a
                for (gk = 0; gk < NSEG; gk = gk + 1) begin : g_k
                    localparam integer E = ga * NSEG + gk;
                    if (gl == 0) begin : g_leaf
                        assign v[E] = g_sp[LSEG].v[E];
                    end else if (ga % (1 << gl) == 0 && ga + (1 << (gl - 1)) < NSA) begin : g_sum
                        assign v[E] = (4'(gl) <= lqp)
                            ? g_xs[gl-1].v[E] + g_xs[gl-1].v[E + (1 << (gl - 1)) * NSEG]
                            : g_xs[gl-1].v[E];
                    end else begin : g_pass
                        assign v[E] = g_xs[gl-1].v[E];
                    end
                end
            end
        end
    endgenerate

    // the first array of each group accumulates
    wire [SW-1:0] qp_mask = ~({SW{1'b1}} << lqp);
    wire [ACC_W-1:0] sel [0:(1<<SW)-1];    // each array's shadow at sel_idx
    generate
        for (ga = 0; ga < NSA; ga = ga + 1) begin : g_arr
            localparam [SW-1:0] IDX = ga;
            wire act = valid && cvalid[ga] && ((IDX & qp_mask) == {SW{1'b0}});
            wire [ACC_W-1:0] shv [0:(1<<KW)-1];
            for (gk = 0; gk < NSEG; gk = gk + 1) begin : g_ch
                reg [ACC_W-1:0] acc;
                reg [ACC_W-1:0] sh;     // the shadow, written by a snapshot
                always @(posedge clk) begin
                    if (act && KW'(gk) < used)
                        acc <= (first ? {ACC_W{1'b0}} : acc)
                            + ((({ {(ACC_W-SUM_W){1'b0}}, g_xs[LA].v[ga*NSEG + gk]} << shift) ^ {ACC_W{neg}})
                            + { {(ACC_W-1){1'b0}}, neg});
                end
                always @(posedge clk) begin
                    if (snap) sh <= acc;
                end
                assign shv[gk] = sh;
            end
            for (gk = NSEG; gk < (1 << KW); gk = gk + 1) begin : g_pad
                assign shv[gk] = {ACC_W{1'b0}};
            end
            assign sel[ga] = shv[sel_idx];
        end
        for (ga = NSA; ga < (1 << SW); ga = ga + 1) begin : g_pad
            assign sel[ga] = {ACC_W{1'b0}};
        end
    endgenerate
    assign shadow = sel[sel_arr];
endmodule
