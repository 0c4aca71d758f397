"""Reading stored files into canonical rows: tabular parsing, layouts applied, Parquet."""
