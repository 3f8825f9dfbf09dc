// Segment-count routing of one sub-array (DESIGN.md section 3): the d = 2^ld
// consecutive segments that carry pieces of the same dot product are summed,
// sum[k] = count[k*d] + ... + count[k*d+d-1] for k < NSEG / d (0 above).
// A binary tree over the segments; level ld is the one selected.
module capim_span_sum #(
    parameter integer NSEG = 8,
    parameter integer LSEG = 3,        // log2(NSEG)
    parameter integer CNT_W = 4,
    parameter integer SUM_W = 7        // enough for NSEG * (2^CNT_W - 1)
) (
    input  wire [NSEG*CNT_W-1:0] count,
    input  wire [3:0]            ld,
    output reg  [NSEG*SUM_W-1:0] sum
);
    // g_lv[l].v segment k: sum of segments k*2^l .. k*2^l + 2^l - 1
    wire [NSEG*SUM_W-1:0] lvall [0:LSEG];
    genvar l, k;
    generate
        for (l = 0; l <= LSEG; l = l + 1) begin : g_lv
            wire [NSEG*SUM_W-1:0] v;
            for (k = 0; k < NSEG; k = k + 1) begin : g_k
                if (l == 0) begin : g_leaf
                    assign v[k*SUM_W +: SUM_W] = SUM_W'(count[k*CNT_W +: CNT_W]);
                end else if (k < (NSEG >> l)) begin : g_sum
                    assign v[k*SUM_W +: SUM_W] = g_lv[l-1].v[2*k*SUM_W +: SUM_W]
                                               + g_lv[l-1].v[(2*k+1)*SUM_W +: SUM_W];
                end else begin : g_zero
                    assign v[k*SUM_W +: SUM_W] = {SUM_W{1'b0}};
                end
            end
            assign lvall[l] = v;
        end
    endgenerate
    integer li;
    always @(*) begin
        sum = {NSEG*SUM_W{1'b0}};
        for (li = 0; li <= LSEG; li = li + 1)
            if (ld == 4'(li)) sum = lvall[li];
    end
endmodule
