"""ISP solutions (ISP report §4). Each module registers itself; add one import line per model."""

from maikit.models.isp import (  # noqa: F401  (imported for their @register_model side effects)
    acvlab,
    classic,
    csanet,
    cvml,
    eds,
    enerzai,
    enerzai_esrgan,
    isp_forever,
    noahtcv,
    punet,
    smallnet,
    tuned_unet,
)
