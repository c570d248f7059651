"""Figures people would rather look at than read (matplotlib's object API, no pyplot state).

Every module lists its public names in ``__all__``; all are importable from here.
"""

from .brain_maps import *  # noqa: F401,F403
from .cka import *  # noqa: F401,F403
from .dynamic_fc import *  # noqa: F401,F403
from .graph_ssl import *  # noqa: F401,F403
from .graph_ssl_table import *  # noqa: F401,F403
from .human_recognition import *  # noqa: F401,F403
from .information_plane import *  # noqa: F401,F403
from .layer_profile import *  # noqa: F401,F403
from .metamer_grid import *  # noqa: F401,F403
from .model_comparison import *  # noqa: F401,F403
from .psychometric import *  # noqa: F401,F403
from .rdm import *  # noqa: F401,F403
from .spike_metrics import *  # noqa: F401,F403
from .spike_training import *  # noqa: F401,F403
from .triplet_design import *  # noqa: F401,F403
from .recognisability import *  # noqa: F401,F403
