module conc-bench/peers/go

go 1.19
