// Channel-gating controller. The weight layout places a layer's output
// channels so that, at every width, the active ones occupy the first
// n_active sub-arrays; the others are disabled for the whole layer.
module capim_gating #(
    parameter integer NSA = 8,
    parameter integer SW = 4
) (
    input  wire          running,
    input  wire [SW-1:0] n_active,
    output wire [NSA-1:0] en
);
    genvar g;
    generate
        for (g = 0; g < NSA; g = g + 1) begin : g_en
            localparam [SW-1:0] IDX = g;
            assign en[g] = running && (IDX < n_active);
        end
    endgenerate
endmodule
