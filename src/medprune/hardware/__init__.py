"""Where a model runs: the device, the numeric precision of training, and data-parallel processes."""
