// AXI4-Lite slave in front of capim's host register bus.
//
// Byte address a maps to host word address a >> 2 (ADDR_W address bits,
// 32-bit data). One write and one read are in flight at most: a write is
// performed on the host bus once both its address and its data have been
// accepted, in the cycle its response is raised; a read issues host_re and
// raises its response the next cycle, with the data the host bus returns.
// When a read and a write are ready in the same cycle they take turns.
// Responses stay valid, with stable data, until the master takes them
// (BREADY / RREADY), however long it stalls. A write whose strobes are not
// all set, or an access to an address that is not a multiple of 4, is not
// performed and answers SLVERR (the host registers are whole words; a
// refused read returns 0); every other response is OKAY. EXOKAY is never
// returned. AxPROT is not used, so the ports are omitted (AXI4-Lite allows
// a slave without them).
module capim_axil #(
    parameter integer ADDR_W = 30
) (
    input  wire              clk,
    input  wire              rst_n,
    // write address, write data, write response
    input  wire              s_axil_awvalid,
    output wire              s_axil_awready,
    input  wire [ADDR_W-1:0] s_axil_awaddr,
    input  wire              s_axil_wvalid,
    output wire              s_axil_wready,
    input  wire [31:0]       s_axil_wdata,
    input  wire [3:0]        s_axil_wstrb,
    output reg               s_axil_bvalid,
    input  wire              s_axil_bready,
    output reg  [1:0]        s_axil_bresp,
    // read address, read data
    input  wire              s_axil_arvalid,
    output wire              s_axil_arready,
    input  wire [ADDR_W-1:0] s_axil_araddr,
    output reg               s_axil_rvalid,
    input  wire              s_axil_rready,
    output reg  [31:0]       s_axil_rdata,
    output reg  [1:0]        s_axil_rresp,
    // capim host bus (reads return data the cycle after host_re)
    output wire              host_we,
    output wire              host_re,
    output wire [31:0]       host_addr,
    output wire [31:0]       host_wdata,
    input  wire [31:0]       host_rdata
);
    localparam [1:0] OKAY = 2'b00;
    localparam [1:0] SLVERR = 2'b10;

    // accepted write address and data, waiting for each other
    reg              aw_full, w_full;
    reg [ADDR_W-3:0] aw_word;
    reg              aw_misaligned;
    reg [31:0]       w_data;
    reg [3:0]        w_strb;
    assign s_axil_awready = !aw_full;
    assign s_axil_wready = !w_full;

    // a read waiting for its data (host_re was issued last cycle), and
    // whether it was refused
    reg rd_wait, rd_refused;
    // turn: 1 = the write goes first when both are ready
    reg write_turn;

    wire b_free = !s_axil_bvalid || s_axil_bready;
    wire r_free = (!s_axil_rvalid || s_axil_rready) && !rd_wait;
    wire wr_ready = aw_full && w_full && b_free;
    wire rd_ready = s_axil_arvalid && r_free;
    wire do_write = wr_ready && (write_turn || !rd_ready);
    wire do_read = rd_ready && !do_write;
    assign s_axil_arready = r_free && !(wr_ready && write_turn);

    wire write_ok = (w_strb == 4'hF) && !aw_misaligned;
    wire read_ok = (s_axil_araddr[1:0] == 2'b00);
    assign host_we = do_write && write_ok;
    assign host_re = do_read && read_ok;
    assign host_addr = {{(32 - ADDR_W + 2){1'b0}}, do_write ? aw_word : s_axil_araddr[ADDR_W-1:2]};
    assign host_wdata = w_data;

    always @(posedge clk) begin
        if (!rst_n) begin
            aw_full <= 1'b0;
            w_full <= 1'b0;
            aw_word <= {(ADDR_W-2){1'b0}};
            aw_misaligned <= 1'b0;
            w_data <= 32'd0;
            w_strb <= 4'd0;
            s_axil_bvalid <= 1'b0;
            s_axil_bresp <= OKAY;
            s_axil_rvalid <= 1'b0;
            s_axil_rdata <= 32'd0;
            s_axil_rresp <= OKAY;
            rd_wait <= 1'b0;
            rd_refused <= 1'b0;
            write_turn <= 1'b0;
        end else begin
            if (s_axil_awvalid && s_axil_awready) begin
                aw_full <= 1'b1;
                aw_word <= s_axil_awaddr[ADDR_W-1:2];
                aw_misaligned <= (s_axil_awaddr[1:0] != 2'b00);
            end
            if (s_axil_wvalid && s_axil_wready) begin
                w_full <= 1'b1;
                w_data <= s_axil_wdata;
                w_strb <= s_axil_wstrb;
            end
            if (s_axil_bvalid && s_axil_bready) s_axil_bvalid <= 1'b0;
            if (do_write) begin
                aw_full <= 1'b0;
                w_full <= 1'b0;
                s_axil_bvalid <= 1'b1;
                s_axil_bresp <= write_ok ? OKAY : SLVERR;
            end
            if (s_axil_rvalid && s_axil_rready) s_axil_rvalid <= 1'b0;
            rd_wait <= do_read;
            if (do_read) rd_refused <= !read_ok;
            if (rd_wait) begin
                s_axil_rvalid <= 1'b1;
                s_axil_rdata <= rd_refused ? 32'd0 : host_rdata;
                s_axil_rresp <= rd_refused ? SLVERR : OKAY;
            end
            if (do_write || do_read) write_turn <= do_read;
        end
    end
endmodule
