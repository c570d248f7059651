"""Scoring alignment: RDMs and their comparison, RSA inference and noise ceilings, the CKA family,
encoding models, shape metrics and layer sweeps.

Every module lists its public names in ``__all__``; they are all importable
from ``neuroalign.compare``.
"""

from .bootstrap import *  # noqa: F401,F403
from .ceiling import *  # noqa: F401,F403
from .cka import *  # noqa: F401,F403
from .cka_matrix import *  # noqa: F401,F403
from .cka_minibatch import *  # noqa: F401,F403
from .cv_splits import *  # noqa: F401,F403
from .encoding import *  # noqa: F401,F403
from .inference import *  # noqa: F401,F403
from .layer_commitment import *  # noqa: F401,F403
from .layer_sweep import *  # noqa: F401,F403
from .model_tests import *  # noqa: F401,F403
from .noise_ceiling import *  # noqa: F401,F403
from .rdm import *  # noqa: F401,F403
from .rdm_comparison import *  # noqa: F401,F403
from .rdm_methods import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
from .searchlight_grid import *  # noqa: F401,F403
from .searchlight import *  # noqa: F401,F403
from .searchlight_encoding import *  # noqa: F401,F403
from .noise_normalisation import *  # noqa: F401,F403
from .rsatoolbox_interop import *  # noqa: F401,F403
