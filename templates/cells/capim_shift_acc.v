// Shift / negate-and-add accumulator behind one sub-array's bit-counter
// (DESIGN.md section 2): acc += sigma_a(i) * sigma_w(j) * 2^(i+j) * count.
// No multiplier: the weight of a bit-plane pair is a shift, its sign a negate.
module capim_shift_acc #(
    parameter integer ACC_W = 48,
    parameter integer CNT_W = 7,
    parameter integer SH_W = 5
) (
    input  wire             clk,
    input  wire             en,
    input  wire             clr,
    input  wire             valid,
    input  wire [SH_W-1:0]  shift,
    input  wire             neg,
    input  wire [CNT_W-1:0] count,
    output reg  [ACC_W-1:0] acc
);
    wire [ACC_W-1:0] mag = { {(ACC_W-CNT_W){1'b0}}, count} << shift;

    always @(posedge clk) begin
        if (clr) acc <= {ACC_W{1'b0}};
        else if (en && valid) acc <= neg ? acc - mag : acc + mag;
    end
endmodule
