"""Side-by-side benchmarks: ours against the legacy Channels 1 stack, in one run, on this machine."""
