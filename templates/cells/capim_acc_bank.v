// The shift / negate-and-add accumulators behind one sub-array (DESIGN.md
// section 2): one per output channel of a row-group, acc[k] += sigma_a(i) *
// sigma_w(j) * 2^(i+j) * sum[k], where sum[k] is the routed segment count
// (summed over the d segments of the dot product and the qp arrays that
// split it). No multiplier: the weight of a bit-plane pair is a shift, its
// sign a negate. The first compute of a group loads instead of adding; a
// snapshot copies every accumulator to its shadow, which the requantizer
// drains while the next group computes.
module capim_acc_bank #(
    parameter integer K = 8,           // accumulators (segments per row)
    parameter integer ACC_W = 48,
    parameter integer SUM_W = 12,
    parameter integer SH_W = 5
) (
    input  wire             clk,
    input  wire             valid,
    input  wire             first,
    input  wire [SH_W-1:0]  shift,
    input  wire             neg,
    input  wire             snap,
    input  wire [K*SUM_W-1:0] sum,
    output wire [K*ACC_W-1:0] shadow
);
    genvar k;
    generate
        for (k = 0; k < K; k = k + 1) begin : g_acc
            reg [ACC_W-1:0] acc;
            reg [ACC_W-1:0] sh;
            wire [ACC_W-1:0] mag = { {(ACC_W-SUM_W){1'b0}}, sum[k*SUM_W +: SUM_W]} << shift;
            wire [ACC_W-1:0] base = first ? {ACC_W{1'b0}} : acc;
            always @(posedge clk) begin
                if (valid) acc <= neg ? base - mag : base + mag;
                if (snap) sh <= acc;
            end
            assign shadow[k*ACC_W +: ACC_W] = sh;
        end
    endgenerate
endmodule
