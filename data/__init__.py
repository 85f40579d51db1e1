"""Recording and scenario formats and the synthetic store (design.md: `data/`).

Plain numpy/OpenCV/PyAV code: nothing here imports Qt, torch or the other
walkout packages.
"""
