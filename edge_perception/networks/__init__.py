"""The network definitions (PyTorch): this project's FastDepth and the FastDepth authors' own
layouts, which their checkpoints are rebuilt into. Training builds and trains them; the toolchain
rebuilds a checkpoint into them to convert it. Needs torch; no ROS.
"""
