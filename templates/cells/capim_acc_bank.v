// The shift / negate-and-add accumulators behind one sub-array (DESIGN.md
// section 2): one per output channel of a row-group, acc[k] += sigma_a(i) *
// sigma_w(j) * 2^(i+j) * sum[k], where sum[k] is the routed segment count
// (summed over the d segments of the dot product and the qp arrays that
// split it). No multiplier: the weight of a bit-plane pair is a shift, its
// sign a negate. Only the first array of a group (`act`) accumulates, and
// only its first `used` accumulators (the row's output channels). The first
// compute of a group loads instead of adding; a snapshot copies the
// accumulators to their shadows, which the requantizer reads (`sel`) while
// the next group computes.
module capim_acc_bank #(
    parameter integer K = 8,           // accumulators (segments per row)
    parameter integer KW = 4,          // bits of an accumulator count / index (K fits)
    parameter integer ACC_W = 48,
    parameter integer SUM_W = 12,
    parameter integer SH_W = 5
) (
    input  wire             clk,
    input  wire             valid,
    input  wire             act,
    input  wire [KW-1:0]    used,
    input  wire             first,
    input  wire [SH_W-1:0]  shift,
    input  wire             neg,
    input  wire             snap,
    input  wire [K*SUM_W-1:0] sum,
    input  wire [KW-1:0]    sel,
    output wire [ACC_W-1:0] shadow
);
    reg [K*ACC_W-1:0] accv;
    reg [K*ACC_W-1:0] shv;
    integer k;
    always @(posedge clk) begin
        if (valid && act) begin
            for (k = 0; k < K; k = k + 1) begin
                if (KW'(k) < used) begin
                    // negate: invert and add one
                    accv[k*ACC_W +: ACC_W] <= (first ? {ACC_W{1'b0}} : accv[k*ACC_W +: ACC_W])
                        + ((({ {(ACC_W-SUM_W){1'b0}}, sum[k*SUM_W +: SUM_W]} << shift) ^ {ACC_W{neg}})
                        + { {(ACC_W-1){1'b0}}, neg});
                end
            end
        end
        if (snap) shv <= accv;
    end
    assign shadow = shv[sel*ACC_W +: ACC_W];
endmodule
