"""Stand-in for the FastDepth authors' ``imagenet`` package (test data; see ``models.py``)."""
