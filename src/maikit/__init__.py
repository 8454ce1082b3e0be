"""maikit — the Mobile AI challenge toolkit.

Learned smartphone ISP (RAW Bayer -> RGB, MAI 2021) and single-image depth estimation
(RGB -> depth, MAI & AIM 2022): challenge data formats and synthetic data, a model zoo of
every published solution, training, TFLite export, an on-device style runtime benchmark,
and the official fidelity metrics and final-score formulas.

The data flow follows the package layout::

    taskspec -> data -> models -> train
                           |
         scoring <- eval <- runtime <- export

``taskspec`` holds each task's numbers and imports nothing above it; ``tasks`` joins each
specification with its file readers (data), metrics and score into the task objects that
the rest of the package holds.
"""

__version__ = "0.1.0"
