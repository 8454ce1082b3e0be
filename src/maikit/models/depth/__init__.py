"""Depth solutions (depth report §4). Each module registers itself; add one import line per model."""

from maikit.models.depth import aiia_hit  # noqa: F401
from maikit.models.depth import icl  # noqa: F401
from maikit.models.depth import jmu  # noqa: F401
from maikit.models.depth import miaigo  # noqa: F401
from maikit.models.depth import smartlab  # noqa: F401
from maikit.models.depth import tcl  # noqa: F401
from maikit.models.depth import teacher  # noqa: F401
from maikit.models.depth import tencent  # noqa: F401
from maikit.models.depth import unet  # noqa: F401
