"""Offline tooling for the depth model: synthetic scenes, FastDepth training and the demo bag."""
