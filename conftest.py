"""pytest configuration: run the notebooks in their small, fast mode (see README, "Tests")."""

import os

# Set before nbval starts any kernel; the kernels inherit this process's environment.
os.environ["FASHION_GAN_SMALL_RUN"] = "1"
