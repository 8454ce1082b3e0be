"""Data for both tasks: formats, dataset layout, validation, datasets and synthetic data.

* ``layout``: split folders and input/target pairing by file name (both tasks);
* ``check``: the file rules of each task and ``check_dataset`` (``mai data check``);
* ``isp``: RAW packing per RAW convention, RAW reading, the lazy ISP datasets;
* ``augment``: Bayer-phase-preserving flips, rotations and crops of ISP pairs;
* ``synth_isp``: RAW/RGB pairs from photos by unprocessing (``mai data synth isp``);
* ``depth``, ``synth_depth``, ``real``: the depth dataset, synthetic and real depth samples.

Importing this package stays light (no torch); import the submodules you need. The numbers
of each task come from :mod:`maikit.taskspec`; the task objects of :mod:`maikit.tasks` call
the readers and synthesisers here, never the other way round.
"""

from maikit.data.check import CheckReport, Problem, check_dataset
from maikit.data.layout import Pair, find_pairs, pair_files, resolve_split, resolve_splits

__all__ = [
    "CheckReport",
    "Pair",
    "Problem",
    "check_dataset",
    "find_pairs",
    "pair_files",
    "resolve_split",
    "resolve_splits",
]
