// Adaptive width scheduler. The cost table (INIT_FILE, written by capim
// from its cost model) holds NE operating points in order of preference:
// the most accurate first (the widest when the model records no accuracy).
// Each entry is four 32-bit fields, {arrays, energy, cycles, width}: the
// most sub-arrays the point enables at once, its energy per inference (in
// the unit of SCHED_INFO), its cycles per inference and its width index.
// The choice is combinational: the first entry whose cycles, energy and
// arrays are within deadline, budget and cap (a limit of 0 is no limit);
// else entry CHEAPEST, with the violated limits in `why`. The top latches
// the choice at a start only, so a run never changes width. The host may
// rewrite the table while idle (a new model's costs).
module capim_scheduler #(
    parameter integer NE = 4,
    parameter integer WW = 2,
    parameter integer CHEAPEST = 0,
    parameter INIT_FILE = "capim_sched.memh"
) (
    input  wire          clk,
    input  wire          we,        // host write of one table word (a new model)
    input  wire [WW+1:0] waddr,     // {entry, field}
    input  wire [31:0]   wdata,
    input  wire [31:0]   deadline,
    input  wire [31:0]   budget,
    input  wire [31:0]   cap,
    output reg  [WW-1:0] width,
    output reg  [7:0]    entry,
    output reg  [2:0]    why,       // {cap, budget, deadline} violated
    input  wire [WW-1:0] rd_entry,  // host read-back of the table
    output wire [127:0]  rd_word
);
    reg [127:0] cost [0:NE-1];
    initial $readmemh(INIT_FILE, cost);
    always @(posedge clk) begin
        if (we && ({ {(32-WW){1'b0}}, waddr[WW+1:2]} < NE))
            cost[waddr[WW+1:2]][{waddr[1:0], 5'd0} +: 32] <= wdata;
    end

    // the limits entry k violates
    wire [2:0] viol [0:NE-1];
    genvar g;
    generate
        for (g = 0; g < NE; g = g + 1) begin : g_viol
            assign viol[g] = {(cap != 32'd0) && (cost[g][127:96] > cap),
                              (budget != 32'd0) && (cost[g][95:64] > budget),
                              (deadline != 32'd0) && (cost[g][63:32] > deadline)};
        end
    endgenerate

    integer k;
    always @(*) begin
        width = cost[CHEAPEST][WW-1:0];
        entry = 8'(CHEAPEST);
        why = viol[CHEAPEST];
        // from the last entry to the first: the first that fits wins
        for (k = NE - 1; k >= 0; k = k - 1) begin
            if (viol[k] == 3'b000) begin
                width = cost[k][WW-1:0];
                entry = 8'(k);
                why = 3'b000;
            end
        end
    end

    assign rd_word = ({ {(32-WW){1'b0}}, rd_entry} < NE) ? cost[rd_entry] : 128'd0;
endmodule
