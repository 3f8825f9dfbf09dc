// Channel-gating controller. A layer's plan enables the sub-arrays of its
// geometry, a = (set * qg + gslot) * qp + pslot < n_active, whose piece
// slot and group slot have work at the selected width (pslot < qp_used,
// gslot < qg_used); the others are disabled for the whole layer.
module capim_gating #(
    parameter integer NSA = 8,
    parameter integer SW = 4
) (
    input  wire          running,
    input  wire [SW-1:0] n_active,
    input  wire [3:0]    lqp,
    input  wire [3:0]    lqg,
    input  wire [SW-1:0] qp_used,
    input  wire [SW-1:0] qg_used,
    output wire [NSA-1:0] en
);
    wire [SW-1:0] qp_mask = ~({SW{1'b1}} << lqp);
    wire [SW-1:0] qg_mask = ~({SW{1'b1}} << lqg);
    genvar g;
    generate
        for (g = 0; g < NSA; g = g + 1) begin : g_en
            localparam [SW-1:0] IDX = g;
            wire [SW-1:0] pslot = IDX & qp_mask;
            wire [SW-1:0] gslot = (IDX >> lqp) & qg_mask;
            assign en[g] = running && (IDX < n_active) && (pslot < qp_used) && (gslot < qg_used);
        end
    endgenerate
endmodule
