"""Training the bundled models on data this package makes: FastDepth on synthetic scenes, the
digit classifier on scikit-learn digits rendered as camera frames; their export to IR and the
demo recordings. PyTorch is needed here only; no ROS.
"""
