// Self-checking testbench of capim_fpga_top over AXI4-Lite. It runs the bus
// script capim_tb.memh (written by capim from its reference model): one
// 96-bit entry {op, byte address, data} per line; op 1 writes, 2 reads and
// compares, 3 waits for irq (at most `data` cycles), 0 ends. It stops at
// the first difference, names it and exits non-zero ($fatal). Run it where
// the memory images are (mem/). Write responses are taken after a stall of
// one to three cycles and read responses after zero to two, so the slave's
// backpressure path runs too.
module capim_tb;
    localparam integer ADDR_W = 30;
    localparam integer DEPTH = 1;  // entries of capim_tb.memh (capim bundle sets it)

    reg clk = 1'b0;
    reg rst_n = 1'b0;
    initial forever #5 clk = ~clk;

    reg              awvalid = 1'b0, wvalid = 1'b0, bready = 1'b0, arvalid = 1'b0, rready = 1'b0;
    reg [ADDR_W-1:0] awaddr = {ADDR_W{1'b0}}, araddr = {ADDR_W{1'b0}};
    reg [31:0]       wdata = 32'd0;
    wire             awready, wready, bvalid, arready, rvalid, irq, busy;
    wire [1:0]       bresp, rresp;
    wire [31:0]      rdata;

    capim_fpga_top #(.ADDR_W(ADDR_W)) dut (
        .clk(clk), .rst_n(rst_n),
        .s_axil_awvalid(awvalid), .s_axil_awready(awready), .s_axil_awaddr(awaddr),
        .s_axil_wvalid(wvalid), .s_axil_wready(wready), .s_axil_wdata(wdata), .s_axil_wstrb(4'hF),
        .s_axil_bvalid(bvalid), .s_axil_bready(bready), .s_axil_bresp(bresp),
        .s_axil_arvalid(arvalid), .s_axil_arready(arready), .s_axil_araddr(araddr),
        .s_axil_rvalid(rvalid), .s_axil_rready(rready), .s_axil_rdata(rdata), .s_axil_rresp(rresp),
        .irq(irq), .busy(busy)
    );

    reg [95:0] script [0:DEPTH-1];
    integer    stall = 0;

    // Inputs change at the falling edge; a handshake seen there happens at
    // the next rising edge.
    task automatic axi_write(input [ADDR_W-1:0] a, input [31:0] d, output [1:0] resp);
        reg aw_go, w_go;
        begin
            @(negedge clk);
            awaddr = a;
            awvalid = 1'b1;
            wdata = d;
            wvalid = 1'b1;
            while (awvalid || wvalid) begin
                aw_go = awvalid && awready;
                w_go = wvalid && wready;
                @(negedge clk);
                if (aw_go) awvalid = 1'b0;
                if (w_go) wvalid = 1'b0;
            end
            while (!bvalid) @(negedge clk);
            stall = (stall + 1) % 3;
            repeat (stall + 1) @(negedge clk);
            resp = bresp;
            bready = 1'b1;
            @(negedge clk);
            bready = 1'b0;
        end
    endtask

    task automatic axi_read(input [ADDR_W-1:0] a, output [31:0] d, output [1:0] resp);
        reg ar_go;
        begin
            @(negedge clk);
            araddr = a;
            arvalid = 1'b1;
            while (arvalid) begin
                ar_go = arready;
                @(negedge clk);
                if (ar_go) arvalid = 1'b0;
            end
            while (!rvalid) @(negedge clk);
            stall = (stall + 1) % 3;
            repeat (stall) @(negedge clk);
            d = rdata;
            resp = rresp;
            rready = 1'b1;
            @(negedge clk);
            rready = 1'b0;
        end
    endtask

    integer    i, n, checked;
    reg        ended;
    reg [31:0] op, addr, data, got;
    reg [1:0]  resp;
    initial begin
        $readmemh("capim_tb.memh", script);
        checked = 0;
        ended = 1'b0;
        repeat (4) @(negedge clk);
        rst_n = 1'b1;
        for (i = 0; i < DEPTH && !ended; i = i + 1) begin
            op = script[i][95:64];
            addr = script[i][63:32];
            data = script[i][31:0];
            if (op == 32'd0) begin
                $display("capim_tb: PASS -- %0d reads equal the reference, %0d script entries", checked, i);
                ended = 1'b1;
            end else if (op == 32'd1) begin
                axi_write(addr[ADDR_W-1:0], data, resp);
                if (resp != 2'b00) $fatal(1, "capim_tb: FAIL at entry %0d: write of 0x%08h to 0x%08h answered %0d", i, data, addr, resp);
            end else if (op == 32'd2) begin
                axi_read(addr[ADDR_W-1:0], got, resp);
                if (resp != 2'b00) $fatal(1, "capim_tb: FAIL at entry %0d: read of 0x%08h answered %0d", i, addr, resp);
                if (got !== data)
                    $fatal(1, "capim_tb: FAIL at entry %0d: read 0x%08h from byte address 0x%08h, the reference says 0x%08h", i, got, addr, data);
                checked = checked + 1;
            end else if (op == 32'd3) begin
                n = 0;
                while (!irq && n < data) begin
                    @(negedge clk);
                    n = n + 1;
                end
                if (!irq) $fatal(1, "capim_tb: FAIL at entry %0d: no irq within %0d cycles", i, data);
                if (busy) $fatal(1, "capim_tb: FAIL at entry %0d: irq while busy", i);
            end else begin
                $fatal(1, "capim_tb: entry %0d has unknown op %0d", i, op);
            end
        end
        if (!ended) $fatal(1, "capim_tb: the script has no end entry within %0d entries", DEPTH);
        $finish;
    end
endmodule
