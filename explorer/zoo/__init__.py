"""Zoo tables: loading `zoo_data/`, derived metrics, Pareto frontier and ranking (pandas only, no torch)."""
