// Formal harness of capim_axil: the master obeys AXI4-Lite (assumptions),
// the slave must too (assertions). Bounded model check with Yosys and
// yosys-smtbmc; every input is free in every cycle.
module capim_axil_formal (
    input wire        clk,
    input wire        rst_n,
    input wire        awvalid,
    input wire [7:0]  awaddr,
    input wire        wvalid,
    input wire [31:0] wdata,
    input wire [3:0]  wstrb,
    input wire        bready,
    input wire        arvalid,
    input wire [7:0]  araddr,
    input wire        rready,
    input wire [31:0] host_rdata
);
    wire        awready, wready, bvalid, arready, rvalid;
    wire [1:0]  bresp, rresp;
    wire [31:0] rdata;
    wire        host_we, host_re;
    wire [31:0] host_addr, host_wdata;

    capim_axil #(.ADDR_W(8)) dut (
        .clk(clk), .rst_n(rst_n),
        .s_axil_awvalid(awvalid), .s_axil_awready(awready), .s_axil_awaddr(awaddr),
        .s_axil_wvalid(wvalid), .s_axil_wready(wready), .s_axil_wdata(wdata), .s_axil_wstrb(wstrb),
        .s_axil_bvalid(bvalid), .s_axil_bready(bready), .s_axil_bresp(bresp),
        .s_axil_arvalid(arvalid), .s_axil_arready(arready), .s_axil_araddr(araddr),
        .s_axil_rvalid(rvalid), .s_axil_rready(rready), .s_axil_rdata(rdata), .s_axil_rresp(rresp),
        .host_we(host_we), .host_re(host_re), .host_addr(host_addr), .host_wdata(host_wdata),
        .host_rdata(host_rdata)
    );

    reg past_valid = 1'b0;
    always @(posedge clk) past_valid <= 1'b1;

    // ---------------- the master: reset first, VALID low in and right after
    // reset, VALID held with stable payload until READY
    always @(*) begin
        if (!past_valid) assume(!rst_n);
    end
    always @(posedge clk) begin
        if (!rst_n || (past_valid && !$past(rst_n))) begin
            assume(!awvalid);
            assume(!wvalid);
            assume(!arvalid);
        end
        if (past_valid && $past(rst_n) && rst_n) begin
            if ($past(awvalid && !awready)) begin
                assume(awvalid);
                assume(awaddr == $past(awaddr));
            end
            if ($past(wvalid && !wready)) begin
                assume(wvalid);
                assume(wdata == $past(wdata));
                assume(wstrb == $past(wstrb));
            end
            if ($past(arvalid && !arready)) begin
                assume(arvalid);
                assume(araddr == $past(araddr));
            end
        end
    end

    // ---------------- bookkeeping: requests accepted, responses given
    reg [5:0] aw_n, w_n, b_n, ar_n, r_n;
    reg [7:0] f_awaddr;
    always @(posedge clk) begin
        if (!rst_n) begin
            aw_n <= 6'd0; w_n <= 6'd0; b_n <= 6'd0; ar_n <= 6'd0; r_n <= 6'd0;
            f_awaddr <= 8'd0;
        end else begin
            if (awvalid && awready) begin
                aw_n <= aw_n + 6'd1;
                f_awaddr <= awaddr;
            end
            if (wvalid && wready) w_n <= w_n + 6'd1;
            if (bvalid && bready) b_n <= b_n + 6'd1;
            if (arvalid && arready) ar_n <= ar_n + 6'd1;
            if (rvalid && rready) r_n <= r_n + 6'd1;
        end
    end
    // last cycle's stalls and host accesses
    reg b_stall_q = 1'b0, r_stall_q = 1'b0, we_q = 1'b0, re_q = 1'b0, re_qq = 1'b0;
    reg [31:0] rdata_q;
    always @(posedge clk) begin
        b_stall_q <= rst_n && bvalid && !bready;
        r_stall_q <= rst_n && rvalid && !rready;
        we_q <= rst_n && host_we;
        re_q <= rst_n && host_re;
        re_qq <= re_q;
        rdata_q <= host_rdata;
    end
    // a response raised this cycle (not one still waiting from the last)
    wire new_b = bvalid && !b_stall_q;
    wire new_r = rvalid && !r_stall_q;

    // ---------------- the slave
    always @(posedge clk) begin
        if (past_valid && $past(rst_n) && rst_n) begin
            // a stalled response stays, unchanged
            if ($past(bvalid && !bready)) begin
                assert(bvalid);
                assert(bresp == $past(bresp));
            end
            if ($past(rvalid && !rready)) begin
                assert(rvalid);
                assert(rdata == $past(rdata));
                assert(rresp == $past(rresp));
            end
            // every new write response follows the host write it reports
            // (OKAY) or a refused partial write (SLVERR)
            if (new_b) assert(we_q == (bresp == 2'b00));
            if (we_q) assert(new_b && bresp == 2'b00);
            // every new read response carries the host bus's data of the
            // cycle after its host_re, or is a refused (misaligned) read
            if (new_r && rresp == 2'b00) assert(re_qq && rdata == rdata_q);
            if (new_r && rresp != 2'b00) assert(!re_qq && rdata == 32'd0);
        end
        if (rst_n) begin
            // OKAY or SLVERR, never EXOKAY
            if (bvalid) assert(bresp == 2'b00 || bresp == 2'b10);
            if (rvalid) assert(rresp == 2'b00 || rresp == 2'b10);
            // one response per request: a write response waiting for its
            // handshake and one more write accepted at most; one read
            assert(b_n <= aw_n && b_n <= w_n);
            if (bvalid) assert(aw_n - b_n >= 6'd1 && aw_n - b_n <= 6'd2 && w_n - b_n >= 6'd1 && w_n - b_n <= 6'd2);
            else assert(aw_n - b_n <= 6'd1 && w_n - b_n <= 6'd1);
            assert(r_n <= ar_n && ar_n - r_n <= 6'd1);
            if (rvalid) assert(ar_n - r_n == 6'd1);
            // the host bus sees the accepted address, one access per cycle
            if (host_we) assert(host_addr == {26'd0, f_awaddr[7:2]});
            if (host_re) assert(arvalid && arready && araddr[1:0] == 2'b00 && host_addr == {26'd0, araddr[7:2]});
            assert(!(host_we && host_re));
        end
    end

    // ---------------- reachable (the assumptions leave the proof something
    // to check): responses taken after a stall, back-to-back traffic
    always @(posedge clk) begin
        if (rst_n) begin
            cover(b_stall_q && bvalid && bready && bresp == 2'b00 && aw_n >= 6'd2);
            cover(r_stall_q && rvalid && rready && rresp == 2'b00 && ar_n >= 6'd2);
            cover(we_q && host_re);
        end
    end
endmodule
