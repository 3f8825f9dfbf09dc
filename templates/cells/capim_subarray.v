// SOT-MRAM computational sub-array (DESIGN.md section 3).
// ROWS x COLS non-volatile 1-bit cells. Per cycle one of: nothing, write one
// row, read one row, or compute: activate rows row_a and row_b together, the
// reconfigurable sense amplifiers give the column-wise AND / OR / XOR and the
// segmented bit-counter registers one popcount per segment of SEG columns
// (COLS / SEG counts, segment g = columns g*SEG .. g*SEG+SEG-1; two cycles
// after the compute: the sense amplifiers latch, then the counters count).
// While en is low the array performs no operation and keeps its cells.
module capim_subarray #(
    parameter integer ROWS = 256,
    parameter integer COLS = 64,
    parameter integer SEG = 8,
    parameter integer ROW_W = 8,
    parameter integer CNT_W = 4,       // bits of one segment's count: enough for SEG
    parameter INIT_FILE = "capim_sa_000.memh"
) (
    input  wire             clk,
    input  wire             rst_n,
    input  wire             en,
    input  wire [1:0]       op,        // 0 nop, 1 write, 2 read, 3 compute
    input  wire [1:0]       fn,        // 0 AND, 1 OR, 2 XOR, 3 AND
    input  wire [ROW_W-1:0] row_a,
    input  wire [ROW_W-1:0] row_b,
    input  wire [COLS-1:0]  wdata,
    input  wire             clr_counters,
    output wire [COLS-1:0]  rdata,
    output wire [(COLS/SEG)*CNT_W-1:0] count,  // segment g in [g*CNT_W +: CNT_W]
    output reg  [31:0]      n_compute,  // computes performed since clr_counters
    output reg  [31:0]      n_write     // row writes performed since clr_counters
);
    localparam [1:0] OP_WRITE = 2'd1;
    localparam [1:0] OP_READ = 2'd2;
    localparam [1:0] OP_COMPUTE = 2'd3;

    reg [COLS-1:0] cells [0:ROWS-1];

    initial $readmemh(INIT_FILE, cells);

    // The sense amplifiers latch the activated rows (a synchronous read, so
    // FPGA tools map the cells to block RAM): row_a on port A, shared with
    // writes, row_b on port B. The logic function and the bit-counter act on
    // the latched rows.
    reg [COLS-1:0] sense_a;
    reg [COLS-1:0] sense_b;
    reg [1:0]      fn_q;
    always @(posedge clk) begin
        if (en) begin
            if (op == OP_WRITE) cells[row_a] <= wdata;
            if (op == OP_READ || op == OP_COMPUTE) sense_a <= cells[row_a];
            if (op == OP_COMPUTE) sense_b <= cells[row_b];
            if (op == OP_COMPUTE) fn_q <= fn;
        end
    end

    // Segmented column bit-counter, registered: the counts of a compute are
    // valid two cycles after it (sense, then count). They only switch after
    // a compute.
    localparam integer NSEG = COLS / SEG;
    reg            sensed_v;
    reg [COLS-1:0] logic_q;
    always @(*) begin
        case (fn_q)
            2'd1: logic_q = sense_a | sense_b;
            2'd2: logic_q = sense_a ^ sense_b;
            default: logic_q = sense_a & sense_b;
        endcase
    end
    always @(posedge clk) sensed_v <= en && (op == OP_COMPUTE);
    genvar sg;
    generate
        for (sg = 0; sg < NSEG; sg = sg + 1) begin : g_seg
            reg [CNT_W-1:0] count_q;
            always @(posedge clk) begin
                if (sensed_v) count_q <= CNT_W'($countones(logic_q[sg*SEG +: SEG]));
            end
            assign count[sg*CNT_W +: CNT_W] = count_q;
        end
    endgenerate

    assign rdata = sense_a;

    always @(posedge clk) begin
        if (!rst_n || clr_counters) begin
            n_compute <= 32'd0;
            n_write <= 32'd0;
        end else if (en) begin
            if (op == OP_COMPUTE) n_compute <= n_compute + 32'd1;
            if (op == OP_WRITE) n_write <= n_write + 32'd1;
        end
    end
endmodule
