module skeinbench

go 1.19
