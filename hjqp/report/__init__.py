"""What hjqp writes for people: figures (plot), result files (io), markdown
tables, the selection study's report, the demo and the benchmarks."""
