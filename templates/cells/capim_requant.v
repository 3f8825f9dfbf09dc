// Requantization (DESIGN.md section 1), one output at a time:
//   out = clamp(floor((acc*M + r*R + 2^(S-1)) / 2^S), lo, hi)
// with acc = bias + sum of products. The only multipliers of the design.
module capim_requant #(
    parameter integer N = 8,
    parameter integer ACC_W = 48
) (
    input  wire [ACC_W-1:0] acc,        // bit-plane sum, without bias
    input  wire [ACC_W-1:0] bias,
    input  wire [15:0]      mult,
    input  wire             has_res,
    input  wire             res_signed,
    input  wire [N-1:0]     res,
    input  wire [15:0]      res_mult,
    input  wire [5:0]       shift,
    input  wire             relu,
    output wire [N-1:0]     out
);
    localparam integer PW = ACC_W + 24;
    localparam [PW-1:0] ONE = { {(PW-1){1'b0}}, 1'b1};
    localparam [PW-1:0] U_HI = { {(PW-N){1'b0}}, {N{1'b1}}};
    localparam [PW-1:0] S_HI = { {(PW-N+1){1'b0}}, {(N-1){1'b1}}};
    localparam [PW-1:0] S_LO = { {(PW-N+1){1'b1}}, {(N-1){1'b0}}};

    wire signed [PW-1:0] acc_b = $signed({ {(PW-ACC_W){acc[ACC_W-1]}}, acc})
                               + $signed({ {(PW-ACC_W){bias[ACC_W-1]}}, bias});
    wire signed [PW-1:0] m = $signed({ {(PW-16){1'b0}}, mult});
    wire signed [PW-1:0] r = has_res ? $signed({ {(PW-N){res_signed & res[N-1]}}, res})
                                     : $signed({PW{1'b0}});
    wire signed [PW-1:0] rm = $signed({ {(PW-16){1'b0}}, res_mult});
    wire signed [PW-1:0] rnd = (shift == 6'd0) ? $signed({PW{1'b0}})
                                               : $signed(ONE << (shift - 6'd1));
    wire signed [PW-1:0] t = acc_b * m + r * rm + rnd;
    wire signed [PW-1:0] q = t >>> shift;
    wire signed [PW-1:0] lo = relu ? $signed({PW{1'b0}}) : $signed(S_LO);
    wire signed [PW-1:0] hi = relu ? $signed(U_HI) : $signed(S_HI);

    assign out = (q < lo) ? lo[N-1:0] : ((q > hi) ? hi[N-1:0] : q[N-1:0]);
endmodule
