// SOT-MRAM computational sub-array (DESIGN.md section 3).
// ROWS x COLS non-volatile 1-bit cells. Per cycle one of: nothing, write one
// row, read one row, or compute: activate rows row_a and row_b together, the
// reconfigurable sense amplifiers give the column-wise AND / OR / XOR and the
// bit-counter registers the popcount of the COLS-bit result (two cycles
// after the compute: the sense amplifiers latch, then the counter counts).
// While en is low the array performs no operation and keeps its cells.
module capim_subarray #(
    parameter integer ROWS = 256,
    parameter integer COLS = 64,
    parameter integer ROW_W = 8,
    parameter integer CNT_W = 7,
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
    output wire [CNT_W-1:0] count,
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

    // Column bit-counter, registered: the count of a compute is valid two
    // cycles after it (sense, then count). It only switches after a compute.
    reg            sensed_v;
    reg [CNT_W-1:0] count_q;
    always @(posedge clk) begin
        sensed_v <= en && (op == OP_COMPUTE);
        if (sensed_v) begin
            case (fn_q)
                2'd1: count_q <= CNT_W'($countones(sense_a | sense_b));
                2'd2: count_q <= CNT_W'($countones(sense_a ^ sense_b));
                default: count_q <= CNT_W'($countones(sense_a & sense_b));
            endcase
        end
    end

    assign count = count_q;
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
