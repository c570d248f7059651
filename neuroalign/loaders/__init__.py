"""Loaders: files on disk into validated arrays of the data model.

fMRI (NIfTI → ROI time series → connectivity), spiking (NWB, Kilosort/phy,
plain arrays) and behaviour (trial tables, psychophysics, triplets).  Every
module lists its public names in ``__all__``; all are importable from here.
"""

from .behavior import *  # noqa: F401,F403
from .bids import *  # noqa: F401,F403
from .binning import *  # noqa: F401,F403
from .functional_connectivity import *  # noqa: F401,F403
from .confounds import *  # noqa: F401,F403
from .feather2023 import *  # noqa: F401,F403
from .fmri import *  # noqa: F401,F403
from .matfiles import *  # noqa: F401,F403
from .psychophysics import *  # noqa: F401,F403
from .phy import *  # noqa: F401,F403
from .spike_counts import *  # noqa: F401,F403
from .spikes import *  # noqa: F401,F403
from .triplets import *  # noqa: F401,F403
from .timeseries_files import *  # noqa: F401,F403
from .connectivity_files import *  # noqa: F401,F403
from .events import *  # noqa: F401,F403
from .voxels import *  # noqa: F401,F403
from .glm import *  # noqa: F401,F403
from .glm_design import *  # noqa: F401,F403
from .glm_lss import *  # noqa: F401,F403
from .lss_designs import *  # noqa: F401,F403
